//! Templates: YAML that looks like the FHIR JSON it produces, with `{column | filter}`
//! references. Compiled once at load; evaluation never parses.

use super::yaml::{Node, NodeKind, Scalar};
use super::Scope;
use crate::diagnostics::{quoted, Diagnostics, Pos};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;

/// How a column value is converted on its way into FHIR.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Look the value up in a code table (index into the set's tables).
    Map(usize),
    /// FHIR dateTime; with the slot of a precision column (`datetime: column`), cut to the
    /// precision that column gives the row (J year, M month, D day, T or null the whole value).
    DateTime(Option<usize>),
    /// FHIR date, likewise.
    Date(Option<usize>),
    Instant,
    Decimal,
    Integer,
    String,
    Boolean,
    /// FHIR `base64Binary`: binary columns as they are, text as its UTF-8 bytes.
    Base64,
    /// A narrative `div`: the text escaped, in an XHTML `div` (never markup from the source).
    Xhtml,
}

/// A reference to a column of the current row (or an enclosing row in `$each`).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnRef {
    pub column: String,
    /// Index into the scope's column table, resolved against the result columns per query.
    pub slot: usize,
    pub filters: Vec<Filter>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Literal(String),
    Column(ColumnRef),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// No column references below: emitted as is.
    Constant(Json),
    /// Exactly `"{column}"`: keeps the database type.
    Value(ColumnRef),
    /// Text mixing literals and columns; absent when any column is null.
    Text(Vec<Piece>),
    Object {
        entries: Vec<(String, Template)>,
        condition: Option<ColumnRef>,
    },
    Array(Vec<ArrayItem>),
    /// A primitive with its own extensions (`$value` and its members): written as FHIR JSON
    /// writes it, the value under the element's name and the rest under `_name`, aligned item
    /// by item in a list. Without a value, the extensions go too.
    Primitive {
        value: Box<Template>,
        element: Box<Template>,
    },
    /// A list with `Primitive` items (a list of plain values has none), told apart when the
    /// template is compiled so evaluation need not look.
    PrimitiveList(Vec<ArrayItem>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ArrayItem {
    One(Template),
    /// One item per row of a child query; `child` indexes the scope's children.
    Each {
        child: usize,
        item: Template,
    },
}

/// Column names referenced in one scope (the main query, or one child query): by the
/// template, the id, `order_by`, search parameters and child keys. Each with where it is
/// first named, so that a column the query does not return is reported there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScopeColumns {
    pub names: Vec<String>,
    pub first_named: Vec<Pos>,
}

impl ScopeColumns {
    pub fn slot(&mut self, column: &str, pos: Pos) -> usize {
        if let Some(i) = self.names.iter().position(|n| n.eq_ignore_ascii_case(column)) {
            return i;
        }
        self.names.push(column.to_owned());
        self.first_named.push(pos);
        self.names.len() - 1
    }
}

/// What a template compiler needs to know about its surroundings.
pub struct TemplateEnv<'a> {
    pub file: &'a Path,
    pub code_tables: &'a BTreeMap<String, usize>,
}

