//! Loading everything the server needs from a config file, in one code path.

use super::breaker::Breaker;
use super::service::DataService;
use crate::audit::AuditTrail;
use crate::auth::{Authenticator, Introspector, JwtValidator, StaticTokens};
use crate::config::{AuthSettings, Settings, SourceKind, SourceSettings};
use crate::mapping::{self, Diagnostic, Diagnostics};
use dva_source_api::{RowSource, SourceError};
use dva_source_diesel::{PostgresSource, SourceLimits, SqliteSource};
use dva_source_odbc::{OdbcOptions, OdbcSource};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Everything a request needs, immutable once built.
pub struct Snapshot {
    pub settings: Settings,
    /// The listener's TLS, when `[server.tls]` is configured.
    pub tls: Option<crate::tls::TlsServer>,
    pub auth: Authenticator,
    /// Where every access is recorded before its response is sent.
    pub audit: Arc<AuditTrail>,
    pub services: Vec<Arc<DataService>>,
}

impl Snapshot {
    /// Validates config and all mappings without touching the databases.
    /// Returns the warnings on success, and every problem on failure.
    pub fn check(
        config: &Path,
        progress: &mut dyn FnMut(&str, usize, usize),
    ) -> Result<(Settings, Vec<Diagnostic>), Vec<Diagnostic>> {
        let settings = Settings::load(config).map_err(Diagnostics::sorted)?;
        let mut diags = Diagnostics::default();
        for service in &settings.services {
            let (_, d) = mapping::load_set_with_progress(&service.mappings, &mut |done, total| {
                progress(&service.name, done, total)
            });
            diags.extend(d);
        }
        if let Err(e) = authenticator(&settings.auth) {
            diags.error(&settings.file, mapping::yaml::Pos { line: 1, column: 1 }, e);
        }
        if let Some(Err(e)) = settings.tls.as_ref().map(crate::tls::server_config) {
            diags.error(&settings.file, mapping::yaml::Pos { line: 1, column: 1 }, e);
        }
        if diags.has_errors() {
            Err(diags.sorted())
        } else {
            Ok((settings, diags.sorted()))
        }
    }

    /// Builds a snapshot: config, mappings, token file and sources.
    pub fn load(config: &Path) -> Result<Snapshot, Vec<Diagnostic>> {
        let settings = Settings::load(config).map_err(Diagnostics::sorted)?;
        let mut diags = Diagnostics::default();
        let at_start = mapping::yaml::Pos { line: 1, column: 1 };
        let auth = authenticator(&settings.auth).map_err(|e| diags.error(&settings.file, at_start, e));
        let audit = AuditTrail::open(&settings.audit.store).map_err(|e| diags.error(&settings.file, at_start, e));

        let tls = match settings.tls.as_ref().map(crate::tls::server_config).transpose() {
            Ok(tls) => tls,
            Err(e) => {
                diags.error(&settings.file, at_start, e);
                None
            }
        };

        let mut sources: HashMap<&str, Arc<dyn RowSource>> = HashMap::new();
        for s in &settings.sources {
            match open_source(s) {
                Ok(source) => {
                    sources.insert(&s.name, Arc::new(Breaker::new(&s.name, source)));
                }
                Err(e) => diags.error(&settings.file, at_start, format!("source `{}`: {e}", s.name)),
            }
        }

        let mut services = Vec::new();
        for service in &settings.services {
            let (set, d) = mapping::load_set(&service.mappings);
            diags.extend(d);
            if let (Some(set), Some(source)) = (set, sources.get(service.source.as_str())) {
                services.push(Arc::new(DataService::new(service, set, Arc::clone(source), &settings)));
            }
        }
        match (auth, audit) {
            (Ok(auth), Ok(audit)) if !diags.has_errors() => {
                Ok(Snapshot { settings, tls, auth, audit: Arc::new(audit), services })
            }
            _ => Err(diags.sorted()),
        }
    }

    pub fn service_for_path(&self, path: &str) -> Option<(&Arc<DataService>, String)> {
        self.services.iter().find_map(|s| {
            let rest = path.strip_prefix(s.base_path.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| (s, rest.trim_start_matches('/').to_owned()))
        })
    }
}

fn authenticator(settings: &AuthSettings) -> Result<Authenticator, String> {
    Ok(match settings {
        AuthSettings::StaticTokens { file } => Authenticator::Static(StaticTokens::load(file)?),
        AuthSettings::Jwt(jwt) => Authenticator::Jwt(JwtValidator::load(jwt)?),
        AuthSettings::Introspection(i) => Authenticator::Introspection(Introspector::new(i)?),
    })
}

/// Opens one configured source. Network databases connect on first use, so one that is down
/// at start makes requests answer 503 until it is back instead of stopping the daemon.
fn open_source(s: &SourceSettings) -> Result<Arc<dyn RowSource>, SourceError> {
    let limits = SourceLimits {
        pool_size: s.pool_size,
        statement_timeout: s.statement_timeout,
        connect_timeout: s.connect_timeout,
        max_rows: s.max_rows,
    };
    Ok(match &s.kind {
        SourceKind::Sqlite { path } => Arc::new(SqliteSource::open(path, limits)?),
        SourceKind::Postgres { url } => Arc::new(PostgresSource::open(&url.0, limits)),
        SourceKind::Odbc { connection_string, dialect, encoding, init_sql } => {
            let options = OdbcOptions {
                connection_string: connection_string.0.clone(),
                dialect: *dialect,
                encoding: *encoding,
                init_sql: init_sql.clone(),
            };
            Arc::new(OdbcSource::open(options, limits))
        }
    })
}
