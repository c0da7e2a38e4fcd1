//! Opaque tokens checked with a local RFC 7662 introspection endpoint over real HTTPS: active,
//! inactive, expired and out-of-scope tokens; answers cached; the endpoint down gives 503.

use crate::harness::{spawn_scoped, TestApp};
use crate::pki::Ca;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const CLIENT_ID: &str = "dva-connector";
const CLIENT_SECRET: &str = "s3cret";

/// The authorization server over HTTPS: a POSTed form's token -> its answer (a request
/// without a token, e.g. a GET of the JWKS, gets the answer under ""), and a call counter.
pub struct Endpoint {
    pub port: u16,
    calls: Arc<AtomicUsize>,
    pub ca: Ca,
}

pub fn start_endpoint(answers: HashMap<String, serde_json::Value>) -> Endpoint {
    let ca = Ca::new("Test AS CA");
    let leaf = ca.server(&["localhost"]);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(leaf.cert.as_bytes()).expect("cert")],
            PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).expect("key"),
        )
        .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).expect("conn");
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut reader = BufReader::new(&mut tls);
            let mut head = Vec::new();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                head.push(line.trim().to_owned());
                line.clear();
            }
            let length: usize = head
                .iter()
                .find_map(|h| {
                    h.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            counter.fetch_add(1, Ordering::SeqCst);
            use base64::Engine;
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
            let authorized =
                head.iter().any(|h| h == &format!("Authorization: Basic {basic}")) || head[0].starts_with("GET ");
            let form = String::from_utf8_lossy(&body).to_string();
            let token = form.split('&').find_map(|kv| kv.strip_prefix("token=")).unwrap_or_default().to_owned();
            let (status, answer) = if !authorized {
                ("401 Unauthorized", json!({"error": "invalid_client"}))
            } else {
                ("200 OK", answers.get(&token).cloned().unwrap_or(json!({"active": false})))
            };
            let text = answer.to_string();
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = tls.write_all(response.as_bytes());
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    Endpoint { port, calls, ca }
}

fn spawn_introspecting(endpoint: &Endpoint, port: u16) -> TestApp {
    let ca = endpoint.ca.pem();
    spawn_scoped(
        &format!(
            "mode = \"introspection\"\nintrospection_url = \"https://localhost:{port}/introspect\"\n\
             client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\nca_file = \"as-ca.pem\""
        ),
        |dir| std::fs::write(dir.join("as-ca.pem"), &ca).expect("ca"),
    )
}

#[test]
fn opaque_tokens_are_introspected_cached_and_refused_when_not_active() {
    let bsn = crate::harness::demo_db().tokens[0].bsn.clone();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let active = |scope: &str, exp: u64| json!({"active": true, "exp": exp, "bsn": bsn, "scope": scope, "client_id": "pgo.test"});
    let answers: HashMap<String, serde_json::Value> = [
        ("good".to_owned(), active("demo-his~49", now + 300)),
        ("expired".to_owned(), active("demo-his~49", now - 5)),
        ("elsewhere".to_owned(), active("other-gp~49", now + 300)),
        ("no-bsn".to_owned(), json!({"active": true, "exp": now + 300, "scope": "demo-his~49"})),
    ]
    .into();
    let endpoint = start_endpoint(answers);
    let app = spawn_introspecting(&endpoint, endpoint.port);
    let first = app.get("Patient", Some("good"));
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(crate::harness::resources(&first.body).len(), 1);
    let calls = endpoint.calls.load(Ordering::SeqCst);
    assert_eq!(app.get("Encounter?_count=1", Some("good")).status, 200);
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), calls, "the second use is answered from the cache");
    for (token, status) in [("unknown", 401), ("expired", 401), ("no-bsn", 401), ("elsewhere", 403)] {
        let reply = app.get("Patient", Some(token));
        assert_eq!(reply.status, status, "{token}: {}", reply.text);
        assert!(!reply.text.contains(&bsn), "{token}: a BSN in the answer");
    }
}

#[test]
fn an_unreachable_authorization_server_gives_503() {
    let endpoint = start_endpoint(HashMap::new());
    let dead = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let app = spawn_introspecting(&endpoint, dead);
    let reply = app.get("Patient", Some("anything"));
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.body["resourceType"], "OperationOutcome");
}
