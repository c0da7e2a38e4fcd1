//! `dva-connector validate`: every error at once as file:line:column, exit 64.

use crate::harness::{common_of, copy_set, demo_db, repo_mappings, write_config, write_tokens};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `validate` on `config`; a config it calls valid must also pass `validate --connect` and be
/// served (see [`assert_serves`]): what passes validate must never make serve fail.
fn validate(config: &Path) -> (i32, String) {
    let (code, out) = run_validate(config, &[]);
    if code == 0 {
        let (connected, out) = run_validate(config, &["--connect"]);
        assert_eq!(connected, 0, "valid offline, but not against the database:\n{out}");
        assert_serves(config);
    }
    (code, out)
}

fn run_validate(config: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["validate", "--config"])
        .arg(config)
        .args(extra)
        .output()
        .expect("run validate");
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port()
}

/// `config` with its listeners on free ports (written next to it, so relative paths hold).
fn on_free_ports(config: &Path) -> (PathBuf, u16) {
    let text = std::fs::read_to_string(config).expect("config");
    let port = free_port();
    let mut listens = 0;
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            if !line.trim_start().starts_with("listen =") {
                return line.to_owned();
            }
            listens += 1;
            let p = if listens == 1 { port } else { free_port() };
            format!("listen = \"127.0.0.1:{p}\"")
        })
        .collect();
    if listens < 2 {
        lines.push(format!("[admin]\nlisten = \"127.0.0.1:{}\"", free_port()));
    }
    let copy = config.with_file_name("serve-check.toml");
    std::fs::write(&copy, lines.join("\n")).expect("write");
    (copy, port)
}

/// Regression: `validate` passed configs on which `serve` panicked (exit 101, which systemd
/// restarts forever) or exited 64. A valid config must come up, keep serving and stop with 0.
fn assert_serves(config: &Path) {
    let (copy, port) = on_free_ports(config);
    let mut server = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["serve", "--config"])
        .arg(&copy)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.try_wait().expect("status") {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(server.stderr.as_mut().expect("stderr"), &mut err);
            panic!("serve exited with {status} on a config validate called valid:\n{err}");
        }
        assert!(std::time::Instant::now() < deadline, "serve did not start listening");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(server.try_wait().expect("status").is_none(), "serve stopped by itself");
    let term = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().expect("kill");
    assert!(term.success());
    let status = server.wait().expect("exit");
    assert_eq!(status.code(), Some(0), "serve did not stop cleanly");
}

#[test]
fn the_demo_config_is_valid() {
    let dir = tempfile::tempdir().expect("temp");
    write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
    let config = write_config(dir.path(), &demo_db().path, &repo_mappings());
    let (code, out) = validate(&config);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid"), "{out}");
}

