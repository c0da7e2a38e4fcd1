//! Hostile search values: quotes, comments, `;`, unicode, 10 kB strings and NUL bytes get a
//! 400 or an empty result, never a 500, and never reach the SQL text (binds only).

use crate::backends::backends;
use crate::harness::{spawn_on, TestApp, LAB_SYSTEM};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// On every backend: each database has its own quoting, comment syntax and string limits.
#[test]
fn hostile_search_values_never_cause_a_server_error() {
    for (name, source) in backends() {
        check_hostile_values(name, &spawn_on(&source));
    }
}

fn check_hostile_values(backend: &str, app: &TestApp) {
    let token = app.token(0);
    let long = "x".repeat(10 * 1024);
    let values: Vec<String> = vec![
        "'".into(),
        "' OR '1'='1".into(),
        "1; DROP TABLE labuitslag; --".into(),
        "/* comment */".into(),
        "\u{202E}ü漢字🙂".into(),
        long.clone(),
        "a\0b".into(),
        "%00".into(),
        "|".into(),
        "a|b|c".into(),
    ];
    for value in &values {
        let encoded = utf8_percent_encode(value, NON_ALPHANUMERIC).to_string();
        for query in [
            format!("Observation?code={}|{encoded}", utf8_percent_encode(LAB_SYSTEM, NON_ALPHANUMERIC)),
            format!("Observation?code={encoded}"),
            format!("Observation?date={encoded}"),
            format!("AllergyIntolerance?category={encoded}"),
            format!("Observation/{encoded}"),
        ] {
            let reply = app.get(&query, Some(token));
            assert!(
                matches!(reply.status, 200 | 400 | 404),
                "{backend}: {} -> {}: {}",
                &query[..query.len().min(80)],
                reply.status,
                reply.body
            );
            if reply.status == 200 && reply.body["resourceType"] == "Bundle" {
                assert!(
                    reply.body.get("entry").is_none(),
                    "{backend}: a hostile value matched rows: {}",
                    &query[..query.len().min(80)]
                );
            }
        }
    }
    // The database is untouched and still answers.
    let all = app.get("Observation?_count=1000", Some(token));
    assert_eq!(all.status, 200, "{backend}");
    assert!(all.body["total"].as_u64().unwrap_or(0) > 0 || all.body.get("entry").is_some(), "{backend}: data gone");
}
