//! The TOML as written, and its compilation into [`Settings`](super::Settings).

use super::{
    limits, position, AuditSettings, AuditStore, AuthSettings, ClientCertificates, IntrospectionSettings, JwksSource,
    JwtSettings, Secret, ServiceSettings, Settings, SourceKind, SourceSettings, TlsSettings,
};
use crate::diagnostics::{Diagnostics, Pos};
use dva_source_api::Dialect;
use dva_source_odbc::TextEncoding;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    admin: Option<RawAdmin>,
    #[serde(default)]
    fhir: RawFhir,
    auth: RawAuth,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    sources: BTreeMap<String, Spanned<RawSource>>,
    #[serde(default)]
    services: Vec<Spanned<RawService>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Spanned<String>,
    public_url: Option<Spanned<String>>,
    workers: Option<Spanned<usize>>,
    production: Option<bool>,
    /// Where the daemon keeps what it must remember across restarts (default: the config's
    /// folder; Debian: /var/lib/dva-connector).
    state_dir: Option<Spanned<String>>,
    tls: Option<Spanned<RawTls>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    certificate: String,
    private_key: String,
    #[serde(default)]
    client_certificates: Option<Spanned<String>>,
    client_ca: Option<String>,
    #[serde(default)]
    allowed_clients: Vec<String>,
    allowed_clients_file: Option<String>,
    #[serde(default)]
    client_crls: Vec<String>,
}

const DEFAULT_ADMIN: &str = "127.0.0.1:9464";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFhir {
    #[serde(default = "default_zone")]
    time_zone: Spanned<String>,
    #[serde(default = "default_count")]
    default_count: Spanned<usize>,
    #[serde(default = "max_count")]
    max_count: Spanned<usize>,
}

impl Default for RawFhir {
    fn default() -> Self {
        Self { time_zone: default_zone(), default_count: default_count(), max_count: max_count() }
    }
}

fn default_zone() -> Spanned<String> {
    Spanned::new(0..0, "Europe/Amsterdam".into())
}
fn default_count() -> Spanned<usize> {
    Spanned::new(0..0, 100)
}
fn max_count() -> Spanned<usize> {
    Spanned::new(0..0, 1000)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    path: Option<String>,
    url: Option<Spanned<String>>,
    retention_months: Option<Spanned<u32>>,
    key_file: Option<Spanned<String>>,
    checkpoint_interval_secs: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    mode: Spanned<String>,
    /// static
    token_file: Option<Spanned<String>>,
    #[serde(default)]
    allow_static_tokens_in_production: bool,
    /// jwt
    jwks_file: Option<Spanned<String>>,
    jwks_url: Option<Spanned<String>>,
    issuer: Option<Spanned<String>>,
    audience: Option<Spanned<String>>,
    algorithms: Option<Spanned<Vec<String>>>,
    patient_claim: Option<String>,
    scope_claim: Option<String>,
    client_claim: Option<String>,
    max_clock_skew_secs: Option<Spanned<u64>>,
    /// introspection
    introspection_url: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    client_secret: Option<Spanned<String>>,
    ca_file: Option<String>,
    cache_max_secs: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: Spanned<String>,
    /// sqlite
    path: Option<Spanned<String>>,
    /// postgres
    url: Option<Spanned<String>>,
    /// odbc
    connection_string: Option<Spanned<String>>,
    dialect: Option<Spanned<String>>,
    encoding: Option<Spanned<String>>,
    #[serde(default)]
    init_sql: Vec<String>,
    #[serde(default = "pool_size")]
    pool_size: Spanned<u32>,
    #[serde(default = "statement_timeout")]
    statement_timeout_secs: Spanned<u64>,
    #[serde(default = "connect_timeout")]
    connect_timeout_secs: Spanned<u64>,
    #[serde(default = "max_rows")]
    max_rows: Spanned<usize>,
}

fn pool_size() -> Spanned<u32> {
    Spanned::new(0..0, 4)
}
fn statement_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 10)
}
fn connect_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 2)
}
fn max_rows() -> Spanned<usize> {
    Spanned::new(0..0, 10_000)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    base_path: Spanned<String>,
    mappings: Spanned<String>,
    source: Spanned<String>,
    provider: Option<String>,
    data_service_id: Option<String>,
}

