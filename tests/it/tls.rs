//! HTTPS over real sockets: protocol versions and cipher suites (tried with the openssl
//! client, configured to offer what we must refuse), mutual TLS with required and optional
//! client certificates, the client allow-list, key permissions and certificate reload.

use crate::harness::{spawn_configured, TestApp, BASE_PATH};
use crate::pki::{Ca, Leaf};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The server's PKI and the clients' PKI, as on MedMij (PKIoverheid for both in production).
struct Pki {
    server_ca: Ca,
    client_ca: Ca,
    server: Leaf,
}

impl Pki {
    fn new() -> Pki {
        let server_ca = Ca::new("Test server CA");
        let server = server_ca.server(&["localhost"]);
        Pki { server_ca, client_ca: Ca::new("Test client CA"), server }
    }
}

fn write_key(path: &Path, pem: &str, mode: u32) {
    std::fs::write(path, pem).expect("write key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A TLS server; `client_certificates` is none, optional or required, with pgo.test allowed.
fn spawn_tls(pki: &Pki, client_certificates: &str) -> TestApp {
    let mut tls = "[server.tls]\ncertificate = \"server.crt\"\nprivate_key = \"server.key\"\n".to_owned();
    if client_certificates != "none" {
        tls.push_str(&format!(
            "client_certificates = \"{client_certificates}\"\nclient_ca = \"clients.pem\"\nallowed_clients = [\"pgo.test\"]\n"
        ));
    }
    spawn_configured(&tls, |dir| {
        std::fs::write(dir.join("server.crt"), &pki.server.cert).expect("cert");
        write_key(&dir.join("server.key"), &pki.server.key, 0o600);
        std::fs::write(dir.join("clients.pem"), pki.client_ca.pem()).expect("client CA");
    })
}

pub fn port(app: &TestApp) -> u16 {
    let rest = app.base.trim_start_matches("http://127.0.0.1:");
    rest[..rest.find('/').unwrap_or(rest.len())].parse().expect("port")
}

/// GET metadata over TLS with rustls, trusting `server_ca`, optionally with a client
/// certificate. Returns the HTTP status, or the TLS/IO error.
pub fn https_status(port: u16, server_ca: &Ca, client: Option<&Leaf>) -> Result<u16, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(server_ca.pem().as_bytes()).expect("ca")).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(leaf.cert.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).expect("key"),
            )
            .expect("client auth"),
    };
    let name = ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let request = format!("GET {BASE_PATH}/metadata HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("no HTTP response: {text}"))
}

/// The server certificate a handshake presents (DER).
fn presented_certificate(port: u16, trusted: &[&Ca]) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in trusted {
        roots.add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).expect("ca")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").expect("name"))
        .expect("conn");
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("handshake");
    }
    conn.peer_certificates().and_then(|c| c.first()).expect("server certificate").to_vec()
}

/// Whether `openssl s_client` completes a handshake with these options.
fn openssl_handshake(port: u16, options: &[&str]) -> bool {
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"])
        .args(options)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl command-line client");
    let text = String::from_utf8_lossy(&output.stdout);
    output.status.success() && text.contains("Cipher is") && !text.contains("Cipher is (NONE)")
}

#[test]
fn only_tls_12_and_13_with_ecdhe_and_aead() {
    let pki = Pki::new();
    let app = spawn_tls(&pki, "none");
    let port = port(&app);
    assert_eq!(https_status(port, &pki.server_ca, None), Ok(200));
    // What a good client gets.
    assert!(openssl_handshake(port, &["-tls1_3"]), "TLS 1.3");
    assert!(openssl_handshake(port, &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]), "TLS 1.2 ECDHE+GCM");
    assert!(openssl_handshake(port, &["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"]), "TLS 1.2 ChaCha20");
    // Old protocols, offered by a client whose own security level allows them.
    for old in ["-tls1", "-tls1_1"] {
        assert!(!openssl_handshake(port, &[old, "-cipher", "DEFAULT:@SECLEVEL=0"]), "{old} must be refused");
    }
    // TLS 1.2 without forward secrecy or without AEAD.
    for weak in [
        "AES128-GCM-SHA256",
        "AES256-SHA",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA384",
        "DHE-RSA-AES128-GCM-SHA256",
    ] {
        assert!(
            !openssl_handshake(port, &["-tls1_2", "-cipher", &format!("{weak}:@SECLEVEL=0")]),
            "TLS 1.2 {weak} must be refused"
        );
    }
}

