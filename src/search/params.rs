//! The query string of a search, parsed against what the type's mappings declare.

use super::criteria::{Criterion, DateValue, TokenValue};
use super::limits::{MAX_PARAMETERS, MAX_QUERY_BYTES, MAX_VALUES, MAX_VALUES_PER_PARAMETER, MAX_VALUE_BYTES};
use crate::diagnostics::quoted;
use crate::mapping::SearchParamDef;
use chrono_tz::Tz;
use percent_encoding::percent_decode_str;
use std::collections::{BTreeMap, BTreeSet};

/// A 400: the request cannot be understood, or exceeds a limit of this server. The text is
/// safe to send back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SearchError {
    pub message: String,
    /// Whether a limit (see [`super::limits`]) was exceeded, rather than the syntax wrong.
    pub limit: bool,
}

impl SearchError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self { message: message.into(), limit: false }
    }

    fn limit(message: String) -> Self {
        Self { message: format!("{message} (a limit of this server)"), limit: true }
    }
}

/// Where a page starts: which of the type's mappings, and how many of its rows to skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub mapping: usize,
    pub offset: u64,
}

impl Cursor {
    pub fn parse(raw: &str) -> Option<Cursor> {
        let (m, o) = raw.split_once('.')?;
        Some(Cursor { mapping: m.parse().ok()?, offset: o.parse().ok()? })
    }

    pub fn to_param(self) -> String {
        format!("{}.{}", self.mapping, self.offset)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// Parameter name and its values; repeated parameters are separate entries (AND).
    pub criteria: Vec<(String, Criterion)>,
    pub count: usize,
    pub cursor: Cursor,
    pub includes: Vec<String>,
    /// The parameters to echo in links (all but the cursor), decoded, in request order.
    pub echo: Vec<(String, String)>,
}

/// What a search on one type accepts.
pub struct SearchSpec<'a> {
    pub params: &'a BTreeMap<String, SearchParamDef>,
    pub includes: &'a BTreeSet<String>,
    pub time_zone: Tz,
    pub default_count: usize,
    pub max_count: usize,
}

/// Splits a raw query string into decoded pairs. `+` stays a plus: FHIR dates carry offsets
/// like `+01:00`, and clients do not always encode them.
/// The query string's size and number of parameters are checked here, before anything else.
pub fn pairs(query: &str) -> Result<Vec<(String, String)>, SearchError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(SearchError::limit(format!(
            "the query string has {} bytes; at most {MAX_QUERY_BYTES} are accepted",
            query.len()
        )));
    }
    let count = query.split('&').filter(|p| !p.is_empty()).count();
    if count > MAX_PARAMETERS {
        return Err(SearchError::limit(format!(
            "the query string has {count} parameters; at most {MAX_PARAMETERS} are accepted"
        )));
    }
    let mut out = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| SearchError::invalid("the query string is not valid UTF-8 after decoding"))
        };
        let (k, v) = (decode(k)?, decode(v)?);
        if k.contains('\0') || v.contains('\0') {
            return Err(SearchError::invalid("the query string contains a NUL character"));
        }
        out.push((k, v));
    }
    Ok(out)
}

pub fn parse_search(query: &str, spec: &SearchSpec<'_>) -> Result<SearchRequest, SearchError> {
    let mut request = SearchRequest {
        criteria: Vec::new(),
        count: spec.default_count,
        cursor: Cursor::default(),
        includes: Vec::new(),
        echo: Vec::new(),
    };
    let mut values_seen = 0;
    for (name, value) in pairs(query)? {
        if name != "_cursor" {
            request.echo.push((name.clone(), value.clone()));
        }
        match name.as_str() {
            "_count" => {
                request.count = value
                    .parse::<usize>()
                    .map_err(|_| {
                        SearchError::invalid(format!("_count must be a whole number, found `{}`", quoted(&value)))
                    })?
                    .min(spec.max_count);
            }
            "_cursor" => {
                request.cursor = Cursor::parse(&value)
                    .ok_or_else(|| SearchError::invalid("_cursor is not a cursor this server issued"))?;
            }
            // Content negotiation reads it; nothing to filter.
            "_format" => {}
            "_include" => {
                if !spec.includes.contains(&value) {
                    return Err(SearchError::invalid(format!(
                        "_include `{}` is not supported here (supported: {})",
                        quoted(&value),
                        list(spec.includes.iter().map(String::as_str))
                    )));
                }
                request.includes.push(value);
            }
            _ => {
                let (base, modifier) = name.split_once(':').map_or((name.as_str(), None), |(b, m)| (b, Some(m)));
                let Some(def) = spec.params.get(base) else {
                    return Err(SearchError::invalid(format!(
                        "unknown search parameter `{}` (supported: {})",
                        quoted(&name),
                        list(spec.params.keys().map(String::as_str))
                    )));
                };
                if let Some(m) = modifier {
                    return Err(SearchError::invalid(format!(
                        "the modifier `:{}` is not supported on `{base}`",
                        quoted(m)
                    )));
                }
                if value.is_empty() {
                    return Err(SearchError::invalid(format!("search parameter `{}` has no value", quoted(base))));
                }
                let items = search_values(base, &value, &mut values_seen)?;
                let criterion = match def {
                    SearchParamDef::Token { .. } => Criterion::Token(
                        items.map(TokenValue::parse).collect::<Result<_, _>>().map_err(SearchError::invalid)?,
                    ),
                    SearchParamDef::Date { .. } | SearchParamDef::Period { .. } => Criterion::Date(
                        items
                            .map(|v| DateValue::parse(v, spec.time_zone))
                            .collect::<Result<_, _>>()
                            .map_err(SearchError::invalid)?,
                    ),
                };
                request.criteria.push((base.to_owned(), criterion));
            }
        }
    }
    Ok(request)
}

/// The comma-separated values of one search parameter, within the limits; `seen` counts the
/// request's values so far.
fn search_values<'v>(
    name: &str,
    value: &'v str,
    seen: &mut usize,
) -> Result<impl Iterator<Item = &'v str>, SearchError> {
    let count = value.split(',').count();
    if count > MAX_VALUES_PER_PARAMETER {
        return Err(SearchError::limit(format!(
            "`{}` has {count} values; at most {MAX_VALUES_PER_PARAMETER} are accepted per parameter",
            quoted(name)
        )));
    }
    *seen += count;
    if *seen > MAX_VALUES {
        return Err(SearchError::limit(format!(
            "the search has more than {MAX_VALUES} values in all; at most {MAX_VALUES} are accepted"
        )));
    }
    if let Some(long) = value.split(',').find(|v| v.len() > MAX_VALUE_BYTES) {
        return Err(SearchError::limit(format!(
            "a value of `{}` has {} bytes; at most {MAX_VALUE_BYTES} are accepted per value",
            quoted(name),
            long.len()
        )));
    }
    Ok(value.split(','))
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
