//! [`RowSource`](dva_source_api::RowSource) over diesel with dynamic rows.
//!
//! Mapping files bring their own SQL, so rows are read without a compile-time schema: each
//! field is decoded by the storage type the database reports. SQLite is bundled (no system
//! library needed); it is the embedded default and the demo database.
#![forbid(unsafe_code)]

mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteSource, SqliteWriter};

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod prepared;

#[cfg(feature = "postgres")]
pub use postgres::{PostgresSource, PostgresWriter};

pub use dva_source_api::SourceLimits;
