//! Template evaluation over rows.

use super::convert::{self, Converted};
use super::{EvalContext, Problem};
use crate::fhir::Resource;
use crate::mapping::{ArrayItem, ColumnRef, CompiledMapping, Piece, Scope, Template};
use dva_source_api::{RowSet, Value};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// The rows of one query and of its child queries (in the order of `Scope::children`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScopeRows {
    pub rows: RowSet,
    pub children: Vec<ScopeRows>,
}

/// More problems than this per call are counted, not kept: one bad column in a 10,000-row
/// result should not produce 10,000 messages.
const MAX_PROBLEMS: usize = 50;

/// Builds one resource per row of `data`. Rows without a usable id are skipped (and reported).
pub fn build_resources(
    mapping: &CompiledMapping,
    data: &ScopeRows,
    ctx: &EvalContext<'_>,
) -> (Vec<Resource>, Vec<Problem>) {
    let mut cx = Cx { ctx, mapping: &mapping.name, problems: Vec::new(), dropped: 0 };
    let bound = bind(&mapping.scope, data, &[], &mut cx);
    let mut resources = Vec::with_capacity(data.rows.rows.len());
    for row in &data.rows.rows {
        let frame = Frame { row, bound: &bound, parent: None };
        let id = match frame.value(mapping.id.slot).to_text() {
            Some(inner) if !inner.trim().is_empty() => {
                format!("{}{}{}", mapping.id.prefix, inner.trim(), mapping.id.suffix)
            }
            _ => {
                cx.problem(format!("a row has no value in id column `{}`; the row is skipped", mapping.id.column));
                continue;
            }
        };
        if !crate::fhir::is_id(&id) {
            cx.problem(format!(
                "id `{id}` is not a valid FHIR id (letters, digits, `-`, `.`; at most 64); the row is skipped"
            ));
            continue;
        }
        let body = eval(&mapping.template, &frame, &mut cx).json;
        resources.push(Resource {
            resource_type: mapping.resource_type.clone(),
            json: assemble(mapping, &id, body),
            id,
        });
    }
    if cx.dropped > 0 {
        cx.problems
            .push(Problem { mapping: mapping.name.clone(), message: format!("… and {} more problems", cx.dropped) });
    }
    (resources, cx.problems)
}

/// resourceType, id and meta.profile first, then the template's elements.
fn assemble(mapping: &CompiledMapping, id: &str, body: Option<Json>) -> Json {
    let mut out = Map::new();
    out.insert("resourceType".into(), Json::String(mapping.resource_type.clone()));
    out.insert("id".into(), Json::String(id.to_owned()));
    let mut body = match body {
        Some(Json::Object(o)) => o,
        _ => Map::new(),
    };
    let mut meta = match body.shift_remove("meta") {
        Some(Json::Object(m)) => m,
        _ => Map::new(),
    };
    let mut profiles = vec![Json::String(mapping.profile.clone())];
    if let Some(Json::Array(extra)) = meta.shift_remove("profile") {
        profiles.extend(extra.into_iter().filter(|p| p.as_str() != Some(&mapping.profile)));
    }
    let mut ordered_meta = Map::new();
    ordered_meta.insert("profile".into(), Json::Array(profiles));
    ordered_meta.extend(meta);
    out.insert("meta".into(), Json::Object(ordered_meta));
    out.extend(body);
    Json::Object(out)
}

struct Cx<'a> {
    ctx: &'a EvalContext<'a>,
    mapping: &'a str,
    problems: Vec<Problem>,
    dropped: usize,
}

impl Cx<'_> {
    fn problem(&mut self, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem { mapping: self.mapping.to_owned(), message });
        } else {
            self.dropped += 1;
        }
    }
}

/// A scope's template columns resolved against the actual result columns, once per query.
struct Bound<'a> {
    scope: &'a Scope,
    /// Per slot: how many scopes up (0 = this row) and the column index there.
    slots: Vec<Option<(usize, usize)>>,
    rows: &'a RowSet,
    /// Per child query: its row indexes grouped by key.
    groups: Vec<HashMap<String, Vec<usize>>>,
    children: Vec<Bound<'a>>,
}

static EMPTY: std::sync::LazyLock<ScopeRows> = std::sync::LazyLock::new(ScopeRows::default);

