//! Rows without a compile-time schema: each field decoded by the type its backend reports.

use diesel::backend::Backend;
use diesel::deserialize::{self, QueryableByName};
use diesel::row::{Field, NamedRow, Row};
use dva_source_api::{RowSet, SourceError, Value};

/// How one backend turns a raw field into a [`Value`].
pub(crate) trait DecodeValue: Backend {
    fn decode_value(raw: Self::RawValue<'_>) -> deserialize::Result<Value>;
}

/// One row with its column names.
pub(crate) struct DynamicRow {
    names: Vec<String>,
    values: Vec<Value>,
}

impl<DB: DecodeValue> QueryableByName<DB> for DynamicRow {
    fn build<'a>(row: &impl NamedRow<'a, DB>) -> deserialize::Result<Self> {
        let count = row.field_count();
        let mut names = Vec::with_capacity(count);
        let mut values = Vec::with_capacity(count);
        for i in 0..count {
            let Some(field) = Row::get(row, i) else { break };
            let name = field.field_name().unwrap_or_default().to_owned();
            values.push(match field.value() {
                None => Value::Null,
                Some(raw) => DB::decode_value(raw).map_err(|e| format!("column `{name}`: {e}"))?,
            });
            names.push(name);
        }
        Ok(Self { names, values })
    }
}

/// Collects loaded rows, refusing more than `max_rows`.
pub(crate) fn collect(
    rows: impl Iterator<Item = diesel::QueryResult<DynamicRow>>,
    max_rows: usize,
    error: impl Fn(diesel::result::Error) -> SourceError,
) -> Result<RowSet, SourceError> {
    let mut set = RowSet::default();
    for row in rows {
        let row = row.map_err(&error)?;
        if set.rows.len() == max_rows {
            return Err(SourceError::RowCap(max_rows));
        }
        if set.rows.is_empty() {
            set.columns = row.names.into();
        }
        set.rows.push(row.values);
    }
    Ok(set)
}
