//! Client certificates: the chain is verified against the configured CA roots (webpki), then
//! the certificate must name one of the allowed client hosts (the MedMij whitelist).

use super::whitelist::ClientAllowList;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use std::sync::Arc;

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

/// The first allowed host name the certificate is valid for.
fn matching_name(end_entity: &CertificateDer<'_>, allowed: &[String]) -> Option<String> {
    let cert = webpki::EndEntityCert::try_from(end_entity).ok()?;
    allowed.iter().find_map(|name| {
        let server_name = ServerName::try_from(name.as_str()).ok()?;
        cert.verify_is_valid_for_subject_name(&server_name).ok().map(|()| name.clone())
    })
}

#[derive(Debug)]
pub struct AllowList {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Arc<ClientAllowList>,
}

impl AllowList {
    pub fn new(inner: Arc<dyn ClientCertVerifier>, allowed: Arc<ClientAllowList>) -> Self {
        Self { inner, allowed }
    }
}

impl ClientCertVerifier for AllowList {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
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
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