pub(super) fn compile(file: &Path, dir: &Path, text: &str, diags: &mut Diagnostics) -> Option<Settings> {
    let raw: RawConfig = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let pos = e.span().map_or(Pos::START, |s| position(text, s.start));
            diags.error(file, pos, e.message().trim().to_owned());
            return None;
        }
    };
    let at = |s: std::ops::Range<usize>| position(text, s.start);
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };

    let listen = match raw.server.listen.get_ref().parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            diags.error(
                file,
                at(raw.server.listen.span()),
                format!("`{}` is not an address:port such as 127.0.0.1:8080", raw.server.listen.get_ref()),
            );
            None
        }
    };
    // On by default, on localhost: metrics and readiness carry no authentication.
    let default_admin = RawAdmin { listen: Spanned::new(0..0, DEFAULT_ADMIN.to_owned()) };
    let admin = Some(raw.admin.as_ref().unwrap_or(&default_admin)).and_then(|a| {
        match a.listen.get_ref().parse::<SocketAddr>() {
            Ok(addr) => {
                if !addr.ip().is_loopback() {
                    diags.warning(
                        file,
                        at(a.listen.span()),
                        "the admin listener is reachable from other hosts; it serves metrics without authentication",
                    );
                }
                Some(addr)
            }
            Err(_) => {
                diags.error(
                    file,
                    at(a.listen.span()),
                    format!("`{}` is not an address:port such as 127.0.0.1:9464", a.listen.get_ref()),
                );
                None
            }
        }
    });
    let public_url = raw.server.public_url.as_ref().and_then(|u| {
        let text_url = u.get_ref().trim_end_matches('/');
        match url::Url::parse(text_url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.query().is_none() => {
                Some(text_url.to_owned())
            }
            _ => {
                diags.error(file, at(u.span()), format!("`{}` is not an http(s) URL without query", u.get_ref()));
                None
            }
        }
    });
    let state_dir = raw.server.state_dir.as_ref().map_or_else(|| dir.to_path_buf(), |d| resolve(d.get_ref()));
    if let Some(d) = raw.server.state_dir.as_ref().filter(|_| !state_dir.is_dir()) {
        diags.error(file, at(d.span()), format!("`state_dir` {} is not a folder", state_dir.display()));
    }
    let tls = raw
        .server
        .tls
        .as_ref()
        .and_then(|t| tls_settings(t, &resolve, &state_dir, &mut |pos, m| diags.error(file, pos, m), &at));
    let workers = raw.server.workers.as_ref().map_or(2, |w| *w.get_ref());
    if let Some(w) = &raw.server.workers {
        in_range(diags, file, text, "workers", w, limits::WORKERS, "");
    }
    let time_zone = match raw.fhir.time_zone.get_ref().parse::<chrono_tz::Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            diags.error(
                file,
                at(raw.fhir.time_zone.span()),
                format!("unknown time zone `{}` (e.g. Europe/Amsterdam)", raw.fhir.time_zone.get_ref()),
            );
            None
        }
    };
    let (default_count, max_count) = (*raw.fhir.default_count.get_ref(), *raw.fhir.max_count.get_ref());
    if in_range(diags, file, text, "max_count", &raw.fhir.max_count, limits::MAX_COUNT, "")
        && in_range(diags, file, text, "default_count", &raw.fhir.default_count, limits::MAX_COUNT, "")
        && default_count > max_count
    {
        diags.error(
            file,
            at(raw.fhir.default_count.span()),
            format!("`default_count = {default_count}` must be at most `max_count` ({max_count})"),
        );
    }

    let production = raw.server.production.unwrap_or(true);
    let auth = auth_settings(&raw.auth, production, &resolve, &mut |pos, m| diags.error(file, pos, m), &at);

    let retention_months = raw.audit.retention_months.as_ref().map_or(36, |r| *r.get_ref());
    if let Some(r) = &raw.audit.retention_months {
        in_range(diags, file, text, "retention_months", r, limits::RETENTION_MONTHS, " months");
    }
    let store = match (&raw.audit.path, &raw.audit.url) {
        (Some(_), Some(url)) => {
            diags.error(file, at(url.span()), "`[audit]` takes `path` (SQLite) or `url` (PostgreSQL), not both");
            AuditStore::Sqlite(resolve("audit.sqlite"))
        }
        (_, Some(url)) => match expand_env(url.get_ref()) {
            Ok(url) => AuditStore::Postgres(Secret(url)),
            Err(m) => {
                diags.error(file, at(url.span()), m);
                AuditStore::Sqlite(resolve("audit.sqlite"))
            }
        },
        (path, None) => AuditStore::Sqlite(resolve(path.as_deref().unwrap_or("audit.sqlite"))),
    };
    let key_file = match &raw.audit.key_file {
        None => Some(resolve("audit.key")),
        Some(k) => match expand_env(k.get_ref()) {
            Ok(path) => Some(resolve(&path)),
            Err(m) => {
                diags.error(file, at(k.span()), m);
                None
            }
        },
    };
    let checkpoint_interval = raw.audit.checkpoint_interval_secs.as_ref().map_or(300, |c| *c.get_ref());
    if let Some(c) = &raw.audit.checkpoint_interval_secs {
        in_range(diags, file, text, "checkpoint_interval_secs", c, limits::CHECKPOINT_INTERVAL_SECS, " seconds");
    }
    let audit = AuditSettings {
        store,
        retention_months,
        key_file: key_file.unwrap_or_default(),
        checkpoint_interval: Duration::from_secs(checkpoint_interval),
    };

    let mut sources = Vec::new();
    for (name, source) in &raw.sources {
        let span = source.span();
        let s = source.get_ref();
        let kind =
            source_kind(name, s, &resolve, &mut |pos, message| diags.error(file, pos, message), &at, span.clone());
        let numbers_ok = [
            in_range(diags, file, text, "pool_size", &s.pool_size, limits::POOL_SIZE, ""),
            in_range(
                diags,
                file,
                text,
                "statement_timeout_secs",
                &s.statement_timeout_secs,
                limits::STATEMENT_TIMEOUT_SECS,
                " seconds",
            ),
            in_range(
                diags,
                file,
                text,
                "connect_timeout_secs",
                &s.connect_timeout_secs,
                limits::CONNECT_TIMEOUT_SECS,
                " seconds",
            ),
            in_range(diags, file, text, "max_rows", &s.max_rows, limits::MAX_ROWS, " rows"),
        ];
        // A search reads a page and one row more (is there a next page?): a cap at or below the
        // default page refuses every search of a long history; below the largest page, only
        // searches with a large `_count` (400 too-costly, "use a smaller _count").
        let max_rows = *s.max_rows.get_ref();
        if numbers_ok[3] && max_rows <= default_count {
            diags.error(
                file,
                at(s.max_rows.span()),
                format!(
                    "source `{name}`: `max_rows = {max_rows}` must be more than `[fhir] default_count` \
                     ({default_count}): every search of a long history would be refused"
                ),
            );
        } else if numbers_ok[3] && max_rows <= max_count {
            diags.warning(
                file,
                at(s.max_rows.span()),
                format!(
                    "source `{name}`: `max_rows = {max_rows}` is at most `[fhir] max_count` ({max_count}): a search \
                     with a `_count` that high is refused as too costly"
                ),
            );
        }
        if let Some(kind) = kind.filter(|_| numbers_ok.iter().all(|ok| *ok)) {
            sources.push(SourceSettings {
                name: name.clone(),
                kind,
                pool_size: *s.pool_size.get_ref(),
                statement_timeout: Duration::from_secs(*s.statement_timeout_secs.get_ref()),
                connect_timeout: Duration::from_secs(*s.connect_timeout_secs.get_ref()),
                max_rows: *s.max_rows.get_ref(),
            });
        }
    }

    let mut services: Vec<ServiceSettings> = Vec::new();
    if raw.services.is_empty() {
        diags.error(file, Pos::START, "no `[[services]]`: nothing to serve");
    }
    for service in &raw.services {
        let s = service.get_ref();
        let base = s.base_path.get_ref().trim_end_matches('/').to_owned();
        let valid_base = base.starts_with('/')
            && base.len() > 1
            && base.split('/').skip(1).all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            });
        if !valid_base {
            diags.error(
                file,
                at(s.base_path.span()),
                format!(
                    "`base_path` `{}` must look like /fhir/stu3/gp-data (segments of letters, digits, `-`, `_` and \
                     `.`; not `.` or `..`)",
                    s.base_path.get_ref()
                ),
            );
        }
        let nested = |a: &str, b: &str| b.strip_prefix(a).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if let Some(other) = services
            .iter()
            .find(|o| nested(&o.base_path, &base) || nested(&base, &o.base_path) || o.name == *s.name.get_ref())
        {
            diags.error(
                file,
                at(s.name.span()),
                format!(
                    "service `{}` repeats the name of `{}`, or its base path holds or is held by `{}`",
                    s.name.get_ref(),
                    other.name,
                    other.base_path
                ),
            );
        }
        if !raw.sources.contains_key(s.source.get_ref()) {
            let known: Vec<&str> = raw.sources.keys().map(String::as_str).collect();
            diags.error(
                file,
                at(s.source.span()),
                format!("unknown source `{}` (defined: {})", s.source.get_ref(), known.join(", ")),
            );
        }
        let mappings = resolve(s.mappings.get_ref());
        if !mappings.is_dir() {
            diags.error(file, at(s.mappings.span()), format!("mapping folder {} does not exist", mappings.display()));
        }
        if matches!(auth, Some(AuthSettings::Jwt(_) | AuthSettings::Introspection(_)))
            && (s.provider.is_none() || s.data_service_id.is_none())
        {
            diags.error(
                file,
                at(service.span()),
                format!(
                    "service `{}`: scoped tokens need `provider` and `data_service_id` (as scopes name it: provider~id)",
                    s.name.get_ref()
                ),
            );
        }
        services.push(ServiceSettings {
            name: s.name.get_ref().clone(),
            base_path: base,
            mappings,
            source: s.source.get_ref().clone(),
            provider: s.provider.clone(),
            data_service_id: s.data_service_id.clone(),
        });
    }

    Some(Settings {
        file: file.to_path_buf(),
        listen: listen?,
        admin,
        public_url,
        tls,
        production,
        audit,
        workers,
        time_zone: time_zone?,
        default_count,
        max_count,
        auth: auth?,
        sources,
        services,
    })
}

