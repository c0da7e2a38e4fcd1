//! Loading everything the server needs from a config file, in one code path.

use super::breaker::Breaker;
use super::service::DataService;
use super::statements;
use crate::audit::{AuditKeys, AuditTrail};
use crate::auth::{Authenticator, Introspector, JwtValidator, StaticTokens};
use crate::config::{AuthSettings, ServiceSettings, Settings, SourceKind, SourceSettings};
use crate::diagnostics::{Diagnostic, Diagnostics, Pos};
use crate::mapping::{self, MappingSet};
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
    /// The statements its databases found right, for the next reload.
    pub checked: statements::Passed,
}

/// What `validate` found.
pub struct Checked {
    pub settings: Settings,
    pub warnings: Vec<Diagnostic>,
    /// With `--connect`: the sources whose statements could not be checked, and why.
    pub unchecked: Vec<(String, String)>,
}

/// Everything the files say, compiled and checked: the part that `validate`, start-up and
/// reload share, so that what passes one passes all.
struct Compiled {
    settings: Settings,
    auth: Authenticator,
    tls: Option<crate::tls::TlsServer>,
    /// One per service, in the order of `settings.services`.
    sets: Vec<MappingSet>,
    /// The audit key file, checked against the store.
    audit_keys: AuditKeys,
    warnings: Diagnostics,
}

impl Compiled {
    fn load(config: &Path, progress: &mut dyn FnMut(&str, usize, usize)) -> Result<Compiled, Vec<Diagnostic>> {
        let settings = Settings::load(config).map_err(Diagnostics::sorted)?;
        let mut diags = Diagnostics::default();
        let at_start = Pos::START;
        let mut sets = Vec::new();
        for service in &settings.services {
            let (set, d) = mapping::load_set_with_progress(&service.mappings, &mut |done, total| {
                progress(&service.name, done, total)
            });
            diags.extend(d);
            sets.extend(set);
        }
        let auth = authenticator(&settings.auth).map_err(|e| diags.error(&settings.file, at_start, e));
        let tls = settings
            .tls
            .as_ref()
            .map(crate::tls::server_config)
            .transpose()
            .map_err(|e| diags.error(&settings.file, at_start, e));
        let audit_keys = AuditKeys::load(&settings.audit.key_file)
            .and_then(|keys| AuditTrail::check(&settings.audit.store, &keys).map(|()| keys).map_err(|e| e.to_string()))
            .map_err(|e| diags.error(&settings.file, at_start, e));
        match (auth, tls, audit_keys) {
            (Ok(auth), Ok(tls), Ok(audit_keys)) if !diags.has_errors() => {
                Ok(Compiled { settings, auth, tls, sets, audit_keys, warnings: diags })
            }
            _ => Err(diags.sorted()),
        }
    }
}

impl Snapshot {
    /// `validate`: config and all mappings, without touching the databases; with `connect`,
    /// every statement checked against its database too (see [`statements`]).
    pub fn check(
        config: &Path,
        connect: bool,
        progress: &mut dyn FnMut(&str, usize, usize),
    ) -> Result<Checked, Vec<Diagnostic>> {
        let Compiled { settings, sets, mut warnings, .. } = Compiled::load(config, progress)?;
        let mut unchecked = Vec::new();
        if connect {
            let sources = open_sources(&settings, &mut warnings);
            let mut now = statements::Passed::default();
            let unanswered =
                check_statements(&settings, &sets, &sources, &statements::Passed::default(), &mut now, &mut warnings);
            unchecked.extend(unanswered.into_iter().map(|(service, e)| (service.source.clone(), e.to_string())));
        }
        if warnings.has_errors() {
            Err(warnings.sorted())
        } else {
            Ok(Checked { settings, warnings: warnings.sorted(), unchecked })
        }
    }

    /// Start-up: everything `validate` checks, the audit trail opened, the sources opened and
    /// each set's statements checked against a database that answers (one that does not is
    /// checked when the next reload finds it up; its requests get 503 now).
    pub fn load(config: &Path) -> Result<Snapshot, Vec<Diagnostic>> {
        Self::load_after(config, &statements::Passed::default())
    }

    /// Reload: as [`Snapshot::load`], asking the databases only about statements that changed
    /// since `passed` (what the running snapshot's databases found right).
    pub fn load_after(config: &Path, passed: &statements::Passed) -> Result<Snapshot, Vec<Diagnostic>> {
        let Compiled { settings, auth, tls, sets, audit_keys, warnings: mut diags } =
            Compiled::load(config, &mut |_, _, _| {})?;
        let at_start = Pos::START;
        let audit = AuditTrail::open(&settings.audit.store, audit_keys)
            .map_err(|e| diags.error(&settings.file, at_start, e.to_string()));
        let sources = open_sources(&settings, &mut diags);
        let mut checked = statements::Passed::default();
        for (service, e) in check_statements(&settings, &sets, &sources, passed, &mut checked, &mut diags) {
            tracing::warn!(service = %service.name, error = %e, "statements not checked against the database: it does not answer");
        }
        let mut services = Vec::new();
        for (service, set) in settings.services.iter().zip(sets) {
            if let Some(source) = sources.get(service.source.as_str()) {
                services.push(Arc::new(DataService::new(service, set, Arc::clone(source), &settings)));
            }
        }
        match audit {
            Ok(audit) if !diags.has_errors() => {
                Ok(Snapshot { settings, tls, auth, audit: Arc::new(audit), services, checked })
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

/// Each service's statements checked by its database (what passed `before` is not asked
/// again); returns the services whose database could not be asked, and why.
fn check_statements<'s>(
    settings: &'s Settings,
    sets: &[MappingSet],
    sources: &HashMap<String, Arc<dyn RowSource>>,
    before: &statements::Passed,
    now: &mut statements::Passed,
    diags: &mut Diagnostics,
) -> Vec<(&'s ServiceSettings, SourceError)> {
    let mut unanswered = Vec::new();
    for (service, set) in settings.services.iter().zip(sets) {
        let (Some(source), Some(source_settings)) = (sources.get(&service.source), settings.source(&service.source))
        else {
            continue;
        };
        let mut checker = statements::Checker { source: source.as_ref(), settings: source_settings, before, now };
        if let Err(e) = statements::check(set, &mut checker, diags) {
            unanswered.push((service, e));
        }
    }
    unanswered
}

/// Every configured source, each behind its circuit breaker. Network databases connect on first
/// use; what fails here is a setting (or a missing SQLite file).
fn open_sources(settings: &Settings, diags: &mut Diagnostics) -> HashMap<String, Arc<dyn RowSource>> {
    let mut sources: HashMap<String, Arc<dyn RowSource>> = HashMap::new();
    for s in &settings.sources {
        match open_source(s) {
            Ok(source) => {
                sources.insert(s.name.clone(), Arc::new(Breaker::new(&s.name, source)));
            }
            Err(e) => diags.error(&settings.file, Pos::START, format!("source `{}`: {e}", s.name)),
        }
    }
    sources
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