/// Compiles a template node; problems go to `diags`.
pub fn compile(node: &Node, env: &TemplateEnv<'_>, scope: &mut Scope, diags: &mut Diagnostics) -> Template {
    match &node.kind {
        NodeKind::Scalar { .. } => compile_scalar(node, env, scope, diags),
        NodeKind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Some(each) = item.get("$each") {
                    let Some(name) = each.as_text() else {
                        diags.error(env.file, each.pos, "`$each` takes the name of a child query");
                        continue;
                    };
                    let Some(child) = scope.children.iter().position(|c| c.name == name) else {
                        diags.error(
                            env.file,
                            each.pos,
                            format!("`$each: {name}`: no child query `{name}` under `children:`"),
                        );
                        continue;
                    };
                    let without_each = strip_key(item, "$each");
                    let template = compile(&without_each, env, &mut scope.children[child].scope, diags);
                    out.push(ArrayItem::Each { child, item: template });
                } else {
                    out.push(ArrayItem::One(compile(item, env, scope, diags)));
                }
            }
            let has_primitives = out.iter().any(|i| {
                matches!(
                    i,
                    ArrayItem::One(Template::Primitive { .. })
                        | ArrayItem::Each { item: Template::Primitive { .. }, .. }
                )
            });
            if has_primitives {
                Template::PrimitiveList(out)
            } else {
                simplify(Template::Array(out))
            }
        }
        NodeKind::Map(_) if node.get("$value").is_some() => {
            let value = node.get("$value").map(|v| compile(v, env, scope, diags));
            let element = compile(&strip_key(node, "$value"), env, scope, diags);
            Template::Primitive {
                value: Box::new(value.unwrap_or(Template::Constant(Json::Null))),
                element: Box::new(element),
            }
        }
        NodeKind::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            let mut condition = None;
            for (key, value) in entries {
                let Some(name) = key.as_text() else { continue };
                if name == "$if" {
                    match value.as_text() {
                        Some(column) if super::sql::is_identifier(column) => {
                            condition = Some(ColumnRef {
                                column: column.to_owned(),
                                slot: scope.columns.slot(column, value.pos),
                                filters: Vec::new(),
                                pos: value.pos,
                            });
                        }
                        _ => diags.error(
                            env.file,
                            value.pos,
                            format!("`$if` takes a column name, found {}", value.describe()),
                        ),
                    }
                    continue;
                }
                if name.starts_with('$') {
                    diags.error(env.file, key.pos, format!("unknown directive `{name}` (known: $if, $each, $value)"));
                    continue;
                }
                if !is_element_name(name) {
                    diags.error(env.file, key.pos, format!("`{}` is not a FHIR element name", quoted(name)));
                    continue;
                }
                out.push((name.to_owned(), compile(value, env, scope, diags)));
            }
            simplify(Template::Object { entries: out, condition })
        }
    }
}

fn strip_key(node: &Node, key: &str) -> Node {
    let entries = node.as_map().unwrap_or_default().iter().filter(|(k, _)| k.as_text() != Some(key)).cloned().collect();
    Node { kind: NodeKind::Map(entries), pos: node.pos }
}

/// FHIR element names, plus `_name` for primitive extensions.
fn is_element_name(name: &str) -> bool {
    let body = name.strip_prefix('_').unwrap_or(name);
    body.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && body.chars().all(|c| c.is_ascii_alphanumeric())
        || name == "resourceType"
}

/// Folds subtrees without column references into constants.
fn simplify(t: Template) -> Template {
    match t {
        Template::Object { entries, condition: None }
            if entries.iter().all(|(_, v)| matches!(v, Template::Constant(_))) =>
        {
            let map = entries
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Template::Constant(Json::Null) => None,
                    Template::Constant(c) => Some((k, c)),
                    _ => None,
                })
                .collect();
            Template::Constant(Json::Object(map))
        }
        Template::Array(items) if items.iter().all(|i| matches!(i, ArrayItem::One(Template::Constant(_)))) => {
            Template::Constant(Json::Array(
                items
                    .into_iter()
                    .filter_map(|i| match i {
                        ArrayItem::One(Template::Constant(c)) if !c.is_null() => Some(c),
                        _ => None,
                    })
                    .collect(),
            ))
        }
        other => other,
    }
}

fn compile_scalar(node: &Node, env: &TemplateEnv<'_>, scope: &mut Scope, diags: &mut Diagnostics) -> Template {
    match node.scalar() {
        None | Some(Scalar::Null) => Template::Constant(Json::Null),
        Some(Scalar::Bool(b)) => Template::Constant(Json::Bool(b)),
        Some(Scalar::Int(i)) => Template::Constant(Json::from(i)),
        Some(Scalar::Float(f)) => match serde_json::from_str::<serde_json::Number>(f) {
            Ok(n) => Template::Constant(Json::Number(n)),
            Err(_) => Template::Constant(Json::String(f.to_owned())),
        },
        Some(Scalar::Str(s)) => match parse_pieces(s, node.pos, env, &mut scope.columns, diags) {
            Some(pieces) => match <[Piece; 1]>::try_from(pieces) {
                Ok([Piece::Column(c)]) => Template::Value(c),
                Ok([Piece::Literal(l)]) => Template::Constant(Json::String(l)),
                Err(pieces) if pieces.iter().all(|p| matches!(p, Piece::Literal(_))) => {
                    Template::Constant(Json::String(pieces.iter().map(literal).collect()))
                }
                Err(pieces) => Template::Text(pieces),
            },
            None => Template::Constant(Json::Null),
        },
    }
}