fn bind<'a>(scope: &'a Scope, data: &'a ScopeRows, ancestors: &[&'a RowSet], cx: &mut Cx<'_>) -> Bound<'a> {
    let slots = scope
        .columns
        .names
        .iter()
        .map(|name| {
            let found = std::iter::once(&data.rows)
                .chain(ancestors.iter().rev().copied())
                .enumerate()
                .find_map(|(depth, rows)| rows.column_index(name).map(|i| (depth, i)));
            if found.is_none() && !data.rows.rows.is_empty() {
                cx.problem(format!("column `{name}` is not in the result of the query; its elements are left out"));
            }
            found
        })
        .collect();
    let mut lineage = ancestors.to_vec();
    lineage.push(&data.rows);
    let mut groups = Vec::with_capacity(scope.children.len());
    let mut children = Vec::with_capacity(scope.children.len());
    for (i, child) in scope.children.iter().enumerate() {
        let child_data = data.children.get(i).unwrap_or(&EMPTY);
        let mut group: HashMap<String, Vec<usize>> = HashMap::new();
        match child_data.rows.column_index(&child.key) {
            Some(k) => {
                for (row_index, row) in child_data.rows.rows.iter().enumerate() {
                    if let Some(key) = row[k].to_text() {
                        group.entry(key.trim().to_owned()).or_default().push(row_index);
                    }
                }
            }
            None if !child_data.rows.rows.is_empty() => {
                cx.problem(format!("child query `{}` has no key column `{}`", child.name, child.key));
            }
            None => {}
        }
        groups.push(group);
        children.push(bind(&child.scope, child_data, &lineage, cx));
    }
    Bound { scope, slots, rows: &data.rows, groups, children }
}

struct Frame<'a> {
    row: &'a [Value],
    bound: &'a Bound<'a>,
    parent: Option<&'a Frame<'a>>,
}

impl Frame<'_> {
    fn value(&self, slot: usize) -> &Value {
        let Some(Some((depth, index))) = self.bound.slots.get(slot) else { return &Value::Null };
        let mut frame = self;
        for _ in 0..*depth {
            match frame.parent {
                Some(p) => frame = p,
                None => return &Value::Null,
            }
        }
        frame.row.get(*index).unwrap_or(&Value::Null)
    }
}

/// A piece of output, and whether any column contributed to it.
struct Out {
    json: Option<Json>,
    data: bool,
}

fn eval(t: &Template, f: &Frame<'_>, cx: &mut Cx<'_>) -> Out {
    match t {
        Template::Constant(c) => Out { json: (!c.is_null()).then(|| c.clone()), data: false },
        Template::Value(col) => {
            let json = convert_column(col, f, cx).and_then(|c| match c {
                Converted::Value(v) => convert::to_json(v),
                Converted::Fhir(j) => Some(j),
            });
            Out { data: json.is_some(), json }
        }
        Template::Text(pieces) => {
            let json = interpolate(pieces, f, cx).map(Json::String);
            Out { data: json.is_some(), json }
        }
        Template::Object { entries, condition } => {
            if let Some(cond) = condition {
                if f.value(cond.slot).is_null() {
                    return Out { json: None, data: false };
                }
            }
            let mut map = Map::new();
            let mut data = false;
            for (key, value) in entries {
                if let Some(primitives) = eval_primitives(value, f, cx) {
                    data |= primitives.data;
                    primitives.insert(key, &mut map);
                    continue;
                }
                let mut out = eval(value, f, cx);
                data |= out.data;
                if key == "coding" {
                    out.json = out.json.and_then(drop_codings_without_code);
                }
                if let Some(j) = out.json {
                    map.insert(key.clone(), j);
                }
            }
            // Literal members travel with data: without any column value the object goes.
            let keep = (data || condition.is_some()) && !map.is_empty();
            Out { json: keep.then_some(Json::Object(map)), data }
        }
        // A primitive list outside an object member (where `eval_primitives` splits it): the values.
        Template::Array(items) | Template::PrimitiveList(items) => eval_array(items, f, cx),
        Template::Primitive { value, .. } => eval(value, f, cx),
    }
}

fn eval_array(items: &[ArrayItem], f: &Frame<'_>, cx: &mut Cx<'_>) -> Out {
    let mut list = Vec::new();
    let mut data = false;
    for item in items {
        match item {
            ArrayItem::One(t) => {
                let out = eval(t, f, cx);
                data |= out.data;
                list.extend(out.json);
            }
            ArrayItem::Each { child, item } => for_each_child_row(f, *child, |frame| {
                let out = eval(item, frame, cx);
                data |= out.data;
                list.extend(out.json);
            }),
        }
    }
    Out { json: (!list.is_empty()).then_some(Json::Array(list)), data }
}

/// Primitives with their extensions: one (`family`) or a list (`given`), each a value and,
/// when it has one, its `_element` object.
struct Primitives {
    list: bool,
    items: Vec<(Json, Option<Json>)>,
    data: bool,
}

