//! The demo EHR "demo-his": a synthetic legacy GP system (SQLite by default; PostgreSQL or any
//! ODBC database on request), and the `demo` command's set-up. Nothing here is used when serving a real database.

mod bgz;
mod documents;
pub mod generator;
pub mod qualification;
pub mod schema;
mod setup;
mod tables;
mod writer;

pub use generator::{demo_tokens, generate, DemoToken, GeneratorOptions, Summary};
pub use setup::{
    create_database, create_qualification_database, fill_database, prepare, DemoData, DemoTarget, Prepared,
};
pub use writer::DemoWriter;
