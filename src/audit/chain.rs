//! The chain: each record carries a MAC (HMAC-SHA256 under a key of the key file) over the MAC
//! of the record before it and every field of its own. Without the key nobody can write a
//! record that verifies, so editing, removing, inserting or reordering records breaks the chain
//! from there on. What a chain cannot show by itself is records cut off its end: checkpoints
//! (a keyed head and its count, written to the log) catch that.
//!
//! Stores from before the key file (schema 1) hold a prefix of records hashed with plain
//! SHA-256; the first keyed record's MAC covers them, and none may follow a keyed one.

use super::keys::{hex, AuditKey, AuditKeys};
use super::{AuditEvent, StoredEvent};
use ring::digest::{digest, SHA256};
use ring::hmac;

/// The fields of a record after `prev`, unambiguous whatever they contain (a JSON array);
/// schema-1 records had no key id.
fn fields(prev: &str, seq: i64, key_id: Option<&str>, patient: &str, e: &AuditEvent) -> String {
    use serde_json::Value;
    let mut fields = vec![Value::from(seq)];
    fields.extend(key_id.map(Value::from));
    fields.extend(
        [
            patient,
            &e.at,
            &e.action,
            &e.service,
            &e.interaction,
            &e.resources,
            &e.patient_key,
            &e.client,
            &e.peer,
            &e.outcome,
        ]
        .map(Value::from),
    );
    fields.push(Value::from(e.status));
    fields.extend([&e.reason, &e.request_id, &e.correlation_id].map(|t| Value::from(t.as_str())));
    format!("{prev}{}", Value::Array(fields))
}

/// The MAC of a record written with `key` after the record whose MAC is `prev`.
pub fn mac(key: &AuditKey, prev: &str, seq: i64, patient: &str, e: &AuditEvent) -> String {
    hex(hmac::sign(&key.chain, fields(prev, seq, Some(&key.id), patient, e).as_bytes()).as_ref())
}

/// The hash of a record of a schema-1 store (no key; its fields without a key id).
pub fn legacy_hash(prev: &str, seq: i64, patient: &str, e: &AuditEvent) -> String {
    hex(digest(&SHA256, fields(prev, seq, None, patient, e).as_bytes()).as_ref())
}

/// The tag of a purge anchor (the last removed record), so that nobody without the key can
/// claim records were purged.
pub fn anchor_tag(key: &AuditKey, seq: i64, hash: &str) -> String {
    hex(hmac::sign(&key.chain, format!("anchor/{seq}/{hash}").as_bytes()).as_ref())
}

/// Whether `tag` (written with `key_id`) is the anchor tag of `seq` and `hash`.
pub fn anchor_is_authentic(keys: &AuditKeys, key_id: &str, seq: i64, hash: &str, tag: &str) -> bool {
    keys.get(key_id).is_some_and(|key| anchor_tag(key, seq, hash) == tag)
}

/// The result of checking a trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every record is in place and unchanged.
    Intact { records: u64 },
    /// The first place where the chain breaks, and why.
    Broken { seq: i64, problem: String },
    /// From `seq` on, records were written with a key the key file lacks: they cannot be
    /// checked (a wrong key file, or a key removed too early).
    UnknownKey { seq: i64, key_id: String },
}

/// Checks `events` (in `seq` order) against the chain that starts after `anchor` (the last
/// purged record's seq and hash, or 0 and "") and must end at `last`.
pub fn verify(keys: &AuditKeys, anchor: (i64, &str), events: &[StoredEvent], last: (i64, &str)) -> Verification {
    let (mut seq, mut prev) = (anchor.0, anchor.1.to_owned());
    let mut keyed_seen = false;
    for e in events {
        if e.seq != seq + 1 {
            let problem = if e.seq > seq + 1 {
                format!("record {} is missing", seq + 1)
            } else {
                format!("record {} comes after record {seq} (inserted or reordered)", e.seq)
            };
            return Verification::Broken { seq: seq + 1, problem };
        }
        if e.prev_hash != prev {
            return Verification::Broken { seq: e.seq, problem: "does not follow the record before it".into() };
        }
        let expected = if e.key_id.is_empty() {
            if keyed_seen {
                return Verification::Broken {
                    seq: e.seq,
                    problem: "an unkeyed record after keyed ones (inserted)".into(),
                };
            }
            legacy_hash(&prev, e.seq, &e.patient, &e.event)
        } else {
            keyed_seen = true;
            let Some(key) = keys.get(&e.key_id) else {
                return Verification::UnknownKey { seq: e.seq, key_id: e.key_id.clone() };
            };
            mac(key, &prev, e.seq, &e.patient, &e.event)
        };
        if expected != e.hash {
            return Verification::Broken { seq: e.seq, problem: "its content was changed".into() };
        }
        seq = e.seq;
        prev = e.hash.clone();
    }
    if (seq, prev.as_str()) != last {
        return Verification::Broken {
            seq: seq + 1,
            problem: format!("the trail ends at record {seq}, but {} were written", last.0),
        };
    }
    Verification::Intact { records: events.len() as u64 }
}

