//! Mapping sets that share (mappings/README.md, "Sharing between data services"): a common
//! folder of the EHR product (its `common.yaml` and mapping files), named SQL fragments, token
//! parameters on a template element, includes by name. Problems are reported in the file that
//! holds them, and a change in the common folder reloads the sets that use it.

use crate::harness::{common_of, copy_set, get_url, resources, spawn_reloading};
use dva_connector::mapping::{load_set, SearchParamDef};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A copy of the demo GP-data set (`dir/set`) and the common folder beside it.
fn copied() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp");
    let set = dir.path().join("set");
    copy_set(&set);
    // Named as the loader names it: the common folder is canonicalized.
    let common = common_of(&set).canonicalize().expect("common folder");
    (dir, set, common)
}

/// Replaces `from` (which must be there) with `to` in the file at `path`.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read");
    assert!(text.contains(from), "{}: no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("write");
}

/// `line:column` of the first `needle` in the file, plus `skip` characters (columns count
/// characters, as YAML does).
fn position_skipping(path: &Path, needle: &str, skip: usize) -> String {
    let text = std::fs::read_to_string(path).expect("read");
    let (line, column) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, l[..c].chars().count() + 1 + skip)))
        .unwrap_or_else(|| panic!("{}: no `{needle}`", path.display()));
    format!("{line}:{column}")
}

/// `line:column` of the first `needle` in the file.
fn position(path: &Path, needle: &str) -> String {
    position_skipping(path, needle, 0)
}

/// The set's errors as `validate` prints them; the set must be refused.
fn refused(set: &Path) -> Vec<String> {
    let (loaded, diags) = load_set(set);
    let shown: Vec<String> = diags.items.iter().map(ToString::to_string).collect();
    assert!(loaded.is_none(), "the set was accepted: {shown:?}");
    shown
}

fn has(errors: &[String], expected: &str) {
    assert!(errors.iter().any(|e| e.starts_with(expected)), "missing `{expected}` in:\n{}", errors.join("\n"));
}

fn demo_set(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his").join(name)
}

#[test]
fn the_demo_sets_map_patient_practitioner_and_organization_once() {
    let common = demo_set("common").canonicalize().expect("common");
    for (name, shared) in [
        ("gp-data", &["Patient", "Practitioner", "Organization"][..]),
        ("bgz", &["Patient", "Practitioner"][..]),
        ("pdfa", &["Patient", "Practitioner", "Organization"][..]),
    ] {
        let (set, diags) = load_set(&demo_set(name));
        let set = set.unwrap_or_else(|| panic!("{name}: {:?}", diags.items));
        assert_eq!(set.shared_dir.as_deref(), Some(common.as_path()), "{name}");
        for resource_type in shared {
            let files: Vec<_> = set.for_type(resource_type).map(|m| m.file.clone()).collect();
            assert_eq!(files, vec![common.join(format!("{}.yaml", resource_type.to_lowercase()))], "{name}");
        }
        assert_eq!(set.patient_lookup_at.0, common.join("common.yaml"), "{name}");
        let geslacht = set.code_tables.iter().filter(|t| t.name == "geslacht").count();
        assert_eq!(geslacht, 1, "{name}: the shared code table is there once");
        // No query keeps a fragment call: every `{{...}}` was expanded.
        for m in &set.mappings {
            assert!(!format!("{:?}", m.query).contains("{{"), "{}", m.file.display());
        }
    }
}

#[test]
fn problems_in_the_common_folder_are_reported_where_they_are_written() {
    let (_dir, set, common) = copied();
    let patient = common.join("patient.yaml");
    edit(&patient, "\"{geslacht | map: geslacht}\"", "\"{geslacht | mapp: geslacht}\"");
    let common_yaml = common.join("common.yaml");
    edit(&common_yaml, "    M: male", "    M: \"{male}\"");
    let errors = refused(&set);
    has(&errors, &format!("{}:{}: error:", patient.display(), position(&patient, "\"{geslacht | mapp")));
    has(
        &errors,
        &format!(
            "{}:{}: error: code tables hold constants",
            common_yaml.display(),
            position(&common_yaml, "\"{male}\"")
        ),
    );
}

#[test]
fn an_own_file_may_not_shadow_a_shared_one_and_own_definitions_come_first() {
    let (_dir, set, common) = copied();
    std::fs::copy(common.join("patient.yaml"), set.join("patient.yaml")).expect("copy");
    let errors = refused(&set);
    let service = set.join("service.yaml");
    has(
        &errors,
        &format!(
            "{}:{}: error: {} is served from the shared folder, and {} exists too; keep one",
            service.display(),
            position(&service, "patient.yaml"),
            common.join("patient.yaml").display(),
            set.join("patient.yaml").display()
        ),
    );
    std::fs::remove_file(set.join("patient.yaml")).expect("remove");

    // The set's own code table and fragment win over the common folder's.
    edit(&service, "code_tables:\n", "code_tables:\n  geslacht:\n    M: female\n    V: male\n    O: other\n");
    edit(&service, "sql:\n", "sql:\n  staff_name:\n    params: [m]\n    text: \"{m}.achternaam\"\n");
    let (loaded, diags) = load_set(&set);
    let loaded = loaded.unwrap_or_else(|| panic!("{:?}", diags.items));
    let geslacht: Vec<_> = loaded.code_tables.iter().filter(|t| t.name == "geslacht").collect();
    assert_eq!(geslacht.len(), 1);
    assert_eq!(geslacht[0].lookup("M"), Some(&serde_json::json!("female")));
    let patient = loaded.for_type("Patient").next().expect("patient");
    let query = format!("{:?}", patient.query);
    assert!(query.contains("m.achternaam AS huisarts_naam") && !query.contains("m.voorletters"), "{query}");
}

