//! Reading mapping files: YAML with positions, and the checks every kind of file shares.

use super::sql::{is_identifier, SqlText};
use super::yaml::{self, Node};
use crate::diagnostics::{quoted, Diagnostics, Pos};
use std::path::Path;

pub(super) fn read_yaml(path: &Path, diags: &mut Diagnostics) -> Option<Node> {
    let text = match crate::diagnostics::read_source(path) {
        Ok(t) => t,
        Err((pos, message)) => {
            diags.error(path, pos, message);
            return None;
        }
    };
    parse_yaml(path, &text, diags)
}

pub(super) fn parse_yaml(path: &Path, text: &str, diags: &mut Diagnostics) -> Option<Node> {
    match yaml::parse(text) {
        Ok(node) if node.as_map().is_some() => Some(node),
        Ok(node) => {
            diags.error(path, node.pos, "expected a mapping of keys at the top of the file");
            None
        }
        Err(e) => {
            diags.error(path, e.pos, format!("YAML syntax: {}", e.message));
            None
        }
    }
}

/// Every query must use exactly the allowed parameter: that is how every statement gets bound
/// to the authenticated patient (invariant 1).
pub(super) fn check_params(path: &Path, pos: Pos, sql: &SqlText, required: &str, diags: &mut Diagnostics) {
    if let Some(problem) = sql.read_only_problem() {
        diags.error(path, pos, problem);
    }
    let mut seen = false;
    for p in sql.params() {
        if p == required {
            seen = true;
        } else {
            diags.error(
                path,
                pos,
                format!("unknown parameter `:{p}` in the query; only `:{required}` is available here"),
            );
        }
    }
    if !seen {
        diags.error(
            path,
            pos,
            format!("the query must use `:{required}`, so that it only ever reads the authenticated patient's rows"),
        );
    }
}

pub(super) fn check_keys(path: &Path, node: &Node, allowed: &[&str], diags: &mut Diagnostics) {
    for (key, _) in node.as_map().unwrap_or_default() {
        let k = key.as_text().unwrap_or_default();
        if !allowed.contains(&k) {
            diags.error(
                path,
                key.pos,
                format!("unknown key `{}` (expected one of: {})", quoted(k), allowed.join(", ")),
            );
        }
    }
}

pub(super) fn required_text<'a>(
    path: &Path,
    node: &'a Node,
    key: &str,
    diags: &mut Diagnostics,
) -> Option<(&'a str, Pos)> {
    match node.get(key) {
        Some(v) => match v.as_text() {
            Some(t) if !t.trim().is_empty() => Some((t, v.pos)),
            _ => {
                diags.error(path, v.pos, format!("`{key}` must be a non-empty text, found {}", v.describe()));
                None
            }
        },
        None => {
            diags.error(path, node.pos, format!("missing `{key}:`"));
            None
        }
    }
}

/// A column name under `key`, and where it is written.
pub(super) fn required_column(path: &Path, node: &Node, key: &str, diags: &mut Diagnostics) -> Option<(String, Pos)> {
    let (text, pos) = required_text(path, node, key, diags)?;
    if is_identifier(text) && !text.contains('.') {
        Some((text.to_owned(), pos))
    } else {
        diags.error(path, pos, format!("`{key}` must be a column name of the query, found `{}`", quoted(text)));
        None
    }
}
