//! `explain` and `preview`, the tools for IT staff, run as the real binary.

use crate::harness::{demo_db, repo_mappings, write_config, write_tokens, LAB_SYSTEM};
use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("temp");
    write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
    let config = write_config(dir.path(), &demo_db().path, &repo_mappings());
    let out = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .arg(args[0])
        .arg("--config")
        .arg(&config)
        .args(&args[1..])
        .output()
        .expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn explain_prints_the_statements_and_binds_without_running_them() {
    let hostile = "x');DROP TABLE labuitslag;--";
    let request = format!("GET /fhir/stu3/gp-data/Observation?code={LAB_SYSTEM}|{hostile}&date=ge2025-01-01");
    let (ok, out, err) = run(&["explain", &request]);
    assert!(ok, "{err}");
    assert!(out.contains("SELECT pat_id FROM patient WHERE bsn = CAST(? AS CHAR(9))"), "{out}");
    assert!(out.contains("observation-lab.yaml"), "{out}");
    assert!(out.contains("q.nhg_code = ?") && out.contains("q.afname >= ?"), "{out}");
    assert!(out.contains("observation-journal.yaml: skipped"), "the journal cannot match an NHG code:\n{out}");
    let sql: String = out.lines().filter(|l| !l.starts_with("--")).collect();
    assert!(!sql.contains("DROP"), "a request value reached the SQL text:\n{out}");
    assert!(out.contains(&format!("'{hostile}'")), "the value is shown as a bind:\n{out}");
    let (ok, _, err) = run(&["explain", "GET /fhir/stu3/gp-data/Observation?nope=1"]);
    assert!(!ok && err.contains("400"), "{err}");
    let (ok, out, _) = run(&["explain", "/fhir/stu3/gp-data/AllergyIntolerance/12"]);
    assert!(ok && out.contains("q.allergie_id = ?") && out.contains("child rows `reacties`"), "{out}");
    // A mapping of the common folder is named by its file there.
    let (ok, out, _) = run(&["explain", "/fhir/stu3/gp-data/Patient/1"]);
    assert!(ok && out.contains("read 1 (") && out.contains("demo-his/common/patient.yaml)"), "{out}");
}

#[test]
fn preview_prints_a_patients_fhir_and_problems() {
    let bsn = &demo_db().tokens[0].bsn;
    let (ok, out, err) = run(&["preview", "--bsn", bsn, "/fhir/stu3/gp-data/Patient"]);
    assert!(ok, "{err}");
    let bundle: serde_json::Value = serde_json::from_str(&out).expect("JSON on stdout");
    assert_eq!(bundle["entry"][0]["resource"]["resourceType"], "Patient");
    assert!(err.contains("0 mapping problems"), "{err}");
    let (ok, _, err) = run(&["preview", "--bsn", "123456782", "/fhir/stu3/gp-data/Patient"]);
    assert!(!ok && err.contains("no live patient record"), "{err}");
}

/// A problem in a mapping of the common folder is named by that file.
#[test]
fn preview_names_the_shared_file_of_a_problem() {
    let dir = tempfile::tempdir().expect("temp");
    let mappings = dir.path().join("mappings");
    crate::harness::copy_set(&mappings);
    let common = crate::harness::common_of(&mappings);
    let table = std::fs::read_to_string(common.join("common.yaml")).expect("common.yaml");
    // Without its `M`, `V` and `O` entries no gender can be mapped.
    let emptied = table.replacen("    M: male\n    V: female\n    O: other\n", "    X: unknown\n", 1);
    assert_ne!(emptied, table);
    std::fs::write(common.join("common.yaml"), emptied).expect("write");
    write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
    let config = write_config(dir.path(), &demo_db().path, &mappings);
    let out = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["preview", "--config"])
        .arg(&config)
        .args(["--bsn", &demo_db().tokens[0].bsn, "/fhir/stu3/gp-data/Patient"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let shared = common.canonicalize().expect("common").join("patient.yaml");
    assert!(err.contains("1 mapping problems") && err.contains(&format!("{}: ", shared.display())), "{err}");
}