/// A keyed statement of how far the trail reached at a moment: record `seq` and its MAC. The
/// server writes one to its log at an interval and when it stops; `audit verify --checkpoint`
/// finds records that were cut off the end after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub head: String,
    pub key_id: String,
    pub at: String,
    tag: String,
}

const CHECKPOINT_PREFIX: &str = "dva-audit-checkpoint/1/";

/// One word, for a log line: `dva-audit-checkpoint/1/<seq>/<head>/<key id>/<at>/<tag>`. It
/// holds no patient data and no key: a record number, that record's MAC (in the store for all
/// to see), the key's name, a time and a keyed tag that only the key file can make.
impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{CHECKPOINT_PREFIX}{}/{}/{}/{}/{}", self.seq, self.head, self.key_id, self.at, self.tag)
    }
}

impl Checkpoint {
    pub fn new(key: &AuditKey, seq: i64, head: &str, at: &str) -> Checkpoint {
        let tag = hex(hmac::sign(&key.chain, Self::message(seq, head, &key.id, at).as_bytes()).as_ref());
        Checkpoint { seq, head: head.to_owned(), key_id: key.id.clone(), at: at.to_owned(), tag }
    }

    fn message(seq: i64, head: &str, key_id: &str, at: &str) -> String {
        format!("checkpoint/{seq}/{head}/{key_id}/{at}")
    }

    /// Every checkpoint written in `text` (log lines, say), in order.
    pub fn find_all(text: &str) -> Vec<Checkpoint> {
        text.match_indices(CHECKPOINT_PREFIX)
            .filter_map(|(at, _)| {
                let rest = &text[at + CHECKPOINT_PREFIX.len()..];
                let word = rest.split(|c: char| c.is_whitespace() || c == '"' || c == '\'').next()?;
                let mut parts = word.split('/');
                let checkpoint = Checkpoint {
                    seq: parts.next()?.parse().ok()?,
                    head: parts.next()?.to_owned(),
                    key_id: parts.next()?.to_owned(),
                    at: parts.next()?.to_owned(),
                    tag: parts.next()?.to_owned(),
                };
                parts.next().is_none().then_some(checkpoint)
            })
            .collect()
    }

    /// Whether this checkpoint was written with a key of `keys`.
    pub fn is_authentic(&self, keys: &AuditKeys) -> bool {
        keys.get(&self.key_id).is_some_and(|key| {
            let expected =
                hex(hmac::sign(&key.chain, Self::message(self.seq, &self.head, &self.key_id, &self.at).as_bytes())
                    .as_ref());
            expected == self.tag
        })
    }

