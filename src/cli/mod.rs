//! The command line: parse arguments, set up logging, run a command, map it to an exit code.

mod audit;
#[cfg(feature = "demo")]
mod demo;

use crate::diagnostics::{Diagnostic, Severity};
use crate::http::{self, AppState};
use crate::runtime::reload::{self, ReloadEvent};
use crate::runtime::systemd;
use crate::runtime::Snapshot;
use arc_swap::ArcSwap;
use clap::{Parser, Subcommand};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Exit code for an invalid config or mapping (EX_USAGE); systemd does not restart on it.
pub const EXIT_INVALID_CONFIG: u8 = 64;
/// Exit code when a resource the server needs is unavailable (EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;

#[derive(Parser)]
#[command(
    name = "dva-connector",
    version,
    about = "MedMij DVA resource server: serves a legacy EHR database as FHIR, through mapping files"
)]
struct Cli {
    /// Log format on stderr: `text` for people, `json` for log collectors. Under systemd,
    /// stderr goes to the journal either way.
    #[arg(long, global = true, env = "DVA_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the data services of a config file until stopped.
    Serve {
        /// The daemon config (TOML), e.g. /etc/dva-connector/dva-connector.toml.
        #[arg(long, short, env = "DVA_CONFIG")]
        config: PathBuf,
    },
    /// Check a config file and every mapping it uses; print each problem as
    /// file:line:column and exit 64 when anything is invalid. Does not touch the databases
    /// unless `--connect` is given.
    Validate {
        #[arg(long, short, env = "DVA_CONFIG")]
        config: PathBuf,
        /// Also have each database check every statement of its mappings (prepared with NULL
        /// parameters, no patient row read) and the columns they name; exit 69 when a
        /// database does not answer.
        #[arg(long)]
        connect: bool,
    },
    /// Print the SQL statements and binds a FHIR request would run, without running them.
    /// Example: explain --config F 'GET /fhir/stu3/gp-data/Observation?code=http://loinc.org|8480-6'
    Explain {
        #[arg(long, short, env = "DVA_CONFIG")]
        config: PathBuf,
        /// The request: `GET /base/Type?params`, `/base/Type/id`, or a full URL.
        request: String,
    },
    /// Print the FHIR that one patient's rows produce for a search or read, and the mapping
    /// problems found. Shows patient data: use it at your own terminal, never in logs.
    Preview {
        #[arg(long, short, env = "DVA_CONFIG")]
        config: PathBuf,
        /// The patient, by BSN (as an access token would carry it).
        #[arg(long)]
        bsn: String,
        /// The request: `GET /base/Type?params` or `/base/Type/id`.
        request: String,
    },
    /// Create the synthetic demo EHR ("demo-his", SQLite) if missing, write a ready config
    /// and token file next to it, and serve it. Prints how to call it.
    #[cfg(feature = "demo")]
    Demo {
        /// Folder for the demo database, config and tokens.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
        /// Patients to generate (10 to 100000) when the database is created.
        #[arg(long, default_value_t = 50)]
        patients: u32,
        /// Seed of the deterministic generator.
        #[arg(long, default_value_t = 2017)]
        seed: u64,
        /// The mapping set to serve, or a folder of them (each served at
        /// `/fhir/<version>/<folder name>`).
        #[arg(long, default_value = "mappings/demo-his")]
        mappings: PathBuf,
        /// Instead of synthetic patients, load the Nictiz qualification patients from this
        /// nictiz-testscripts folder (its fixtures and Configuration/QualificationTokens.json).
        #[arg(long, value_name = "DIR", conflicts_with = "patients")]
        qualification: Option<PathBuf>,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Only create the database, config and tokens; do not serve.
        #[arg(long)]
        no_serve: bool,
    },
    /// The audit trail: check it, show a patient's records, remove expired ones, manage its keys.
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
    },
    /// Fill a database server with the demo-his tables and data, to try the connector on
    /// PostgreSQL, MariaDB or any ODBC database. Point a `[sources]` entry at it afterwards.
    #[cfg(feature = "demo")]
    DemoLoad {
        /// A PostgreSQL URL (native client), e.g. postgres://user@host/db.
        #[arg(long, env = "DVA_DEMO_POSTGRES", conflicts_with = "odbc", required_unless_present = "odbc")]
        postgres: Option<String>,
        /// An ODBC connection string, e.g. "Driver={MariaDB Unicode};Server=host;Database=db;User=u;Password=p;".
        #[arg(long, env = "DVA_DEMO_ODBC")]
        odbc: Option<String>,
        /// The ODBC database's SQL dialect: sqlite, postgres, mysql (mariadb), mssql, oracle, generic.
        #[arg(long, default_value = "generic", value_parser = parse_dialect)]
        dialect: dva_source_api::Dialect,
        /// Patients to generate (10 to 100000).
        #[arg(long, default_value_t = 50)]
        patients: u32,
        /// Seed of the deterministic generator.
        #[arg(long, default_value_t = 2017)]
        seed: u64,
        /// The day the generated history ends (YYYY-MM-DD); default today.
        #[arg(long)]
        anchor: Option<chrono::NaiveDate>,
        /// Drop existing demo-his tables first.
        #[arg(long)]
        replace: bool,
    },
}

