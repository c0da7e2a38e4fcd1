//! What the load, scale and soak benchmarks share: the PostgreSQL demo database, the server as
//! a child process with its /proc figures, closed-loop PGO clients, the libpq baseline and
//! latency statistics.

#![allow(dead_code)] // Each benchmark uses part of this.

use dva_demo_his::{self as demo, DemoTarget, GeneratorOptions};
use dva_source_api::Statement;
use dva_source_diesel::PostgresWriter;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const PG: &str = "postgres://postgres@127.0.0.1:5432";
const WARM_UP: Duration = Duration::from_secs(3);

/// `--name value` arguments after `cargo bench --bench X --`.
pub struct Args(Vec<String>);

impl Args {
    pub fn parse() -> Args {
        Args(std::env::args().collect())
    }

    pub fn number(&self, name: &str, default: u32) -> u32 {
        let value = self.0.iter().position(|a| a == name).and_then(|i| self.0.get(i + 1));
        match value {
            Some(v) => v.parse().unwrap_or_else(|_| panic!("{name} takes a number, not {v}")),
            None => default,
        }
    }
}

pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dva-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

pub fn write_report(file: &str, report: &str) {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join(file);
    std::fs::write(&out, report).expect("write report");
    eprintln!("written to {}", out.display());
}

/// Creates `database` with the demo data of `options`, unless it already holds exactly that
/// (a marker table records the options): generating 10,000 patients takes a while.
pub fn ensure_postgres_database(database: &str, options: &GeneratorOptions) {
    // The options and a digest of the schema: a changed schema (an index) means a new load.
    let ddl = demo::schema::ddl(dva_source_api::Dialect::Postgres);
    let digest = ddl.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let marker = format!("{} {} {} {digest:x}", options.patients, options.seed, options.anchor);
    let url = format!("{PG}/{database}");
    let current = PostgresWriter::connect(&url).ok().and_then(|mut db| {
        let rows = db.query(&statement("SELECT options FROM bench_marker")).ok()?;
        rows.rows.first()?.first()?.to_text()
    });
    if current.as_deref() == Some(marker.as_str()) {
        eprintln!("{database}: demo data for {} patients already there", options.patients);
        return;
    }
    eprintln!("{database}: generating {} patients ...", options.patients);
    let started = Instant::now();
    let mut admin = PostgresWriter::connect(&format!("{PG}/test")).expect("PostgreSQL at 127.0.0.1:5432");
    admin.execute_batch(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).expect("drop");
    admin.execute_batch(&format!("CREATE DATABASE {database}")).expect("create");
    demo::fill_database(&DemoTarget::Postgres(url.clone()), options, false).expect("load the demo data");
    let mut db = PostgresWriter::connect(&url).expect("connect");
    db.execute_batch(&format!(
        "ANALYZE; CREATE TABLE bench_marker (options TEXT); INSERT INTO bench_marker VALUES ('{marker}')"
    ))
    .expect("marker");
    eprintln!("{database}: generated in {:.1} s", started.elapsed().as_secs_f64());
}

pub fn statement(sql: &str) -> Statement {
    Statement { sql: sql.into(), binds: Vec::new() }
}

pub fn write_tokens(dir: &Path, tokens: &[demo::DemoToken]) {
    let list: Vec<_> = tokens
        .iter()
        .map(|t| serde_json::json!({ "accessToken": format!("Bearer {}", t.token), "bsn": t.bsn }))
        .collect();
    std::fs::write(dir.join("tokens.json"), serde_json::Value::Array(list).to_string()).expect("tokens");
}

/// The config the server runs with: the demo GP-data mappings over `source_toml`, static
/// tokens, the audit trail in SQLite next to the config (the default), TLS when asked.
pub fn write_config(dir: &Path, source_toml: &str, tls: bool, port: u16) -> PathBuf {
    let mappings = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his/gp-data");
    let tls_section =
        if tls { "[server.tls]\ncertificate = \"server.pem\"\nprivate_key = \"server.key\"\n" } else { "" };
    let config = dir.join("dva-connector.toml");
    if !dir.join("audit.key").exists() {
        dva_connector::audit::new_key(&dir.join("audit.key")).expect("audit key file");
    }
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nproduction = false\n{tls_section}\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\n[auth]\nmode = \"static\"\ntoken_file = \"tokens.json\"\n\n\
             [sources.ehr]\n{source_toml}\n\n[[services]]\nname = \"gp-data\"\nbase_path = \"/fhir/stu3/gp-data\"\n\
             mappings = \"{}\"\nsource = \"ehr\"\n",
            mappings.display()
        ),
    )
    .expect("write config");
    config
}

