//! Hot reload under load (invariant 5): invalid mapping changes keep the last good snapshot,
//! valid ones switch over, and no request fails in between.

use crate::harness::{get_url, resources, spawn_reloading};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LAB: &str = "observation-lab.yaml";
const MARKER: &str = "bevinding betreffende laboratoriumonderzoek";

/// The category display of the first lab Observation the server returns.
fn served_display(base: &str, token: &str) -> String {
    let reply = get_url(
        &format!("{base}/Observation?category=http://snomed.info/sct|49581000146104&_count=1"),
        Some(token),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    resources(&reply.body)
        .first()
        .and_then(|r| r["category"][0]["coding"][0]["display"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn wait_for(base: &str, token: &str, expected: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if served_display(base, token) == expected {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn reloads_switch_on_valid_changes_and_never_fail_a_request() {
    let app = spawn_reloading();
    let token = app.token(0).to_owned();
    assert_eq!(served_display(&app.base, &token), MARKER);
    let original = std::fs::read_to_string(app.mappings.join(LAB)).expect("lab mapping");

    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, served, failed) = (Arc::clone(&stop), Arc::clone(&served), Arc::clone(&failed));
            let (base, token) = (app.base.clone(), token.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let reply = get_url(&format!("{base}/Observation?_count=5"), Some(&token), None);
                    let counter = if reply.status == 200 { &served } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    for round in 0..6 {
        // Invalid: a query without :patient. The running snapshot must stay.
        std::fs::write(app.mappings.join(LAB), original.replace("u.pat_id = :patient", "u.pat_id = 1")).expect("write");
        std::thread::sleep(Duration::from_millis(400));
        let before = if round == 0 { MARKER.to_owned() } else { format!("{MARKER} ({})", round - 1) };
        assert_eq!(served_display(&app.base, &token), before, "an invalid mapping replaced the running one");
        // Valid: a visible change. The server must switch to it.
        let changed = format!("{MARKER} ({round})");
        std::fs::write(app.mappings.join(LAB), original.replace(MARKER, &changed)).expect("write");
        assert!(wait_for(&app.base, &token, &changed), "round {round}: the valid change was not applied");
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().expect("load thread");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "requests failed during reloads");
    assert!(served.load(Ordering::Relaxed) > 50, "too little load to mean anything");
}

/// Settings a running server cannot take over are reported, and nothing is half-applied.
#[test]
fn a_new_listen_address_is_rejected_not_half_applied() {
    use arc_swap::ArcSwap;
    use dva_connector::runtime::reload::{reload, ReloadOutcome};
    use dva_connector::runtime::Snapshot;
    let app = crate::harness::spawn_app();
    let config = app.dir.path().join("dva-connector.toml");
    let current = ArcSwap::from_pointee(Snapshot::load(&config).expect("loads"));
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:1\"")
            .replace("[auth]", "[fhir]\ndefault_count = 7\n\n[auth]"),
    )
    .expect("write");
    match reload(&config, &current) {
        ReloadOutcome::Rejected(lines) => assert!(lines.iter().any(|l| l.contains("`listen` changed")), "{lines:?}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(current.load().settings.default_count, 100, "the valid part of the change must not be applied either");
    std::fs::write(&config, text.replace("[auth]", "[fhir]\ndefault_count = 7\n\n[auth]")).expect("write");
    assert_eq!(reload(&config, &current), ReloadOutcome::Applied);
    assert_eq!(current.load().settings.default_count, 7);
}

/// A reload reads the token file and every mapping; those reads must not count as changes
/// (they did: one reload led to the next, four times a second, for as long as it ran).
#[test]
fn a_reload_does_not_trigger_the_next() {
    let dir = tempfile::tempdir().expect("dir");
    let (config, port) = crate::harness::process_config(dir.path());
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut server = crate::harness::start_serve(&config, port, |c| {
        c.env("RUST_LOG", "info").stderr(log);
    });
    let hup = std::process::Command::new("kill").args(["-HUP", &server.id().to_string()]).status().expect("kill");
    assert!(hup.success());
    // Long enough for several rounds of the debounce (200 ms) and a reload each.
    std::thread::sleep(Duration::from_secs(2));
    server.kill().expect("stop server");
    server.wait().expect("server exit");
    let logs = std::fs::read_to_string(&log_path).expect("logs");
    let reloads = logs.matches("reload applied").count();
    assert_eq!(reloads, 1, "one SIGHUP, {reloads} reloads:\n{logs}");
}