#[test]
fn use_names_a_folder_and_files_that_exist() {
    let (_dir, set, common) = copied();
    let service = set.join("service.yaml");
    edit(
        &service,
        "[patient.yaml, practitioner.yaml, organization.yaml, allergyintolerance.yaml, practitionerrole.yaml]",
        "[patient.yaml, patiënt.yaml, ../x.yaml]",
    );
    let errors = refused(&set);
    has(
        &errors,
        &format!(
            "{}:{}: error: `patiënt.yaml` is not a mapping file of the shared folder {}",
            service.display(),
            position(&service, "patiënt.yaml"),
            common.display()
        ),
    );
    has(
        &errors,
        &format!("{}:{}: error: `../x.yaml` is not a mapping file", service.display(), position(&service, "../x")),
    );
    edit(&service, "folder: ../common", "folder: ../commons");
    let errors = refused(&set);
    has(&errors, &format!("{}:{}: error: the shared folder", service.display(), position(&service, "../commons")));
}

#[test]
fn fragments_are_checked_where_they_are_used_and_written() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "{{staff_name(m)}} AS huisarts_naam",
            "{{staff_nam(m)}} AS huisarts_naam",
            "unknown SQL fragment `staff_nam` (defined under `sql:`: contact_label, family_name, patient_name, practitioners_of_patient, result_value, staff_name)",
        ),
        (
            "{{staff_name(m)}} AS huisarts_naam",
            "{{staff_name(m, p)}} AS huisarts_naam",
            "`{{staff_name(m, p)}}`: fragment `staff_name` takes 1 (m), names of the query only",
        ),
        (
            "{{staff_name(m)}} AS huisarts_naam",
            "{{staff_name(m.x')}} AS huisarts_naam",
            "`{{staff_name(m.x')}}`: fragment `staff_name` takes 1",
        ),
        ("{{staff_name(m)}} AS huisarts_naam", "{{staff_name(m) AS huisarts_naam", "`{{` without a closing `}}`"),
    ];
    for (from, to, says) in cases {
        let (_dir, set, common) = copied();
        let patient = common.join("patient.yaml");
        edit(&patient, from, to);
        let errors = refused(&set);
        // Reported at the query that uses the fragment.
        has(&errors, &format!("{}:{}: error: {says}", patient.display(), position(&patient, "SELECT")));
    }

    // A fragment that uses itself, through another, is stopped and reported in common.yaml.
    let (_dir, set, common) = copied();
    let common_yaml = common.join("common.yaml");
    edit(
        &common_yaml,
        "{{family_name({p})}})\n",
        "{{family_name({p})}} || {{loop}})\n  loop: \"{{patient_name(p)}}\"\n",
    );
    let errors = refused(&set);
    has(&errors, &format!("{}:", common_yaml.display()));
    assert!(
        errors.iter().any(|e| e.contains("SQL fragments use each other more than 8 deep (a cycle?)")),
        "{errors:?}"
    );

    // A parameter the text never uses is a mistake in the fragment.
    let (_dir, set, common) = copied();
    let common_yaml = common.join("common.yaml");
    edit(&common_yaml, "params: [m]", "params: [m, n]");
    let errors = refused(&set);
    has(
        &errors,
        &format!(
            "{}:{}: error: parameter `n` is not used in the text as `{{n}}`",
            common_yaml.display(),
            position(&common_yaml, "n]")
        ),
    );
}

