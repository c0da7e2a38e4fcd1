//! The demo EHR "demo-his": a synthetic legacy GP system in SQLite, and the `demo` command's
//! set-up. Nothing here is used when serving a real database.

pub mod generator;
pub mod schema;
mod setup;

pub use generator::{demo_tokens, generate, DemoToken, GeneratorOptions, Summary};
pub use setup::{create_database, prepare, Prepared};
