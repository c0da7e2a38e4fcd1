//! The daemon config (TOML): raw serde types, then validated [`Settings`] with every problem
//! collected as `file:line:column`.

pub mod limits;
mod raw;

use crate::diagnostics::{Diagnostics, Pos};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Validated settings. Paths are absolute (relative ones are resolved against the config file).
#[derive(Debug, Clone)]
pub struct Settings {
    pub file: PathBuf,
    pub listen: SocketAddr,
    /// Health, readiness and metrics (default 127.0.0.1:9464).
    pub admin: Option<SocketAddr>,
    /// The externally visible base of all links, e.g. `https://dva.example.nl`; without it the
    /// request's own scheme and host are used.
    pub public_url: Option<String>,
    /// HTTPS on `listen`; plain HTTP without it (behind a TLS-terminating proxy, or in tests).
    pub tls: Option<TlsSettings>,
    /// A production install: static tokens are refused unless explicitly allowed.
    pub production: bool,
    pub workers: usize,
    pub time_zone: chrono_tz::Tz,
    pub default_count: usize,
    pub max_count: usize,
    pub auth: AuthSettings,
    pub audit: AuditSettings,
    pub sources: Vec<SourceSettings>,
    pub services: Vec<ServiceSettings>,
}

/// Where the audit trail is kept and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSettings {
    pub store: AuditStore,
    /// `audit purge` removes records older than this (default 36, MedMij's retention).
    pub retention_months: u32,
    /// The audit keys (default `audit.key` next to this config); never inside the store.
    pub key_file: PathBuf,
    /// How often the server writes a checkpoint of the trail's end to its log.
    pub checkpoint_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AuditStore {
    /// An SQLite file (default `audit.sqlite` next to the config).
    Sqlite(PathBuf),
    /// A PostgreSQL URL, for daemons on several hosts writing one trail.
    Postgres(Secret),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM), leaf first.
    pub certificate: PathBuf,
    /// Its private key (PEM); must not be readable by others.
    pub private_key: PathBuf,
    pub client_certificates: ClientCertificates,
    /// CA certificates (PEM) that client chains must end in (PKIoverheid Private G1 on MedMij).
    pub client_ca: Option<PathBuf>,
    /// Client host names accepted (the MedMij whitelist), lower case; empty: any client whose
    /// chain verifies.
    pub allowed_clients: Vec<String>,
    /// The MedMij Whitelist XML, reloaded when it changes; its hosts are allowed too.
    pub allowed_clients_file: Option<PathBuf>,
    /// A copy of the newest Whitelist seen (in `[server] state_dir`), so that a restart never
    /// goes back to an older `Volgnummer` either.
    pub allowed_clients_kept: PathBuf,
    /// Certificate revocation lists (PEM or DER) of the client CAs, reloaded when they change.
    pub client_crls: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertificates {
    None,
    /// Asked for; a client without one is served, one with an invalid one refused.
    Optional,
    /// Every client must present a valid certificate.
    Required,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AuthSettings {
    /// A JSON file of `{accessToken, bsn}` entries: for qualification, tests and the demo.
    StaticTokens { file: PathBuf },
    /// JWTs signed by the DVA's authorization server.
    Jwt(JwtSettings),
    /// Opaque tokens, checked with RFC 7662 introspection.
    Introspection(IntrospectionSettings),
}

#[derive(Debug, Clone, PartialEq)]
pub enum JwksSource {
    File(PathBuf),
    /// An https URL, and the CA file to trust for it (default the system's).
    Url {
        url: String,
        ca_file: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntrospectionSettings {
    /// The introspection endpoint (https).
    pub url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// CA certificates (PEM) for the authorization server; default the system's.
    pub ca_file: Option<PathBuf>,
    /// The longest an answer is remembered (default 300 s); never past the token's `exp`.
    pub cache_max: Duration,
    pub patient_claim: String,
    pub scope_claim: String,
    pub client_claim: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JwtSettings {
    /// The authorization server's public keys (JWKS); fetched again when a token names an
    /// unknown key.
    pub jwks: JwksSource,
    pub issuer: String,
    pub audience: String,
    pub algorithms: Vec<Algorithm>,
    /// The claim holding the patient's BSN.
    pub patient_claim: String,
    /// The claim holding the MedMij scope (`provider~gegevensdienstId ...`).
    pub scope_claim: String,
    /// The claim naming the PGO.
    pub client_claim: String,
    pub max_clock_skew: Duration,
}

/// The JWT signature algorithms a config may allow, and the only ones `auth` verifies. HS*
/// and `none` do not exist here: a token naming them can never match a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Ps256,
    Es256,
}

impl Algorithm {
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "RS256" => Some(Algorithm::Rs256),
            "PS256" => Some(Algorithm::Ps256),
            "ES256" => Some(Algorithm::Es256),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
            Algorithm::Es256 => "ES256",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceSettings {
    pub name: String,
    pub kind: SourceKind,
    pub pool_size: u32,
    pub statement_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_rows: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    Sqlite {
        path: PathBuf,
    },
    /// Native PostgreSQL (libpq): a `postgres://` URL or a `key=value` conninfo string.
    Postgres {
        url: Secret,
    },
    Odbc {
        connection_string: Secret,
        dialect: dva_source_api::Dialect,
        encoding: dva_source_odbc::TextEncoding,
        init_sql: Vec<String>,
    },
}

/// A setting that may hold a password: compared and used, never printed.
#[derive(Clone, PartialEq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSettings {
    pub name: String,
    /// `/fhir/stu3/gp-data`: no trailing slash.
    pub base_path: String,
    pub mappings: PathBuf,
    pub source: String,
    /// The MedMij provider name (without `@medmij`) and gegevensdienst id this service is, as
    /// access-token scopes name them. Required with scoped (JWT) tokens.
    pub provider: Option<String>,
    pub data_service_id: Option<String>,
}

impl Settings {
    /// Reads and validates `file`; `Err` carries every problem found.
    pub fn load(file: &Path) -> Result<Settings, Diagnostics> {
        let mut diags = Diagnostics::default();
        let text = match crate::diagnostics::read_source(file) {
            Ok(t) => t,
            Err((pos, message)) => {
                diags.error(file, pos, format!("config file: {message}"));
                return Err(diags);
            }
        };
        let dir = file.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        raw::compile(file, &dir, &text, &mut diags).filter(|_| !diags.has_errors()).ok_or(diags)
    }

    pub fn source(&self, name: &str) -> Option<&SourceSettings> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// Line and column (1-based) of a byte offset.
pub fn position(text: &str, offset: usize) -> Pos {
    crate::diagnostics::position_in(text, offset)
}