    /// Whether `events` (the whole trail after `anchor_seq`, in order) still hold the record
    /// this checkpoint names, unchanged.
    pub fn check(&self, anchor_seq: i64, events: &[StoredEvent]) -> Result<(), Verification> {
        if self.seq <= anchor_seq {
            // Purged since; the anchor's tag covers it.
            return Ok(());
        }
        match events.iter().find(|e| e.seq == self.seq) {
            Some(e) if e.hash == self.head => Ok(()),
            Some(_) => Err(Verification::Broken {
                seq: self.seq,
                problem: format!("it differs from the checkpoint of {}", self.at),
            }),
            None => {
                let end = events.last().map_or(anchor_seq, |e| e.seq);
                let lost = if end + 1 == self.seq {
                    format!("record {} was", self.seq)
                } else {
                    format!("records {} to {} were", end + 1, self.seq)
                };
                Err(Verification::Broken {
                    seq: end + 1,
                    problem: format!(
                        "{lost} cut off the end: the checkpoint of {} names record {}, the trail ends at {end}",
                        self.at, self.seq
                    ),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(keys: &AuditKeys, n: i64) -> Vec<StoredEvent> {
        let mut prev = String::new();
        (1..=n)
            .map(|seq| {
                let event =
                    AuditEvent { service: "gp".into(), status: 200, at: format!("t{seq}"), ..AuditEvent::default() };
                let key = keys.current();
                let h = mac(key, &prev, seq, "p", &event);
                let e = StoredEvent {
                    seq,
                    key_id: key.id.clone(),
                    patient: "p".into(),
                    event,
                    prev_hash: prev.clone(),
                    hash: h.clone(),
                };
                prev = h;
                e
            })
            .collect()
    }

    fn last(events: &[StoredEvent]) -> (i64, String) {
        events.last().map_or((0, String::new()), |e| (e.seq, e.hash.clone()))
    }

    fn check(keys: &AuditKeys, events: &[StoredEvent], end: &(i64, String)) -> Verification {
        verify(keys, (0, ""), events, (end.0, &end.1))
    }

    /// Schema-1 stores were hashed over exactly this array; their records must keep verifying.
    #[test]
    fn schema_one_records_hash_as_they_always_did() {
        let e =
            AuditEvent { at: "t".into(), action: "R".into(), status: 200, reason: "r".into(), ..AuditEvent::default() };
        let old = serde_json::json!([
            7,
            "p",
            e.at,
            e.action,
            e.service,
            e.interaction,
            e.resources,
            e.patient_key,
            e.client,
            e.peer,
            e.outcome,
            e.status,
            e.reason,
            e.request_id,
            e.correlation_id
        ]);
        let expected = hex(digest(&SHA256, format!("prev{old}").as_bytes()).as_ref());
        assert_eq!(legacy_hash("prev", 7, "p", &e), expected);
    }

    #[test]
    fn an_intact_chain_verifies() {
        let keys = AuditKeys::for_tests(&["k1"]);
        let events = chain(&keys, 5);
        assert_eq!(check(&keys, &events, &last(&events)), Verification::Intact { records: 5 });
    }

    /// What someone with write access to the store can do, and the recomputed chain too: with
    /// plain hashes (schema 1) they could recompute it; without the key they cannot.
    #[test]
    fn removal_insertion_edit_reordering_and_recomputing_are_found() {
        let keys = AuditKeys::for_tests(&["k1"]);
        let events = chain(&keys, 5);
        let end = last(&events);
        let broken_at = |v: Verification| match v {
            Verification::Broken { seq, .. } => seq,
            other => panic!("not found: {other:?}"),
        };
        let mut edited = events.clone();
        edited[2].event.status = 403;
        assert_eq!(broken_at(check(&keys, &edited, &end)), 3, "edit");
        let mut removed = events.clone();
        removed.remove(1);
        assert_eq!(broken_at(check(&keys, &removed, &end)), 2, "removal");
        let mut reordered = events.clone();
        reordered.swap(1, 2);
        assert_eq!(broken_at(check(&keys, &reordered, &end)), 2, "reordering");
        // Inserted: a forged record with the next numbers, MAC'd with a key of the forger's.
        let forger = AuditKeys::for_tests(&["k1x"]);
        let mut inserted = events.clone();
        let forged = chain(&forger, 6).remove(5);
        inserted.push(StoredEvent { key_id: "k1".into(), prev_hash: end.1.clone(), ..forged });
        let inserted_end = last(&inserted);
        assert_eq!(broken_at(check(&keys, &inserted, &inserted_end)), 6, "insertion");
        // An unkeyed (schema 1 style) record after keyed ones.
        let mut legacy_after = events.clone();
        let mut fake = events[4].clone();
        fake.seq = 6;
        fake.key_id.clear();
        fake.prev_hash = end.1.clone();
        fake.hash = legacy_hash(&end.1, 6, &fake.patient, &fake.event);
        legacy_after.push(fake);
        let legacy_end = last(&legacy_after);
        assert_eq!(broken_at(check(&keys, &legacy_after, &legacy_end)), 6, "unkeyed insertion");
        // Removal with the chain recomputed, as was possible with plain SHA-256.
        let mut recomputed = events.clone();
        recomputed.remove(2);
        let mut prev = recomputed[1].hash.clone();
        for (i, e) in recomputed.iter_mut().enumerate().skip(2) {
            e.seq = i as i64 + 1;
            e.prev_hash = prev.clone();
            e.hash = legacy_hash(&prev, e.seq, &e.patient, &e.event);
            prev = e.hash.clone();
        }
        let recomputed_end = last(&recomputed);
        assert_eq!(broken_at(check(&keys, &recomputed, &recomputed_end)), 3, "recomputed chain");
        // Truncation: the chain alone cannot tell once the store's own end marker is moved too;
        // a checkpoint can.
        let cut = &events[..3];
        assert_eq!(check(&keys, cut, &last(cut)), Verification::Intact { records: 3 });
        let checkpoint = Checkpoint::new(keys.current(), end.0, &end.1, "2026-12-01T10:00:00.000Z");
        assert!(checkpoint.is_authentic(&keys));
        assert_eq!(broken_at(checkpoint.check(0, cut).expect_err("cut off")), 4, "truncation");
        assert_eq!(checkpoint.check(0, &events), Ok(()));
    }

    #[test]
    fn records_of_a_key_not_in_the_file_cannot_be_checked() {
        let keys = AuditKeys::for_tests(&["k1"]);
        let events = chain(&keys, 2);
        let other = AuditKeys::for_tests(&["k2"]);
        assert_eq!(check(&other, &events, &last(&events)), Verification::UnknownKey { seq: 1, key_id: "k1".into() });
    }

    #[test]
    fn checkpoints_are_found_in_log_lines_and_forged_ones_are_not_authentic() {
        let keys = AuditKeys::for_tests(&["k1"]);
        let c = Checkpoint::new(keys.current(), 42, "ab12", "2026-12-01T10:00:00.000Z");
        let log = format!("Dec 01 10:00:00 host dva-connector[1]: INFO audit checkpoint checkpoint=\"{}\"\nnoise\n", c);
        assert_eq!(Checkpoint::find_all(&log), vec![c.clone()]);
        let forged = Checkpoint { seq: 7, ..c };
        assert!(!forged.is_authentic(&keys));
    }
}
