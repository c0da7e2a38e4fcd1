//! A mapping set's statements, checked against its database: each query is prepared by the
//! database (every parameter NULL, no row read), and every column the mapping names (template,
//! id, `order_by`, search parameters, child keys) must be one the query returns. `validate
//! --connect`, start-up and reload run it; a query the database refuses, or a column it does not
//! return, would otherwise fail or silently drop an element on every request.

use crate::config::SourceSettings;
use crate::diagnostics::{Diagnostics, Pos};
use crate::mapping::{MappingSet, Scope, SqlText};
use dva_source_api::{RowSource, SourceError};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What the databases found right, carried from one snapshot to the next, so that a reload
/// asks a database only about statements (or the columns they must return) that changed.
/// Per source, with the settings it was checked under: another database is asked again.
#[derive(Debug, Default)]
pub struct Passed {
    sources: HashMap<String, (SourceSettings, HashSet<String>)>,
}

impl Passed {
    fn knows(&self, source: &SourceSettings, key: &str) -> bool {
        self.sources.get(&source.name).is_some_and(|(settings, keys)| settings == source && keys.contains(key))
    }

    fn add(&mut self, source: &SourceSettings, key: String) {
        let entry = self.sources.entry(source.name.clone()).or_insert_with(|| (source.clone(), HashSet::new()));
        if entry.0 != *source {
            *entry = (source.clone(), HashSet::new());
        }
        entry.1.insert(key);
    }
}

/// One source's checks: where to ask, what passed before, and what passes now.
pub struct Checker<'a> {
    pub source: &'a dyn RowSource,
    pub settings: &'a SourceSettings,
    pub before: &'a Passed,
    pub now: &'a mut Passed,
}

/// Checks every statement of `set`. `Err` when the database could not be asked (down, or too
/// slow): then nothing after that point was checked.
pub fn check(set: &MappingSet, checker: &mut Checker<'_>, diags: &mut Diagnostics) -> Result<(), SourceError> {
    let (lookup_file, lookup_pos) = (&set.patient_lookup_at.0, set.patient_lookup_at.1);
    let lookup_key = format!("lookup\0{:?}", set.patient_lookup);
    if checker.before.knows(checker.settings, &lookup_key) {
        checker.now.add(checker.settings, lookup_key);
    } else if let Some(columns) = describe(checker.source, &set.patient_lookup, lookup_file, lookup_pos, diags)? {
        if columns.is_empty() {
            diags.error(
                lookup_file,
                lookup_pos,
                "`patient_lookup` returns no column; it must return the patient's key",
            );
        } else {
            checker.now.add(checker.settings, lookup_key);
        }
    }
    for mapping in &set.mappings {
        check_scope(checker, &mapping.query, mapping.query_pos, &mapping.scope, &mapping.file, diags)?;
    }
    Ok(())
}

fn check_scope(
    checker: &mut Checker<'_>,
    query: &SqlText,
    query_pos: Pos,
    scope: &Scope,
    file: &Path,
    diags: &mut Diagnostics,
) -> Result<(), SourceError> {
    // The statement and the columns it must return: if both are as they were, so is the answer.
    let key = format!("{query:?}\0{:?}", scope.columns.names);
    if checker.before.knows(checker.settings, &key) {
        checker.now.add(checker.settings, key);
    } else if let Some(returned) = describe(checker.source, query, file, query_pos, diags)? {
        let mut all_there = true;
        for (name, pos) in scope.columns.names.iter().zip(&scope.columns.first_named) {
            if !returned.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                all_there = false;
                diags.error(
                    file,
                    *pos,
                    format!("column `{name}` is not returned by the query (it returns: {})", listing(&returned)),
                );
            }
        }
        if all_there {
            checker.now.add(checker.settings, key);
        }
    }
    for child in &scope.children {
        check_scope(checker, &child.query, child.query_pos, &child.scope, file, diags)?;
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
