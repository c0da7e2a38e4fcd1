//! Statements for a mapping: the mapping's query as a subquery, with search predicates,
//! ordering and paging around it. Request values are always binds.

use super::criteria::{Criterion, DatePrefix, DateValue, TokenValue};
use crate::engine::time;
use crate::mapping::{CodeTable, CompiledMapping, DateStorage, OrderBy, SearchParamDef, Source, SqlText, TokenMatch};
use chrono::{Duration, NaiveDateTime, NaiveTime};
use dva_source_api::{SqlStyle, Statement, Value};

/// Parent keys per child statement (an `IN (...)` list); keeps every driver's bind limit.
pub const CHILD_BATCH: usize = 500;

/// Items in one `IN (...)` list: Oracle takes at most 1,000; longer lists become several.
const IN_LIST_MAX: usize = 500;

/// A predicate under construction; constants fold away before reaching SQL. It is rendered
/// only at the end, so that equality alternatives on one column become one `IN (...)` and
/// long `AND`/`OR` lists nest as balanced trees: no database's expression-depth limit (SQLite's
/// is 1,000) is ever what stops a search.
#[derive(Debug, Clone, PartialEq)]
enum Pred {
    True,
    False,
    /// `q.column` equals one of `values`.
    In {
        column: String,
        values: Vec<Value>,
    },
    /// SQL text with `?` for each of its binds.
    Sql(String, Vec<Value>),
    And(Vec<Pred>),
    Or(Vec<Pred>),
}

impl Pred {
    fn eq(column: &str, value: Value) -> Pred {
        Pred::In { column: column.to_owned(), values: vec![value] }
    }

    fn and(preds: Vec<Pred>) -> Pred {
        let mut out = Vec::with_capacity(preds.len());
        for p in preds {
            match p {
                Pred::False => return Pred::False,
                Pred::True => {}
                Pred::And(inner) => out.extend(inner),
                other => out.push(other),
            }
        }
        match out.len() {
            0 => Pred::True,
            1 => out.remove(0),
            _ => Pred::And(out),
        }
    }