#[test]
fn broken_mappings_report_every_error_with_position_and_exit_64() {
    let dir = tempfile::tempdir().expect("temp");
    let mappings = dir.path().join("mappings");
    copy_set(&mappings);
    std::fs::write(
        mappings.join("broken-one.yaml"),
        "resource: Observaton\nprofile: http://example.org/p\nquery: SELECT 1 AS id FROM t\nid: \"x-{id}\"\ntemplate:\n  status: \"{state | mapp: t}\"\n",
    )
    .expect("write");
    std::fs::write(
        mappings.join("broken-two.yaml"),
        "resource: Flag\nprofile: http://example.org/p\nquery: SELECT id FROM t WHERE p = :patient\nid: \"{id}\"\ncolour: red\ntemplate:\n  code: \"{a\"\n  subject: { reference: \"Patient/{p}\" }\n  identifier:\n    - system: http://fhir.nl/fhir/NamingSystem/bsn\n      value: \"{bsn}\"\n",
    )
    .expect("write");
    std::fs::write(mappings.join("broken-three.yaml"), "resource: [unclosed\n").expect("write");
    std::fs::write(
        mappings.join("broken-four.yaml"),
        "resource: Observation\nprofile: http://example.org/p\nquery: SELECT id FROM t WHERE p = :patient\nid: \"obs4-{id}\"\ntemplate:\n  status: final\n  valueQuantiy: { value: \"{v}\" }\n  code:\n    codingg: []\n  subject: { reference: \"Patient/{p}\", display: x, colour: red }\n  _code: { id: x }\n",
    )
    .expect("write");
    write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
    let config = write_config(dir.path(), &demo_db().path, &mappings);
    let (code, out) = validate(&config);
    assert_eq!(code, 64, "{out}");
    let one = mappings.join("broken-one.yaml").display().to_string();
    let two = mappings.join("broken-two.yaml").display().to_string();
    let three = mappings.join("broken-three.yaml").display().to_string();
    let four = mappings.join("broken-four.yaml").display().to_string();
    for expected in [
        format!("{one}:1:11: error: `Observaton` is not a FHIR STU3 resource type"),
        format!("{one}:3:8: error: the query must use `:patient`"),
        format!("{one}:6:11: error: unknown filter `mapp: t`"),
        format!("{two}:5:1: error: unknown key `colour`"),
        format!("{two}:7:9: error: unclosed `{{`"),
        format!("{two}:8:14: warning: `subject`: a Reference must have a `display`"),
        format!("{two}:10:7: error: `identifier`: a BSN must never be served"),
        format!("{three}:2:1: error: YAML syntax"),
        format!("{four}:7:3: error: `valueQuantiy` is not an element of Observation in FHIR STU3"),
        format!("{four}:9:5: error: `codingg` is not an element of CodeableConcept in FHIR STU3"),
        format!("{four}:10:52: error: `colour` is not an element of Reference in FHIR STU3"),
        format!("{four}:11:3: error: `_code`: `code` is not a primitive element of Observation"),
    ] {
        assert!(out.contains(&expected), "missing:\n{expected}\nin:\n{out}");
    }
}

#[test]
fn a_broken_config_reports_its_position() {
    let dir = tempfile::tempdir().expect("temp");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[server]\nlisten = \"nowhere\"\n\n[auth]\nmode = \"static\"\ntoken_file = \"t.json\"\n\n[[services]]\nname = \"x\"\nbase_path = \"fhir\"\nmappings = \"nope\"\nsource = \"missing\"\n").expect("write");
    let (code, out) = validate(&config);
    assert_eq!(code, 64, "{out}");
    let file = config.display().to_string();
    for expected in [
        format!("{file}:2:10: error: `nowhere` is not an address:port"),
        format!("{file}:10:13: error: `base_path` `fhir` must look like /fhir/stu3/gp-data"),
        format!("{file}:11:12: error: mapping folder"),
        format!("{file}:12:10: error: unknown source `missing`"),
    ] {
        assert!(out.contains(&expected), "missing:\n{expected}\nin:\n{out}");
    }
}

/// `demo --no-serve` writes a database, tokens and a config that validates; a second run
/// reuses the database; a file that is not a demo database is refused, not served.
#[test]
fn demo_prepares_a_valid_setup() {
    let dir = tempfile::tempdir().expect("temp");
    let demo = dir.path().join("demo");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_dva-connector"))
            .args(["demo", "--patients", "10", "--no-serve", "--dir"])
            .arg(&demo)
            .arg("--mappings")
            .arg(repo_mappings())
            .output()
            .expect("run demo")
    };
    let first = run();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    for file in ["demo-his.sqlite", "tokens.json", "dva-connector.toml"] {
        assert!(demo.join(file).is_file(), "{file} missing");
    }
    let (code, out) = validate(&demo.join("dva-connector.toml"));
    assert_eq!(code, 0, "{out}");
    let modified = std::fs::metadata(demo.join("demo-his.sqlite")).and_then(|m| m.modified()).expect("mtime");
    assert!(run().status.success());
    assert_eq!(std::fs::metadata(demo.join("demo-his.sqlite")).and_then(|m| m.modified()).expect("mtime"), modified);
    std::fs::write(demo.join("demo-his.sqlite"), b"").expect("clobber");
    let refused = run();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not a demo-his database"));
    let too_few = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["demo", "--patients", "5", "--no-serve", "--dir"])
        .arg(dir.path().join("other"))
        .arg("--mappings")
        .arg(repo_mappings())
        .output()
        .expect("run demo");
    assert!(!too_few.status.success());
    assert!(String::from_utf8_lossy(&too_few.stderr).contains("between 10 and 100000"));
}

