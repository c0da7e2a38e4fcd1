//! Row buffers for the demo tables, shared by the generator and the qualification loader.
//! Columns come from the schema, so a table is declared once.

use crate::schema;
use crate::writer::DemoWriter;
use chrono::{Duration, NaiveDate};
use dva_source_api::{SourceError, Value};

/// splitmix64: tiny, fast and good enough for synthetic data.
pub(crate) struct Rng(pub u64);

impl Rng {
    /// An independent stream for one patient and one part of the record: adding a new part
    /// never changes the data of the others.
    pub fn for_patient(seed: u64, salt: u64, patient: u32) -> Self {
        Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ salt.wrapping_mul(0x9E37_79B9) ^ u64::from(patient))
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Legacy systems differ; this one stores missing text as NULL.
pub(crate) fn blank_null(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        s.into()
    }
}

/// The soft-delete flag.
pub(crate) fn yes_no(deleted: bool) -> Value {
    Value::from(if deleted { "J" } else { "N" })
}

pub(crate) fn opt(v: Option<Value>) -> Value {
    v.unwrap_or(Value::Null)
}

/// A local timestamp `minutes` after midnight of `day`.
pub(crate) fn at(day: NaiveDate, minutes: i64) -> Value {
    Value::Timestamp(day.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::minutes(minutes))
}

/// Rows waiting to be inserted into one table.
struct Buffer {
    table: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<Value>>,
    written: usize,
    last_id: i64,
}

/// A row buffer per table of the schema, flushed in batches.
pub(crate) struct Tables {
    buffers: Vec<Buffer>,
}

impl Tables {
    pub fn new() -> Self {
        let buffers = schema::tables()
            .map(|(table, declaration)| Buffer {
                table,
                columns: schema::column_names(declaration),
                rows: Vec::new(),
                written: 0,
                last_id: 0,
            })
            .collect();
        Tables { buffers }
    }

    fn buffer(&mut self, table: &str) -> &mut Buffer {
        match self.buffers.iter_mut().position(|b| b.table == table) {
            Some(i) => &mut self.buffers[i],
            // Table names are literals in this module's callers: a typo is a programming error.
            None => panic!("demo table {table} is not in the schema"),
        }
    }

    /// Adds a row; values in the order of the table's columns in the schema.
    pub fn add(&mut self, table: &str, row: Vec<Value>) {
        let buffer = self.buffer(table);
        debug_assert_eq!(row.len(), buffer.columns.len(), "row for {table}");
        buffer.rows.push(row);
    }

    /// The next key for `table`: 1, 2, 3, ...
    pub fn next_id(&mut self, table: &str) -> i64 {
        let buffer = self.buffer(table);
        buffer.last_id += 1;
        buffer.last_id
    }

    pub fn flush(&mut self, writer: &mut dyn DemoWriter) -> Result<(), SourceError> {
        for b in &mut self.buffers {
            if !b.rows.is_empty() {
                writer.insert(b.table, &b.columns, &b.rows)?;
            }
            b.written += b.rows.len();
            b.rows.clear();
        }
        Ok(())
    }

    /// Rows written per table, in schema order.
    pub fn written(&self) -> Vec<(&'static str, usize)> {
        self.buffers.iter().map(|b| (b.table, b.written)).collect()
    }
}

/// Rows written per table.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub rows: Vec<(&'static str, usize)>,
}
