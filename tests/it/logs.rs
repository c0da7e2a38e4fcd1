//! Invariant 6: no PHI or secrets in logs. Runs the real binary at debug level, makes requests
//! that succeed and fail, and searches everything it logged.

use crate::harness::{demo_db, get_url, process_config, start_serve};
use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn logs_carry_no_tokens_bsns_or_names() {
    let db = demo_db();
    let dir = tempfile::tempdir().expect("temp");
    let (config, port) = process_config(dir.path());
    let mut server = start_serve(&config, port, |c| {
        c.env("DVA_LOG", "debug").env("DVA_LOG_FORMAT", "json").stdout(Stdio::piped()).stderr(Stdio::piped());
    });
    let base = format!("http://127.0.0.1:{port}/fhir/stu3/gp-data");
    let token = &db.tokens[0].token;
    let family = {
        let bundle = get_url(&format!("{base}/Patient"), Some(token), None).body;
        bundle["entry"][0]["resource"]["name"][0]["family"].as_str().expect("family").to_owned()
    };
    ureq::get(&format!("{base}/Patient"))
        .set("Authorization", &format!("Bearer {token}"))
        .set("MedMij-Request-ID", "57510be1-73e6-4a75-9db8-ee005cced48f")
        .call()
        .expect("a request with a MedMij-Request-ID");
    for path in ["Patient", "Observation?date=ge2020-01-01", "Encounter/1", "Patient?bad=1", "MedicationRequest"] {
        get_url(&format!("{base}/{path}"), Some(token), None);
    }
    get_url(&format!("{base}/Patient"), Some("wrong-token-1234"), None);
    // SIGHUP reloads, like a changed file.
    let hup = Command::new("kill").args(["-HUP", &server.id().to_string()]).status().expect("kill -HUP");
    assert!(hup.success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    server.kill().expect("stop server");
    server.wait().expect("server exit");
    let mut logs = String::new();
    server.stderr.take().expect("stderr").read_to_string(&mut logs).expect("read logs");
    server.stdout.take().expect("stdout").read_to_string(&mut logs).expect("read logs");
    assert!(logs.contains("request"), "the server logged no requests:\n{logs}");
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not a JSON log line: {line}");
    }
    assert!(logs.contains("reload applied") && logs.contains("Signal"), "SIGHUP did not reload:\n{logs}");
    assert!(
        logs.contains("57510be1-73e6-4a75-9db8-ee005cced48f"),
        "the MedMij-Request-ID is not in the request log line"
    );
    for secret in [token.as_str(), db.tokens[0].bsn.as_str(), family.as_str(), "wrong-token-1234"] {
        assert!(!logs.contains(secret), "the logs contain `{secret}`:\n{logs}");
    }
}
