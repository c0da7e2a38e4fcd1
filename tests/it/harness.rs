//! `spawn_app()`: a server of its own per test, on port 0, with a temporary config folder
//! (holding a copy of the mapping set, so a test can edit it) over one shared demo database.

use arc_swap::ArcSwap;
use dva_connector::http::{self, AppState};
use dva_connector::runtime::{reload, Snapshot};
use dva_demo_his::{self as demo, DemoToken, GeneratorOptions};
use serde_json::Value as Json;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub const BASE_PATH: &str = "/fhir/stu3/gp-data";
pub const LAB_SYSTEM: &str = "https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen";

/// The demo database all tests read (read-only), generated once per test run.
pub struct DemoDb {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub tokens: Vec<DemoToken>,
}

pub fn demo_db() -> &'static DemoDb {
    static DB: OnceLock<DemoDb> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("demo-his.sqlite");
        let options = demo_options();
        demo::create_database(&path, &options).expect("generate the demo database");
        DemoDb { tokens: demo::demo_tokens(&options), _dir: dir, path }
    })
}

/// The generator options of the shared demo database. A fixed "today" keeps counts stable
/// from day to day.
pub fn demo_options() -> GeneratorOptions {
    GeneratorOptions { patients: 12, seed: 42, anchor: chrono::NaiveDate::from_ymd_opt(2026, 6, 15).expect("date") }
}

/// The repository's demo mapping set.
pub fn repo_mappings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his/gp-data")
}

pub struct TestApp {
    pub base: String,
    /// `http://127.0.0.1:port` of the admin listener.
    pub admin: String,
    pub dir: tempfile::TempDir,
    pub tokens: Vec<DemoToken>,
    /// The copied mapping set this server serves.
    pub mappings: PathBuf,
    _reloader: Option<reload::Reloader>,
}

pub fn spawn_app() -> TestApp {
    spawn_with(|_| {})
}

/// Like [`spawn_app`], with hot reload watching the config and mapping files.
pub fn spawn_reloading() -> TestApp {
    start(|_| {}, true, false)
}

/// Like [`spawn_app`], over its own copy of the demo database (`dir/ehr.sqlite`), which a
/// test may take away to play a database that is down.
pub fn spawn_own_db() -> TestApp {
    start(|_| {}, false, true)
}

/// Like [`spawn_app`], after `edit` has changed the copied mapping set.
pub fn spawn_with(edit: impl FnOnce(&Path)) -> TestApp {
    start(edit, false, false)
}

/// A server over the source described by `source_toml` (the keys of a `[sources.ehr]` table),
/// with a fixed public URL so that servers over different databases can be compared byte for
/// byte.
pub fn spawn_on(source_toml: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mappings = dir.path().join("mappings");
    copy_set(&mappings);
    write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
    let config = write_config_with(dir.path(), source_toml, &mappings, "public_url = \"https://dva.test\"");
    serve_config(dir, &config, mappings, false)
}

/// A server over the shared demo database with `server_extra` in its config's `[server]`
/// (e.g. a `[server.tls]` table), after `prepare` has written files into its folder.
pub fn spawn_configured(server_extra: &str, prepare: impl FnOnce(&Path)) -> TestApp {
    spawn_custom(server_extra, prepare, str::to_owned)
}

/// Like [`spawn_configured`], with the config text rewritten by `edit_config` before the
/// server reads it.
pub fn spawn_custom(
    server_extra: &str,
    prepare: impl FnOnce(&Path),
    edit_config: impl FnOnce(&str) -> String,
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mappings = dir.path().join("mappings");
    copy_set(&mappings);
    write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
    prepare(dir.path());
    let source = format!("kind = \"sqlite\"\npath = \"{}\"", demo_db().path.display());
    let config = write_config_with(dir.path(), &source, &mappings, server_extra);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, edit_config(&text)).expect("config");
    serve_config(dir, &config, mappings, false)
}

/// A server with `auth_toml` as its `[auth]` keys and the data service scoped as
/// `demo-his~49` (as scoped tokens must name it), after `prepare` has written files.
pub fn spawn_scoped(auth_toml: &str, prepare: impl FnOnce(&Path)) -> TestApp {
    spawn_custom("", prepare, |config| {
        config
            .replace("mode = \"static\"\ntoken_file = \"tokens.json\"", auth_toml)
            .replace("source = \"ehr\"", "source = \"ehr\"\nprovider = \"demo-his\"\ndata_service_id = \"49\"")
    })
}