/// The kind-specific part of a source. Which keys belong to which kind is checked here so a
/// `url` on an ODBC source is an error, not silently ignored.
fn source_kind(
    name: &str,
    s: &RawSource,
    resolve: &dyn Fn(&str) -> PathBuf,
    error: &mut dyn FnMut(Pos, String),
    at: &dyn Fn(std::ops::Range<usize>) -> Pos,
    span: std::ops::Range<usize>,
) -> Option<SourceKind> {
    let kind = s.kind.get_ref().as_str();
    let keys: [KindKey<'_>; 5] = [
        ("path", s.path.as_ref(), &["sqlite"]),
        ("url", s.url.as_ref(), &["postgres"]),
        ("connection_string", s.connection_string.as_ref(), &["odbc"]),
        ("dialect", s.dialect.as_ref(), &["odbc"]),
        ("encoding", s.encoding.as_ref(), &["odbc"]),
    ];
    let mut misplaced = false;
    for (key, value, kinds) in keys {
        if let Some(v) = value.filter(|_| !kinds.contains(&kind) && KINDS.contains(&kind)) {
            error(at(v.span()), format!("source `{name}`: `{key}` does not apply to a {kind} source"));
            misplaced = true;
        }
    }
    if !s.init_sql.is_empty() && kind != "odbc" {
        error(at(span.clone()), format!("source `{name}`: `init_sql` applies to odbc sources only"));
        misplaced = true;
    }
    let mut required = |value: Option<&Spanned<String>>, key: &str| -> Option<String> {
        match value {
            Some(v) => match expand_env(v.get_ref()) {
                Ok(text) => Some(text),
                Err(message) => {
                    error(at(v.span()), format!("source `{name}`: {message}"));
                    None
                }
            },
            None => {
                error(at(span.clone()), format!("source `{name}`: a {kind} source needs `{key}`"));
                None
            }
        }
    };
    let parsed = match kind {
        "sqlite" => required(s.path.as_ref(), "path").and_then(|p| {
            let path = resolve(&p);
            // Opened read-only, never created: a missing file would serve empty records.
            if path.is_file() {
                Some(SourceKind::Sqlite { path })
            } else {
                let pos = s.path.as_ref().map_or_else(|| at(span.clone()), |p| at(p.span()));
                error(pos, format!("source `{name}`: the SQLite database {} does not exist", path.display()));
                None
            }
        }),
        "postgres" => required(s.url.as_ref(), "url").map(|url| SourceKind::Postgres { url: Secret(url) }),
        "odbc" => {
            let connection_string = required(s.connection_string.as_ref(), "connection_string");
            let dialect = match &s.dialect {
                None => Some(Dialect::Generic),
                Some(d) => Dialect::from_name(d.get_ref()).or_else(|| {
                    let known: Vec<&str> = Dialect::ALL.iter().map(|d| d.name()).collect();
                    error(
                        at(d.span()),
                        format!("source `{name}`: unknown dialect `{}` (known: {})", d.get_ref(), known.join(", ")),
                    );
                    None
                }),
            };
            let encoding = match &s.encoding {
                None => Some(TextEncoding::default()),
                Some(e) => TextEncoding::from_name(e.get_ref()).or_else(|| {
                    error(
                        at(e.span()),
                        format!(
                            "source `{name}`: unknown encoding `{}` (known: utf-16, utf-8, windows-1252)",
                            e.get_ref()
                        ),
                    );
                    None
                }),
            };
            match (connection_string, dialect, encoding) {
                (Some(c), Some(dialect), Some(encoding)) => Some(SourceKind::Odbc {
                    connection_string: Secret(c),
                    dialect,
                    encoding,
                    init_sql: s.init_sql.clone(),
                }),
                _ => None,
            }
        }
        other => {
            error(at(s.kind.span()), format!("source `{name}`: unknown kind `{other}` (known: {})", KINDS.join(", ")));
            None
        }
    };
    parsed.filter(|_| !misplaced)
}

