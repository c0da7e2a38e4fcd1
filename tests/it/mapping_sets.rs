//! Every mapping set in the repository, and every example in mappings/README.md, compiles.

use dva_connector::diagnostics::Severity;
use dva_connector::engine::{build_resources, EvalContext, ScopeRows};
use dva_connector::fhir::{to_xml, FhirVersion};
use dva_connector::mapping::load_set;
use dva_source_api::Value;
use serde_json::{json, Value as Json};
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

/// A set of one Patient mapping whose template is `template` (indented under `template:`).
fn patient_set(template: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp");
    let set = dir.path().join("set");
    std::fs::create_dir_all(&set).expect("mkdir");
    std::fs::write(
        set.join("service.yaml"),
        "fhir: stu3\npatient_lookup: SELECT pat_id FROM patient WHERE bsn = :bsn\n",
    )
    .expect("service.yaml");
    let mapping = format!(
        "resource: Patient\nprofile: http://fhir.nl/fhir/StructureDefinition/nl-core-patient\n\
         query: SELECT pat_id, voornamen, roepnaam, voorletters, achternaam FROM patient WHERE pat_id = :patient\n\
         id: \"{{pat_id}}\"\ntemplate:\n{template}"
    );
    std::fs::write(set.join("patient.yaml"), mapping).expect("patient.yaml");
    (dir, set)
}

const QUALIFIER: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier";

/// `$value` writes a primitive with its own extensions: in a list, each extension stays with
/// its own value, and a value that is null goes with its extensions (no qualifier without a
/// name), in JSON (`given` beside an aligned `_given`) and in XML.
#[test]
fn primitives_keep_their_own_extensions() {
    let template = format!(
        "  name:\n    - family:\n        $value: \"{{achternaam}}\"\n        extension:\n          - {{url: http://hl7.org/fhir/StructureDefinition/humanname-own-name, valueString: \"{{achternaam}}\"}}\n\
         \x20     given:\n\
         \x20       - {{$value: \"{{voornamen}}\", extension: [{{url: {QUALIFIER}, valueCode: BR}}]}}\n\
         \x20       - {{$value: \"{{roepnaam}}\", extension: [{{url: {QUALIFIER}, valueCode: CL}}]}}\n\
         \x20       - \"{{achternaam}}\"\n\
         \x20       - {{$value: \"{{voorletters}}\", extension: [{{url: {QUALIFIER}, valueCode: IN}}]}}\n"
    );
    let (_dir, set) = patient_set(&template);
    let (set, diags) = load_set(&set);
    let shown: Vec<String> = diags.items.iter().map(ToString::to_string).collect();
    let set = set.unwrap_or_else(|| panic!("{}", shown.join("\n")));
    let columns: Vec<String> =
        ["pat_id", "voornamen", "roepnaam", "voorletters", "achternaam"].iter().map(|c| c.to_string()).collect();
    let mut rows = dva_source_api::RowSet::new(columns);
    // No call name: its qualifier must not move to the next name part.
    rows.rows.push(vec![Value::Int(7), "Johanna Maria".into(), Value::Null, "J.M.".into(), "Jansen".into()]);
    let ctx = EvalContext { time_zone: chrono_tz::Europe::Amsterdam, code_tables: &set.code_tables };
    let (resources, problems) = build_resources(&set.mappings[0], &ScopeRows { rows, children: vec![] }, &ctx);
    assert!(problems.is_empty(), "{problems:?}");
    let name = &resources[0].json["name"][0];
    assert_eq!(name["given"], json!(["Johanna Maria", "Jansen", "J.M."]));
    let qualifiers: Vec<Json> =
        name["_given"].as_array().expect("_given").iter().map(|g| g["extension"][0]["valueCode"].clone()).collect();
    assert_eq!(qualifiers, vec![json!("BR"), Json::Null, json!("IN")]);
    assert_eq!(name["_given"][1], Json::Null, "a plain item has a null beside it");
    assert_eq!(name["family"], "Jansen");
    assert_eq!(name["_family"]["extension"][0]["valueString"], "Jansen");
    let xml = to_xml(FhirVersion::Stu3, &resources[0].json).expect("xml");
    assert!(
        xml.contains(&format!(
            "<given value=\"Johanna Maria\"><extension url=\"{QUALIFIER}\"><valueCode value=\"BR\"/></extension></given><given value=\"Jansen\"/><given value=\"J.M.\">"
        )),
        "{xml}"
    );
}

/// `$value` only under primitives, extensions in one place, and a narrative only escaped.
#[test]
fn templates_refuse_what_their_elements_cannot_hold() {
    let cases = [
        ("  name:\n    - $value: \"{achternaam}\"\n", "`$value` is only for primitives"),
        ("  name:\n    - family: {text: \"{achternaam}\"}\n", "give it a value, or `$value:`"),
        (
            "  name:\n    - given: [{$value: \"{voornamen}\"}]\n      _given: [{id: x}]\n",
            "give its extensions in one place",
        ),
        ("  text: {status: generated, div: \"<div>{achternaam}</div>\"}\n", "write it as \"{column | xhtml}\""),
        ("  text: {status: generated, div: \"<div>open\"}\n", "must be a well-formed <div xmlns="),
    ];
    for (template, expected) in cases {
        let (_dir, set) = patient_set(template);
        let (_, diags) = load_set(&set);
        let shown: Vec<String> = diags.items.iter().map(ToString::to_string).collect();
        assert!(shown.iter().any(|d| d.contains(expected)), "{template}: expected {expected:?} in {shown:?}");
    }
}
