//! `validate --connect`, start-up and reload have the database check every statement of the
//! mappings and the columns they name, on every backend. Regression: an unknown column in `id`
//! gave 500 on every read, a template column the query does not return silently dropped its
//! element on every resource, and `validate` said valid.

use crate::backends::backends;
use crate::harness::{common_of, copy_set, demo_db, write_config_with, write_tokens};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The demo set with three faults only a database can find, two of them in the common folder
/// the set uses, and where each is written.
fn broken_set(dir: &Path) -> (PathBuf, Vec<String>) {
    let mappings = dir.join("mappings");
    copy_set(&mappings);
    let common = common_of(&mappings);
    // Each edit gives the `file:line:column` of where its text starts, as the output names it.
    let edit = |path: PathBuf, from: &str, to: &str, at: &str| {
        let text = std::fs::read_to_string(&path).expect("mapping");
        assert!(text.contains(from), "{}: {from}", path.display());
        let edited = text.replacen(from, to, 1);
        let (line, column) = edited
            .lines()
            .enumerate()
            .find_map(|(i, l)| l.find(at).map(|c| (i + 1, c + 1)))
            .expect("position of the edit");
        std::fs::write(&path, edited).expect("write");
        format!("{}:{line}:{column}", path.display())
    };
    let patient = edit(common.join("patient.yaml"), "id: \"{pat_id}\"", "id: \"{pat_id_typo}\"", "\"{pat_id_typo}");
    let encounter = edit(
        mappings.join("encounter.yaml"),
        "display: \"{episode_naam}\"",
        "display: \"{episode_name}\"",
        "\"{episode_name}",
    );
    // A database error points at the first line of the query.
    let practitioner = edit(common.join("practitioner.yaml"), "FROM medewerker m", "FROM medewerkers m", "SELECT");
    let expected = vec![
        format!("{patient}: error: column `pat_id_typo` is not returned by the query"),
        format!("{encounter}: error: column `episode_name` is not returned by the query"),
        format!("{practitioner}: error: the database refuses this query"),
    ];
    (mappings, expected)
}

fn validate(config: &Path, connect: bool) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dva-connector"));
    command.args(["validate", "--config"]).arg(config);
    if connect {
        command.arg("--connect");
    }
    let out = command.output().expect("run validate");
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn every_backend_checks_the_statements_and_the_columns_they_name() {
    for (backend, source) in backends() {
        let dir = tempfile::tempdir().expect("dir");
        let (mappings, expected) = broken_set(dir.path());
        write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
        let config = write_config_with(dir.path(), &source, &mappings, "");
        // Without --connect the files alone look right.
        assert_eq!(validate(&config, false).0, 0, "{backend}");
        let (code, out) = validate(&config, true);
        assert_eq!(code, 64, "{backend}: {out}");
        for line in &expected {
            assert!(out.contains(line), "{backend}: missing `{line}` in:\n{out}");
        }
        // Start-up refuses the same; a reload to it would change nothing.
        let errors = dva_connector::runtime::Snapshot::load(&config).err().expect("refused at start");
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for line in &expected {
            assert!(shown.iter().any(|l| l.starts_with(line.as_str())), "{backend}: start-up did not report `{line}`");
        }
        // The good set passes on this backend.
        copy_set(&mappings);
        let (code, out) = validate(&config, true);
        assert_eq!(code, 0, "{backend}: {out}");
        assert!(out.contains("statements checked against the databases"), "{backend}: {out}");
    }
}

#[test]
fn a_reload_the_database_refuses_changes_nothing() {
    use arc_swap::ArcSwap;
    use dva_connector::runtime::reload::{reload, ReloadOutcome};
    let app = crate::harness::spawn_app();
    let config = app.dir.path().join("dva-connector.toml");
    let current = ArcSwap::from_pointee(dva_connector::runtime::Snapshot::load(&config).expect("loads"));
    let patient = common_of(&app.mappings).join("patient.yaml");
    let good = std::fs::read_to_string(&patient).expect("mapping");
    std::fs::write(&patient, good.replace("id: \"{pat_id}\"", "id: \"{pat_id_typo}\"")).expect("write");
    match reload(&config, &current) {
        ReloadOutcome::Rejected(lines) => {
            assert!(lines.iter().any(|l| l.contains("`pat_id_typo` is not returned by the query")), "{lines:?}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let served = current.load();
    let mapping = served.services[0].mappings.for_type("Patient").next().expect("patient mapping");
    assert_eq!(mapping.id.column, "pat_id", "the running mapping was replaced");
}

/// `validate --connect` cannot check against a database that does not answer: it says so and
/// exits 69 (EX_UNAVAILABLE), not 0 and not 64.
#[test]
fn validate_connect_says_when_a_database_cannot_be_asked() {
    let dir = tempfile::tempdir().expect("dir");
    let mappings = dir.path().join("mappings");
    copy_set(&mappings);
    write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let source = format!("kind = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:{closed}/test\"");
    let config = write_config_with(dir.path(), &source, &mappings, "");
    let (code, out) = validate(&config, true);
    assert_eq!(code, 69, "{out}");
    assert!(out.contains("source `ehr`: its statements could not be checked"), "{out}");
}
