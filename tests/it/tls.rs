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

fn port(app: &TestApp) -> u16 {
    let rest = app.base.trim_start_matches("http://127.0.0.1:");
    rest[..rest.find('/').unwrap_or(rest.len())].parse().expect("port")
}

/// GET metadata over TLS with rustls, trusting `server_ca`, optionally with a client
/// certificate. Returns the HTTP status, or the TLS/IO error.
fn https_status(port: u16, server_ca: &Ca, client: Option<&Leaf>) -> Result<u16, String> {
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
    let deadline = Instant::now() + Duration::from_secs(15);
    while https_status(port, &pki.server_ca, Some(&newcomer)) != Ok(200) {
        assert!(Instant::now() < deadline, "the new whitelist was not picked up");
        std::thread::sleep(Duration::from_millis(500));
    }
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
