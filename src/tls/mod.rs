//! HTTPS for the FHIR listener (rustls): TLS 1.2 and 1.3 only, ECDHE key exchange with AEAD
//! ciphers only (NCSC "goed"; rustls has no False Start), the certificate reloaded when its
//! files change, and optional or required client certificates checked against CA roots and
//! an allow-list of client host names (the MedMij whitelist).

mod certificate;
mod clients;
mod whitelist;
mod x509;

pub use clients::{ClientCertificate, PeerIdentity};
pub use whitelist::{ClientAllowList, Whitelist};

use crate::config::{ClientCertificates, TlsSettings};
use rustls::crypto::ring::{cipher_suite, default_provider};
use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;
use std::sync::Arc;

/// The listener's TLS: the rustls configuration, and the client names it allows (which the
/// connection handler needs to name the peer).
pub struct TlsServer {
    pub config: Arc<ServerConfig>,
    pub clients: Arc<ClientAllowList>,
}

/// The server side of TLS, ready for the listener.
pub fn server_config(settings: &TlsSettings) -> Result<TlsServer, String> {
    let clients = Arc::new(ClientAllowList::load(
        &settings.allowed_clients,
        settings.allowed_clients_file.as_deref(),
        &settings.allowed_clients_kept,
    )?);
    let provider = Arc::new(provider());
    let certificate = certificate::ReloadingCertificate::load(settings, Arc::clone(&provider))?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match (settings.client_certificates, &settings.client_ca) {
        (ClientCertificates::None, _) | (_, None) => builder.with_no_client_auth(),
        (mode, Some(ca)) => {
            let chains = clients::Chains {
                roots: Arc::new(certificate::load_roots(ca)?),
                provider: Arc::clone(&provider),
                optional: mode == ClientCertificates::Optional,
                crl_files: settings.client_crls.clone(),
            };
            builder.with_client_cert_verifier(Arc::new(clients::AllowList::new(chains, Arc::clone(&clients))?))
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(certificate));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if settings.client_certificates != ClientCertificates::None {
        // A resumed session (a TLS 1.2 session id, a TLS 1.3 ticket) would skip the client
        // certificate's checks: who is allowed, and until when. Every connection shows it anew.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(TlsServer { config: Arc::new(config), clients })
}

/// ring's provider with exactly the suites we allow, spelled out so a library upgrade cannot
/// widen them: ECDHE (TLS 1.3 is always ephemeral) with AES-GCM or ChaCha20-Poly1305.
fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..default_provider()
    }
}
