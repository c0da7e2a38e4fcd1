//! Golden tests per mapping: rows in (tests/golden/<mapping>/rows.json), FHIR JSON out
//! (expected.json). `UPDATE_EXPECT=1` re-reads the rows from the demo database and rewrites both.

use crate::harness::{demo_db, repo_mappings};
use dva_connector::engine::{build_resources, EvalContext, ScopeRows};
use dva_connector::mapping::{load_set, CompiledMapping, MappingSet, Scope};
use dva_connector::search;
use dva_source_api::{RowSet, RowSource, Value};
use dva_source_diesel::{SourceLimits, SqliteSource};
use serde_json::{json, Value as Json};
use std::path::{Path, PathBuf};

/// Rows per golden case: enough to show the shape, small enough to read in a review.
const ROWS_PER_CASE: u64 = 3;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn every_mapping_matches_its_golden_output() {
    let (set, diags) = load_set(&repo_mappings());
    let set = set.unwrap_or_else(|| panic!("demo mapping set does not compile: {:#?}", diags.items));
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let ctx = EvalContext { time_zone: chrono_tz::Europe::Amsterdam, code_tables: &set.code_tables };
    let mut failures = Vec::new();
    for mapping in &set.mappings {
        let case = golden_dir().join(&mapping.name);
        let rows_file = case.join("rows.json");
        let expected_file = case.join("expected.json");
        let rows = if update {
            let rows = rows_from_demo(&set, mapping);
            std::fs::create_dir_all(&case).expect("mkdir");
            std::fs::write(&rows_file, pretty(&scope_rows_to_json(&rows))).expect("write rows");
            rows
        } else {
            let text = std::fs::read_to_string(&rows_file)
                .unwrap_or_else(|_| panic!("{} missing; run with UPDATE_EXPECT=1", rows_file.display()));
            scope_rows_from_json(&serde_json::from_str(&text).expect("rows.json"))
        };
        let (resources, problems) = build_resources(mapping, &rows, &ctx);
        assert!(problems.is_empty(), "{}: {problems:#?}", mapping.name);
        let actual = pretty(&Json::Array(resources.into_iter().map(|r| r.json).collect()));
        if update {
            std::fs::write(&expected_file, &actual).expect("write expected");
        } else if std::fs::read_to_string(&expected_file).ok().as_deref() != Some(actual.as_str()) {
            failures.push(format!(
                "{}: output differs from {} (UPDATE_EXPECT=1 to accept):\n{actual}",
                mapping.name,
                expected_file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn pretty(json: &Json) -> String {
    let mut text = serde_json::to_string_pretty(json).expect("json");
    text.push('\n');
    text
}

/// The first rows of a mapping for the first demo patient, with their child rows.
fn rows_from_demo(set: &MappingSet, mapping: &CompiledMapping) -> ScopeRows {
    let db = demo_db();
    let source = SqliteSource::open(&db.path, SourceLimits::default()).expect("open demo db");
    let lookup = search::lookup_statement(&set.patient_lookup, source.sql_style(), &db.tokens[0].bsn);
    let key = source.query(&lookup).expect("lookup").rows[0][0].clone();
    let statement = search::page_statement(mapping, source.sql_style(), &key, &[], &set.code_tables, ROWS_PER_CASE, 0)
        .expect("statement");
    let rows = source.query(&statement).expect("rows");
    with_children(&source, &mapping.scope, rows, &key)
}

fn with_children(source: &SqliteSource, scope: &Scope, rows: RowSet, key: &Value) -> ScopeRows {
    let children = scope
        .children
        .iter()
        .map(|child| {
            let parent_keys: Vec<Value> = rows
                .column_index(&child.parent_key)
                .map(|k| rows.rows.iter().map(|r| r[k].clone()).collect())
                .unwrap_or_default();
            let mut child_rows = RowSet::default();
            for s in search::child_statements(
                &child.query,
                &child.key,
                &child.order_by,
                source.sql_style(),
                key,
                &parent_keys,
            ) {
                let more = source.query(&s).expect("child rows");
                if child_rows.rows.is_empty() {
                    child_rows.columns = more.columns;
                }
                child_rows.rows.extend(more.rows);
            }
            with_children(source, &child.scope, child_rows, key)
        })
        .collect();
    ScopeRows { rows, children }
}

fn scope_rows_to_json(rows: &ScopeRows) -> Json {
    json!({
        "columns": &*rows.rows.columns,
        "rows": rows.rows.rows.iter().map(|r| r.iter().map(value_to_json).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "children": rows.children.iter().map(scope_rows_to_json).collect::<Vec<_>>(),
    })
}

fn scope_rows_from_json(json: &Json) -> ScopeRows {
    let columns: Vec<String> =
        json["columns"].as_array().expect("columns").iter().map(|c| c.as_str().expect("name").to_owned()).collect();
    let mut rows = RowSet::new(columns);
    rows.rows = json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r.as_array().expect("row").iter().map(value_from_json).collect())
        .collect();
    ScopeRows {
        rows,
        children: json["children"].as_array().expect("children").iter().map(scope_rows_from_json).collect(),
    }
}

fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Int(i) => json!(i),
        Value::Float(f) => json!({ "float": f }),
        Value::Text(s) => json!(s),
        other => json!({ "text": other.to_text() }),
    }
}

fn value_from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Number(n) => Value::Int(n.as_i64().expect("integer")),
        Json::String(s) => Value::Text(s.clone()),
        Json::Object(o) if o.contains_key("float") => Value::Float(o["float"].as_f64().expect("float")),
        Json::Object(o) => Value::Text(o["text"].as_str().unwrap_or_default().to_owned()),
        other => panic!("unexpected value {other}"),
    }
}