/// `validate` on the demo set plus one extra mapping file `flag.yaml` with `text`: the exit
/// code, the output, and the extra file's path as the output names it.
fn validate_with_flag(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("temp");
    let mappings = dir.path().join("mappings");
    copy_set(&mappings);
    std::fs::write(mappings.join("flag.yaml"), text).expect("write");
    write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
    let config = write_config(dir.path(), &demo_db().path, &mappings);
    let (code, out) = validate(&config);
    (code, out, mappings.join("flag.yaml").display().to_string())
}

/// `validate` warns about what would break the MedMij response rules of shared/medmij.md §4.4:
/// references the set cannot resolve, CodeableConcepts without text, incomplete Identifiers.
#[test]
fn validate_warns_about_unresolvable_references_and_incomplete_codes() {
    let (code, out, file) = validate_with_flag(
        "resource: Flag\nprofile: http://example.org/p\nquery: SELECT pat_id AS id, pat_id AS p FROM patient WHERE pat_id = :patient\nid: \"flag-{id}\"\n\
         template:\n  status: active\n  identifier:\n    - value: \"{id}\"\n  code:\n    coding:\n      - { system: \"http://snomed.info/sct\", code: \"1\" }\n  \
         subject: { reference: \"Patient/{p}\", display: x }\n  author: { reference: \"Organization/unit-{id}\", display: x }\n  \
         encounter: { reference: \"Encounter/visit-{id}\", display: x }\n",
    );
    assert_eq!(code, 0, "warnings only: {out}");
    for expected in [
        format!("{file}:8:7: warning: `identifier`: every Identifier needs a `system` (or `type`) and a `value`"),
        format!("{file}:10:5: warning: `code`: a CodeableConcept needs a coding `display`, a `text` or an extension"),
        format!("{file}:13:24: warning: references `Organization/unit-...`, but no Organization mapping has ids like that (prefixes: `practice-`) (MedMij rule"),
        format!("{file}:14:27: warning: references `Encounter/visit-...`, but no Encounter mapping has ids like that"),
    ] {
        assert!(out.contains(&expected), "missing `{expected}` in:\n{out}");
    }
    assert!(!out.contains("references `Patient/"), "Patient/{{p}} resolves: {out}");
}

/// Cardinality from the generated element tables: a repeating element must be a list, any
/// other a single value (FHIR JSON), or other implementations reject the resource.
#[test]
fn validate_checks_which_elements_repeat() {
    let (code, out, file) = validate_with_flag(
        "resource: Flag\nprofile: http://example.org/p\nquery: SELECT id, p FROM t WHERE p = :patient\nid: \"flag-{id}\"\n\
         template:\n  status: [active]\n  identifier: { system: \"urn:x\", value: \"{id}\" }\n  \
         code: { text: x, coding: [{ system: \"urn:x\", code: \"1\", display: x }] }\n  subject: { reference: \"Patient/{p}\", display: x }\n",
    );
    assert_eq!(code, 64, "{out}");
    for expected in [
        format!("{file}:6:3: error: `status` occurs at most once in Flag: write one value, not a list"),
        format!("{file}:7:3: error: `identifier` repeats in Flag: write it as a list"),
    ] {
        assert!(out.contains(&expected), "missing `{expected}` in:\n{out}");
    }
    assert!(!out.contains(":8:"), "code and its coding list are right: {out}");
}

