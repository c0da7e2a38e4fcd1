//! The pure core: rows + a compiled mapping -> FHIR resources, and the problems found.
//!
//! No I/O, no async, no errors for bad data: a value that cannot be converted is left out and
//! reported as a [`Problem`], so one odd legacy row never takes a whole response down.
//! Problems may quote row values: show them to IT staff (preview, validate), never log them.

mod convert;
mod eval;
pub mod time;

pub use eval::{build_resources, ScopeRows};

use crate::mapping::CodeTable;

/// What evaluation needs besides the rows.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    /// Legacy timestamps are local times in this zone.
    pub time_zone: chrono_tz::Tz,
    pub code_tables: &'a [CodeTable],
}

/// A data problem in one row. `message` may quote the value: it is PHI-bearing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub mapping: String,
    pub message: String,
}
