//! A PostgreSQL server of the test's own (initdb in a temporary folder, a free port), which a
//! test may restart or kill without touching the shared server other tests use.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TempPostgres {
    pub port: u16,
    data: PathBuf,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

impl TempPostgres {
    pub fn start() -> TempPostgres {
        let bin = server_bin_dir();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        if running_as_root() {
            // The server refuses to run as root; the Debian package's `postgres` user runs it.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
            let chown = Command::new("chown").args(["postgres:postgres"]).arg(&data).status().expect("chown");
            assert!(chown.success(), "chown postgres");
        }
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let server = TempPostgres { port, data, bin, _dir: dir };
        server.run("initdb", &["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "-D"], true);
        server.pg_ctl("start");
        server
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    pub fn start_again(&self) {
        self.pg_ctl("start");
    }

    fn pg_ctl(&self, action: &str) {
        let options =
            format!("-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off", self.port);
        let log = self.data.join("server.log");
        let log = log.to_string_lossy();
        self.run("pg_ctl", &["-w", "-m", "fast", "-o", &options, "-l", &log, action, "-D"], true);
    }

    /// Runs a server program with the data folder as its last argument, as `postgres` when
    /// the test runs as root.
    fn run(&self, program: &str, args: &[&str], expect_success: bool) {
        let program = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let out = command.args(args).arg(&self.data).output().expect("run a PostgreSQL program");
        if expect_success {
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let log = self.data.join("server.log");
        let log = log.to_string_lossy().into_owned();
        self.run("pg_ctl", &["-w", "-m", "immediate", "-l", &log, "stop", "-D"], false);
    }
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// The newest installed server, e.g. /usr/lib/postgresql/15/bin.
fn server_bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .expect("PostgreSQL server packages in /usr/lib/postgresql")
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("initdb under /usr/lib/postgresql/<version>/bin").1
}
