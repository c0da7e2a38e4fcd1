//! Whole demo databases: an embedded SQLite file made in one piece, or the demo-his tables in a
//! database server.

use crate::generate::generate;
use crate::options::GeneratorOptions;
use crate::tables::Summary;
use crate::writer::DemoWriter;
use crate::{qualification, schema};
use anyhow::Context;
use dva_source_api::Dialect;
use dva_source_diesel::{PostgresWriter, SqliteWriter};
use dva_source_odbc::OdbcWriter;
use std::path::Path;

/// Generates into a temporary file and renames it: an interrupted run leaves no half database.
pub fn create_database(database: &Path, options: &GeneratorOptions) -> anyhow::Result<()> {
    create_with(database, |w| generate(w, options).map(drop))
}

/// A database with only the Nictiz qualification patients (see `qualification`).
pub fn create_qualification_database(database: &Path, scripts: &Path, anchor: chrono::NaiveDate) -> anyhow::Result<()> {
    create_with(database, |w| qualification::load(w, scripts, anchor).map(drop))
}

fn create_with(database: &Path, fill: impl FnOnce(&mut dyn DemoWriter) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let partial = database.with_extension("sqlite.partial");
    let _ = std::fs::remove_file(&partial);
    {
        let mut writer = SqliteWriter::create(&partial).context("cannot create the demo database")?;
        fill(&mut writer).context("cannot fill the demo database")?;
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
    }
    std::fs::rename(&partial, database).context("cannot move the demo database into place")?;
    Ok(())
}

/// A database server to fill with demo-his, for trying the connector against it.
pub enum DemoTarget {
    /// A `postgres://` URL, through libpq.
    Postgres(String),
    /// An ODBC connection string and the database's dialect.
    Odbc(String, Dialect),
}

/// Creates the demo-his tables in `target` and fills them. With `replace`, existing demo-his
/// tables are dropped first; without it, existing tables make the load fail (nothing is
/// overwritten by accident).
pub fn fill_database(target: &DemoTarget, options: &GeneratorOptions, replace: bool) -> anyhow::Result<Summary> {
    let mut writer: Box<dyn DemoWriter> = match target {
        DemoTarget::Postgres(url) => Box::new(PostgresWriter::connect(url)?),
        DemoTarget::Odbc(connection_string, dialect) => Box::new(OdbcWriter::connect(connection_string, *dialect)?),
    };
    if replace {
        writer.execute_batch(&schema::drop_tables())?;
    }
    generate(writer.as_mut(), options).context("cannot generate the demo data")
}
