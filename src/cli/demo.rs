//! `dva-connector demo`: a ready-to-serve folder with the demo database (from demo-his),
//! tokens, an audit key and a config.

use anyhow::Context;
use dva_demo_his::{create_database, create_qualification_database, demo_tokens, qualification, GeneratorOptions};
use dva_source_api::{RowSource, Statement};
use dva_source_diesel::{SourceLimits, SqliteSource};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `demo`: prepares `dir` and says how to call it; the config to serve, unless `no_serve`.
pub fn run(
    dir: &Path,
    options: &GeneratorOptions,
    mappings: &Path,
    listen: SocketAddr,
    qualification: Option<&Path>,
    no_serve: bool,
) -> anyhow::Result<Option<PathBuf>> {
    let data = match qualification {
        Some(scripts) => DemoData::Qualification { scripts, anchor: options.anchor },
        None => DemoData::Generated(options),
    };
    let prepared = prepare(dir, data, mappings, listen)?;
    if no_serve {
        println!(
            "demo ready in {}; serve it with: dva-connector serve --config {}",
            dir.display(),
            prepared.config.display()
        );
        return Ok(None);
    }
    println!("{}", prepared.instructions);
    Ok(Some(prepared.config))
}

/// `demo-load`: fills a database server with demo-his.
pub fn load(
    postgres: Option<String>,
    odbc: Option<String>,
    dialect: dva_source_api::Dialect,
    options: GeneratorOptions,
    replace: bool,
) -> std::process::ExitCode {
    let target = match (postgres, odbc) {
        (Some(url), _) => dva_demo_his::DemoTarget::Postgres(url),
        (None, Some(connection_string)) => dva_demo_his::DemoTarget::Odbc(connection_string, dialect),
        (None, None) => {
            eprintln!("error: give --postgres or --odbc");
            return std::process::ExitCode::FAILURE;
        }
    };
    match dva_demo_his::fill_database(&target, &options, replace) {
        Ok(summary) => {
            println!("demo-his loaded: {} patients", options.patients);
            for (table, rows) in &summary.rows {
                println!("  {table}: {rows} rows");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub const DATABASE_FILE: &str = "demo-his.sqlite";
pub const TOKEN_FILE: &str = "tokens.json";
pub const CONFIG_FILE: &str = "dva-connector.toml";

struct Prepared {
    pub config: PathBuf,
    /// What to print: how to call the demo server.
    pub instructions: String,
}

/// Where the demo's data comes from.
enum DemoData<'a> {
    /// Synthetic patients from the generator.
    Generated(&'a GeneratorOptions),
    /// The Nictiz qualification patients, read from a nictiz-testscripts folder; "today" for
    /// their relative dates.
    Qualification { scripts: &'a Path, anchor: chrono::NaiveDate },
}

/// Creates the database (when missing) and rewrites the token file and config. `mappings` is
/// one mapping set (a folder with service.yaml) or a folder of them, each served at
/// `/fhir/<version>/<folder name>`.
fn prepare(dir: &Path, data: DemoData<'_>, mappings: &Path, listen: SocketAddr) -> anyhow::Result<Prepared> {
    let services = mapping_sets(mappings)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let database = dir.join(DATABASE_FILE);
    let exists = database.exists();
    if exists {
        check_existing(&database)?;
    }
    let (tokens, what) = match data {
        DemoData::Generated(options) => {
            if !exists {
                create_database(&database, options)?;
            }
            let tokens = demo_tokens(options).into_iter().map(|t| (t.token, t.bsn)).collect::<Vec<_>>();
            (tokens, format!("{} patients", options.patients))
        }
        DemoData::Qualification { scripts, anchor } => {
            if !exists {
                create_qualification_database(&database, scripts, anchor)?;
            }
            let tokens =
                qualification::tokens(scripts)?.into_iter().filter_map(|t| Some((t.token, t.bsn?))).collect::<Vec<_>>();
            (tokens, "the Nictiz qualification patients".to_string())
        }
    };
    let token_json: Vec<serde_json::Value> = tokens
        .iter()
        .map(|(token, bsn)| serde_json::json!({"accessToken": format!("Bearer {token}"), "bsn": bsn}))
        .collect();
    std::fs::write(dir.join(TOKEN_FILE), serde_json::to_string_pretty(&token_json)?)
        .context("cannot write the token file")?;
    let config = dir.join(CONFIG_FILE);
    std::fs::write(&config, config_text(listen, &services)).context("cannot write the config")?;
    // The audit trail's keys, next to the config (its default place), made once.
    let key_file = dir.join("audit.key");
    if !key_file.exists() {
        crate::audit::new_key(&key_file).map_err(anyhow::Error::msg)?;
    }

    let first = tokens.first().map(|t| t.0.as_str()).unwrap_or("<token>");
    let bases: Vec<String> = services.iter().map(|s| format!("http://{listen}{}", s.base_path)).collect();
    let base = bases.first().cloned().unwrap_or_default();
    let instructions = format!(
        "demo-his: {what} in {}\n\
         tokens (one per patient): {}\n\
         FHIR bases: {}\n\n\
         try:\n  curl -s {base}/metadata\n  curl -s -H 'Authorization: Bearer {first}' {base}/Patient\n",
        database.display(),
        dir.join(TOKEN_FILE).display(),
        bases.join(" "),
    );
    Ok(Prepared { config, instructions })
}

/// A mapping set the demo serves.
struct ServiceDir {
    name: String,
    base_path: String,
    folder: PathBuf,
}

/// `mappings` itself when it holds a service.yaml, else its subfolders that do (sorted).
fn mapping_sets(mappings: &Path) -> anyhow::Result<Vec<ServiceDir>> {
    let mappings = std::path::absolute(mappings).with_context(|| format!("mapping folder {}", mappings.display()))?;
    let folders: Vec<PathBuf> = if mappings.join("service.yaml").is_file() {
        vec![mappings.clone()]
    } else {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&mappings)
            .map(|entries| {
                entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("service.yaml").is_file()).collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    };
    if folders.is_empty() {
        anyhow::bail!(
            "no mapping set in {}; run the demo from the project folder or pass --mappings <folder with service.yaml, or a folder of them>",
            mappings.display()
        );
    }
    folders
        .into_iter()
        .map(|folder| {
            let name = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "fhir".into());
            let service = std::fs::read_to_string(folder.join("service.yaml")).unwrap_or_default();
            let version = if service.lines().any(|l| l.trim() == "fhir: r4") { "r4" } else { "stu3" };
            Ok(ServiceDir { base_path: format!("/fhir/{version}/{name}"), name, folder })
        })
        .collect()
}

/// An existing file is reused only if it is a demo-his database.
fn check_existing(database: &Path) -> anyhow::Result<()> {
    let source = SqliteSource::open(database, SourceLimits::default())?;
    let probe = Statement { sql: "SELECT COUNT(*) FROM patient".into(), binds: Vec::new() };
    source.query(&probe).map(|_| ()).map_err(|_| {
        anyhow::anyhow!("{} exists but is not a demo-his database; remove it to generate a new one", database.display())
    })
}

fn config_text(listen: SocketAddr, services: &[ServiceDir]) -> String {
    let mut text = format!(
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
"#
    );
    for s in services {
        text.push_str(&format!(
            "\n[[services]]\nname = \"{}\"\nbase_path = \"{}\"\nmappings = \"{}\"\nsource = \"demo-his\"\n",
            s.name,
            s.base_path,
            s.folder.display()
        ));
    }
    text
}
