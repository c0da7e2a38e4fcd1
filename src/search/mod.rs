//! FHIR search: query parameters -> typed criteria -> SQL predicates with binds.
//!
//! Request values only ever become binds (invariant 2); column names come from mapping files.

mod criteria;
pub mod limits;
mod params;
mod sql;

pub use criteria::{Criterion, DatePrefix, DateValue, TokenValue};
pub use params::{pairs, parse_search, Cursor, SearchError, SearchRequest, SearchSpec};
pub use sql::{child_statements, lookup_statement, page_statement, read_statement, unbound_statement, CHILD_BATCH};