#[test]
fn required_client_certificates_must_chain_to_the_ca_and_name_an_allowed_client() {
    let pki = Pki::new();
    let app = spawn_tls(&pki, "required");
    let port = port(&app);
    let allowed = pki.client_ca.client(&["pgo.test"]);
    assert_eq!(https_status(port, &pki.server_ca, Some(&allowed)), Ok(200));
    assert!(https_status(port, &pki.server_ca, None).is_err(), "no client certificate");
    let stranger = Ca::new("Unknown CA").client(&["pgo.test"]);
    assert!(https_status(port, &pki.server_ca, Some(&stranger)).is_err(), "a CA we do not trust");
    let not_listed = pki.client_ca.client(&["other-pgo.test"]);
    assert!(https_status(port, &pki.server_ca, Some(&not_listed)).is_err(), "not on the allow-list");
    let server_cert_as_client = pki.client_ca.server(&["pgo.test"]);
    assert!(https_status(port, &pki.server_ca, Some(&server_cert_as_client)).is_err(), "not a client certificate");
}

fn whitelist(sequence: u32, hosts: &[&str]) -> String {
    let nodes: String = hosts.iter().map(|h| format!("<MedMijNode><Hostname>{h}</Hostname></MedMijNode>")).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Whitelist xmlns=\"xmlns://afsprakenstelsel.medmij.nl/whitelist/release2/\">\
         <Tijdstempel>2026-11-23T10:00:00+01:00</Tijdstempel><Volgnummer>{sequence}</Volgnummer>\
         <MedMijNodes>{nodes}</MedMijNodes></Whitelist>"
    )
}

/// The MedMij Whitelist file as the allow-list: read at start, reloaded when it changes, and
/// never rolled back to an older `Volgnummer`.
#[test]
fn the_medmij_whitelist_file_is_the_allow_list_and_is_reloaded() {
    let pki = Pki::new();
    let tls = "[server.tls]\ncertificate = \"server.crt\"\nprivate_key = \"server.key\"\n\
               client_certificates = \"required\"\nclient_ca = \"clients.pem\"\nallowed_clients_file = \"whitelist.xml\"\n";
    let app = spawn_configured(tls, |dir| {
        std::fs::write(dir.join("server.crt"), &pki.server.cert).expect("cert");
        write_key(&dir.join("server.key"), &pki.server.key, 0o600);
        std::fs::write(dir.join("clients.pem"), pki.client_ca.pem()).expect("client CA");
        std::fs::write(dir.join("whitelist.xml"), whitelist(10, &["pgo.test"])).expect("whitelist");
    });
    let port = port(&app);
    let (listed, newcomer) = (pki.client_ca.client(&["pgo.test"]), pki.client_ca.client(&["new-pgo.test"]));
    assert_eq!(https_status(port, &pki.server_ca, Some(&listed)), Ok(200));
    assert!(https_status(port, &pki.server_ca, Some(&newcomer)).is_err(), "not on the whitelist yet");
    let file = app.dir.path().join("whitelist.xml");
    std::fs::write(&file, whitelist(11, &["pgo.test", "new-pgo.test"])).expect("new whitelist");
    wait_until("the new whitelist was not picked up", || {
        https_status(port, &pki.server_ca, Some(&newcomer)) == Ok(200)
    });
    // An older list (a rollback) is refused: the newcomer stays allowed.
    std::fs::write(&file, whitelist(9, &["pgo.test"])).expect("old whitelist");
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(https_status(port, &pki.server_ca, Some(&newcomer)), Ok(200));
}