/// The release binary serving `source_toml`, as a separate process.
pub struct Server {
    child: Child,
    pub base: String,
    ca: Option<PathBuf>,
}

impl Server {
    pub fn start(dir: &Path, source_toml: &str, tls: bool) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let ca = tls.then(|| write_certificates(dir));
        let config = write_config(dir, source_toml, tls, port);
        let log = std::fs::File::create(dir.join(format!("server-{port}.log"))).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the server");
        let scheme = if tls { "https://localhost" } else { "http://127.0.0.1" };
        let server = Server { child, base: format!("{scheme}:{port}"), ca };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not start; see {}", dir.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A client with its own keep-alive connection (ureq keeps one idle connection per host).
    pub fn client(&self) -> ureq::Agent {
        match &self.ca {
            Some(ca) => dva_connector::auth::outbound::HttpsClient::new(Some(ca)).expect("TLS client").agent().clone(),
            None => ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build(),
        }
    }

    /// The server's resident memory now and at its peak, KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// User + system CPU time the server has used.
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = after.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        Duration::from_secs_f64(ticks as f64 / clock_ticks())
    }

    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, Iterator::count)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
}

/// A CA and a `localhost` server certificate for it; returns the CA file.
fn write_certificates(dir: &Path) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let cert =
        CertificateParams::new(vec!["localhost".to_owned()]).expect("params").signed_by(&key, &ca).expect("sign");
    std::fs::write(dir.join("server.pem"), cert.pem()).expect("cert");
    let key_file = dir.join("server.key");
    std::fs::write(&key_file, key.serialize_pem()).expect("key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("CA file");
    ca_file
}

/// Latencies of one kind, for percentiles.
#[derive(Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// Nearest-rank percentile.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// What a closed-loop run measured.
#[derive(Default)]
pub struct Load {
    pub requests: Latencies,
    pub sessions: Latencies,
    pub failures: u64,
    pub window: Duration,
}

impl Load {
    pub fn sessions_per_second(&self) -> f64 {
        self.sessions.len() as f64 / self.window.as_secs_f64()
    }

    pub fn requests_per_second(&self) -> f64 {
        self.requests.len() as f64 / self.window.as_secs_f64()
    }

    fn merge(&mut self, other: Load) {
        self.requests.extend(other.requests);
        self.sessions.extend(other.sessions);
        self.failures += other.failures;
    }
}

/// splitmix64, seeded per client so runs repeat.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// Runs `clients` threads, each doing sessions back to back until the window closes; only
/// sessions that start after the warm-up and end inside the window count.
fn closed_loop<S: Send>(
    clients: usize,
    window: Duration,
    setup: impl Fn(usize) -> S + Sync,
    session: impl Fn(&mut S, &mut Rng, &mut Load) + Sync,
) -> Load {
    let start = Instant::now() + WARM_UP;
    let end = start + window;
    let mut total = Load { window, ..Load::default() };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let (setup, session) = (&setup, &session);
                scope.spawn(move || {
                    let mut state = setup(i);
                    let mut rng = Rng::new(1000 + i as u64);
                    let mut mine = Load::default();
                    loop {
                        let began = Instant::now();
                        if began >= end {
                            break;
                        }
                        let mut one = Load::default();
                        session(&mut state, &mut rng, &mut one);
                        let finished = Instant::now();
                        if began >= start && finished <= end {
                            one.sessions.push(finished - began);
                            mine.merge(one);
                        }
                    }
                    mine
                })
            })
            .collect();
        for handle in handles {
            total.merge(handle.join().expect("client thread"));
        }
    });
    total
}

/// What a run of the server measured, with its process figures over the window.
pub struct ServerRun {
    pub load: Load,
    pub rss_max_kib: u64,
    pub cpu_per_request: Duration,
}