#[test]
fn a_token_path_searches_exactly_the_codings_the_template_writes() {
    let (_dir, set, _common) = copied();
    let lab = set.join("observation-lab.yaml");
    let by_path = |set: &Path| {
        let (loaded, diags) = load_set(set);
        let loaded = loaded.unwrap_or_else(|| panic!("{:?}", diags.items));
        let m = loaded.mappings.iter().find(|m| m.name == "observation-lab").expect("lab");
        (m.search["code"].clone(), m.search["category"].clone())
    };
    let derived = by_path(&set);
    // The same parameters written out as `match:` lists compile to the same thing.
    edit(
        &lab,
        "  code:\n    type: token\n    path: code\n",
        "  code:\n    type: token\n    match:\n      - { system: \"https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen\", code: \"{nhg_code}\" }\n      - { system: \"http://loinc.org\", code: \"{loinc}\" }\n",
    );
    edit(
        &lab,
        "    path: category\n",
        "    match:\n      - { system: \"http://snomed.info/sct\", code: \"49581000146104\" }\n",
    );
    assert_eq!(by_path(&set), derived);
    let SearchParamDef::Token { matches } = &derived.0 else { panic!("a token parameter") };
    assert_eq!(matches.len(), 2);

    let cases = [
        ("path: category", "path: method", "method", "the template writes no codings at `method`"),
        (
            "path: category",
            "path: category\n    match: []",
            "category",
            "a token parameter takes `path:` or `match:`, not both",
        ),
        ("path: category", "path: [category]", "[category]", "`path:` names an element of the template"),
    ];
    for (from, to, at, says) in cases {
        let (_dir, set, _common) = copied();
        let lab = set.join("observation-lab.yaml");
        edit(&lab, from, to);
        let errors = refused(&set);
        has(
            &errors,
            &format!(
                "{}:{}: error: {says}",
                lab.display(),
                position_skipping(&lab, &format!("path: {at}"), "path: ".len())
            ),
        );
    }
    // Codings written per child row cannot be searched in the parent's SQL.
    let (_dir, set, common) = copied();
    let allergy = common.join("allergyintolerance.yaml");
    let text = std::fs::read_to_string(&allergy).expect("read");
    let search_line = "search:\n";
    assert!(text.contains("$each"), "the allergy mapping has child rows");
    edit(&allergy, search_line, "search:\n  manifestation:\n    type: token\n    path: reaction.manifestation\n");
    let errors = refused(&set);
    assert!(
        errors.iter().any(|e| e.contains("come from child rows (`$each`); search on them with `match:`")),
        "{errors:?}"
    );
}

#[test]
fn includes_by_name_follow_the_elements_fhir_defines() {
    let (_dir, set, _common) = copied();
    let (loaded, _) = load_set(&set);
    let loaded = loaded.expect("compiles");
    let patient = loaded.for_type("Patient").next().expect("patient");
    assert_eq!(patient.includes["Patient:general-practitioner"], vec!["generalPractitioner".to_owned()]);

    for (name, says) in [
        ("Patient:nope", "`nope` is not a reference search parameter of Patient in FHIR STU3"),
        (
            "Patient:organization",
            "include `Patient:organization` follows `managingOrganization`, which the template does not write",
        ),
        ("Observation:subject", "include `Observation:subject` must start with `Patient:`"),
    ] {
        let (_dir, set, common) = copied();
        let file = common.join("patient.yaml");
        edit(&file, "include: [Patient:general-practitioner]", &format!("include: [{name}]"));
        let errors = refused(&set);
        has(&errors, &format!("{}:{}: error: {says}", file.display(), position(&file, name)));
    }
}

/// The GP's display on the served Patient, which comes from the common folder's fragment.
fn served_gp_display(base: &str, token: &str) -> String {
    let reply = get_url(&format!("{base}/Patient"), Some(token), None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    resources(&reply.body)
        .first()
        .and_then(|r| r["generalPractitioner"][0]["display"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn a_change_in_the_common_folder_reloads_the_set_that_uses_it() {
    let app = spawn_reloading();
    let token = app.token(0).to_owned();
    let before = served_gp_display(&app.base, &token);
    assert!(before.contains(' '), "initials, prefixes and family name: {before}");
    let common_yaml = common_of(&app.mappings).join("common.yaml");
    edit(
        &common_yaml,
        "text: TRIM(COALESCE(COALESCE({m}.voornamen, {m}.voorletters) || ' ', '') || COALESCE({m}.voorvoegsels || ' ', '') || {m}.achternaam)",
        "text: UPPER({m}.achternaam)",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut served = before.clone();
    while Instant::now() < deadline && served == before {
        std::thread::sleep(Duration::from_millis(50));
        served = served_gp_display(&app.base, &token);
    }
    assert_ne!(served, before, "the change in the common folder was not applied");
    assert_eq!(served, served.to_uppercase());
}

/// Every query is checked as it runs, fragments put in place: `:patient` may come from a
/// fragment, and a query that lacks it is refused however it was written.
#[test]
fn a_query_is_checked_after_its_fragments_are_in_place() {
    let (_dir, set, _common) = copied();
    let service = set.join("service.yaml");
    let episodes = set.join("episodeofcare.yaml");
    edit(
        &service,
        "sql:\n",
        "sql:\n  own_rows:\n    params: [t]\n    text: \"{t}.pat_id = :patient\"\n  any_rows: \"1 = 1\"\n",
    );
    edit(&episodes, "WHERE e.pat_id = :patient AND", "WHERE {{own_rows(e)}} AND");
    let (loaded, diags) = load_set(&set);
    let loaded = loaded.unwrap_or_else(|| panic!("{:?}", diags.items));
    let mapping = loaded.mappings.iter().find(|m| m.name == "episodeofcare").expect("episodes");
    assert!(format!("{:?}", mapping.query).contains("e.pat_id = "), "{:?}", mapping.query);

    edit(&episodes, "WHERE {{own_rows(e)}} AND", "WHERE {{any_rows}} AND");
    let errors = refused(&set);
    has(
        &errors,
        &format!("{}:{}: error: the query must use `:patient`", episodes.display(), position(&episodes, "SELECT")),
    );
}
