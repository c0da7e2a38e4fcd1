//! Any query string for any resource type of the demo GP-data mapping set: parsing it and
//! building every mapping's page statement in every SQL style ends in a statement or a
//! `SearchError`, never a panic, and the statement has exactly one placeholder per bind.
#![no_main]

use dva_connector::mapping::{self, MappingSet};
use dva_connector::runtime::TypeSearch;
use dva_connector::search::{self, SearchSpec};
use dva_source_api::{Dialect, SqlStyle, Value};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

struct Demo {
    set: MappingSet,
    types: BTreeMap<String, TypeSearch>,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mappings/demo-his/gp-data");
        let (set, diagnostics) = mapping::load_set(&dir);
        let set = set.unwrap_or_else(|| panic!("the demo mapping set: {diagnostics:?}"));
        let types = TypeSearch::per_type(&set);
        Demo { set, types }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let demo = demo();
    let Some((resource_type, type_search)) = demo.types.iter().nth(usize::from(which) % demo.types.len()) else {
        return;
    };
    let query = String::from_utf8_lossy(rest);
    let spec = SearchSpec {
        params: &type_search.params,
        includes: &type_search.includes,
        time_zone: chrono_tz::Europe::Amsterdam,
        default_count: 50,
        max_count: 100,
    };
    let Ok(request) = search::parse_search(&query, &spec) else { return };
    let patient = Value::Int(7);
    for mapping in demo.set.for_type(resource_type) {
        for dialect in Dialect::ALL {
            for style in [SqlStyle::from(dialect), SqlStyle::odbc(dialect)] {
                let statement = search::page_statement(
                    mapping,
                    style,
                    &patient,
                    &request.criteria,
                    &demo.set.code_tables,
                    request.count as u64 + 1,
                    request.cursor.offset,
                );
                if let Some(statement) = statement {
                    check_placeholders(style, &statement.sql, statement.binds.len());
                }
            }
        }
    }
});

/// The demo mappings' own SQL has no `?` or `$`, so every one in the text is a placeholder.
fn check_placeholders(style: SqlStyle, sql: &str, binds: usize) {
    if style.numbered_placeholders {
        for n in 1..=binds {
            assert!(sql.contains(&format!("${n}")), "placeholder ${n} missing for {binds} binds: {sql}");
        }
        assert!(!sql.contains(&format!("${}", binds + 1)), "more placeholders than {binds} binds: {sql}");
    } else {
        assert_eq!(sql.matches('?').count(), binds, "placeholders and binds differ: {sql}");
    }
}
