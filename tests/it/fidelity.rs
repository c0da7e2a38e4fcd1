//! Content fidelity: what the EHR holds is what the PGO gets. The Nictiz qualification fixtures
//! are loaded into demo-his as legacy rows (as `demo --qualification` does), and every fixture
//! the Nictiz reference server serves (the fixture folders less the `loadresources.exclude` of
//! the service's build.properties) must come back from the connector: found among what it
//! serves (by a shared business identifier, else by the most values in common) and equal to it
//! element by element. References are compared by what they point to; a dateTime by its local
//! time (the legacy rows hold local time: a fixture written with the other season's offset
//! comes back with the real Europe/Amsterdam one).
//!
//! What is still lost or changed is listed per service, type and element in
//! `tests/fidelity/gaps.tsv`, each with its reason. The test fails on a loss or change that is
//! not listed, and on a listed one that no longer happens, so the list can only shrink.
//! `UPDATE_GAPS=1` rewrites it from a run, keeping the reasons already written;
//! `FIDELITY_DETAIL=<element path>` prints, for that element, what each fixture and its served
//! resource hold (the fixtures' synthetic test patients only); `FIDELITY_VALUES=1` prints each
//! lost or changed value as a line (`value, service, type, kind, path`: count them with
//! `sort | uniq -c` to see which gaps weigh most). The figures
//! per type go to `target/fidelity.txt` (scripts/test prints them).

use crate::conformance::{qualification_server_on, SCRIPTS};
use crate::harness::{get_url, next_link, references};
use dva_demo_his::qualification::fixture::{self, Element, Fixture};
use dva_demo_his::qualification::{self, QualificationToken};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

const GAPS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fidelity/gaps.tsv");
const JOURNAL_ENTRY: &str = "http://nictiz.nl/fhir/StructureDefinition/gp-JournalEntry";
const REPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/fidelity.txt");

/// A resource as served, read back in XML.
struct Served {
    reference: String,
    root: Element,
}

/// What one comparison of a fixture with its served resource found, per element path.
#[derive(Default)]
struct Comparison {
    values: usize,
    kept: usize,
    lost: Vec<String>,
    changed: Vec<String>,
}

/// Figures of one resource type.
#[derive(Default)]
struct Figures {
    fixtures: usize,
    served: usize,
    values: usize,
    kept: usize,
    lost: usize,
    changed: usize,
}

/// A gap: (service, resource type, kind, element path or fixture id).
type Gap = (String, String, String, String);

#[test]
fn served_content_is_the_fixtures_content() {
    let anchor = chrono::Local::now().date_naive();
    let (root, _dir, tokens) = qualification_server_on(anchor);
    let mut found: BTreeSet<Gap> = BTreeSet::new();
    let mut report = String::new();
    for (service, _) in qualification::SERVICES {
        let fixtures = reference_load(service, anchor);
        let served = served(&root, service, &tokens);
        let matches = match_fixtures(&fixtures, &served);
        let translate: HashMap<String, String> =
            matches.iter().map(|(f, s)| (fixtures[*f].literal_reference(), served[*s].reference.clone())).collect();
        let mut figures: BTreeMap<String, Figures> = BTreeMap::new();
        for (i, f) in fixtures.iter().enumerate() {
            let row = figures.entry(f.resource_type.clone()).or_default();
            row.fixtures += 1;
            let gap = |kind: &str, what: &str| (service.to_string(), f.resource_type.clone(), kind.into(), what.into());
            let Some((_, s)) = matches.iter().find(|(m, _)| *m == i) else {
                found.insert(gap("not-served", &f.id));
                continue;
            };
            row.served += 1;
            let c = compare(f, &served[*s].root, &translate);
            (row.values, row.kept) = (row.values + c.values, row.kept + c.kept);
            (row.lost, row.changed) = (row.lost + c.lost.len(), row.changed + c.changed.len());
            if std::env::var_os("FIDELITY_VALUES").is_some() {
                let kinds = c.lost.iter().map(|p| ("lost", p)).chain(c.changed.iter().map(|p| ("changed", p)));
                kinds.for_each(|(kind, p)| eprintln!("value\t{service}\t{}\t{kind}\t{p}", f.resource_type));
            }
            found.extend(c.lost.iter().map(|p| gap("lost", p)));
            found.extend(c.changed.iter().map(|p| gap("changed", p)));
        }
        // The S and O journal lines, which the reference load leaves out, are not shared.
        if *service == "gp-data" {
            let shared_soep: Vec<&str> = served
                .iter()
                .filter(|s| s.root.get("meta.profile") == Some(JOURNAL_ENTRY))
                .filter_map(|s| s.root.get("code.coding.code"))
                .collect();
            assert!(shared_soep.iter().all(|c| *c == "E" || *c == "P"), "S or O journal lines served: {shared_soep:?}");
            assert!(!shared_soep.is_empty(), "no journal line served at all");
        }
        write_figures(&mut report, service, &figures);
    }
    let _ = std::fs::write(REPORT, &report);
    println!("{report}");
    check_against_ledger(&found);
}