impl Primitives {
    /// `key` and `_key` into `map`, FHIR JSON's way: in a list, `_key` has an entry (or null)
    /// for every value, so each extension stays with its own value.
    fn insert(self, key: &str, map: &mut Map<String, Json>) {
        if self.items.is_empty() {
            return;
        }
        let has_element = self.items.iter().any(|(_, e)| e.is_some());
        let (values, elements): (Vec<Json>, Vec<Json>) =
            self.items.into_iter().map(|(v, e)| (v, e.unwrap_or(Json::Null))).unzip();
        if self.list {
            map.insert(key.to_owned(), Json::Array(values));
            if has_element {
                map.insert(format!("_{key}"), Json::Array(elements));
            }
        } else if let (Some(value), Some(element)) = (values.into_iter().next(), elements.into_iter().next()) {
            map.insert(key.to_owned(), value);
            if has_element {
                map.insert(format!("_{key}"), element);
            }
        }
    }
}

/// `Some` when `t` is a `$value` primitive or a list holding one; an item whose value is null
/// is left out with its extensions (a qualifier without a name is no name part).
fn eval_primitives(t: &Template, f: &Frame<'_>, cx: &mut Cx<'_>) -> Option<Primitives> {
    let one = |t: &Template, f: &Frame<'_>, cx: &mut Cx<'_>, out: &mut Primitives| match t {
        Template::Primitive { value, element } => {
            let value = eval(value, f, cx);
            out.data |= value.data;
            if let Some(v) = value.json {
                let element = eval(element, f, cx).json.filter(|e| e.as_object().is_some_and(|o| !o.is_empty()));
                out.items.push((v, element));
            }
        }
        other => {
            let value = eval(other, f, cx);
            out.data |= value.data;
            out.items.extend(value.json.map(|v| (v, None)));
        }
    };
    match t {
        Template::Primitive { .. } => {
            let mut out = Primitives { list: false, items: Vec::new(), data: false };
            one(t, f, cx, &mut out);
            Some(out)
        }
        Template::PrimitiveList(items) => {
            let mut out = Primitives { list: true, items: Vec::new(), data: false };
            for item in items {
                match item {
                    ArrayItem::One(t) => one(t, f, cx, &mut out),
                    ArrayItem::Each { child, item } => {
                        for_each_child_row(f, *child, |frame| one(item, frame, cx, &mut out))
                    }
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// Runs `g` on a frame for each row of child query `child` that belongs to the row of `f`.
fn for_each_child_row<'a>(f: &Frame<'a>, child: usize, mut g: impl FnMut(&Frame<'_>)) {
    let Some(parent_key) = f.value(f.bound.scope.children[child].parent_key_slot).to_text() else { return };
    let bound = &f.bound.children[child];
    let Some(rows) = f.bound.groups[child].get(parent_key.trim()) else { return };
    for &i in rows {
        g(&Frame { row: &bound.rows.rows[i], bound, parent: Some(f) });
    }
}

/// A Coding is its code: one whose code column is null (say a LOINC code the local table does
/// not know) goes, however many literals it has (MedMij: every Coding has system and code).
fn drop_codings_without_code(codings: Json) -> Option<Json> {
    let Json::Array(items) = codings else { return Some(codings) };
    let kept: Vec<Json> = items.into_iter().filter(|c| !c.is_object() || c.get("code").is_some()).collect();
    (!kept.is_empty()).then_some(Json::Array(kept))
}

fn convert_column(col: &ColumnRef, f: &Frame<'_>, cx: &mut Cx<'_>) -> Option<Converted> {
    match convert::apply(f.value(col.slot), &col.filters, &|slot| f.value(slot).clone(), cx.ctx) {
        Ok(c) => c,
        Err(message) => {
            cx.problem(format!("`{{{}}}` at line {}: {message}", col.column, col.pos.line));
            None
        }
    }
}

/// A text with its columns filled in; `None` when any column is null.
fn interpolate(pieces: &[Piece], f: &Frame<'_>, cx: &mut Cx<'_>) -> Option<String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Literal(l) => out.push_str(l),
            Piece::Column(col) => {
                let converted = convert_column(col, f, cx)?;
                match convert::to_text(converted) {
                    Ok(Some(t)) => out.push_str(&t),
                    Ok(None) => return None,
                    Err(message) => {
                        cx.problem(format!("`{{{}}}` at line {}: {message}", col.column, col.pos.line));
                        return None;
                    }
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codings_without_a_code_are_left_out() {
        let codings = serde_json::json!([
            {"system": "http://loinc.org", "display": "glucose"},
            {"system": "https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen", "code": "3208"}
        ]);
        let kept = drop_codings_without_code(codings).expect("one left");
        assert_eq!(kept.as_array().map(Vec::len), Some(1));
        assert_eq!(kept[0]["code"], "3208");
        assert_eq!(drop_codings_without_code(serde_json::json!([{"system": "x", "display": "y"}])), None);
    }
}
