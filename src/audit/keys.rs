//! The audit trail's keys, kept outside the store: a key file (mode 0600 or 0640, never
//! readable by others) of one key per line, `<id> <64 hex digits>`, the last line the key in
//! use. Rotation appends a line (`audit new-key`); older keys stay, so older records still
//! verify. From each key two keys are derived (HKDF-SHA256): one for the chain of MACs over the
//! records and the checkpoints, one for the patient pseudonyms. Someone who can write the store
//! but not read this file can neither forge the chain nor invert a pseudonym.

use ring::rand::{SecureRandom, SystemRandom};
use ring::{aead, hkdf, hmac};
use std::fmt::Write as _;
use std::path::Path;

/// The keys of one line of the key file, derived for their purposes.
pub struct AuditKey {
    pub id: String,
    /// MACs over records, checkpoints and purge anchors.
    pub chain: hmac::Key,
    /// Patient pseudonyms: HMAC of the BSN.
    pub pseudonym: hmac::Key,
    /// Seals what the store must keep but not show: the pseudonym key of a store made before
    /// the key file (see `store::migrate`).
    seal: aead::LessSafeKey,
}

/// Every key of the key file, the last one in use.
pub struct AuditKeys {
    keys: Vec<AuditKey>,
}

impl AuditKeys {
    /// Reads the key file: UTF-8 lines `<id> <hex>`, `#` comments; refused when others may read it.
    pub fn load(path: &Path) -> Result<AuditKeys, String> {
        let shown = path.display();
        refuse_open_permissions(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!("audit key file {shown}: {e}; create it with `dva-connector audit new-key --key-file {shown}`")
        })?;
        let mut keys: Vec<AuditKey> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("audit key file {shown}: line {} is not `<id> <64 hex digits>`", n + 1);
            let (id, hex) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
            let secret = decode_hex(hex.trim()).filter(|s| s.len() == 32).ok_or_else(bad)?;
            if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
                return Err(bad());
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(format!("audit key file {shown}: key `{id}` is listed twice"));
            }
            keys.push(AuditKey::derive(id, &secret)?);
        }
        if keys.is_empty() {
            return Err(format!("audit key file {shown} holds no key"));
        }
        Ok(AuditKeys { keys })
    }

    /// The key new records are written with.
    pub fn current(&self) -> &AuditKey {
        // `load` refuses a file without keys.
        &self.keys[self.keys.len() - 1]
    }

    pub fn get(&self, id: &str) -> Option<&AuditKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn all(&self) -> &[AuditKey] {
        &self.keys
    }

    #[cfg(test)]
    pub fn for_tests(ids: &[&str]) -> AuditKeys {
        let keys = ids.iter().filter_map(|id| AuditKey::derive(id, &[id.len() as u8; 32]).ok()).collect();
        AuditKeys { keys }
    }
}

impl AuditKey {
    fn derive(id: &str, secret: &[u8]) -> Result<AuditKey, String> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"dva-connector audit trail").extract(secret);
        let expand = |purpose: &'static [u8]| -> Result<[u8; 32], String> {
            let mut out = [0u8; 32];
            prk.expand(&[purpose], Len32)
                .and_then(|okm| okm.fill(&mut out))
                .map_err(|_| format!("audit key `{id}`: key derivation failed"))?;
            Ok(out)
        };
        let seal = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &expand(b"seal")?)
            .map_err(|_| format!("audit key `{id}`: key derivation failed"))?;
        Ok(AuditKey {
            id: id.to_owned(),
            chain: hmac::Key::new(hmac::HMAC_SHA256, &expand(b"chain")?),
            pseudonym: hmac::Key::new(hmac::HMAC_SHA256, &expand(b"pseudonym")?),
            seal: aead::LessSafeKey::new(seal),
        })
    }

    /// `secret` encrypted and authenticated under this key: hex of nonce and ciphertext.
    pub fn seal(&self, secret: &[u8]) -> Result<String, String> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| "no random numbers".to_owned())?;
        let mut data = secret.to_vec();
        self.seal
            .seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::empty(), &mut data)
            .map_err(|_| "sealing failed".to_owned())?;
        Ok(hex(&[nonce.as_slice(), &data].concat()))
    }

    /// What [`AuditKey::seal`] sealed; `None` when it was not sealed under this key.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let bytes = decode_hex(sealed)?;
        if bytes.len() < aead::NONCE_LEN {
            return None;
        }
        let (nonce, data) = bytes.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        self.seal.open_in_place(nonce, aead::Aad::empty(), &mut data).ok().map(|plain| plain.to_vec())
    }
}

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// Appends a new random key to the key file (creating it, mode 0600): the next start or reload
/// writes with it. Returns its id.
pub fn new_key(path: &Path) -> Result<String, String> {
    use std::io::Write;
    let mut secret = [0u8; 32];
    SystemRandom::new().fill(&mut secret).map_err(|_| "no random numbers".to_owned())?;
    // When it was made, and a random part: two installs never name different keys alike.
    let mut tail = [0u8; 4];
    SystemRandom::new().fill(&mut tail).map_err(|_| "no random numbers".to_owned())?;
    let id = format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), hex(&tail));
    let exists = path.exists();
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| format!("audit key file {}: {e}", path.display()))?;
    let mut text = String::new();
    if !exists {
        text.push_str(
            "# dva-connector audit keys: `<id> <key>`, the last one in use. Never remove a key while the\n\
             # trail holds records written with it (until `audit purge` has removed them).\n",
        );
    }
    let _ = writeln!(text, "{id} {}", hex(&secret));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("audit key file {}: {e}", path.display()))?;
    Ok(id)
}

#[cfg(unix)]
fn refuse_open_permissions(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    let mode = meta.permissions().mode();
    if mode & 0o027 != 0 {
        return Err(format!(
            "audit key file {} may be read or written by others (mode {:o}); run: chmod 600 {} (or 640 with group dva-connector)",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_open_permissions(_: &Path) -> Result<(), String> {
    Ok(())
}

pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_rotate_and_refuse_loose_permissions() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.key");
        let first = new_key(&path).expect("first key");
        let keys = AuditKeys::load(&path).expect("load");
        assert_eq!(keys.current().id, first);
        let second = new_key(&path).expect("second key");
        assert_ne!(first, second);
        let keys = AuditKeys::load(&path).expect("load");
        assert_eq!((keys.all().len(), keys.current().id.as_str()), (2, second.as_str()));
        assert!(keys.get(&first).is_some(), "the older key stays");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            assert!(AuditKeys::load(&path).err().is_some_and(|e| e.contains("chmod 600")));
        }
    }

    #[test]
    fn sealed_secrets_open_only_under_their_key() {
        let keys = AuditKeys::for_tests(&["a", "bb"]);
        let sealed = keys.all()[0].seal(b"pseudonym key").expect("seal");
        assert_eq!(keys.all()[0].open(&sealed).as_deref(), Some(b"pseudonym key".as_slice()));
        assert_eq!(keys.all()[1].open(&sealed), None);
    }
}
