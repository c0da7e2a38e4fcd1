//! Client certificates: the chain is verified against the configured CA roots (webpki), the
//! certificate must be meant for client authentication (the extended key usage present and
//! naming it), and it must name one of the allowed client hosts (the MedMij whitelist) exactly:
//! a wildcard certificate only stands for a host when the allow-list lists that wildcard.
//! The verified certificate stays with the connection ([`ClientCertificate`]), which every
//! request checks again against the allow-list and the clock: a client removed from the list,
//! or whose certificate expired, is refused on a connection opened before.

use super::whitelist::ClientAllowList;
use super::x509::CertificateFacts;
use arc_swap::ArcSwap;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Who is on the other end of a TLS connection, for the request handling and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The allowed client host name the certificate is valid for; `None` when any verified
    /// client is allowed (no allow-list) and the certificate was not matched against names.
    pub host: Option<String>,
}

impl PeerIdentity {
    /// The identity of a verified client certificate, given the allow-list.
    pub fn of(end_entity: &CertificateDer<'_>, allowed: &ClientAllowList) -> Option<PeerIdentity> {
        if !allowed.is_restricted() {
            return Some(PeerIdentity { host: None });
        }
        matching_name(end_entity, &allowed.names()).map(|host| PeerIdentity { host: Some(host) })
    }
}

/// The first allowed name the certificate names exactly (its subjectAltName DNS names, case
/// aside). `*.example.nl` in a certificate matches only `*.example.nl` in the list, never
/// `pgo.example.nl`: the whitelist lists host names, and a wildcard certificate is not one.
fn matching_name(end_entity: &CertificateDer<'_>, allowed: &[String]) -> Option<String> {
    let cert = webpki::EndEntityCert::try_from(end_entity).ok()?;
    let presented: Vec<String> = cert.valid_dns_names().map(str::to_ascii_lowercase).collect();
    allowed.iter().find(|name| presented.iter().any(|p| p == *name)).cloned()
}

/// The verified client certificate of a connection, to be checked again on every request.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    end_entity: CertificateDer<'static>,
    /// The earliest expiry of the presented chain.
    not_after: SystemTime,
    allowed: Arc<ClientAllowList>,
}

impl ClientCertificate {
    /// From the chain a handshake verified (end entity first).
    pub fn of(chain: &[CertificateDer<'_>], allowed: Arc<ClientAllowList>) -> Option<ClientCertificate> {
        let end_entity = chain.first()?.clone().into_owned();
        let not_after = chain.iter().filter_map(|c| CertificateFacts::read(c).map(|f| f.not_after)).min()?;
        Some(ClientCertificate { end_entity, not_after, allowed })
    }

    /// Whether the client may still be served now: the certificate has not expired and the
    /// current allow-list still names it. `Err` says why not (for the log and the client).
    pub fn still_allowed(&self, now: SystemTime) -> Result<(), &'static str> {
        if now >= self.not_after {
            return Err("the client certificate has expired");
        }
        if PeerIdentity::of(&self.end_entity, &self.allowed).is_none() {
            return Err("the client is no longer on the allow-list");
        }
        Ok(())
    }
}

/// How client chains are verified: against these roots, with these revocation lists (CRL
/// files, PEM or DER, reloaded when they change).
#[derive(Debug, Clone)]
pub struct Chains {
    pub roots: Arc<RootCertStore>,
    pub provider: Arc<CryptoProvider>,
    /// Clients without a certificate are served too (`client_certificates = "optional"`).
    pub optional: bool,
    pub crl_files: Vec<PathBuf>,
}

impl Chains {
    /// The webpki verifier for the CRL files as they are now. With CRLs, a certificate is
    /// refused when its issuer's list names it, and also when no list of its issuer is given
    /// (an unknown status is not a good one).
    fn verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, String> {
        let mut crls = Vec::new();
        for file in &self.crl_files {
            let bytes = std::fs::read(file).map_err(|e| format!("client CRL {}: {e}", file.display()))?;
            let pem: Vec<CertificateRevocationListDer<'static>> =
                CertificateRevocationListDer::pem_slice_iter(&bytes).filter_map(Result::ok).collect();
            if pem.is_empty() {
                crls.push(CertificateRevocationListDer::from(bytes));
            } else {
                crls.extend(pem);
            }
        }
        let mut builder =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(&self.roots), Arc::clone(&self.provider));
        if !crls.is_empty() {
            builder = builder.with_crls(crls).only_check_end_entity_revocation();
        }
        if self.optional {
            builder = builder.allow_unauthenticated();
        }
        builder.build().map_err(|e| {
            let files: Vec<String> = self.crl_files.iter().map(|f| f.display().to_string()).collect();
            format!("client certificate checks (CA, CRLs {}): {e}", files.join(", "))
        })
    }

    fn crl_states(&self) -> Vec<CrlState> {
        self.crl_files
            .iter()
            .map(|f| std::fs::metadata(f).ok().and_then(|m| Some((m.modified().ok()?, m.len()))))
            .collect()
    }
}

/// A CRL file as last seen (modified, length); `None` when it could not be read.
type CrlState = Option<(SystemTime, u64)>;

/// How often a handshake looks whether the CRL files changed.
const CHECK_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct AllowList {
    chains: Chains,
    inner: ArcSwap<Arc<dyn ClientCertVerifier>>,
    checked: Mutex<(Instant, Vec<CrlState>)>,
    /// The CA subjects, named in the certificate request so a client picks the right certificate.
    hints: Vec<DistinguishedName>,
    allowed: Arc<ClientAllowList>,
}

impl AllowList {
    pub fn new(chains: Chains, allowed: Arc<ClientAllowList>) -> Result<Self, String> {
        let inner = chains.verifier()?;
        let checked = Mutex::new((Instant::now(), chains.crl_states()));
        let hints = chains.roots.subjects();
        Ok(Self { chains, inner: ArcSwap::from_pointee(inner), checked, hints, allowed })
    }

    /// The verifier, after picking up changed CRL files (a broken new one keeps the old).
    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        if !self.chains.crl_files.is_empty() {
            let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
            if checked.0.elapsed() >= CHECK_EVERY {
                let states = self.chains.crl_states();
                let changed = states != checked.1;
                *checked = (Instant::now(), states);
                drop(checked);
                if changed {
                    match self.chains.verifier() {
                        Ok(v) => {
                            tracing::info!(files = self.chains.crl_files.len(), "client CRLs reloaded");
                            self.inner.store(Arc::new(v));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "client CRLs changed but do not load; keeping the ones before")
                        }
                    }
                }
            }
        }
        Arc::clone(&self.inner.load())
    }
}

impl ClientCertVerifier for AllowList {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.chains.optional
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self.current().verify_client_cert(end_entity, intermediates, now)?;
        // webpki lets a certificate without the extension through for any usage.
        if !CertificateFacts::read(end_entity).is_some_and(|f| f.client_auth) {
            tracing::warn!("client certificate without the clientAuth extended key usage; connection refused");
            return Err(Error::InvalidCertificate(rustls::CertificateError::InvalidPurpose));
        }
        if PeerIdentity::of(end_entity, &self.allowed).is_none() {
            tracing::warn!("client certificate verified but not for an allowed client host; connection refused");
            return Err(Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.load().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.load().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.load().supported_verify_schemes()
    }
}
