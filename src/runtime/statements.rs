//! A mapping set's statements, checked against its database: each query is prepared by the
//! database (every parameter NULL, no row read), and every column the mapping names (template,
//! id, `order_by`, search parameters, child keys) must be one the query returns. `validate
//! --connect`, start-up and reload run it; a query the database refuses, or a column it does not
//! return, would otherwise fail or silently drop an element on every request.

use crate::mapping::yaml::Pos;
use crate::mapping::{Diagnostics, MappingSet, Scope, SqlText};
use dva_source_api::{RowSource, SourceError};
use std::path::Path;

/// Checks every statement of `set`. `Err` when the database could not be asked (down, or too
/// slow): then nothing after that point was checked.
pub fn check(set: &MappingSet, source: &dyn RowSource, diags: &mut Diagnostics) -> Result<(), SourceError> {
    let service_file = set.dir.join("service.yaml");
    if let Some(columns) = describe(source, &set.patient_lookup, &service_file, set.patient_lookup_pos, diags)? {
        if columns.is_empty() {
            diags.error(
                &service_file,
                set.patient_lookup_pos,
                "`patient_lookup` returns no column; it must return the patient's key",
            );
        }
    }
    for mapping in &set.mappings {
        check_scope(source, &mapping.query, mapping.query_pos, &mapping.scope, &mapping.file, diags)?;
    }
    Ok(())
}

fn check_scope(
    source: &dyn RowSource,
    query: &SqlText,
    query_pos: Pos,
    scope: &Scope,
    file: &Path,
    diags: &mut Diagnostics,
) -> Result<(), SourceError> {
    let Some(returned) = describe(source, query, file, query_pos, diags)? else { return Ok(()) };
    for (name, pos) in scope.columns.names.iter().zip(&scope.columns.first_named) {
        if !returned.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            diags.error(
                file,
                *pos,
                format!("column `{name}` is not returned by the query (it returns: {})", listing(&returned)),
            );
        }
    }
    for child in &scope.children {
        check_scope(source, &child.query, child.query_pos, &child.scope, file, diags)?;
    }
    Ok(())
}

/// The columns `query` returns; `None` when the database refuses it (reported at `pos`).
fn describe(
    source: &dyn RowSource,
    query: &SqlText,
    file: &Path,
    pos: Pos,
    diags: &mut Diagnostics,
) -> Result<Option<Vec<String>>, SourceError> {
    let statement = crate::search::unbound_statement(query, source.sql_style());
    match source.columns(&statement) {
        Ok(columns) => Ok(Some(columns)),
        Err(SourceError::Statement(message) | SourceError::Decode { message, .. }) => {
            diags.error(file, pos, format!("the database refuses this query: {}", first_line(&message)));
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

fn listing(columns: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut text = columns.iter().take(SHOWN).map(String::as_str).collect::<Vec<_>>().join(", ");
    if columns.len() > SHOWN {
        text.push_str(&format!(" and {} more", columns.len() - SHOWN));
    }
    if text.is_empty() {
        text.push_str("nothing");
    }
    text
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}