fn start(edit: impl FnOnce(&Path), reloading: bool, own_db: bool) -> TestApp {
    let db = demo_db();
    let dir = tempfile::tempdir().expect("temp dir");
    let mappings = dir.path().join("mappings");
    copy_set(&mappings);
    edit(&mappings);
    write_tokens(&dir.path().join("tokens.json"), &db.tokens);
    let db_path = if own_db {
        let copy = dir.path().join("ehr.sqlite");
        std::fs::copy(&db.path, &copy).expect("copy the demo database");
        copy
    } else {
        db.path.clone()
    };
    let config = write_config(dir.path(), &db_path, &mappings);
    serve_config(dir, &config, mappings, reloading)
}

pub fn serve_config(dir: tempfile::TempDir, config: &Path, mappings: PathBuf, reloading: bool) -> TestApp {
    let db = demo_db();
    let snapshot = Snapshot::load(config).unwrap_or_else(|d| panic!("config does not load: {d:#?}"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("addr").port();
    let state = AppState { snapshot: Arc::new(ArcSwap::from_pointee(snapshot)) };
    let admin_listener = TcpListener::bind("127.0.0.1:0").expect("bind admin port 0");
    let admin_port = admin_listener.local_addr().expect("addr").port();
    let admin_state = state.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new()
            .block_on(async move { http::serve_admin(admin_state, admin_listener).expect("admin").await })
    });
    let reloader =
        reloading.then(|| reload::start(config.to_path_buf(), Arc::clone(&state.snapshot)).expect("start reload"));
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = http::serve(state, listener).expect("serve");
            server.await
        })
    });
    TestApp {
        base: format!("http://127.0.0.1:{port}{BASE_PATH}"),
        admin: format!("http://127.0.0.1:{admin_port}"),
        dir,
        tokens: db.tokens.clone(),
        mappings,
        _reloader: reloader,
    }
}

pub fn write_tokens(path: &Path, tokens: &[DemoToken]) {
    let list: Vec<Json> = tokens
        .iter()
        .map(|t| serde_json::json!({"accessToken": format!("Bearer {}", t.token), "bsn": t.bsn}))
        .collect();
    std::fs::write(path, serde_json::to_string(&list).expect("json")).expect("write tokens");
}

pub fn write_config(dir: &Path, db: &Path, mappings: &Path) -> PathBuf {
    write_config_with(dir, &format!("kind = \"sqlite\"\npath = \"{}\"", db.display()), mappings, "")
}

/// A config over the source `source_toml`, with `server_extra` lines in `[server]`.
pub fn write_config_with(dir: &Path, source_toml: &str, mappings: &Path, server_extra: &str) -> PathBuf {
    let config = dir.join("dva-connector.toml");
    // The audit key file, in its default place next to the config.
    if !dir.join("audit.key").exists() {
        dva_connector::audit::new_key(&dir.join("audit.key")).expect("audit key file");
    }
    std::fs::write(
        &config,
        format!(
            r#"[server]
listen = "127.0.0.1:0"
workers = 1
production = false
{server_extra}

[admin]
listen = "127.0.0.1:0"

[auth]
mode = "static"
token_file = "tokens.json"

[sources.ehr]
{source_toml}

[[services]]
name = "gp-data"
base_path = "{BASE_PATH}"
mappings = "{}"
source = "ehr"
"#,
            mappings.display()
        ),
    )
    .expect("write config");
    config
}

/// Copies the demo GP-data set to `to` and the demo-his common folder it uses beside it
/// ([`common_of`]), as an installation lays them out.
pub fn copy_set(to: &Path) {
    copy_dir(&repo_mappings(), to);
    copy_dir(&repo_mappings().with_file_name("common"), &common_of(to));
}

/// The common folder beside a set copied by [`copy_set`], which its `use:` names.
pub fn common_of(set: &Path) -> PathBuf {
    set.with_file_name("common")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read mapping dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// A response: status, content type and parsed JSON body.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Json,
    /// The body as sent, byte for byte.
    pub text: String,
}