/// The fixtures of `service` that the Nictiz reference server holds.
fn reference_load(service: &str, anchor: chrono::NaiveDate) -> Vec<Fixture> {
    let (_, dirs) = qualification::SERVICES.iter().find(|(s, _)| *s == service).expect("service");
    let dirs: Vec<_> = dirs.iter().map(|d| Path::new(SCRIPTS).join(d)).collect();
    let dir_refs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    let all = fixture::read_dirs(&dir_refs, anchor).expect("fixtures");
    // build.properties sits in the Cert folder, above _reference.
    let cert = dirs[0].ancestors().find(|a| a.join("build.properties").is_file()).expect("build.properties");
    let properties = std::fs::read_to_string(cert.join("build.properties")).expect("build.properties");
    let excluded: Vec<String> = properties
        .lines()
        .filter_map(|l| l.trim().strip_prefix("loadresources.exclude"))
        .filter_map(|l| l.trim_start().strip_prefix('='))
        .flat_map(|l| l.split(','))
        .map(|p| p.trim().rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    all.into_iter().filter(|f| !excluded.iter().any(|p| glob(p, &f.file))).collect()
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head) && (0..=name.len() - head.len()).any(|k| glob(tail, &name[head.len() + k..]))
        }
    }
}

/// Everything the service serves to the qualification patients: every search result of every
/// searchable type, and everything those point to, each read back in XML.
fn served(root: &str, service: &str, tokens: &[QualificationToken]) -> Vec<Served> {
    let base = format!("{root}/fhir/stu3/{service}");
    let metadata = get_url(&format!("{base}/metadata"), None, Some("application/fhir+json")).body;
    let searchable: Vec<String> = metadata["rest"][0]["resource"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["interaction"].as_array().into_iter().flatten().any(|i| i["code"] == "search-type"))
        .filter_map(|r| r["type"].as_str().map(str::to_owned))
        .collect();
    assert!(!searchable.is_empty(), "{service}: no searchable type in the CapabilityStatement");
    // Each reference with the token of a patient whose resources lead to it.
    let mut found: BTreeMap<String, &str> = BTreeMap::new();
    for token in tokens {
        for resource_type in &searchable {
            let mut url = format!("{base}/{resource_type}");
            for _ in 0..100 {
                let reply = get_url(&url, Some(&token.token), Some("application/fhir+json"));
                if reply.status != 200 {
                    break;
                }
                for entry in reply.body["entry"].as_array().into_iter().flatten() {
                    let resource = &entry["resource"];
                    if let (Some(t), Some(id)) = (resource["resourceType"].as_str(), resource["id"].as_str()) {
                        found.entry(format!("{t}/{id}")).or_insert(&token.token);
                    }
                    let mut pointed = Vec::new();
                    references(resource, &mut pointed);
                    for r in pointed.into_iter().filter(|r| is_relative(r)) {
                        found.entry(r).or_insert(&token.token);
                    }
                }
                match next_link(&reply.body) {
                    Some(next) => url = next,
                    None => break,
                }
            }
        }
    }
    found
        .into_iter()
        .filter_map(|(reference, token)| {
            let reply = get_url(&format!("{base}/{reference}?_format=xml"), Some(token), None);
            if reply.status != 200 {
                return None;
            }
            let (_, _, root) = fixture::parse(&reply.text, chrono::NaiveDate::MIN).ok()?;
            Some(Served { reference, root })
        })
        .collect()
}

fn is_relative(reference: &str) -> bool {
    let mut parts = reference.split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(t), Some(id), None)
        if t.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && !id.is_empty())
}