fn literal(p: &Piece) -> &str {
    match p {
        Piece::Literal(l) => l,
        Piece::Column(_) => "",
    }
}

/// Splits `text` into literals and `{column | filter: arg}` references.
pub fn parse_pieces(
    text: &str,
    pos: Pos,
    env: &TemplateEnv<'_>,
    scope: &mut ScopeColumns,
    diags: &mut Diagnostics,
) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    let mut ok = true;
    while let Some(i) = rest.find(['{', '}']) {
        lit.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            lit.push(tail.as_bytes()[0] as char);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            diags.error(
                env.file,
                pos,
                format!("unmatched `}}` in \"{}\" (write `}}}}` for a literal brace)", quoted(text)),
            );
            return None;
        }
        let Some(end) = tail.find('}') else {
            diags.error(env.file, pos, format!("unclosed `{{` in \"{}\"", quoted(text)));
            return None;
        };
        if !lit.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut lit)));
        }
        match parse_reference(&tail[1..end], pos, env, scope, diags) {
            Some(c) => pieces.push(Piece::Column(c)),
            None => ok = false,
        }
        rest = &tail[end + 1..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        pieces.push(Piece::Literal(lit));
    }
    ok.then_some(pieces)
}

fn parse_reference(
    inner: &str,
    pos: Pos,
    env: &TemplateEnv<'_>,
    scope: &mut ScopeColumns,
    diags: &mut Diagnostics,
) -> Option<ColumnRef> {
    let mut parts = inner.split('|').map(str::trim);
    let column = parts.next().unwrap_or_default();
    if !super::sql::is_identifier(column) || column.contains('.') {
        diags.error(env.file, pos, format!("`{{{}}}`: expected a column name of the query", quoted(inner)));
        return None;
    }
    let mut filters = Vec::new();
    for spec in parts {
        let (name, arg) = match spec.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (spec, None),
        };
        let filter = match (name, arg) {
            ("map", Some(table)) => match env.code_tables.get(table) {
                Some(&i) => Filter::Map(i),
                None => {
                    let known: Vec<&str> = env.code_tables.keys().map(String::as_str).collect();
                    diags.error(
                        env.file,
                        pos,
                        format!(
                            "code table `{table}` is not defined in service.yaml (defined: {})",
                            list_or_none(&known)
                        ),
                    );
                    return None;
                }
            },
            ("map", None) => {
                diags.error(env.file, pos, "`map` needs a code table: `{column | map: table}`");
                return None;
            }
            ("datetime", None) => Filter::DateTime(None),
            ("date", None) => Filter::Date(None),
            ("datetime" | "date", Some(precision))
                if super::sql::is_identifier(precision) && !precision.contains('.') =>
            {
                let slot = Some(scope.slot(precision, pos));
                if name == "date" {
                    Filter::Date(slot)
                } else {
                    Filter::DateTime(slot)
                }
            }
            ("instant", None) => Filter::Instant,
            ("decimal", None) => Filter::Decimal,
            ("integer", None) => Filter::Integer,
            ("string", None) => Filter::String,
            ("boolean", None) => Filter::Boolean,
            ("base64", None) => Filter::Base64,
            ("xhtml", None) => Filter::Xhtml,
            _ => {
                diags.error(
                    env.file,
                    pos,
                    format!("unknown filter `{}` (known: map: <table>, datetime [: <precision column>], date [: <precision column>], instant, decimal, integer, string, boolean, base64, xhtml)", quoted(spec)),
                );
                return None;
            }
        };
        if filters.last().is_some_and(|f| matches!(f, Filter::Map(_))) {
            diags.error(env.file, pos, "`map` must be the last filter: its result is FHIR, not a column value");
            return None;
        }
        filters.push(filter);
    }
    Some(ColumnRef { column: column.to_owned(), slot: scope.slot(column, pos), filters, pos })
}

pub fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
