//! `dva-connector demo`: a ready-to-serve folder with the demo database, tokens and config.

use super::generator::{demo_tokens, generate, GeneratorOptions, Summary};
use super::schema;
use super::writer::DemoWriter;
use anyhow::Context;
use dva_source_api::Dialect;
use dva_source_api::{RowSource, Statement};
use dva_source_diesel::PostgresWriter;
use dva_source_diesel::{SourceLimits, SqliteSource, SqliteWriter};
use dva_source_odbc::OdbcWriter;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DATABASE_FILE: &str = "demo-his.sqlite";
pub const TOKEN_FILE: &str = "tokens.json";
pub const CONFIG_FILE: &str = "dva-connector.toml";

pub struct Prepared {
    pub config: PathBuf,
    /// What to print: how to call the demo server.
    pub instructions: String,
}

/// Creates the database (when missing) and rewrites the token file and config.
pub fn prepare(
    dir: &Path,
    options: &GeneratorOptions,
    mappings: &Path,
    listen: SocketAddr,
) -> anyhow::Result<Prepared> {
    let mappings = std::path::absolute(mappings).with_context(|| format!("mapping folder {}", mappings.display()))?;
    if !mappings.join("service.yaml").is_file() {
        anyhow::bail!(
            "mapping set {} not found; run the demo from the project folder or pass --mappings <folder with service.yaml>",
            mappings.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let database = dir.join(DATABASE_FILE);
    if database.exists() {
        check_existing(&database)?;
    } else {
        create_database(&database, options)?;
    }
    let tokens = demo_tokens(options);
    let token_json: Vec<serde_json::Value> = tokens
        .iter()
        .map(|t| serde_json::json!({"accessToken": format!("Bearer {}", t.token), "bsn": t.bsn}))
        .collect();
    std::fs::write(dir.join(TOKEN_FILE), serde_json::to_string_pretty(&token_json)?)
        .context("cannot write the token file")?;
    let config = dir.join(CONFIG_FILE);
    std::fs::write(&config, config_text(listen, &mappings)).context("cannot write the config")?;

    let first = tokens.first().map(|t| t.token.as_str()).unwrap_or("<token>");
    let base = format!("http://{listen}/fhir/stu3/gp-data");
    let instructions = format!(
        "demo-his: {} patients in {}\n\
         tokens (one per patient): {}\n\n\
         try:\n  curl -s {base}/metadata\n  curl -s -H 'Authorization: Bearer {first}' {base}/Patient\n  \
         curl -s -H 'Authorization: Bearer {first}' '{base}/Observation?code=https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen|'\n",
        options.patients,
        database.display(),
        dir.join(TOKEN_FILE).display(),
    );
    Ok(Prepared { config, instructions })
}

/// An existing file is reused only if it is a demo-his database.
fn check_existing(database: &Path) -> anyhow::Result<()> {
    let source = SqliteSource::open(database, SourceLimits::default())?;
    let probe = Statement { sql: "SELECT COUNT(*) FROM patient".into(), binds: Vec::new() };
    source.query(&probe).map(|_| ()).map_err(|_| {
        anyhow::anyhow!("{} exists but is not a demo-his database; remove it to generate a new one", database.display())
    })
}

/// Generates into a temporary file and renames it: an interrupted run leaves no half database.
pub fn create_database(database: &Path, options: &GeneratorOptions) -> anyhow::Result<()> {
    let partial = database.with_extension("sqlite.partial");
    let _ = std::fs::remove_file(&partial);
    {
        let mut writer = SqliteWriter::create(&partial).context("cannot create the demo database")?;
        generate(&mut writer, options).context("cannot generate the demo data")?;
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

fn config_text(listen: SocketAddr, mappings: &Path) -> String {
    format!(
        r#"# dva-connector demo config, written by `dva-connector demo`. See README.md for every key.
[server]
listen = "{listen}"
production = false                   # the demo uses static test tokens

[admin]
listen = "127.0.0.1:9464"

[fhir]
time_zone = "Europe/Amsterdam"

[auth]
mode = "static"
token_file = "{TOKEN_FILE}"

[sources.demo-his]
kind = "sqlite"
path = "{DATABASE_FILE}"

[[services]]
name = "gp-data"
base_path = "/fhir/stu3/gp-data"
mappings = "{}"
source = "demo-his"
"#,
        mappings.display()
    )
}
