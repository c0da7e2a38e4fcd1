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

/// The leaves: diagnostics (problems and their positions) know no other module; the config
/// knows only diagnostics (it owns what it configures, such as the JWT algorithms, so auth
/// depends on config and never the other way); the mapping compiler knows diagnostics and the
/// FHIR definitions.
#[test]
fn diagnostics_and_config_are_leaves() {
    let modules_named = |dir: &str| -> std::collections::BTreeSet<String> {
        let mut named = std::collections::BTreeSet::new();
        for (_, text) in sources(dir) {
            for (at, _) in text.match_indices("crate::") {
                let module: String =
                    text[at + "crate::".len()..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                named.insert(module);
            }
        }
        named
    };
    let diagnostics = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/diagnostics.rs"))
        .expect("src/diagnostics.rs");
    assert!(!diagnostics.contains("crate::"), "diagnostics must be a leaf");
    let config: Vec<String> = modules_named("src/config").into_iter().collect();
    assert_eq!(config, ["diagnostics"], "the config names other modules");
    let mapping: Vec<String> = modules_named("src/mapping").into_iter().collect();
    assert_eq!(mapping, ["diagnostics", "fhir"], "the mapping compiler names other modules");
}

/// Values from requests and files are quoted in messages by one helper
/// (`diagnostics::quoted`: short, control characters escaped), and FHIR's id syntax is
/// written once (`fhir::is_id`).
#[test]
fn messages_quote_through_one_helper() {
    for (file, text) in sources("src") {
        if file.ends_with("src/diagnostics.rs") {
            continue;
        }
        assert!(!text.contains(".chars().take("), "{file} cuts text short by itself; use diagnostics::quoted");
        assert!(!text.contains("fn shorten"), "{file} has its own quoting; use diagnostics::quoted");
        let own_id_check =
            text.contains("fn is_fhir_id") || (text.contains("fn is_id(") && !file.ends_with("src/fhir/mod.rs"));
        assert!(!own_id_check, "{file} has its own FHIR id check; use fhir::is_id");
    }
}

/// Invariant 4: adapters return rows, never FHIR.
#[test]
fn adapters_know_nothing_of_fhir() {
    assert_absent("adapters", &["serde_json", "fhir::", "resourceType"]);
}

/// Boundary: the demo EHR is a crate of its own beside its mapping sets; the daemon holds none
/// of it (only the thin `demo` commands, behind the `demo` feature), and it knows nothing of
/// the daemon.
#[test]
fn the_demo_ehr_lives_outside_the_daemon() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(!root.join("src/demo").exists(), "the generator is back in the daemon");
    for (file, text) in sources("src") {
        let named = text.contains("dva_demo_his");
        let allowed = file.ends_with("src/cli/demo.rs") || file.ends_with("src/cli/mod.rs");
        assert!(!named || allowed, "{file} uses the demo crate; only the demo commands may");
        assert!(!text.contains("fn reference_data") && !text.contains("CREATE TABLE patient"), "{file}: demo data");
    }
    let manifest = std::fs::read_to_string(root.join("demo-his/Cargo.toml")).expect("demo-his/Cargo.toml");
    assert!(
        !manifest.lines().any(|l| l.trim_start().starts_with("dva-connector")),
        "the demo crate depends on the daemon"
    );
    assert_absent("demo-his", &["dva_connector"]);
    let daemon = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    assert!(daemon.contains("demo = [\"dep:dva-demo-his\"]"), "the demo is not behind a feature");
}

/// Every source file is tracked: a `.gitignore` pattern that hides one (as `/demo-his*`, meant
/// for the demo's output folder, once hid the demo crate) builds here and fails in a clean clone.
#[test]
fn no_source_file_is_ignored_by_git() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let folders = ["src", "adapters", "demo-his", "tests", "benches", "mappings", "docs", "scripts", "fuzz", "debian"];
    let listed = std::process::Command::new("git")
        .args(["ls-files", "--others", "--ignored", "--exclude-standard", "--"])
        .args(folders)
        .current_dir(root)
        .output()
        .expect("git");
    assert!(listed.status.success(), "git ls-files: {}", String::from_utf8_lossy(&listed.stderr));
    let source = ["rs", "toml", "yaml", "md", "py", "tsv", "json", "txt", "sh"];
    let ignored: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|f| !f.split('/').any(|part| part == "target" || part == "__pycache__"))
        .filter(|f| Path::new(f).extension().is_some_and(|e| source.iter().any(|s| e == *s)))
        .map(str::to_owned)
        .collect();
    assert!(ignored.is_empty(), "source files that .gitignore hides from commits: {ignored:?}");
}

/// No import circles between the demo crate's modules (`crate::x` uses, per top-level module).
#[test]
fn the_demo_crate_has_no_import_circles() {
    use std::collections::{BTreeMap, BTreeSet};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-his/src");
    let module_of = |file: &str| -> String {
        let rel = Path::new(file).strip_prefix(&root).map(Path::to_path_buf).unwrap_or_default();
        let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
        first.trim_end_matches(".rs").to_owned()
    };
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in sources("demo-his/src") {
        let from = module_of(&file);
        if from == "lib" {
            continue;
        }
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let to: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let to = if to.is_empty() {
                // `use crate::{a, b}`
                rest.trim_start_matches('{').split(['}', ';']).next().unwrap_or_default().to_owned()
            } else {
                to
            };
            for target in to.split(',').map(|t| t.trim().split("::").next().unwrap_or_default().to_owned()) {
                if !target.is_empty() && target != from && target.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    uses.entry(from.clone()).or_default().insert(target);
                }
            }
        }
    }
    // Depth-first: a module reached again while on the current path closes a circle.
    fn visit(m: &str, uses: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if done.contains(m) {
            return;
        }
        assert!(!path.iter().any(|p| p == m), "import circle: {} -> {m}", path.join(" -> "));
        path.push(m.to_owned());
        for next in uses.get(m).into_iter().flatten() {
            visit(next, uses, path, done);
        }
        path.pop();
        done.insert(m.to_owned());
    }
    let mut done = BTreeSet::new();
    for m in uses.keys() {
        visit(m, &uses, &mut Vec::new(), &mut done);
    }
    assert!(uses.len() >= 5, "the module graph was not read: {uses:?}");
}

/// Boundary: the daemon knows databases through `dva_source_api` only; the concrete adapters
/// are named where sources are opened (the snapshot), configured, filled with demo data, and
/// where the audit trail keeps its own store.
#[test]
fn only_the_edges_name_concrete_adapters() {
    let allowed = ["src/runtime/snapshot.rs", "src/config/", "src/cli/demo.rs", "src/audit/"];
    for (file, text) in sources("src") {
        if allowed.iter().any(|a| file.contains(a)) {
            continue;
        }
        for adapter in ["dva_source_diesel", "dva_source_odbc"] {
            assert!(!text.contains(adapter), "{file} names `{adapter}`; go through dva_source_api::RowSource");
        }
    }
}
