//! The hash chain: each record's hash covers the previous hash and every field, so changing a
//! field, removing a record or reordering them breaks the chain from there on.

use super::StoredEvent;
use ring::digest::{digest, SHA256};

/// The hash of a record after `prev_hash`. Fields go in as a JSON array: unambiguous whatever
/// they contain.
pub fn hash(prev_hash: &str, seq: i64, patient: &str, e: &super::AuditEvent) -> String {
    let fields = serde_json::json!([
        seq,
        patient,
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
    hex(digest(&SHA256, format!("{prev_hash}{fields}").as_bytes()).as_ref())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The result of checking the whole trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every record is in place and unchanged.
    Intact { records: u64 },
    /// The first place where the chain breaks, and why.
    Broken { seq: i64, problem: String },
}

/// Checks `events` (in `seq` order) against the chain that starts after `anchor` (the last
/// purged record's seq and hash, or 0 and "") and must end at `last`.
pub fn verify(anchor: (i64, &str), events: &[StoredEvent], last: (i64, &str)) -> Verification {
    let (mut seq, mut prev) = (anchor.0, anchor.1.to_owned());
    for e in events {
        if e.seq != seq + 1 {
            return Verification::Broken { seq: seq + 1, problem: format!("record {} is missing", seq + 1) };
        }
        if e.prev_hash != prev {
            return Verification::Broken { seq: e.seq, problem: "does not follow the record before it".into() };
        }
        if hash(&prev, e.seq, &e.patient, &e.event) != e.hash {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEvent;

    fn chain(n: i64) -> Vec<StoredEvent> {
        let mut prev = String::new();
        (1..=n)
            .map(|seq| {
                let event = AuditEvent { service: "gp".into(), status: 200, ..AuditEvent::default() };
                let h = hash(&prev, seq, "p", &event);
                let e = StoredEvent { seq, patient: "p".into(), event, prev_hash: prev.clone(), hash: h.clone() };
                prev = h;
                e
            })
            .collect()
    }

    fn last(events: &[StoredEvent]) -> (i64, &str) {
        events.last().map_or((0, ""), |e| (e.seq, e.hash.as_str()))
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain(5);
        assert_eq!(verify((0, ""), &events, last(&events)), Verification::Intact { records: 5 });
    }

    #[test]
    fn edits_removals_and_a_cut_tail_are_found() {
        let events = chain(5);
        let end = (events[4].seq, events[4].hash.clone());
        let mut edited = events.clone();
        edited[2].event.status = 403;
        assert!(matches!(verify((0, ""), &edited, (end.0, &end.1)), Verification::Broken { seq: 3, .. }));
        let mut removed = events.clone();
        removed.remove(1);
        assert!(matches!(verify((0, ""), &removed, (end.0, &end.1)), Verification::Broken { seq: 2, .. }));
        let cut = &events[..4];
        assert!(matches!(verify((0, ""), cut, (end.0, &end.1)), Verification::Broken { seq: 5, .. }));
    }
}
