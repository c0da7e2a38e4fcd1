//! Every mapping set in the repository, and every example in mappings/README.md, compiles.

use dva_connector::diagnostics::Severity;
use dva_connector::mapping::load_set;
use std::path::Path;

fn sets(root: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(root).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.join("service.yaml").is_file() {
                out.push(path.clone());
            }
            sets(&path, out);
        }
    }
}

#[test]
fn every_mapping_set_compiles_without_warnings() {
    let mut found = Vec::new();
    sets(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"), &mut found);
    assert!(!found.is_empty());
    for dir in found {
        let (set, diags) = load_set(&dir);
        let shown: Vec<String> = diags.items.iter().map(ToString::to_string).collect();
        assert!(set.is_some(), "{}:\n{}", dir.display(), shown.join("\n"));
        assert!(
            diags.items.iter().all(|d| d.severity != Severity::Warning),
            "{}:\n{}",
            dir.display(),
            shown.join("\n")
        );
    }
}

/// The reference's examples are files: each ```yaml block starting with `# file: NAME`, a
/// name in the set's folder or in the common folder beside it (`../common/NAME`).
#[test]
fn the_examples_in_the_mapping_reference_compile() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/README.md"))
        .expect("mappings/README.md");
    let dir = tempfile::tempdir().expect("temp");
    let set = dir.path().join("set");
    std::fs::create_dir_all(dir.path().join("common")).expect("mkdir");
    std::fs::create_dir_all(&set).expect("mkdir");
    let mut written = Vec::new();
    for block in readme.split("```yaml\n").skip(1) {
        let body = block.split("```").next().unwrap_or_default();
        if let Some(name) = body.lines().next().and_then(|l| l.strip_prefix("# file: ")) {
            let name = name.trim();
            assert!(name.starts_with("../common/") || !name.contains('/'), "{name}");
            std::fs::write(set.join(name), body).expect("write example");
            written.push(name.to_owned());
        }
    }
    for expected in ["service.yaml", "../common/common.yaml", "../common/patient.yaml"] {
        assert!(written.iter().any(|w| w == expected), "the reference has no example {expected}: {written:?}");
    }
    let (set, diags) = load_set(&set);
    let shown: Vec<String> = diags.items.iter().map(ToString::to_string).collect();
    assert!(set.is_some() && diags.items.is_empty(), "{}", shown.join("\n"));
}

#[test]
fn progress_is_reported_per_mapping_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his/gp-data");
    let mut calls = Vec::new();
    let (set, _) = dva_connector::mapping::load_set_with_progress(&dir, &mut |done, total| calls.push((done, total)));
    let files = set.expect("compiles").mappings.len();
    assert_eq!(calls.len(), files);
    assert_eq!(calls.last(), Some(&(files, files)));
}

/// `check_texts` (the fuzz target's way in) compiles a mapping as `load_set` does, with the
/// common folder's code tables and fragments given as text.
#[test]
fn texts_alone_compile_like_the_set() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his");
    let read = |file: &str| std::fs::read_to_string(demo.join(file)).expect("demo file");
    let (service, common) = (read("gp-data/service.yaml"), read("common/common.yaml"));
    let diags = dva_connector::mapping::check_texts(&service, &common, &read("gp-data/observation-lab.yaml"));
    assert!(diags.items.is_empty(), "{:?}", diags.items);
    let broken = read("gp-data/observation-lab.yaml").replace("{{patient_name(p)}}", "{{patient_nam(p)}}");
    let diags = dva_connector::mapping::check_texts(&service, &common, &broken);
    assert!(
        diags.items.iter().any(|d| d.message.starts_with("unknown SQL fragment `patient_nam`")),
        "{:?}",
        diags.items
    );
}
