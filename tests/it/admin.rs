//! The admin listener: liveness, readiness (database down -> not ready, and back), metrics.

use crate::harness::{get_url, spawn_own_db};

#[test]
fn health_readiness_and_metrics() {
    let app = spawn_own_db();
    assert_eq!(get_url(&format!("{}/healthz", app.admin), None, None).status, 200);
    let ready = get_url(&format!("{}/readyz", app.admin), None, None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["services"]["gp-data"], "ready");
    assert_eq!(ready.body["sources"]["ehr"], "ready");

    // Traffic of every kind, then its counters.
    let token = app.token(0);
    app.get("Patient", Some(token));
    app.get("Observation?date=ge2020-01-01", Some(token));
    app.get("Patient", None);
    app.get("Patient", Some("nope"));
    app.get("Patient?bad=1", Some(token));
    let metrics = get_url(&format!("{}/metrics", app.admin), None, None);
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("text/plain"), "{}", metrics.content_type);
    let text = metrics.body.as_str().expect("text").to_owned();
    for expected in [
        "dva_requests_total{service=\"gp-data\",resource_type=\"Patient\",status=\"200\"}",
        "dva_requests_total{service=\"gp-data\",resource_type=\"Patient\",status=\"401\"}",
        "dva_requests_total{service=\"gp-data\",resource_type=\"Patient\",status=\"400\"}",
        "dva_request_duration_seconds_bucket{service=\"gp-data\",le=\"+Inf\"}",
        "dva_db_statement_duration_seconds_count{service=\"gp-data\"}",
        "dva_auth_failures_total{reason=\"missing\"}",
        "dva_auth_failures_total{reason=\"unknown static token\"}",
        "dva_source_pool_connections{service=\"gp-data\",state=\"max\"} 4",
        "# TYPE dva_reloads_total counter",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(!text.contains(&app.tokens[0].bsn) && !text.contains(token), "patient data in metrics");

    // The database goes away: not ready, data requests 503; it comes back: ready again.
    let db = app.dir.path().join("ehr.sqlite");
    let moved = app.dir.path().join("ehr.sqlite.away");
    std::fs::rename(&db, &moved).expect("take the database away");
    let down = get_url(&format!("{}/readyz", app.admin), None, None);
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.body["services"]["gp-data"], "database unavailable");
    assert_eq!(down.body["sources"]["ehr"], "database unavailable");
    assert_eq!(get_url(&format!("{}/healthz", app.admin), None, None).status, 200, "alive even when not ready");
    std::fs::rename(&moved, &db).expect("bring it back");
    assert_eq!(get_url(&format!("{}/readyz", app.admin), None, None).status, 200);
}
