//! The documentation stays true to the code where a machine can tell: every relative link
//! leads to a file, and every key of a TOML example is one the config knows.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, docs/*.md and the mapping references.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md"), root().join("ARCHITECTURE.md"), root().join("mappings/README.md")];
    for dir in ["docs", "mappings/demo-his"] {
        for entry in std::fs::read_dir(root().join(dir)).expect("read dir").flatten() {
            if entry.path().extension().is_some_and(|e| e == "md") {
                pages.push(entry.path());
            }
        }
    }
    pages.sort();
    pages
}

#[test]
fn relative_links_lead_to_files() {
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("read page");
        for (i, _) in text.match_indices("](") {
            let target = text[i + 2..].split(')').next().unwrap_or_default();
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap_or_default();
            let path = page.parent().expect("folder").join(file);
            assert!(path.exists(), "{}: the link `{target}` leads nowhere", page.display());
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} links found: is the link syntax still `[text](target)`?");
}

/// Every ```toml example is parsed as a config file: the examples are fragments, so missing
/// sections and files are expected, but a key or value the config does not know is not.
#[test]
fn config_examples_use_only_keys_the_config_knows() {
    let dir = tempfile::tempdir().expect("temp");
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("read page");
        for block in text.split("```toml\n").skip(1) {
            let example = block.split("```").next().unwrap_or_default();
            let file = dir.path().join("example.toml");
            std::fs::write(&file, example).expect("write");
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_dva-connector"))
                .args(["validate", "--config"])
                .arg(&file)
                .output()
                .expect("run validate");
            let said = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
            for unknown in ["unknown field", "unknown variant", "invalid type", "TOML parse error", "expected"] {
                assert!(
                    !said.contains(unknown),
                    "{}: an example the config does not take:\n{example}\n{said}",
                    page.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} TOML examples found");
}