/// PGO clients against `server`: each session is every request of `requests` for a random
/// patient with that patient's token.
pub fn drive(
    server: &Server,
    tokens: &[demo::DemoToken],
    requests: &[String],
    clients: usize,
    window: Duration,
) -> ServerRun {
    let done = AtomicU64::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (load, rss_max, cpu_used) = std::thread::scope(|scope| {
        // Memory and CPU over the measured window only (after the warm-up).
        let sampler = scope.spawn(|| {
            std::thread::sleep(WARM_UP);
            let cpu_start = server.cpu();
            let mut max = 0;
            while !stop.load(Ordering::Relaxed) {
                max = max.max(server.rss_kib().0);
                std::thread::sleep(Duration::from_millis(100));
            }
            (max, cpu_start)
        });
        let load = closed_loop(
            clients,
            window,
            |_| server.client(),
            |agent, rng, load| pgo_session(server, agent, rng, tokens, requests, load, &done),
        );
        let cpu_end = server.cpu();
        stop.store(true, Ordering::Relaxed);
        let (max, cpu_start) = sampler.join().expect("sampler");
        (load, max, cpu_end.saturating_sub(cpu_start))
    });
    let requests_done = (load.requests.len() as u32).max(1);
    ServerRun { rss_max_kib: rss_max, cpu_per_request: cpu_used / requests_done, load }
}

fn pgo_session(
    server: &Server,
    agent: &mut ureq::Agent,
    rng: &mut Rng,
    tokens: &[demo::DemoToken],
    requests: &[String],
    load: &mut Load,
    done: &AtomicU64,
) {
    let token = &tokens[rng.below(tokens.len())];
    let authorization = format!("Bearer {}", token.token);
    for request in requests {
        let began = Instant::now();
        let ok = match agent.get(&format!("{}{request}", server.base)).set("Authorization", &authorization).call() {
            Ok(response) => response.into_string().is_ok(),
            Err(_) => false,
        };
        load.requests.push(began.elapsed());
        if !ok {
            load.failures += 1;
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
}

/// The baseline: recorded sessions (per request, the statements in order) replayed by
/// `clients` threads with a libpq connection each.
pub fn replay(url: &str, sessions: &[Vec<Vec<Statement>>], clients: usize, window: Duration) -> Load {
    closed_loop(
        clients,
        window,
        |_| PostgresWriter::connect(url).expect("libpq connection"),
        |db, rng, load| {
            for request in &sessions[rng.below(sessions.len())] {
                let began = Instant::now();
                for statement in request {
                    if db.query(statement).is_err() {
                        load.failures += 1;
                    }
                }
                load.requests.push(began.elapsed());
            }
        },
    )
}

/// The load of `drive` for `duration`, sampling the server's memory and open files.
pub fn soak(
    server: &Server,
    tokens: &[demo::DemoToken],
    requests: &[String],
    clients: usize,
    duration: Duration,
) -> String {
    let done = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut table = String::from("| minute | requests | server RSS | open files |\n|---|---|---|---|\n");
    let started = Instant::now();
    std::thread::scope(|scope| {
        for i in 0..clients {
            let (done, failures, stop) = (&done, &failures, &stop);
            scope.spawn(move || {
                let mut agent = server.client();
                let mut rng = Rng::new(2000 + i as u64);
                while !stop.load(Ordering::Relaxed) {
                    let mut load = Load::default();
                    pgo_session(server, &mut agent, &mut rng, tokens, requests, &mut load, done);
                    failures.fetch_add(load.failures, Ordering::Relaxed);
                }
            });
        }
        let minutes = duration.as_secs().div_ceil(60);
        for minute in 0..=minutes {
            let due = started + Duration::from_secs(minute * 60);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let _ = writeln!(
                table,
                "| {minute} | {} | {:.1} MiB | {} |",
                done.load(Ordering::Relaxed),
                server.rss_kib().0 as f64 / 1024.0,
                server.open_files()
            );
            eprint!("{}", table.lines().last().map(|l| format!("{l}\n")).unwrap_or_default());
        }
        stop.store(true, Ordering::Relaxed);
    });
    let (_, peak) = server.rss_kib();
    format!(
        "Soak: {clients} clients for {} s, {} requests, {} failed; peak RSS {:.1} MiB. {}\n\n{table}",
        duration.as_secs(),
        done.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        peak as f64 / 1024.0,
        machine()
    )
}

/// The machine, as `lscpu` and the PostgreSQL server describe it.
pub fn machine() -> String {
    let cpu = Command::new("lscpu").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let model = cpu
        .as_deref()
        .and_then(|c| c.lines().find_map(|l| l.strip_prefix("Model name:")))
        .map_or("unknown CPU".into(), |m| m.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("Machine: {cores} cores ({model}), PostgreSQL on the same machine.")
}