const KINDS: [&str; 3] = ["sqlite", "postgres", "odbc"];

fn auth_settings(
    a: &RawAuth,
    production: bool,
    resolve: &dyn Fn(&str) -> PathBuf,
    error: &mut dyn FnMut(Pos, String),
    at: &dyn Fn(std::ops::Range<usize>) -> Pos,
) -> Option<AuthSettings> {
    let mode_at = at(a.mode.span());
    let mut seconds = |value: &Option<Spanned<u64>>, key: &str, range: std::ops::RangeInclusive<u64>, default: u64| {
        let v = value.as_ref().map_or(default, |v| *v.get_ref());
        match value {
            Some(spanned) if !range.contains(&v) => {
                error(
                    at(spanned.span()),
                    format!("`{key} = {v}` is out of range: {} to {} seconds", range.start(), range.end()),
                );
                None
            }
            _ => Some(Duration::from_secs(v)),
        }
    };
    let skew = seconds(&a.max_clock_skew_secs, "max_clock_skew_secs", limits::MAX_CLOCK_SKEW_SECS, 60);
    let cache_max = seconds(&a.cache_max_secs, "cache_max_secs", limits::CACHE_MAX_SECS, 300);
    match a.mode.get_ref().as_str() {
        "static" => {
            if production && !a.allow_static_tokens_in_production {
                error(
                    mode_at,
                    "static tokens are for qualification and tests: set `[server] production = false`, or \
                     `allow_static_tokens_in_production = true` to run them in production anyway"
                        .into(),
                );
                return None;
            }
            match &a.token_file {
                Some(f) => Some(AuthSettings::StaticTokens { file: resolve(f.get_ref()) }),
                None => {
                    error(mode_at, "`mode = \"static\"` needs `token_file`".into());
                    None
                }
            }
        }
        "jwt" => {
            let mut need = |v: &Option<Spanned<String>>, key: &str| {
                let found = v.as_ref().map(|v| v.get_ref().clone());
                if found.is_none() {
                    error(mode_at, format!("`mode = \"jwt\"` needs `{key}`"));
                }
                found
            };
            let (issuer, audience) = (need(&a.issuer, "issuer"), need(&a.audience, "audience"));
            let jwks = match (&a.jwks_file, &a.jwks_url) {
                (Some(file), None) => Some(JwksSource::File(resolve(file.get_ref()))),
                (None, Some(url)) if url.get_ref().starts_with("https://") => {
                    Some(JwksSource::Url { url: url.get_ref().clone(), ca_file: a.ca_file.as_deref().map(resolve) })
                }
                (None, Some(url)) => {
                    error(at(url.span()), "`jwks_url` must be https://".into());
                    None
                }
                _ => {
                    error(mode_at, "`mode = \"jwt\"` needs `jwks_file` or `jwks_url` (one of them)".into());
                    None
                }
            };
            let mut algorithms = Vec::new();
            if let Some(list) = a.algorithms.as_ref().filter(|l| l.get_ref().is_empty()) {
                error(at(list.span()), "`algorithms` is empty: name at least one of RS256, PS256, ES256".into());
                return None;
            }
            let names = a
                .algorithms
                .as_ref()
                .map_or_else(|| vec!["RS256".into(), "PS256".into(), "ES256".into()], |l| l.get_ref().clone());
            for name in names {
                match super::Algorithm::from_name(&name) {
                    Some(alg) => algorithms.push(alg),
                    None => {
                        let pos = a.algorithms.as_ref().map_or(mode_at, |l| at(l.span()));
                        error(
                            pos,
                            format!(
                                "algorithm `{name}` is not accepted (known: RS256, PS256, ES256; never none or HS*)"
                            ),
                        );
                        return None;
                    }
                }
            }
            let (Some(jwks), Some(issuer), Some(audience), Some(max_clock_skew)) = (jwks, issuer, audience, skew)
            else {
                return None;
            };
            Some(AuthSettings::Jwt(JwtSettings {
                jwks,
                issuer,
                audience,
                algorithms,
                patient_claim: a.patient_claim.clone().unwrap_or_else(|| "bsn".into()),
                scope_claim: a.scope_claim.clone().unwrap_or_else(|| "scope".into()),
                client_claim: a.client_claim.clone().unwrap_or_else(|| "client_id".into()),
                max_clock_skew,
            }))
        }
        "introspection" => {
            let mut need = |v: &Option<Spanned<String>>, key: &str| match v {
                Some(v) => expand_env(v.get_ref()).map_err(|m| error(at(v.span()), m)).ok(),
                None => {
                    error(mode_at, format!("`mode = \"introspection\"` needs `{key}`"));
                    None
                }
            };
            let url = need(&a.introspection_url, "introspection_url");
            let (client_id, secret) = (need(&a.client_id, "client_id"), need(&a.client_secret, "client_secret"));
            if let Some(u) = url.as_deref().filter(|u| !u.starts_with("https://")) {
                error(mode_at, format!("`introspection_url` must be https://, not `{u}`: the token travels in it"));
                return None;
            }
            let (Some(url), Some(client_id), Some(secret), Some(cache_max)) = (url, client_id, secret, cache_max)
            else {
                return None;
            };
            Some(AuthSettings::Introspection(IntrospectionSettings {
                url,
                client_id,
                client_secret: Secret(secret),
                ca_file: a.ca_file.as_deref().map(resolve),
                cache_max,
                patient_claim: a.patient_claim.clone().unwrap_or_else(|| "bsn".into()),
                scope_claim: a.scope_claim.clone().unwrap_or_else(|| "scope".into()),
                client_claim: a.client_claim.clone().unwrap_or_else(|| "client_id".into()),
            }))
        }
        other => {
            error(mode_at, format!("unknown auth mode `{other}` (known: static, jwt, introspection)"));
            None
        }
    }
}