/// Pairs (fixture, served) by index: a shared business identifier first, then the most values
/// in common, each served resource taken once.
fn match_fixtures(fixtures: &[Fixture], served: &[Served]) -> Vec<(usize, usize)> {
    let mut candidates = Vec::new();
    for (f, fixture) in fixtures.iter().enumerate() {
        let ours = identifiers(&fixture.root);
        let values = comparable(&fixture.root);
        for (s, resource) in served.iter().enumerate() {
            if resource.root.name != fixture.resource_type {
                continue;
            }
            let theirs = identifiers(&resource.root);
            let shared_identifier = theirs.iter().any(|i| ours.contains(i));
            // Both identified, by different identifiers: different records, however alike.
            let unrelated = !ours.is_empty() && !theirs.is_empty() && !shared_identifier;
            let common = common_values(&values, &comparable(&resource.root));
            // Without an identifier, a match must share a fair part of the fixture's values.
            if shared_identifier || (!unrelated && common >= 2 && common * 4 >= values.len()) {
                candidates.push((shared_identifier, common, f, s));
            }
        }
    }
    candidates.sort_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)).then((a.2, a.3).cmp(&(b.2, b.3))));
    let (mut taken_f, mut taken_s, mut pairs) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    for (_, _, f, s) in candidates {
        if !taken_f.contains(&f) && !taken_s.contains(&s) {
            taken_f.insert(f);
            taken_s.insert(s);
            pairs.push((f, s));
        }
    }
    // What a matched pair points to at the same element is a pair too (a practitioner whose
    // name was served differently is still the one the prescription names).
    let by_reference_f: HashMap<String, usize> =
        fixtures.iter().enumerate().map(|(i, f)| (f.literal_reference(), i)).collect();
    let by_reference_s: HashMap<&str, usize> =
        served.iter().enumerate().map(|(i, s)| (s.reference.as_str(), i)).collect();
    let mut k = 0;
    while k < pairs.len() {
        let (f, s) = pairs[k];
        let theirs = reference_leaves(&served[s].root);
        for (path, target) in reference_leaves(&fixtures[f].root) {
            let at_path: Vec<&String> = theirs.iter().filter(|(p, _)| *p == path).map(|(_, r)| r).collect();
            let (Some(&tf), [one]) = (by_reference_f.get(&target), at_path.as_slice()) else { continue };
            let Some(&ts) = by_reference_s.get(one.as_str()) else { continue };
            // Not when both have identifiers and share none: then they are different records.
            let (ids_f, ids_s) = (identifiers(&fixtures[tf].root), identifiers(&served[ts].root));
            let unrelated = !ids_f.is_empty() && !ids_s.is_empty() && !ids_f.iter().any(|i| ids_s.contains(i));
            if !taken_f.contains(&tf)
                && !taken_s.contains(&ts)
                && !unrelated
                && served[ts].root.name == fixtures[tf].resource_type
            {
                taken_f.insert(tf);
                taken_s.insert(ts);
                pairs.push((tf, ts));
            }
        }
        k += 1;
    }
    pairs
}

fn reference_leaves(root: &Element) -> Vec<(String, String)> {
    leaves(root).into_iter().filter(|(p, _)| p.ends_with("reference")).collect()
}

fn identifiers(root: &Element) -> Vec<(String, String)> {
    root.each("identifier")
        .into_iter()
        .filter_map(|i| Some((i.get("system")?.to_owned(), i.get("value")?.to_owned())))
        .collect()
}

