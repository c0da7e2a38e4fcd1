//! The TOML as written, and its compilation into [`Settings`](super::Settings).

use super::{position, AuthSettings, ServiceSettings, Settings, SourceKind, SourceSettings};
use crate::mapping::yaml::Pos;
use crate::mapping::Diagnostics;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    mode: Spanned<String>,
    token_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: Spanned<String>,
    path: Option<Spanned<String>>,
    #[serde(default = "pool_size")]
    pool_size: Spanned<u32>,
    #[serde(default = "statement_timeout")]
    statement_timeout_secs: Spanned<u64>,
    #[serde(default = "max_rows")]
    max_rows: Spanned<usize>,
}

fn pool_size() -> Spanned<u32> {
    Spanned::new(0..0, 4)
}
fn statement_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 10)
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
}

pub(super) fn compile(file: &Path, dir: &Path, text: &str, diags: &mut Diagnostics) -> Option<Settings> {
    let raw: RawConfig = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let pos = e.span().map_or(Pos { line: 1, column: 1 }, |s| position(text, s.start));
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
    let workers = raw.server.workers.as_ref().map_or(2, |w| *w.get_ref());
    if workers == 0 {
        if let Some(w) = &raw.server.workers {
            diags.error(file, at(w.span()), "`workers` must be at least 1");
        }
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
    if max_count == 0 || default_count > max_count {
        diags.error(
            file,
            at(raw.fhir.default_count.span()),
            "`default_count` must be at most `max_count`, and `max_count` at least 1",
        );
    }

    let auth = match (raw.auth.mode.get_ref().as_str(), &raw.auth.token_file) {
        ("static", Some(token_file)) => Some(AuthSettings::StaticTokens { file: resolve(token_file.get_ref()) }),
        ("static", None) => {
            diags.error(file, at(raw.auth.mode.span()), "`mode = \"static\"` needs `token_file`");
            None
        }
        (other, _) => {
            diags.error(file, at(raw.auth.mode.span()), format!("unknown auth mode `{other}` (known: static)"));
            None
        }
    };

    let mut sources = Vec::new();
    for (name, source) in &raw.sources {
        let span = source.span();
        let s = source.get_ref();
        let kind = match s.kind.get_ref().as_str() {
            "sqlite" => match &s.path {
                Some(p) => Some(SourceKind::Sqlite { path: resolve(p.get_ref()) }),
                None => {
                    diags.error(file, at(span.clone()), format!("source `{name}`: a sqlite source needs `path`"));
                    None
                }
            },
            other => {
                diags.error(
                    file,
                    at(s.kind.span()),
                    format!("source `{name}`: unknown kind `{other}` (known: sqlite)"),
                );
                None
            }
        };
        if *s.pool_size.get_ref() == 0 {
            diags.error(file, at(s.pool_size.span()), "`pool_size` must be at least 1");
        }
        if *s.statement_timeout_secs.get_ref() == 0 {
            diags.error(file, at(s.statement_timeout_secs.span()), "`statement_timeout_secs` must be at least 1");
        }
        if let Some(kind) = kind {
            sources.push(SourceSettings {
                name: name.clone(),
                kind,
                pool_size: *s.pool_size.get_ref(),
                statement_timeout: Duration::from_secs(*s.statement_timeout_secs.get_ref()),
                max_rows: (*s.max_rows.get_ref()).max(1),
            });
        }
    }

    let mut services: Vec<ServiceSettings> = Vec::new();
    if raw.services.is_empty() {
        diags.error(file, Pos { line: 1, column: 1 }, "no `[[services]]`: nothing to serve");
    }
    for service in &raw.services {
        let s = service.get_ref();
        let base = s.base_path.get_ref().trim_end_matches('/').to_owned();
        let valid_base = base.starts_with('/')
            && base.len() > 1
            && base.split('/').skip(1).all(|seg| {
                !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            });
        if !valid_base {
            diags.error(
                file,
                at(s.base_path.span()),
                format!("`base_path` `{}` must look like /fhir/stu3/gp-data", s.base_path.get_ref()),
            );
        }
        if let Some(other) = services.iter().find(|o| o.base_path == base || o.name == *s.name.get_ref()) {
            diags.error(
                file,
                at(s.name.span()),
                format!("service `{}` repeats the name or base path of `{}`", s.name.get_ref(), other.name),
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
        services.push(ServiceSettings {
            name: s.name.get_ref().clone(),
            base_path: base,
            mappings,
            source: s.source.get_ref().clone(),
        });
    }

    Some(Settings {
        file: file.to_path_buf(),
        listen: listen?,
        admin,
        public_url,
        workers: workers.max(1),
        time_zone: time_zone?,
        default_count,
        max_count,
        auth: auth?,
        sources,
        services,
    })
}
