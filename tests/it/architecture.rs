//! Boundaries that the module layout promises (ARCHITECTURE.md), checked on the source text.

use std::path::Path;

fn sources(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push((p.display().to_string(), std::fs::read_to_string(&p).expect("read")));
            }
        }
    }
    out
}

fn assert_absent(dir: &str, forbidden: &[&str]) {
    for (file, text) in sources(dir) {
        for f in forbidden {
            assert!(!text.contains(f), "{file} uses `{f}`, which its layer must not");
        }
    }
}

/// Invariant 3: the engine is pure; the mapping compiler knows no HTTP, databases or async.
#[test]
fn engine_and_mapping_do_no_io() {
    let outside = ["crate::http", "crate::runtime", "actix", "tokio", "dva_source_diesel", "std::net"];
    assert_absent("src/engine", &outside);
    assert_absent("src/engine", &["std::fs", "std::process", "tracing::"]);
    assert_absent("src/mapping", &outside);
}

/// Invariant 4: adapters return rows, never FHIR.
#[test]
fn adapters_know_nothing_of_fhir() {
    assert_absent("adapters", &["serde_json", "fhir::", "resourceType"]);
}

/// Boundary: the daemon knows databases through `dva_source_api` only; the concrete adapters
/// are named where sources are opened (the snapshot), configured, filled with demo data, and
/// where the audit trail keeps its own store.
#[test]
fn only_the_edges_name_concrete_adapters() {
    let allowed = ["src/runtime/snapshot.rs", "src/config/", "src/demo/", "src/audit/"];
    for (file, text) in sources("src") {
        if allowed.iter().any(|a| file.contains(a)) {
            continue;
        }
        for adapter in ["dva_source_diesel", "dva_source_odbc"] {
            assert!(!text.contains(adapter), "{file} names `{adapter}`; go through dva_source_api::RowSource");
        }
    }
}