/// `demo --qualification` over the folder of all demo-his sets: one service per set, the
/// Nictiz test tokens that stand for a patient (a valid BSN, each token once), and a config
/// that validates.
#[test]
fn demo_with_qualification_data_serves_every_set() {
    let dir = tempfile::tempdir().expect("temp");
    let scripts = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/nictiz-testscripts");
    let out = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["demo", "--no-serve", "--qualification", scripts, "--mappings"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his"))
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("run demo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = std::fs::read_to_string(dir.path().join("dva-connector.toml")).expect("config");
    for base in ["/fhir/stu3/gp-data", "/fhir/stu3/bgz", "/fhir/stu3/pdfa"] {
        assert!(config.contains(&format!("base_path = \"{base}\"")), "{config}");
    }
    let tokens: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tokens.json")).expect("tokens")).expect("json");
    assert!(tokens.iter().any(|t| t["accessToken"] == "Bearer 0aed465d-aab0-4417-9b3c-e6f635892fea"));
    let (code, out) = validate(&dir.path().join("dva-connector.toml"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 data services"), "{out}");
}

/// What a careless operator writes: `validate` refuses each with its position and the range or
/// rule, and `serve` refuses it the same way (exit 64, which systemd does not restart), never
/// a panic. Regression: each of these passed `validate`; on some `serve` panicked (exit 101).
#[test]
fn careless_configs_are_refused_by_validate_and_serve_alike() {
    let config_edits: Vec<(&str, &str, &str)> = vec![
        ("workers", "workers = 1", "workers = 513"),
        ("statement timeout", "[sources.ehr]\n", "[sources.ehr]\nstatement_timeout_secs = 9223372036854775807\n"),
        ("no rows", "[sources.ehr]\n", "[sources.ehr]\nmax_rows = 0\n"),
        ("fewer rows than a page", "[sources.ehr]\n", "[sources.ehr]\nmax_rows = 100\n"),
        ("pool", "[sources.ehr]\n", "[sources.ehr]\npool_size = 0\n"),
        ("connect timeout", "[sources.ehr]\n", "[sources.ehr]\nconnect_timeout_secs = 100000\n"),
        ("page size", "[auth]", "[fhir]\nmax_count = 0\n\n[auth]"),
        ("dot-dot", "base_path = \"/fhir/stu3/gp-data\"", "base_path = \"/fhir/../gp-data\""),
        ("missing database", ".sqlite\"", ".sqlite-gone\""),
        ("retention", "[auth]", "[audit]\nretention_months = 0\n\n[auth]"),
    ];
    let expected = [
        "`workers = 513` is out of range: 1 to 64",
        "`statement_timeout_secs = 9223372036854775807` is out of range: 1 to 3600 seconds",
        "`max_rows = 0` is out of range: 1 to 1000000 rows",
        "`max_rows = 100` must be more than `[fhir] default_count` (100)",
        "`pool_size = 0` is out of range: 1 to 256",
        "`connect_timeout_secs = 100000` is out of range: 1 to 300 seconds",
        "`max_count = 0` is out of range: 1 to 5000",
        "must look like /fhir/stu3/gp-data",
        "the SQLite database",
        "`retention_months = 0` is out of range: 1 to 600 months",
    ];
    for ((what, from, to), says) in config_edits.iter().zip(expected) {
        let dir = tempfile::tempdir().expect("temp");
        write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
        let config = write_config(dir.path(), &demo_db().path, &repo_mappings());
        let text = std::fs::read_to_string(&config).expect("config");
        assert!(text.contains(from), "{what}: `{from}` not in the config");
        std::fs::write(&config, text.replacen(from, to, 1)).expect("write");
        assert_refused(what, &config, says);
    }
    let auth_edits = [
        ("no algorithms", "algorithms = []", "`algorithms` is empty"),
        (
            "clock skew",
            "max_clock_skew_secs = 86400",
            "`max_clock_skew_secs = 86400` is out of range: 0 to 300 seconds",
        ),
    ];
    for (what, line, says) in auth_edits {
        let dir = tempfile::tempdir().expect("temp");
        std::fs::write(dir.path().join("jwks.json"), "{\"keys\": []}").expect("jwks");
        let config = write_config(dir.path(), &demo_db().path, &repo_mappings());
        let text = std::fs::read_to_string(&config).expect("config");
        let jwt = format!("mode = \"jwt\"\njwks_file = \"jwks.json\"\nissuer = \"https://as.test\"\naudience = \"https://dva.test\"\n{line}");
        let text = text
            .replace("mode = \"static\"\ntoken_file = \"tokens.json\"", &jwt)
            .replace("source = \"ehr\"", "source = \"ehr\"\nprovider = \"demo-his\"\ndata_service_id = \"49\"");
        std::fs::write(&config, text).expect("write");
        assert_refused(what, &config, says);
    }
}

/// Mapping files as editors and careless copies leave them.
#[test]
fn mapping_files_with_nul_bytes_second_documents_or_dead_includes_are_refused() {
    let patient = common_of(&repo_mappings()).join("patient.yaml");
    let original = std::fs::read_to_string(&patient).expect("patient mapping");
    let line_of = |needle: &str| original.lines().position(|l| l.contains(needle)).map_or(0, |i| i + 1);
    let after_end = original.lines().count() + 1;
    let include_line = line_of("include: [Patient:general-practitioner]") + 1;
    let cases: Vec<(&str, String, String)> = vec![
        (
            "NUL byte",
            original.replacen("resource: Patient", "resource: Pat\0ient", 1),
            format!("patient.yaml:{}:14: error: the file contains a NUL byte", line_of("resource: Patient")),
        ),
        (
            "second document",
            format!("{original}---\nresource: Flag\n"),
            format!("patient.yaml:{after_end}:1: error: YAML syntax: a second YAML document"),
        ),
        (
            "dead include",
            original.replacen(
                "include: [Patient:general-practitioner]",
                "include:\n  Patient:general-practitioner: careProvider",
                1,
            ),
            format!("patient.yaml:{include_line}:33: error: include `Patient:general-practitioner` follows `careProvider`, which the template does not write"),
        ),
        (
            "a write",
            original.replacen("SELECT", "DELETE FROM patient WHERE pat_id = :patient; SELECT", 1),
            "the query holds more than one statement".to_owned(),
        ),
    ];
    for (what, text, says) in cases {
        let dir = tempfile::tempdir().expect("temp");
        let mappings = dir.path().join("mappings");
        copy_set(&mappings);
        std::fs::write(common_of(&mappings).join("patient.yaml"), text).expect("write");
        write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
        let config = write_config(dir.path(), &demo_db().path, &mappings);
        assert_refused(what, &config, &says);
    }
    // A byte-order mark (Windows editors write one) is not a problem.
    let dir = tempfile::tempdir().expect("temp");
    let mappings = dir.path().join("mappings");
    copy_set(&mappings);
    std::fs::write(common_of(&mappings).join("patient.yaml"), format!("\u{feff}{original}")).expect("write");
    write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
    let config = write_config(dir.path(), &demo_db().path, &mappings);
    let (code, out) = validate(&config);
    assert_eq!(code, 0, "a BOM: {out}");
}

/// `validate` exits 64 saying `says`; `serve` exits 64 too, saying the same.
fn assert_refused(what: &str, config: &Path, says: &str) {
    let (code, out) = validate(config);
    assert_eq!(code, 64, "{what}: {out}");
    assert!(out.contains(says), "{what}: `{says}` not in:\n{out}");
    let (copy, _) = on_free_ports(config);
    let served = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["serve", "--config"])
        .arg(&copy)
        .output()
        .expect("run serve");
    let err = String::from_utf8_lossy(&served.stderr);
    assert_eq!(served.status.code(), Some(64), "{what}: serve: {err}");
    assert!(err.contains(says), "{what}: serve did not say `{says}`:\n{err}");
}
