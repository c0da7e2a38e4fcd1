//! The server certificate and key from PEM files, reloaded without a restart when they change.

use crate::config::TlsSettings;
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often a handshake looks whether the files changed.
const CHECK_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct ReloadingCertificate {
    certificate: PathBuf,
    private_key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// When the files were last looked at, and how they were then.
    checked: Mutex<(Instant, Option<FileState>, Option<FileState>)>,
}

impl ReloadingCertificate {
    pub fn load(settings: &TlsSettings, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let key = certified_key(&settings.certificate, &settings.private_key, &provider)?;
        Ok(Self {
            checked: Mutex::new((Instant::now(), modified(&settings.certificate), modified(&settings.private_key))),
            certificate: settings.certificate.clone(),
            private_key: settings.private_key.clone(),
            provider,
            current: ArcSwap::from_pointee(key),
        })
    }

    /// Reloads when either file changed since the last look; a broken new pair is logged and
    /// the running certificate kept.
    fn refresh(&self) {
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if checked.0.elapsed() < CHECK_EVERY {
            return;
        }
        let now = (Instant::now(), modified(&self.certificate), modified(&self.private_key));
        let changed = (now.1, now.2) != (checked.1, checked.2);
        *checked = now;
        drop(checked);
        if changed {
            match certified_key(&self.certificate, &self.private_key, &self.provider) {
                Ok(key) => {
                    self.current.store(Arc::new(key));
                    tracing::info!(certificate = %self.certificate.display(), "TLS certificate reloaded");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificate files changed but do not load; keeping the running one")
                }
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(self.current.load_full())
    }
}

/// What makes a file worth reading again: its content (modification time, size) and its
/// permissions, so that a key fixed with the `chmod` the log asks for is picked up too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileState {
    modified: SystemTime,
    len: u64,
    mode: u32,
}

fn modified(path: &Path) -> Option<FileState> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
    #[cfg(not(unix))]
    let mode = 0;
    Some(FileState { modified: meta.modified().ok()?, len: meta.len(), mode })
}

fn certified_key(certificate: &Path, private_key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    refuse_readable_by_others(private_key)?;
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate {}: {e}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!("TLS certificate {}: no certificate in the file", certificate.display()));
    }
    let key = PrivateKeyDer::from_pem_file(private_key)
        .map_err(|e| format!("TLS private key {}: {e}", private_key.display()))?;
    let key = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("TLS certificate {} with key {}: {e}", certificate.display(), private_key.display()))?;
    Ok(key)
}

/// A private key others can read is a key others may have copied.
#[cfg(unix)]
fn refuse_readable_by_others(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        std::fs::metadata(path).map_err(|e| format!("TLS private key {}: {e}", path.display()))?.permissions().mode();
    if mode & 0o004 != 0 {
        return Err(format!(
            "TLS private key {} is readable by every user (mode {:o}); run: chmod 640 {} and give it to group dva-connector",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_readable_by_others(_: &Path) -> Result<(), String> {
    Ok(())
}

/// CA certificates (PEM) for verifying client chains.
pub fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("client CA {}: {e}", path.display()))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("client CA {}: no usable CA certificate in the file", path.display()));
    }
    Ok(roots)
}