impl TestApp {
    pub fn get(&self, path_and_query: &str, token: Option<&str>) -> Reply {
        let url = if path_and_query.starts_with("http") {
            path_and_query.to_owned()
        } else {
            format!("{}/{path_and_query}", self.base)
        };
        get_url(&url, token, None)
    }

    pub fn token(&self, i: usize) -> &str {
        &self.tokens[i].token
    }

    /// Every entry of a search, following `next` links.
    pub fn search_all(&self, path_and_query: &str, token: &str) -> Vec<Json> {
        let mut entries = Vec::new();
        let mut url = format!("{}/{path_and_query}", self.base);
        for _ in 0..1000 {
            let reply = get_url(&url, Some(token), None);
            assert_eq!(reply.status, 200, "{url}: {}", reply.body);
            entries.extend(reply.body["entry"].as_array().cloned().unwrap_or_default());
            match next_link(&reply.body) {
                Some(next) => url = next,
                None => return entries,
            }
        }
        panic!("more than 1000 pages");
    }
}

pub fn get_url(url: &str, token: Option<&str>, accept: Option<&str>) -> Reply {
    let mut request = ureq::get(url);
    if let Some(t) = token {
        request = request.set("Authorization", &format!("Bearer {t}"));
    }
    if let Some(a) = accept {
        request = request.set("Accept", a);
    }
    let response = match request.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = response.status();
    let content_type = response.header("Content-Type").unwrap_or_default().to_owned();
    // Bytes, not a string: a raw Binary read (a PDF) is not UTF-8.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Json::String(text.clone()));
    Reply { status, content_type, body, text }
}

pub fn next_link(bundle: &Json) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

pub fn self_link(bundle: &Json) -> String {
    bundle["link"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["relation"] == "self"))
        .and_then(|l| l["url"].as_str())
        .unwrap_or_default()
        .to_owned()
}

pub fn resources(bundle: &Json) -> Vec<Json> {
    bundle["entry"].as_array().map(|e| e.iter().map(|e| e["resource"].clone()).collect()).unwrap_or_default()
}

/// Every `reference` string anywhere in a JSON value.
pub fn references(json: &Json, out: &mut Vec<String>) {
    match json {
        Json::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("reference", Json::String(r)) => out.push(r.clone()),
                    _ => references(v, out),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|i| references(i, out)),
        _ => {}
    }
}

/// A config over the demo database in `dir` (tokens written too) whose listener has a fixed
/// free port, for running the real binary.
pub fn process_config(dir: &Path) -> (PathBuf, u16) {
    let db = demo_db();
    write_tokens(&dir.join("tokens.json"), &db.tokens);
    let config = write_config(dir, &db.path, &repo_mappings());
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let text =
        std::fs::read_to_string(&config).expect("config").replacen("127.0.0.1:0", &format!("127.0.0.1:{port}"), 1);
    std::fs::write(&config, text).expect("config");
    (config, port)
}

/// Starts `dva-connector serve --config config` (after `setup` adds env and stdio) and waits
/// until `port` accepts connections.
pub fn start_serve(config: &Path, port: u16, setup: impl FnOnce(&mut std::process::Command)) -> std::process::Child {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dva-connector"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    setup(&mut command);
    let server = command.spawn().expect("start the server");
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "the server did not start");
    server
}

/// The responses on one connection after sending `bytes`: (status, body) each.
pub fn exchange(app: &TestApp, bytes: &[u8]) -> Vec<(u16, String)> {
    let port = app.base.trim_start_matches("http://127.0.0.1:").split('/').next().unwrap_or_default();
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
    // A refused head closes the connection; what is left unsent then does not matter.
    let _ = std::io::Write::write_all(&mut stream, bytes);
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut raw);
    parse_responses(&String::from_utf8_lossy(&raw))
}

fn parse_responses(mut text: &str) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    while let Some(start) = text.find("HTTP/1.1 ") {
        text = &text[start..];
        let status = text[9..12].parse().unwrap_or(0);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let body = rest.get(..length).unwrap_or(rest).to_owned();
        out.push((status, format!("{head}\r\n\r\n{body}")));
        text = rest.get(length..).unwrap_or("");
    }
    out
}