    fn or(preds: Vec<Pred>) -> Pred {
        let mut out: Vec<Pred> = Vec::with_capacity(preds.len());
        let mut flat = Vec::with_capacity(preds.len());
        for p in preds {
            match p {
                Pred::Or(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        for p in flat {
            match p {
                Pred::True => return Pred::True,
                Pred::False => {}
                Pred::In { column, values } => {
                    // Alternatives on one column join one list.
                    let same = out.iter_mut().find_map(|q| match q {
                        Pred::In { column: c, values: v } if *c == column => Some(v),
                        _ => None,
                    });
                    match same {
                        Some(list) => list.extend(values),
                        None => out.push(Pred::In { column, values }),
                    }
                }
                other => out.push(other),
            }
        }
        match out.len() {
            0 => Pred::False,
            1 => out.remove(0),
            _ => Pred::Or(out),
        }
    }

    /// SQL text with `?` placeholders, and the binds in their order.
    fn render(self) -> (String, Vec<Value>) {
        match self {
            // Folded away by `and`/`or` before rendering, except a whole predicate of one.
            Pred::True => ("1 = 1".into(), Vec::new()),
            Pred::False => ("1 = 0".into(), Vec::new()),
            Pred::Sql(sql, binds) => (sql, binds),
            Pred::In { column, values } => {
                let lists: Vec<(String, Vec<Value>)> = values
                    .chunks(IN_LIST_MAX)
                    .map(|chunk| {
                        let sql = if chunk.len() == 1 {
                            format!("q.{column} = ?")
                        } else {
                            format!("q.{column} IN ({})", vec!["?"; chunk.len()].join(", "))
                        };
                        (sql, chunk.to_vec())
                    })
                    .collect();
                balanced(lists, "OR")
            }
            Pred::And(preds) => balanced(preds.into_iter().map(Pred::render).collect(), "AND"),
            Pred::Or(preds) => balanced(preds.into_iter().map(Pred::render).collect(), "OR"),
        }
    }
}

/// `a OP b OP c OP d` as `((a OP b) OP (c OP d))`: nesting grows with the logarithm of the
/// number of parts, not with the number.
fn balanced(mut parts: Vec<(String, Vec<Value>)>, op: &str) -> (String, Vec<Value>) {
    if parts.len() <= 1 {
        return parts.pop().unwrap_or_else(|| ("1 = 1".into(), Vec::new()));
    }
    let right = parts.split_off(parts.len() / 2);
    let (left_sql, mut binds) = balanced(parts, op);
    let (right_sql, right_binds) = balanced(right, op);
    binds.extend(right_binds);
    (format!("({left_sql} {op} {right_sql})"), binds)
}

/// `?` stands for every placeholder until [`Builder::finish`] numbers them for the dialect.
struct Builder {
    style: SqlStyle,
    sql: String,
    binds: Vec<Value>,
}

impl Builder {
    fn new(style: SqlStyle) -> Self {
        Self { style, sql: String::new(), binds: Vec::new() }
    }

    /// The mapping's query with its named parameters bound.
    fn subquery(&mut self, query: &SqlText, bind: impl Fn(&str) -> Value) {
        self.sql.push_str("SELECT * FROM (\n");
        let mut next = self.binds.len() + 1;
        for name in query.render(self.style, &mut next, &mut self.sql) {
            self.binds.push(bind(&name));
        }
        self.sql.push_str("\n) q");
    }

    fn push_pred(&mut self, keyword: &str, sql: &str, binds: Vec<Value>) {
        self.sql.push(' ');
        self.sql.push_str(keyword);
        self.sql.push(' ');
        // Predicates are built with `?`; number them now.
        for (i, piece) in sql.split('?').enumerate() {
            if i > 0 {
                self.sql.push_str(&self.style.placeholder(self.binds.len() + i));
            }
            self.sql.push_str(piece);
        }
        self.binds.extend(binds);
    }

    /// `ORDER BY` for `order`. Databases disagree on where NULLs go, so NULLs go last
    /// explicitly, the same everywhere.
    fn order_by(&mut self, order: &[OrderBy]) {
        let items: Vec<String> =
            order.iter().map(|o| self.style.order_item(&format!("q.{}", o.column), o.descending)).collect();
        if !items.is_empty() {
            self.sql.push_str(" ORDER BY ");
            self.sql.push_str(&items.join(", "));
        }
    }

    fn paging(&mut self, limit: u64, offset: u64) {
        let first = self.binds.len() + 1;
        self.sql.push_str(&self.style.paging_clause(first));
        let (a, b) = if self.style.limit_first() { (limit, offset) } else { (offset, limit) };
        self.binds.push(Value::Int(i64::try_from(a).unwrap_or(i64::MAX)));
        self.binds.push(Value::Int(i64::try_from(b).unwrap_or(i64::MAX)));
    }

    fn finish(self) -> Statement {
        Statement { sql: self.sql, binds: self.binds }
    }
}

/// The statement finding a patient's key from the BSN.
pub fn lookup_statement(query: &SqlText, style: SqlStyle, bsn: &str) -> Statement {
    let mut sql = String::new();
    let mut next = 1;
    let binds = query.render(style, &mut next, &mut sql).iter().map(|_| Value::Text(bsn.to_owned())).collect();
    Statement { sql, binds }
}

/// A mapping's query with every parameter bound to NULL, for the database to check without
/// reading a row (`= NULL` matches nothing). See `RowSource::columns`.
pub fn unbound_statement(query: &SqlText, style: SqlStyle) -> Statement {
    let mut sql = String::new();
    let mut next = 1;
    let binds = query.render(style, &mut next, &mut sql).iter().map(|_| Value::Null).collect();
    Statement { sql, binds }
}

/// One page of a mapping's matches: `limit` rows after `offset`. `None` when the criteria
/// cannot match any row of this mapping (no statement needs to run).
#[allow(clippy::too_many_arguments)]
pub fn page_statement(
    mapping: &CompiledMapping,
    style: SqlStyle,
    patient: &Value,
    criteria: &[(String, Criterion)],
    tables: &[CodeTable],
    limit: u64,
    offset: u64,
) -> Option<Statement> {
    let mut preds = Vec::with_capacity(criteria.len());
    for (name, criterion) in criteria {
        // A mapping that does not declare a parameter cannot say whether its rows match.
        let def = mapping.search.get(name)?;
        preds.push(criterion_pred(def, criterion, tables));
    }
    let pred = Pred::and(preds);
    if pred == Pred::False {
        return None;
    }
    let mut b = Builder::new(style);
    b.subquery(&mapping.query, |_| patient.clone());
    if pred != Pred::True {
        let (sql, binds) = pred.render();
        b.push_pred("WHERE", &sql, binds);
    }
    b.order_by(&mapping.order_by);
    b.paging(limit, offset);
    Some(b.finish())
}

/// The statement reading one resource by the column value of its id.
pub fn read_statement(mapping: &CompiledMapping, style: SqlStyle, patient: &Value, id_value: Value) -> Statement {
    let mut b = Builder::new(style);
    b.subquery(&mapping.query, |_| patient.clone());
    b.push_pred("WHERE", &format!("q.{} = ?", mapping.id.column), vec![id_value]);
    // Two rows tell a duplicate id apart from a unique one.
    b.paging(2, 0);
    b.finish()
}

/// Statements for a child query: its rows for the given parent keys, in batches.
pub fn child_statements(
    query: &SqlText,
    key: &str,
    order: &[OrderBy],
    style: SqlStyle,
    patient: &Value,
    parent_keys: &[Value],
) -> Vec<Statement> {
    parent_keys
        .chunks(CHILD_BATCH)
        .map(|keys| {
            let mut b = Builder::new(style);
            b.subquery(query, |_| patient.clone());
            let marks = vec!["?"; keys.len()].join(", ");
            b.push_pred("WHERE", &format!("q.{key} IN ({marks})"), keys.to_vec());
            let mut by_key = vec![OrderBy { column: key.to_owned(), descending: false }];
            by_key.extend(order.iter().cloned());
            b.order_by(&by_key);
            b.finish()
        })
        .collect()
}

fn criterion_pred(def: &SearchParamDef, criterion: &Criterion, tables: &[CodeTable]) -> Pred {
    match (def, criterion) {
        (SearchParamDef::Token { matches }, Criterion::Token(values)) => Pred::or(
            values.iter().map(|v| Pred::or(matches.iter().map(|m| token_pred(m, v, tables)).collect())).collect(),
        ),
        (SearchParamDef::Date { column, stored_as }, Criterion::Date(values)) => {
            Pred::or(values.iter().map(|v| date_pred(column, *stored_as, v)).collect())
        }
        (SearchParamDef::Period { start, end, stored_as }, Criterion::Date(values)) => {
            Pred::or(values.iter().map(|v| period_pred(start, end, *stored_as, v)).collect())
        }
        // Parsing checked the parameter's type against this definition's.
        _ => Pred::False,
    }
}

fn token_pred(m: &TokenMatch, v: &TokenValue, tables: &[CodeTable]) -> Pred {
    // A code column translated by a table: search the local codes that translate to the value.
    if let Source::Column { name, table: Some(t) } = &m.code {
        let table = &tables[*t];
        let system_ok = match (&m.system, v.system.as_deref()) {
            (_, None) => Pred::True,
            (Some(Source::Literal(l)), Some(s)) => bool_pred(l == s),
            (Some(Source::Column { name, .. }), Some("")) => Pred::Sql(format!("q.{name} IS NULL"), vec![]),
            (Some(Source::Column { name, .. }), Some(s)) => Pred::eq(name, Value::Text(s.to_owned())),
            // The table's Codings carry the system; matched below.
            (None, Some(_)) => Pred::True,
        };
        let table_system = if m.system.is_none() { v.system.as_deref() } else { None };
        let code_ok = match &v.code {
            None => {
                // `system|`: any coding of the system the table yields.
                let codes = local_codes_in_system(table, v.system.as_deref().unwrap_or_default(), m.system.is_none());
                in_list(name, codes)
            }
            Some(code) => in_list(name, table.local_codes(table_system, code)),
        };
        return Pred::and(vec![system_ok, code_ok]);
    }
    let system_ok = match (&m.system, v.system.as_deref()) {
        (_, None) => Pred::True,
        (Some(Source::Literal(l)), Some(s)) => bool_pred(l == s),
        (Some(Source::Column { name, .. }), Some("")) => Pred::Sql(format!("q.{name} IS NULL"), vec![]),
        (Some(Source::Column { name, .. }), Some(s)) => Pred::eq(name, Value::Text(s.to_owned())),
        (None, Some(_)) => Pred::False,
    };
    let code_ok = match (&m.code, &v.code) {
        (Source::Literal(l), Some(c)) => bool_pred(l == c),
        (Source::Literal(_), None) => Pred::True,
        (Source::Column { name, .. }, Some(c)) => Pred::eq(name, Value::Text(c.clone())),
        (Source::Column { name, .. }, None) => Pred::Sql(format!("q.{name} IS NOT NULL"), vec![]),
    };
    Pred::and(vec![system_ok, code_ok])
}

fn local_codes_in_system(table: &CodeTable, system: &str, table_has_system: bool) -> Vec<String> {
    let mut codes: Vec<String> = table
        .entries
        .iter()
        .filter(|(_, v)| !table_has_system || v.get("system").and_then(|s| s.as_str()) == Some(system))
        .map(|(k, _)| k.clone())
        .collect();
    codes.sort();
    codes
}

fn in_list(column: &str, codes: Vec<String>) -> Pred {
    if codes.is_empty() {
        return Pred::False;
    }
    Pred::In { column: column.to_owned(), values: codes.into_iter().map(Value::Text).collect() }
}

fn bool_pred(b: bool) -> Pred {
    if b {
        Pred::True
    } else {
        Pred::False
    }
}

/// Bounds of a search range for a column: as timestamps, or as dates with the day semantics
/// of [`date_pred`] (`floor` = the day a time falls in, `ceil` = the first whole day from it).
fn bounds(stored_as: DateStorage, t: NaiveDateTime) -> (Value, Value) {
    match stored_as {
        DateStorage::Timestamp => (Value::Timestamp(t), Value::Timestamp(t)),
        DateStorage::Date => {
            let floor = t.date();
            let ceil = if t.time() == NaiveTime::MIN { floor } else { floor + Duration::days(1) };
            (Value::Date(floor), Value::Date(ceil))
        }
    }
}

/// Date predicates against a period `[start, end]`: a null end is still running, a null start
/// is open towards the past. The same range semantics as [`date_pred`].
fn period_pred(start: &str, end: &str, stored_as: DateStorage, v: &DateValue) -> Pred {
    let (s_floor, s_ceil) = bounds(stored_as, v.start);
    let (e_floor, e_ceil) = bounds(stored_as, v.end);
    let cmp = |column: &str, op: &str, t: Value| Pred::Sql(format!("q.{column} {op} ?"), vec![t]);
    let is_null = |column: &str| Pred::Sql(format!("q.{column} IS NULL"), vec![]);
    let not_null = |column: &str| Pred::Sql(format!("q.{column} IS NOT NULL"), vec![]);
    match v.prefix {
        // Some of the period lies at or after the search range's start.
        DatePrefix::Ge => Pred::or(vec![is_null(end), cmp(end, ">=", s_floor)]),
        DatePrefix::Gt => Pred::or(vec![is_null(end), cmp(end, ">=", e_floor)]),
        // Some of the period lies before the search range's end.
        DatePrefix::Le => Pred::or(vec![is_null(start), cmp(start, "<", e_ceil)]),
        DatePrefix::Lt => Pred::or(vec![is_null(start), cmp(start, "<", s_ceil)]),
        // The whole period lies within the search range.
        DatePrefix::Eq => Pred::and(vec![cmp(start, ">=", s_ceil), not_null(end), cmp(end, "<", e_floor)]),
        DatePrefix::Ne => {
            Pred::or(vec![is_null(start), cmp(start, "<", s_ceil), is_null(end), cmp(end, ">=", e_floor)])
        }
        DatePrefix::Sa => cmp(start, ">=", e_ceil),
        DatePrefix::Eb => Pred::and(vec![not_null(end), cmp(end, "<", s_floor)]),
    }
}

/// Date predicates. A timestamp column is a point in local time; a date column stands for its
/// whole local day, compared with the day bounds that keep FHIR's range semantics.
fn date_pred(column: &str, stored_as: DateStorage, v: &DateValue) -> Pred {
    let (s, e) = (v.start, v.end);
    let cmp = |op: &str, t: Value| Pred::Sql(format!("q.{column} {op} ?"), vec![t]);
    match stored_as {
        DateStorage::Timestamp => {
            let ts = Value::Timestamp;
            match v.prefix {
                DatePrefix::Eq => Pred::and(vec![cmp(">=", ts(s)), cmp("<", ts(e))]),
                DatePrefix::Ne => Pred::or(vec![cmp("<", ts(s)), cmp(">=", ts(e))]),
                DatePrefix::Lt | DatePrefix::Eb => cmp("<", ts(s)),
                DatePrefix::Le => cmp("<", ts(e)),
                DatePrefix::Gt | DatePrefix::Sa => cmp(">=", ts(e)),
                DatePrefix::Ge => cmp(">=", ts(s)),
            }
        }
        DateStorage::Date => {
            let day = |t: NaiveDateTime| Value::Date(t.date());
            let ceil = |t: NaiveDateTime| {
                if t.time() == NaiveTime::MIN {
                    Value::Date(t.date())
                } else {
                    Value::Date(time::start_of_day(t.date()).date() + Duration::days(1))
                }
            };
            match v.prefix {
                DatePrefix::Eq => Pred::and(vec![cmp(">=", ceil(s)), cmp("<", day(e))]),
                DatePrefix::Ne => Pred::or(vec![cmp("<", ceil(s)), cmp(">=", day(e))]),
                DatePrefix::Lt => cmp("<", ceil(s)),
                DatePrefix::Le => cmp("<", ceil(e)),
                DatePrefix::Gt => cmp(">=", day(e)),
                DatePrefix::Ge => cmp(">=", day(s)),
                DatePrefix::Sa => cmp(">=", ceil(e)),
                DatePrefix::Eb => cmp("<", day(s)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::load_set;
    use crate::search::{Criterion, TokenValue};
    use std::path::Path;

    fn lab_mapping() -> crate::mapping::MappingSet {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his/gp-data");
        load_set(&dir).0.expect("demo mapping set compiles")
    }

    /// Invariant 2: hostile request values travel as binds and never change the SQL text, in
    /// any dialect or placeholder style.
    #[test]
    fn request_values_never_become_sql_text() {
        let set = lab_mapping();
        let mapping = set.for_type("Observation").find(|m| m.name == "observation-lab").expect("lab mapping");
        let statement = |style: dva_source_api::SqlStyle, code: &str| {
            let criteria = vec![(
                "code".to_owned(),
                Criterion::Token(vec![TokenValue { system: Some("http://loinc.org".into()), code: Some(code.into()) }]),
            )];
            page_statement(mapping, style, &Value::Int(7), &criteria, &set.code_tables, 10, 0).expect("a statement")
        };
        let hostile = "x'); DROP TABLE labuitslag; -- \u{1F600}\0";
        for dialect in dva_source_api::Dialect::ALL {
            for style in [dialect.into(), dva_source_api::SqlStyle::odbc(dialect)] {
                let (benign, s) = (statement(style, "1234-5"), statement(style, hostile));
                assert_eq!(s.sql, benign.sql, "{dialect:?}: the value changed the SQL text");
                assert!(s.binds.contains(&Value::Text(hostile.into())));
                assert!(s.binds.contains(&Value::Int(7)), "the patient key is bound");
            }
        }
        let s = statement(dva_source_api::Dialect::Postgres.into(), hostile);
        let placeholders = (1..=s.binds.len()).filter(|n| s.sql.contains(&format!("${n}"))).count();
        assert_eq!(placeholders, s.binds.len(), "every bind has its placeholder: {}", s.sql);
    }

    /// The deepest nesting of parentheses in a statement.
    fn nesting(sql: &str) -> usize {
        let (mut depth, mut max) = (0usize, 0usize);
        for c in sql.chars() {
            match c {
                '(' => {
                    depth += 1;
                    max = max.max(depth);
                }
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        max
    }

    /// Regression: 1,000 OR values made a 1,000-deep expression that SQLite refuses ("Expression
    /// tree is too large"). Equalities on one column are one `IN` list (at most 500 items, for
    /// Oracle), and what cannot be a list nests as a balanced tree.
    #[test]
    fn many_values_make_lists_and_shallow_trees() {
        let set = lab_mapping();
        let journal = set.for_type("Observation").find(|m| m.name == "observation-journal").expect("journal mapping");
        let codes: Vec<TokenValue> =
            (0..1000).map(|i| TokenValue { system: None, code: Some(format!("v{i}")) }).collect();
        let dates: Vec<crate::search::DateValue> = (0..1000)
            .map(|_| crate::search::DateValue::parse("ne2020-01-01", chrono_tz::Europe::Amsterdam).expect("date"))
            .collect();
        for (name, criterion) in [("code", Criterion::Token(codes)), ("date", Criterion::Date(dates))] {
            let criteria = vec![(name.to_owned(), criterion)];
            let Some(s) = page_statement(
                journal,
                dva_source_api::Dialect::Oracle.into(),
                &Value::Int(1),
                &criteria,
                &set.code_tables,
                10,
                0,
            ) else {
                continue;
            };
            let depth = nesting(&s.sql);
            assert!(depth < 20, "{name}: nesting {depth}");
            if name == "code" {
                assert!(s.sql.contains(" IN ("), "code values are one list: {}", &s.sql[..200.min(s.sql.len())]);
            }
            for list in s.sql.split(" IN (").skip(1) {
                let items = list.split(')').next().unwrap_or_default().matches('?').count();
                assert!(items <= IN_LIST_MAX, "{name}: an IN list of {items}");
            }
        }
        let repeated: Vec<(String, Criterion)> = (0..1000)
            .map(|_| {
                let v = crate::search::DateValue::parse("ge2020", chrono_tz::Europe::Amsterdam).expect("date");
                ("date".to_owned(), Criterion::Date(vec![v]))
            })
            .collect();
        let s = page_statement(journal, dva_source_api::Dialect::Sqlite.into(), &Value::Int(1), &repeated, &[], 10, 0)
            .expect("a statement");
        assert!(nesting(&s.sql) < 20, "repeated parameters nest {}", nesting(&s.sql));
    }

    /// Child rows come in one statement per 500 parent keys, never one per parent row.
    #[test]
    fn child_rows_are_fetched_in_batches() {
        let sql = SqlText::parse("SELECT * FROM r WHERE pat = :patient");
        let keys: Vec<Value> = (0..1200).map(Value::Int).collect();
        let statements =
            child_statements(&sql, "parent_id", &[], dva_source_api::Dialect::Sqlite.into(), &Value::Int(1), &keys);
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[0].binds.len(), 1 + CHILD_BATCH);
        assert!(statements.iter().all(|s| s.sql.contains("q.parent_id IN (")));
    }

    #[test]
    fn impossible_criteria_run_no_statement() {
        let set = lab_mapping();
        let mapping = set.for_type("Observation").find(|m| m.name == "observation-lab").expect("lab mapping");
        let criteria = vec![(
            "category".to_owned(),
            Criterion::Token(vec![TokenValue { system: None, code: Some("vital-signs".into()) }]),
        )];
        assert!(page_statement(
            mapping,
            dva_source_api::Dialect::Sqlite.into(),
            &Value::Int(1),
            &criteria,
            &set.code_tables,
            10,
            0
        )
        .is_none());
    }
}
