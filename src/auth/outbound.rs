//! HTTPS calls to the authorization server (token introspection, its JWKS), over ureq with our
//! own rustls set-up: the ring provider, TLS 1.2/1.3, and the roots of a configured CA file or
//! the system's bundle.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value as Json;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Debian's (and most distributions') bundle of trusted CAs.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";
const TIMEOUT: Duration = Duration::from_secs(5);

pub struct HttpsClient {
    agent: ureq::Agent,
}

impl HttpsClient {
    /// A client trusting the CAs in `ca_file` (PEM), or the system's when `None`.
    pub fn new(ca_file: Option<&Path>) -> Result<HttpsClient, String> {
        let path = ca_file.unwrap_or(Path::new(SYSTEM_ROOTS));
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|c| c.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("CA file {}: {e}", path.display()))?;
        roots.add_parsable_certificates(certs);
        if roots.is_empty() {
            return Err(format!("CA file {}: no CA certificate", path.display()));
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let agent = ureq::AgentBuilder::new()
            .timeout(TIMEOUT)
            .https_only(true)
            .tls_connector(Arc::new(Connector(Arc::new(config))))
            .build();
        Ok(HttpsClient { agent })
    }

    /// POSTs a form with HTTP Basic client authentication; the JSON answer.
    pub fn post_form(&self, url: &str, basic: (&str, &str), form: &[(&str, &str)]) -> Result<Json, String> {
        use base64::Engine;
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", basic.0, basic.1));
        let response = self
            .agent
            .post(url)
            .set("Authorization", &format!("Basic {credentials}"))
            .set("Accept", "application/json")
            .send_form(form)
            .map_err(describe)?;
        response.into_json().map_err(|e| format!("{url}: not JSON: {e}"))
    }

    /// The agent itself, for callers that need plain requests over the same TLS set-up (the
    /// load benchmark's PGO clients).
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    pub fn get_json(&self, url: &str) -> Result<Json, String> {
        let response = self.agent.get(url).set("Accept", "application/json").call().map_err(describe)?;
        response.into_json().map_err(|e| format!("{url}: not JSON: {e}"))
    }
}

/// An error without the request (it may carry the token in its form).
fn describe(e: ureq::Error) -> String {
    match e {
        ureq::Error::Status(status, r) => format!("{} answered {status}", r.get_url()),
        ureq::Error::Transport(t) => format!("{}: {}", t.url().map(|u| u.as_str()).unwrap_or("?"), t.kind()),
    }
}

struct Connector(Arc<rustls::ClientConfig>);

impl ureq::TlsConnector for Connector {
    fn connect(&self, dns_name: &str, io: Box<dyn ureq::ReadWrite>) -> Result<Box<dyn ureq::ReadWrite>, ureq::Error> {
        let name = ServerName::try_from(dns_name.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let conn = rustls::ClientConnection::new(Arc::clone(&self.0), name)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        Ok(Box::new(TlsStream(rustls::StreamOwned::new(conn, io))))
    }
}

struct TlsStream(rustls::StreamOwned<rustls::ClientConnection, Box<dyn ureq::ReadWrite>>);

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsStream")
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl ureq::ReadWrite for TlsStream {
    fn socket(&self) -> Option<&std::net::TcpStream> {
        self.0.get_ref().socket()
    }
}