fn tls_settings(
    raw: &Spanned<RawTls>,
    resolve: &dyn Fn(&str) -> PathBuf,
    state_dir: &Path,
    error: &mut dyn FnMut(Pos, String),
    at: &dyn Fn(std::ops::Range<usize>) -> Pos,
) -> Option<TlsSettings> {
    let t = raw.get_ref();
    let mode = match t.client_certificates.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("none", _)) => ClientCertificates::None,
        Some(("optional", _)) => ClientCertificates::Optional,
        Some(("required", _)) => ClientCertificates::Required,
        Some((other, span)) => {
            error(at(span), format!("`client_certificates = \"{other}\"`: use none, optional or required"));
            return None;
        }
    };
    let client_ca = t.client_ca.as_deref().map(resolve);
    if mode != ClientCertificates::None && client_ca.is_none() {
        error(
            at(raw.span()),
            "client certificates need `client_ca`: the CA certificates (PEM) client chains must end in".into(),
        );
        return None;
    }
    if mode == ClientCertificates::None
        && (!t.allowed_clients.is_empty() || t.allowed_clients_file.is_some() || !t.client_crls.is_empty())
    {
        error(
            at(raw.span()),
            "`allowed_clients`, `allowed_clients_file` and `client_crls` need `client_certificates = \"optional\"` or \
             `\"required\"`"
                .into(),
        );
        return None;
    }
    Some(TlsSettings {
        certificate: resolve(&t.certificate),
        private_key: resolve(&t.private_key),
        client_certificates: mode,
        client_ca,
        allowed_clients: t.allowed_clients.iter().map(|c| c.to_ascii_lowercase()).collect(),
        allowed_clients_file: t.allowed_clients_file.as_deref().map(resolve),
        allowed_clients_kept: state_dir.join("medmij-whitelist.xml"),
        client_crls: t.client_crls.iter().map(|c| resolve(c)).collect(),
    })
}

