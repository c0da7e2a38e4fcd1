//! Statements PostgreSQL keeps prepared per connection.
//!
//! diesel's `sql_query` is never cached: every run parses and plans the mapping's query again,
//! and PostgreSQL spent 1.6 of 1.8 ms planning a typical page statement (docs/benchmarks.md). A
//! mapping's statements have few shapes (the SQL text depends on which search parameters are
//! given, not on their values), so each connection prepares the first [`MAX_PREPARED`] shapes
//! it sees and runs anything beyond unprepared: a client cannot grow the server's memory by
//! inventing new shapes (e.g. ever longer `code=a,b,c` lists).

use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Binary, Bool, Date, Double, Nullable, Text, Timestamp, Timestamptz, Untyped};
use diesel::QueryResult;
use dva_source_api::Value;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Distinct statement texts one connection keeps prepared.
pub const MAX_PREPARED: usize = 256;

/// A pooled connection and the statement shapes it has prepared.
pub struct Session {
    pub conn: PgConnection,
    shapes: Shapes,
}

impl Session {
    pub fn new(conn: PgConnection) -> Session {
        Session { conn, shapes: Shapes::default() }
    }

    /// Whether `sql` may be (or already is) prepared on this connection.
    pub fn may_prepare(&mut self, sql: &str) -> bool {
        self.shapes.admit(sql)
    }
}

/// The statement texts admitted for preparing, by hash (a collision only costs a statement
/// that runs unprepared or prepared, never a wrong answer: diesel's cache is keyed by text).
#[derive(Default)]
struct Shapes(HashSet<u64>);

impl Shapes {
    fn admit(&mut self, sql: &str) -> bool {
        let mut hasher = DefaultHasher::new();
        sql.hash(&mut hasher);
        let shape = hasher.finish();
        self.0.contains(&shape) || (self.0.len() < MAX_PREPARED && self.0.insert(shape))
    }
}

/// SQL with `$n` placeholders and its binds, which diesel's statement cache may keep: its
/// cache key is the SQL text and the bind types.
pub struct CachedSql<'a> {
    pub sql: &'a str,
    pub binds: &'a [Value],
}

static NULL: Option<crate::postgres::NoValue> = None;

impl QueryId for CachedSql<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for CachedSql<'_> {
    type SqlType = Untyped;
}

impl<Conn> diesel::RunQueryDsl<Conn> for CachedSql<'_> {}

impl QueryFragment<Pg> for CachedSql<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // The placeholders are in the text already; only the values are added. Each value
        // is bound with its own SQL type, so PostgreSQL compares dates with dates.
        out.push_sql(self.sql);
        for value in self.binds {
            match value {
                Value::Null => out.push_bind_param_value_only::<Nullable<crate::postgres::Unspecified>, _>(&NULL)?,
                Value::Bool(b) => out.push_bind_param_value_only::<Bool, _>(b)?,
                Value::Int(i) => out.push_bind_param_value_only::<BigInt, _>(i)?,
                Value::Float(f) => out.push_bind_param_value_only::<Double, _>(f)?,
                Value::Bytes(b) => out.push_bind_param_value_only::<Binary, _>(b)?,
                Value::Date(d) => out.push_bind_param_value_only::<Date, _>(d)?,
                Value::Timestamp(t) => out.push_bind_param_value_only::<Timestamp, _>(t)?,
                Value::TimestampTz(t) => out.push_bind_param_value_only::<Timestamptz, _>(t)?,
                Value::Decimal(s) | Value::Text(s) => out.push_bind_param_value_only::<Text, _>(s)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_prepared_shapes_and_known_ones_stay() {
        let mut shapes = Shapes::default();
        for i in 0..MAX_PREPARED {
            assert!(shapes.admit(&format!("SELECT {i}")));
        }
        assert!(!shapes.admit("SELECT 'one too many'"));
        assert!(shapes.admit("SELECT 0"), "a prepared shape is still used");
    }
}
