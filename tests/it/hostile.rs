//! Hostile search values: quotes, comments, `;`, unicode, 10 kB strings and NUL bytes get a
//! 400 or an empty result, never a 500, and never reach the SQL text (binds only).

use crate::harness::{spawn_app, LAB_SYSTEM};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

#[test]
fn hostile_search_values_never_cause_a_server_error() {
    let app = spawn_app();
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
                "{} -> {}: {}",
                &query[..query.len().min(80)],
                reply.status,
                reply.body
            );
            if reply.status == 200 && reply.body["resourceType"] == "Bundle" {
                assert!(
                    reply.body.get("entry").is_none(),
                    "a hostile value matched rows: {}",
                    &query[..query.len().min(80)]
                );
            }
        }
    }
    // The database is untouched and still answers.
    assert_eq!(app.get("Observation?_count=1", Some(token)).status, 200);
}