/// Whether a number lies in `range`; an error at its position giving the range otherwise.
fn in_range<T: PartialOrd + Copy + std::fmt::Display>(
    diags: &mut Diagnostics,
    file: &Path,
    text: &str,
    key: &str,
    value: &Spanned<T>,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
) -> bool {
    let v = *value.get_ref();
    if range.contains(&v) {
        return true;
    }
    diags.error(
        file,
        position(text, value.span().start),
        format!("`{key} = {v}` is out of range: {} to {}{unit}", range.start(), range.end()),
    );
    false
}

/// A kind-specific key: its name, its value if given, and the kinds it applies to.
type KindKey<'a> = (&'static str, Option<&'a Spanned<String>>, &'static [&'static str]);

/// Replaces `${NAME}` with the environment variable, so a password can live in the service's
/// environment (systemd `EnvironmentFile=` or credentials) instead of this file.
fn expand_env(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or("`${` without a closing `}`")?;
        let var = &after[..end];
        let value = std::env::var(var).map_err(|_| format!("environment variable `{var}` is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_source(source: &str) -> (Option<Settings>, Vec<String>) {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nproduction = false\n[auth]\nmode = \"static\"\ntoken_file = \"t.json\"\n\
             [sources.ehr]\n{source}\n[[services]]\nname = \"gp\"\nbase_path = \"/fhir\"\nmappings = \"{}\"\nsource = \"ehr\"\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/mappings/demo-his/gp-data")
        );
        let mut diags = Diagnostics::default();
        let settings = compile(Path::new("c.toml"), Path::new("/etc/dva"), &text, &mut diags);
        (settings.filter(|_| !diags.has_errors()), diags.sorted().into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn odbc_source_with_dialect_and_encoding() {
        let (settings, errors) = compile_source(
            "kind = \"odbc\"\nconnection_string = \"DSN=his;PWD=geheim\"\ndialect = \"mariadb\"\nencoding = \"windows-1252\"",
        );
        assert_eq!(errors, Vec::<String>::new());
        let settings = settings.expect("settings");
        let SourceKind::Odbc { dialect, encoding, .. } = &settings.sources[0].kind else { panic!("not odbc") };
        assert_eq!((*dialect, *encoding), (Dialect::Mysql, TextEncoding::Windows1252));
        assert!(!format!("{settings:?}").contains("geheim"), "a password in Debug output");
    }

    #[test]
    fn keys_of_another_kind_and_unknown_names_are_errors() {
        let (_, errors) = compile_source("kind = \"odbc\"\nconnection_string = \"DSN=his\"\nurl = \"postgres://x\"");
        assert!(errors.iter().any(|e| e.contains("`url` does not apply to a odbc source")), "{errors:?}");
        let (_, errors) = compile_source("kind = \"odbc\"\nconnection_string = \"DSN=his\"\ndialect = \"db2\"");
        assert!(errors.iter().any(|e| e.contains("unknown dialect `db2`") && e.contains("mssql")), "{errors:?}");
        let (_, errors) = compile_source("kind = \"postgres\"");
        assert!(errors.iter().any(|e| e.contains("needs `url`")), "{errors:?}");
        let (_, errors) = compile_source("kind = \"oracle\"");
        assert!(
            errors.iter().any(|e| e.contains("unknown kind `oracle` (known: sqlite, postgres, odbc)")),
            "{errors:?}"
        );
    }

    #[test]
    fn environment_variables_fill_in_secrets() {
        let (_, errors) = compile_source("kind = \"postgres\"\nurl = \"postgres://u:${DVA_TEST_SURELY_UNSET}@h/db\"");
        assert!(errors.iter().any(|e| e.contains("`DVA_TEST_SURELY_UNSET` is not set")), "{errors:?}");
        assert_eq!(expand_env("a${HOME}b").ok(), std::env::var("HOME").ok().map(|h| format!("a{h}b")));
        assert!(expand_env("${unclosed").is_err());
    }
}