#[cfg(feature = "demo")]
fn parse_dialect(name: &str) -> Result<dva_source_api::Dialect, String> {
    dva_source_api::Dialect::from_name(name).ok_or_else(|| format!("unknown dialect `{name}`"))
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match cli.command {
        Command::Serve { config } => serve(&config),
        Command::Validate { config, connect } => validate(&config, connect),
        Command::Explain { config, request } => {
            with_snapshot(&config, |s| crate::inspect::explain(s, &request).map(|text| print!("{text}")))
        }
        Command::Preview { config, bsn, request } => with_snapshot(&config, |s| {
            let (json, problems) = crate::inspect::preview(s, &bsn, &request)?;
            println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
            eprintln!("{} mapping problems", problems.len());
            for p in &problems {
                eprintln!("problem: {p}");
            }
            Ok(())
        }),
        Command::Audit { action } => audit::run(action),
        #[cfg(feature = "demo")]
        Command::DemoLoad { postgres, odbc, dialect, patients, seed, anchor, replace } => demo::load(
            postgres,
            odbc,
            dialect,
            dva_demo_his::GeneratorOptions {
                patients,
                seed,
                anchor: anchor.unwrap_or_else(|| chrono::Local::now().date_naive()),
            },
            replace,
        ),
        #[cfg(feature = "demo")]
        Command::Demo { dir, patients, seed, mappings, listen, no_serve, qualification } => {
            let options = dva_demo_his::GeneratorOptions { patients, seed, anchor: chrono::Local::now().date_naive() };
            match demo::run(&dir, &options, &mappings, listen, qualification.as_deref(), no_serve) {
                Ok(Some(config)) => serve(&config),
                Ok(None) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DVA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if let LogFormat::Json = format {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
        return;
    }
    // Colours only for a person at a terminal; journald and files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
}

/// SIGHUP asks for a reload, like a changed file does.
fn forward_sighup(to: std::sync::mpsc::Sender<ReloadEvent>) -> std::io::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            if to.send(ReloadEvent::Signal).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Loads the config and mappings, then runs `f`; errors go to stderr.
fn with_snapshot(config: &Path, f: impl FnOnce(&Snapshot) -> Result<(), String>) -> ExitCode {
    let snapshot = match Snapshot::load(config) {
        Ok(s) => s,
        Err(diags) => {
            print_diagnostics(&diags);
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    match f(&snapshot) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Large mapping sets take a moment: people at a terminal see how far it is.
fn progress_on_terminal() -> impl FnMut(&str, usize, usize) {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    move |service, done, total| {
        if terminal && total >= 50 && (done % 25 == 0 || done == total) {
            eprint!("\r{service}: compiled {done} of {total} mapping files");
            if done == total {
                eprintln!();
            }
        }
    }
}

fn validate(config: &Path, connect: bool) -> ExitCode {
    match Snapshot::check(config, connect, &mut progress_on_terminal()) {
        Ok(checked) => {
            print_diagnostics(&checked.warnings);
            for (source, error) in &checked.unchecked {
                eprintln!("error: source `{source}`: its statements could not be checked: {error}");
            }
            if !checked.unchecked.is_empty() {
                eprintln!("{}: not checked against every database", config.display());
                return ExitCode::from(EXIT_UNAVAILABLE);
            }
            let against = if connect { ", statements checked against the databases" } else { "" };
            println!(
                "{}: valid ({} data services, {} warnings{against})",
                config.display(),
                checked.settings.services.len(),
                checked.warnings.len()
            );
            ExitCode::SUCCESS
        }
        Err(diags) => {
            print_diagnostics(&diags);
            let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
            eprintln!("{}: invalid ({errors} errors)", config.display());
            ExitCode::from(EXIT_INVALID_CONFIG)
        }
    }
}

fn serve(config: &Path) -> ExitCode {
    let snapshot = match Snapshot::load(config) {
        Ok(s) => s,
        Err(diags) => {
            print_diagnostics(&diags);
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    for service in &snapshot.services {
        if let Err(e) = service.source.health() {
            tracing::warn!(service = %service.name, error = %e, "source not reachable at start; requests will get 503 until it is");
        }
    }
    let listen = snapshot.settings.listen;
    let listener = match TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%listen, error = %e, "cannot listen");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    let admin_listener = match snapshot.settings.admin.map(TcpListener::bind).transpose() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen on the admin address");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    let services: Vec<String> = snapshot.services.iter().map(|s| s.base_path.clone()).collect();
    let state = AppState { snapshot: Arc::new(ArcSwap::from_pointee(snapshot)) };
    let reloader = match reload::start(config.to_path_buf(), Arc::clone(&state.snapshot)) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start hot reload");
            return ExitCode::FAILURE;
        }
    };
    let checkpoints = match crate::runtime::checkpoints::start(Arc::clone(&state.snapshot)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the audit checkpoints");
            return ExitCode::FAILURE;
        }
    };
    let result = actix_web::rt::System::new().block_on(async move {
        if let Some(admin) = admin_listener {
            let admin_addr = admin.local_addr()?;
            actix_web::rt::spawn(http::serve_admin(state.clone(), admin)?);
            tracing::info!(%admin_addr, "admin listener: /healthz /readyz /metrics");
        }
        let server = http::serve(state, listener)?;
        forward_sighup(reloader.signal.clone())?;
        tracing::info!(%listen, services = ?services, "serving");
        // Listeners are bound and sources were checked: tell systemd we are up.
        systemd::notify_or_warn(&format!("READY=1\nSTATUS=serving {} data services on {listen}", services.len()));
        if let Some(every) = systemd::watchdog_interval() {
            actix_web::rt::spawn(async move {
                let mut tick = actix_web::rt::time::interval(every);
                loop {
                    tick.tick().await;
                    systemd::notify_or_warn("WATCHDOG=1");
                }
            });
        }
        let outcome = server.await;
        systemd::notify_or_warn("STOPPING=1");
        drop(reloader);
        outcome
    });
    // The trail's end as the server leaves it, for `audit verify --checkpoints-from`.
    checkpoints.stop();
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