/// Every value below the resource as (element path, value), without the resource's own id and
/// version metadata. An extension's path names its url.
fn leaves(root: &Element) -> Vec<(String, String)> {
    fn walk(e: &Element, prefix: &str, out: &mut Vec<(String, String)>) {
        for c in &e.children {
            let name = match &c.url {
                Some(url) if c.name.ends_with("xtension") => format!("{}[{url}]", c.name),
                _ => c.name.clone(),
            };
            let path = if prefix.is_empty() { name } else { format!("{prefix}.{name}") };
            if matches!(path.as_str(), "id" | "meta.lastUpdated" | "meta.versionId") {
                continue;
            }
            if let Some(v) = c.value.as_ref().or(c.text.as_ref()) {
                out.push((path.clone(), v.clone()));
            }
            walk(c, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out
}

/// The values that identify content on their own: not references, which differ by id.
fn comparable(root: &Element) -> Vec<(String, String)> {
    leaves(root).into_iter().filter(|(p, _)| !p.ends_with("reference")).collect()
}

fn common_values(a: &[(String, String)], b: &[(String, String)]) -> usize {
    let mut pool: Vec<&(String, String)> = b.iter().collect();
    a.iter()
        .filter(|x| {
            let hit = pool.iter().position(|y| y.0 == x.0 && same(&x.1, &y.1));
            hit.map(|k| pool.swap_remove(k)).is_some()
        })
        .count()
}

/// Equal text, or the same local date and time.
fn same(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (chrono::DateTime::parse_from_rfc3339(a), chrono::DateTime::parse_from_rfc3339(b)),
            (Ok(x), Ok(y)) if x.naive_local() == y.naive_local()
        )
}

/// The fixture's values path by path against the served resource's: a value found is kept;
/// one not found is changed when the served resource has another value there, else lost.
fn compare(fixture: &Fixture, served: &Element, translate: &HashMap<String, String>) -> Comparison {
    let mut theirs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, value) in leaves(served) {
        theirs.entry(path).or_default().push(value);
    }
    let mut ours: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, value) in leaves(&fixture.root) {
        // A reference, or a url that is one (an attachment's `Binary/...`), by its target.
        let value = translate.get(&value).cloned().unwrap_or(value);
        ours.entry(path).or_default().push(value);
    }
    let mut c = Comparison::default();
    for (path, values) in ours {
        let mut pool = theirs.remove(&path).unwrap_or_default();
        let mut missing = 0;
        for v in &values {
            match pool.iter().position(|w| same(v, w)) {
                Some(k) => {
                    pool.swap_remove(k);
                    c.kept += 1;
                }
                None => missing += 1,
            }
        }
        c.values += values.len();
        if missing > 0 && std::env::var("FIDELITY_DETAIL").is_ok_and(|d| d == path) {
            eprintln!("{}: {path}: fixture {values:?}, served {pool:?}", fixture.id);
        }
        let changed = missing.min(pool.len());
        c.changed.extend(std::iter::repeat_n(path.clone(), changed));
        c.lost.extend(std::iter::repeat_n(path, missing - changed));
    }
    c
}

fn write_figures(out: &mut String, service: &str, figures: &BTreeMap<String, Figures>) {
    let _ = writeln!(
        out,
        "{service}\n| type | fixtures | served | values | kept | lost | changed |\n|---|---|---|---|---|---|---|"
    );
    let mut total = Figures::default();
    for (t, f) in figures {
        let _ = writeln!(
            out,
            "| {t} | {} | {} | {} | {} | {} | {} |",
            f.fixtures, f.served, f.values, f.kept, f.lost, f.changed
        );
        total.fixtures += f.fixtures;
        total.served += f.served;
        total.values += f.values;
        total.kept += f.kept;
        total.lost += f.lost;
        total.changed += f.changed;
    }
    let share = 100.0 * total.kept as f64 / total.values.max(1) as f64;
    let _ = writeln!(
        out,
        "| all | {} | {} | {} | {} ({share:.1}%) | {} | {} |\n",
        total.fixtures, total.served, total.values, total.kept, total.lost, total.changed
    );
}

/// The ledger: `service, type, kind, path or fixture id, reason`, tab-separated.
fn read_ledger() -> BTreeMap<Gap, String> {
    let text = std::fs::read_to_string(GAPS).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let gap = (f.first()?.to_string(), f.get(1)?.to_string(), f.get(2)?.to_string(), f.get(3)?.to_string());
            Some((gap, f.get(4).unwrap_or(&"").to_string()))
        })
        .collect()
}

fn check_against_ledger(found: &BTreeSet<Gap>) {
    let ledger = read_ledger();
    if std::env::var_os("UPDATE_GAPS").is_some() {
        let mut text = String::from(
            "# Content the connector does not yet serve as the EHR holds it (tests/it/fidelity.rs).\n\
             # service\ttype\tkind (not-served: a fixture id; lost, changed: an element path)\twhat\treason\n",
        );
        for gap in found {
            let reason = ledger.get(gap).map(String::as_str).unwrap_or("open: issue 16");
            let _ = writeln!(text, "{}\t{}\t{}\t{}\t{reason}", gap.0, gap.1, gap.2, gap.3);
        }
        std::fs::write(GAPS, text).expect("write the ledger");
        return;
    }
    let new: Vec<String> =
        found.iter().filter(|g| !ledger.contains_key(*g)).map(|g| format!("{} {} {} {}", g.0, g.1, g.2, g.3)).collect();
    let gone: Vec<String> =
        ledger.keys().filter(|g| !found.contains(*g)).map(|g| format!("{} {} {} {}", g.0, g.1, g.2, g.3)).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "content fidelity:\n  lost or changed and not in tests/fidelity/gaps.tsv:\n    {}\n  in gaps.tsv but no longer \
         happening (remove them):\n    {}",
        new.join("\n    "),
        gone.join("\n    ")
    );
}
