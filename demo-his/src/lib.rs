//! demo-his: a synthetic legacy GP system, for trying and testing dva-connector. Dutch table
//! and column names, local codes, local times without offset, soft deletes: not FHIR-shaped,
//! so the mapping sets in `mappings/demo-his/` do real work. Generated patients
//! ([`generate`]) or the Nictiz qualification patients ([`qualification::load`]), written to
//! SQLite, PostgreSQL or any ODBC database ([`DemoWriter`]). Nothing here is used when
//! serving a real database.

mod bsn;
mod database;
mod generate;
mod options;
mod parts;
pub mod qualification;
pub mod schema;
mod tables;
mod writer;

pub use bsn::passes_eleven_test;
pub use database::{create_database, create_qualification_database, fill_database, DemoTarget};
pub use generate::{demo_tokens, generate, DemoToken};
pub use options::{GeneratorOptions, MAX_PATIENTS, MIN_PATIENTS};
pub use tables::Summary;
pub use writer::DemoWriter;
