//! The server's own request limits: the same answer on every backend, before any SQL is
//! built, as a 400/414/431 OperationOutcome that names the limit; never a database's own limit
//! (SQLite's expression depth answered 500 for 1,000 OR values) and never a bare status line.

use crate::backends::backends;
use crate::harness::{exchange, spawn_app, spawn_on, TestApp, BASE_PATH};

fn values(n: usize, each: impl Fn(usize) -> String) -> String {
    (0..n).map(each).collect::<Vec<_>>().join(",")
}

/// Status and issue code of a search.
fn outcome(app: &TestApp, query: &str) -> (u16, String, String) {
    let reply = app.get(query, Some(app.token(0)));
    let issue = &reply.body["issue"][0];
    (
        reply.status,
        issue["code"].as_str().unwrap_or_default().to_owned(),
        issue["diagnostics"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn search_limits_answer_the_same_on_every_backend() {
    let at_limit_codes = format!("Observation?code={}", values(100, |i| format!("v{i}")));
    let at_limit_dates = format!("Encounter?date={}", values(100, |_| "ne2020-01-01".to_owned()));
    let at_limit_params = format!("Encounter?{}", vec!["date=ge2020"; 32].join("&"));
    let over: Vec<(String, &str)> = vec![
        (format!("Observation?code={}", values(101, |i| format!("v{i}"))), "at most 100 are accepted per parameter"),
        (format!("Observation?code={}", values(1000, |i| format!("v{i}"))), "at most 100 are accepted per parameter"),
        (format!("Encounter?date={}", values(1000, |_| "ge2020".to_owned())), "at most 100 are accepted"),
        (format!("Encounter?{}", vec!["date=ge2020"; 33].join("&")), "at most 32 are accepted"),
        (
            format!(
                "Observation?code={}&date={}&category={}",
                values(90, |i| format!("v{i}")),
                values(90, |_| "ge2020".into()),
                values(30, |i| format!("c{i}"))
            ),
            "more than 200 values",
        ),
        (format!("Observation?code={}", "x".repeat(300)), "at most 256 are accepted per value"),
        (format!("Observation?code={}", "x".repeat(9000)), "at most 8192 are accepted"),
    ];
    for (backend, source) in backends() {
        let app = spawn_on(&source);
        for ok in [&at_limit_codes, &at_limit_dates, &at_limit_params] {
            let (status, _, text) = outcome(&app, ok);
            assert_eq!(status, 200, "{backend}: {}…: {text}", &ok[..60]);
        }
        for (query, says) in &over {
            let (status, code, text) = outcome(&app, query);
            assert_eq!((status, code.as_str()), (400, "too-long"), "{backend}: {}…: {text}", &query[..60]);
            assert!(text.contains(says) && text.contains("a limit of this server"), "{backend}: {text}");
        }
        // 100,000 values do not fit a request line: refused before the query string is read.
        let huge = format!("Observation?code={}", values(100_000, |i| format!("v{i}")));
        assert_eq!(outcome(&app, &huge).0, 414, "{backend}");
    }
}

fn is_outcome(response: &str, issue: &str) -> bool {
    response.to_ascii_lowercase().contains("content-type: application/fhir+json")
        && response.contains("\"resourceType\":\"OperationOutcome\"")
        && response.contains(&format!("\"code\":\"{issue}\""))
}

/// Regression: a request line over 64 KiB got a bare 400 and a head over 128 KiB a bare 431
/// from the HTTP parser. Now every refused head is an OperationOutcome, and the connection
/// is closed after it.
#[test]
fn oversized_or_malformed_request_heads_get_operation_outcomes() {
    let app = spawn_app();
    let path = format!("{BASE_PATH}/Patient");
    let cases: Vec<(String, u16, &str)> = vec![
        (format!("GET {path}?x={} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(20 * 1024)), 414, "too-long"),
        (format!("GET {path}?x={} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(70 * 1024)), 414, "too-long"),
        (format!("GET {path} HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "b".repeat(40 * 1024)), 431, "too-long"),
        (format!("GET {path} HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "b".repeat(140 * 1024)), 431, "too-long"),
        (
            format!(
                "GET {path} HTTP/1.1\r\nHost: t\r\n{}\r\n",
                (0..70).map(|i| format!("X-{i}: 1\r\n")).collect::<String>()
            ),
            431,
            "too-long",
        ),
        (format!("GET {path} HTTP/1.1\r\nHost: t\r\nno colon\r\n\r\n"), 400, "invalid"),
        (format!("GET {path}\x01 HTTP/1.1\r\nHost: t\r\n\r\n"), 400, "invalid"),
    ];
    for (request, status, issue) in &cases {
        let responses = exchange(&app, request.as_bytes());
        let shown = &request[..request.len().min(60)];
        assert_eq!(responses.len(), 1, "{shown:?}: {responses:?}");
        assert_eq!(responses[0].0, *status, "{shown:?}: {}", responses[0].1);
        assert!(is_outcome(&responses[0].1, issue), "{shown:?}: {}", responses[0].1);
        assert!(responses[0].1.to_ascii_lowercase().contains("connection: close"), "{}", responses[0].1);
    }
    // On a keep-alive connection: the requests before the refused one are answered as usual.
    let pipelined = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\n\r\nGET {BASE_PATH}/metadata HTTP/1.1\r\nHost: t\r\n\r\nGET {path}?x={} HTTP/1.1\r\nHost: t\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let responses = exchange(&app, pipelined.as_bytes());
    let statuses: Vec<u16> = responses.iter().map(|r| r.0).collect();
    assert_eq!(statuses, vec![401, 200, 414], "{responses:?}");
    // The stand-in's path asked for by a client is an ordinary unknown path.
    let responses = exchange(&app, b"GET /request-head-refused HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(responses.first().map(|r| r.0), Some(404), "{responses:?}");
    // A request with a body is answered and its connection closed (the guard stops at a body).
    let responses =
        exchange(&app, format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi").as_bytes());
    assert_eq!(responses.iter().map(|r| r.0).collect::<Vec<_>>(), vec![405], "{responses:?}");
    assert!(responses[0].1.to_ascii_lowercase().contains("connection: close"));
    // And the server still serves.
    assert_eq!(app.get("Patient", Some(app.token(0))).status, 200);
}
