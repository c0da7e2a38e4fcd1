//! The systemd unit passes `systemd-analyze verify` and keeps a low exposure score, and the
//! daemon speaks the notify protocol.

use crate::harness::{demo_db, repo_mappings, write_config, write_tokens};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

fn unit_with_built_binary(dir: &std::path::Path) -> std::path::PathBuf {
    let unit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/dva-connector.service")).expect("unit");
    let path = dir.join("dva-connector.service");
    std::fs::write(&path, unit.replace("/usr/bin/dva-connector", env!("CARGO_BIN_EXE_dva-connector")))
        .expect("write unit");
    path
}

#[test]
fn the_unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().expect("temp");
    let unit = unit_with_built_binary(dir.path());
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (package systemd) is needed");
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && complaints.trim().is_empty(), "{complaints}");
    let security =
        Command::new("systemd-analyze").args(["security", "--offline=true"]).arg(&unit).output().expect("security");
    let report = String::from_utf8_lossy(&security.stdout);
    let score: f64 = report
        .lines()
        .find_map(|l| l.split("exposure level for dva-connector.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score in:\n{report}"));
    assert!(score <= 1.5, "exposure {score} is higher than the 1.2 the README reports:\n{report}");
}

#[test]
fn serve_tells_systemd_when_it_is_ready() {
    let db = demo_db();
    let dir = tempfile::tempdir().expect("temp");
    write_tokens(&dir.path().join("tokens.json"), &db.tokens);
    let config = write_config(dir.path(), &db.path, &repo_mappings());
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut server = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start");
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !(seen.iter().any(|m: &String| m.starts_with("READY=1")) && seen.iter().any(|m| m == "WATCHDOG=1")) {
        match socket.recv(&mut buf) {
            Ok(n) => seen.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) => {
                let _ = server.kill();
                panic!("no READY and WATCHDOG from the server ({e}); got {seen:?}");
            }
        }
    }
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().expect("kill");
    let status = server.wait().expect("exit");
    assert!(status.success(), "SIGTERM should stop the server gracefully: {status}");
    while let Ok(n) = socket.recv(&mut buf) {
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        if seen.last().is_some_and(|m| m == "STOPPING=1") {
            break;
        }
    }
    assert!(seen.iter().any(|m| m == "STOPPING=1"), "{seen:?}");
}