#[test]
fn optional_client_certificates_still_refuse_bad_ones() {
    let pki = Pki::new();
    let app = spawn_tls(&pki, "optional");
    let port = port(&app);
    assert_eq!(https_status(port, &pki.server_ca, None), Ok(200), "no certificate is fine");
    assert_eq!(https_status(port, &pki.server_ca, Some(&pki.client_ca.client(&["pgo.test"]))), Ok(200));
    let stranger = Ca::new("Unknown CA").client(&["pgo.test"]);
    assert!(https_status(port, &pki.server_ca, Some(&stranger)).is_err(), "a bad certificate is refused");
}

#[test]
fn a_world_readable_private_key_is_refused_with_a_clear_message() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("server.crt"), &pki.server.cert).expect("cert");
    write_key(&dir.path().join("server.key"), &pki.server.key, 0o644);
    let settings = dva_connector::config::TlsSettings {
        certificate: dir.path().join("server.crt"),
        private_key: dir.path().join("server.key"),
        client_certificates: dva_connector::config::ClientCertificates::None,
        client_ca: None,
        allowed_clients: vec![],
        allowed_clients_file: None,
        allowed_clients_kept: dir.path().join("medmij-whitelist.xml"),
        client_crls: vec![],
    };
    let err = dva_connector::tls::server_config(&settings).err().expect("must refuse");
    assert!(err.contains("readable by every user") && err.contains("chmod 640"), "{err}");
    std::fs::set_permissions(dir.path().join("server.key"), std::fs::Permissions::from_mode(0o640)).expect("chmod");
    assert!(dva_connector::tls::server_config(&settings).is_ok());
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart() {
    let pki = Pki::new();
    let app = spawn_tls(&pki, "none");
    let port = port(&app);
    let renewed_ca = Ca::new("Renewed server CA");
    let renewed = renewed_ca.server(&["localhost"]);
    let first = presented_certificate(port, &[&pki.server_ca, &renewed_ca]);
    std::fs::write(app.dir.path().join("server.crt"), &renewed.cert).expect("cert");
    write_key(&app.dir.path().join("server.key"), &renewed.key, 0o600);
    let expected = CertificateDer::from_pem_slice(renewed.cert.as_bytes()).expect("der").to_vec();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = presented_certificate(port, &[&pki.server_ca, &renewed_ca]);
        if now == expected {
            break;
        }
        assert_eq!(now, first, "neither the old nor the new certificate");
        assert!(Instant::now() < deadline, "the renewed certificate was not picked up");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A TLS server with required client certificates, the MedMij Whitelist file (listing
/// `hosts`) and `extra` lines in `[server.tls]`.
fn spawn_whitelisted(pki: &Pki, hosts: &[&str], extra: &str, prepare: impl FnOnce(&Path)) -> TestApp {
    let tls = format!(
        "[server.tls]\ncertificate = \"server.crt\"\nprivate_key = \"server.key\"\nclient_certificates = \"required\"\n\
         client_ca = \"clients.pem\"\nallowed_clients_file = \"whitelist.xml\"\n{extra}"
    );
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    spawn_configured(&tls, |dir| {
        std::fs::write(dir.join("server.crt"), &pki.server.cert).expect("cert");
        write_key(&dir.join("server.key"), &pki.server.key, 0o600);
        std::fs::write(dir.join("clients.pem"), pki.client_ca.pem()).expect("client CA");
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        std::fs::write(dir.join("whitelist.xml"), whitelist(10, &hosts)).expect("whitelist");
        prepare(dir);
    })
}

/// One `openssl s_client` GET of metadata with a client certificate, optionally saving or
/// offering a session: whether the session was resumed, and the HTTP status if one came.
fn openssl_get(app: &TestApp, pki: &Pki, client: &Leaf, version: &str, session: (&str, &Path)) -> (bool, Option<u16>) {
    let dir = app.dir.path();
    std::fs::write(dir.join("client.crt"), &client.cert).expect("cert");
    write_key(&dir.join("client.key"), &client.key, 0o600);
    std::fs::write(dir.join("server-ca.pem"), pki.server_ca.pem()).expect("ca");
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{}", port(app)), "-servername", "localhost", version])
        .arg("-cert")
        .arg(dir.join("client.crt"))
        .arg("-key")
        .arg(dir.join("client.key"))
        .arg("-CAfile")
        .arg(dir.join("server-ca.pem"))
        .arg(session.0)
        .arg(session.1)
        .arg("-ign_eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    let request = format!("GET {BASE_PATH}/metadata HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(request.as_bytes());
    }
    let output = child.wait_with_output().expect("openssl output");
    let text = String::from_utf8_lossy(&output.stdout);
    let status = text.find("HTTP/1.1 ").and_then(|at| text.get(at + 9..at + 12)).and_then(|s| s.parse().ok());
    if std::env::var_os("DVA_TEST_SHOW_OPENSSL").is_some() {
        eprintln!("{text}\n{}", String::from_utf8_lossy(&output.stderr));
    }
    (text.contains("Reused, TLS"), status)
}

/// Waits (15 s at most) until `done`, which a file the server reloads makes true.
fn wait_until(what_failed: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "{what_failed}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Rewrites the whitelist and waits until a new handshake sees it.
fn remove_from_whitelist(app: &TestApp, pki: &Pki, listed: &Leaf) {
    std::fs::write(app.dir.path().join("whitelist.xml"), whitelist(11, &["someone-else.test"])).expect("whitelist");
    wait_until("the new whitelist was not picked up", || {
        https_status(port(app), &pki.server_ca, Some(listed)).is_err()
    });
}

/// Regression: a PGO removed from the whitelist kept being served by resuming a TLS 1.2 session
/// or a TLS 1.3 ticket taken while it was allowed (and was audited without a name). With client
/// certificates there is no resumption: every connection shows its certificate again.
#[test]
fn a_resumed_session_is_checked_like_a_new_one() {
    let pki = Pki::new();
    let app = spawn_whitelisted(&pki, &["pgo.test"], "", |_| {});
    let listed = pki.client_ca.client(&["pgo.test"]);
    let mut kept = Vec::new();
    for version in ["-tls1_2", "-tls1_3"] {
        let session = app.dir.path().join(format!("session{version}.pem"));
        assert_eq!(openssl_get(&app, &pki, &listed, version, ("-sess_out", &session)), (false, Some(200)), "{version}");
        // The server hands out nothing to resume: no session id, no ticket (openssl then
        // writes no session file). Should a client offer a session anyway, it is not resumed.
        if session.exists() {
            assert_eq!(
                openssl_get(&app, &pki, &listed, version, ("-sess_in", &session)),
                (false, Some(200)),
                "{version}"
            );
            kept.push((version, session));
        }
    }
    remove_from_whitelist(&app, &pki, &listed);
    for (version, session) in kept {
        let (reused, status) = openssl_get(&app, &pki, &listed, version, ("-sess_in", &session));
        assert_eq!((reused, status), (false, None), "{version}: served after its removal from the whitelist");
    }
}

/// An HTTP/1.1 keep-alive connection over TLS with a client certificate.
struct KeepAlive {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl KeepAlive {
    fn open(port: u16, server_ca: &Ca, client: &Leaf) -> KeepAlive {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(server_ca.pem().as_bytes()).expect("ca")).expect("root");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(client.cert.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(client.key.as_bytes()).expect("key"),
            )
            .expect("client auth");
        let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").expect("name"))
            .expect("conn");
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        KeepAlive { tls: rustls::StreamOwned::new(conn, tcp) }
    }

    /// GET metadata on this connection: the status, and whether the server closes after it.
    fn get(&mut self) -> Option<(u16, bool)> {
        let request = format!("GET {BASE_PATH}/metadata HTTP/1.1\r\nHost: localhost\r\n\r\n");
        self.tls.write_all(request.as_bytes()).ok()?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.tls.read_exact(&mut byte).ok()?;
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        self.tls.read_exact(&mut body).ok()?;
        let status = head.get(9..12)?.parse().ok()?;
        Some((status, head.contains("connection: close")))
    }
}

/// A keep-alive connection opened before a removal from the whitelist, or before the client
/// certificate expired, is not served after it: 403, and the server closes the connection.
#[test]
fn an_open_connection_does_not_outlive_a_removal_or_an_expiry() {
    let pki = Pki::new();
    let app = spawn_whitelisted(&pki, &["pgo.test"], "", |_| {});
    let listed = pki.client_ca.client(&["pgo.test"]);
    let mut connection = KeepAlive::open(port(&app), &pki.server_ca, &listed);
    assert_eq!(connection.get(), Some((200, false)));
    std::fs::write(app.dir.path().join("whitelist.xml"), whitelist(11, &["someone-else.test"])).expect("whitelist");
    let removed = Instant::now();
    let refused = loop {
        // Requests keep the connection busy (an idle one is closed after 5 s anyway).
        match connection.get() {
            Some((200, false)) => {}
            other => break other,
        }
        assert!(removed.elapsed() < Duration::from_secs(10), "still served 10 s after the removal");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(refused, Some((403, true)), "refused and closed {:?} after the removal", removed.elapsed());
    assert!(connection.get().is_none(), "the connection is closed");

    // Expiry: a certificate valid for a few more seconds.
    let app = spawn_whitelisted(&pki, &["pgo.test"], "", |_| {});
    let short = pki.client_ca.client_with(&["pgo.test"], |p| {
        p.not_after = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    });
    let session = app.dir.path().join("short.pem");
    assert_eq!(openssl_get(&app, &pki, &short, "-tls1_2", ("-sess_out", &session)).1, Some(200));
    let mut connection = KeepAlive::open(port(&app), &pki.server_ca, &short);
    assert_eq!(connection.get(), Some((200, false)));
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(connection.get(), Some((403, true)), "served on an open connection after its certificate expired");
    assert_eq!(openssl_get(&app, &pki, &short, "-tls1_2", ("-sess_in", &session)).1, None, "resumed after expiry");
}

/// Regression: a certificate for `*.test` was accepted as the allowed `pgo.test`, and one
/// without any extended key usage as a client certificate.
#[test]
fn wildcards_only_when_listed_and_client_auth_required() {
    let pki = Pki::new();
    let app = spawn_whitelisted(&pki, &["pgo.example.test"], "", |_| {});
    let port = port(&app);
    assert_eq!(https_status(port, &pki.server_ca, Some(&pki.client_ca.client(&["pgo.example.test"]))), Ok(200));
    let wildcard = pki.client_ca.client(&["*.example.test"]);
    assert!(https_status(port, &pki.server_ca, Some(&wildcard)).is_err(), "a wildcard for a listed host");
    let app = spawn_tls(&pki, "required");
    let port = crate::tls::port(&app);
    let no_usage = pki.client_ca.client_with(&["pgo.test"], |p| p.extended_key_usages.clear());
    assert!(https_status(port, &pki.server_ca, Some(&no_usage)).is_err(), "no extended key usage");
    assert_eq!(https_status(port, &pki.server_ca, Some(&pki.client_ca.client(&["pgo.test"]))), Ok(200));
    // A wildcard the allow-list names itself is accepted.
    let tls = "[server.tls]\ncertificate = \"server.crt\"\nprivate_key = \"server.key\"\nclient_certificates = \"required\"\n\
               client_ca = \"clients.pem\"\nallowed_clients = [\"*.example.test\"]\n";
    let app = spawn_configured(tls, |dir| {
        std::fs::write(dir.join("server.crt"), &pki.server.cert).expect("cert");
        write_key(&dir.join("server.key"), &pki.server.key, 0o600);
        std::fs::write(dir.join("clients.pem"), pki.client_ca.pem()).expect("client CA");
    });
    assert_eq!(crate::tls::https_status(crate::tls::port(&app), &pki.server_ca, Some(&wildcard)), Ok(200));
}

/// Revocation lists of the client CA: a revoked certificate is refused, a new list is picked
/// up without a restart.
#[test]
fn revoked_client_certificates_are_refused_and_new_lists_reloaded() {
    let pki = Pki::new();
    let first =
        pki.client_ca.client_with(&["pgo.test"], |p| p.serial_number = Some(rcgen::SerialNumber::from(1001u64)));
    let second =
        pki.client_ca.client_with(&["pgo.test"], |p| p.serial_number = Some(rcgen::SerialNumber::from(1002u64)));
    let crl = pki.client_ca.crl(1, &[1001]);
    let app = spawn_whitelisted(&pki, &["pgo.test"], "client_crls = [\"clients.crl\"]\n", |dir| {
        std::fs::write(dir.join("clients.crl"), &crl).expect("crl");
    });
    let port = port(&app);
    assert!(https_status(port, &pki.server_ca, Some(&first)).is_err(), "revoked");
    assert_eq!(https_status(port, &pki.server_ca, Some(&second)), Ok(200));
    std::fs::write(app.dir.path().join("clients.crl"), pki.client_ca.crl(2, &[1001, 1002])).expect("new crl");
    wait_until("the new revocation list was not picked up", || {
        https_status(port, &pki.server_ca, Some(&second)).is_err()
    });
}

/// Regression: the Whitelist's `Volgnummer` guard lasted one process; after a restart an older
/// list was accepted. The newest list seen is kept in the state folder.
#[test]
fn an_older_whitelist_is_refused_after_a_restart_too() {
    let pki = Pki::new();
    let app = spawn_whitelisted(&pki, &["pgo.test"], "", |_| {});
    let file = app.dir.path().join("whitelist.xml");
    let newcomer = pki.client_ca.client(&["new-pgo.test"]);
    std::fs::write(&file, whitelist(12, &["pgo.test", "new-pgo.test"])).expect("newer");
    wait_until("the newer whitelist was not picked up", || {
        https_status(port(&app), &pki.server_ca, Some(&newcomer)) == Ok(200)
    });
    // An older list in place of the file, then a restart on the same folder.
    std::fs::write(&file, whitelist(9, &["pgo.test"])).expect("older");
    let config = app.dir.path().join("dva-connector.toml");
    let snapshot = dva_connector::runtime::Snapshot::load(&config).expect("loads");
    let clients = &snapshot.tls.as_ref().expect("tls").clients;
    assert!(clients.names().contains(&"new-pgo.test".to_owned()), "the kept Volgnummer 12 serves, not 9");
}

/// Regression: a renewed key that was readable by others is refused (and logged with the
/// `chmod` that fixes it); the `chmod` alone, without touching the files, is enough for the
/// renewal to be picked up.
#[test]
fn a_key_fixed_with_chmod_is_picked_up() {
    let pki = Pki::new();
    let app = spawn_tls(&pki, "none");
    let port = port(&app);
    let renewed_ca = Ca::new("Renewed server CA");
    let renewed = renewed_ca.server(&["localhost"]);
    let first = presented_certificate(port, &[&pki.server_ca, &renewed_ca]);
    std::fs::write(app.dir.path().join("server.crt"), &renewed.cert).expect("cert");
    write_key(&app.dir.path().join("server.key"), &renewed.key, 0o644);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(presented_certificate(port, &[&pki.server_ca, &renewed_ca]), first, "a readable key must be refused");
    std::fs::set_permissions(app.dir.path().join("server.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let expected = CertificateDer::from_pem_slice(renewed.cert.as_bytes()).expect("der").to_vec();
    wait_until("the key was not picked up after the chmod", || {
        presented_certificate(port, &[&pki.server_ca, &renewed_ca]) == expected
    });
}
