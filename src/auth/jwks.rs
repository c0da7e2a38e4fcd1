//! Verification keys from a JSON Web Key Set (RFC 7517): RSA keys for RS256/PS256, P-256 EC
//! keys for ES256. Keys of other types, curves or uses are skipped, never guessed at.

use crate::config::Algorithm;
use crate::diagnostics::quoted;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed P-256 point: 0x04 || x || y.
    EcP256 {
        point: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub key: PublicKey,
    /// The key's own `alg`, when the set names one: then only that algorithm may use it.
    pub alg: Option<Algorithm>,
}

impl Key {
    /// Whether a token signed with `alg` may be verified with this key.
    pub fn fits(&self, alg: Algorithm) -> bool {
        let kind_fits = matches!(
            (&self.key, alg),
            (PublicKey::Rsa { .. }, Algorithm::Rs256 | Algorithm::Ps256) | (PublicKey::EcP256 { .. }, Algorithm::Es256)
        );
        kind_fits && self.alg.is_none_or(|a| a == alg)
    }

    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        use ring::signature as sig;
        match (&self.key, alg) {
            (PublicKey::Rsa { n, e }, Algorithm::Rs256) => sig::RsaPublicKeyComponents { n, e }
                .verify(&sig::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            (PublicKey::Rsa { n, e }, Algorithm::Ps256) => {
                sig::RsaPublicKeyComponents { n, e }.verify(&sig::RSA_PSS_2048_8192_SHA256, message, signature).is_ok()
            }
            (PublicKey::EcP256 { point }, Algorithm::Es256) => {
                sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point).verify(message, signature).is_ok()
            }
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// Keys by `kid`. Keys without a `kid` are skipped: tokens must say which key signed them.
pub fn parse(json: &str) -> Result<HashMap<String, Key>, String> {
    let set: RawSet = serde_json::from_str(json).map_err(|e| format!("not a JSON Web Key Set: {e}"))?;
    let mut keys = HashMap::new();
    for raw in set.keys {
        let Some(kid) = raw.kid.clone() else { continue };
        if raw.usage.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let alg = match raw.alg.as_deref() {
            None => None,
            Some(name) => match Algorithm::from_name(name) {
                Some(a) => Some(a),
                None => continue,
            },
        };
        let b64 = |v: &Option<String>| v.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok());
        let key = match (raw.kty.as_str(), raw.crv.as_deref()) {
            ("RSA", _) => match (b64(&raw.n), b64(&raw.e)) {
                (Some(n), Some(e)) => PublicKey::Rsa { n, e },
                _ => return Err(format!("key `{}`: an RSA key needs base64url `n` and `e`", quoted(&kid))),
            },
            ("EC", Some("P-256")) => match (b64(&raw.x), b64(&raw.y)) {
                (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                    PublicKey::EcP256 { point: [&[4u8][..], &x, &y].concat() }
                }
                _ => return Err(format!("key `{}`: a P-256 key needs 32-byte base64url `x` and `y`", quoted(&kid))),
            },
            _ => continue,
        };
        keys.insert(kid, Key { key, alg });
    }
    Ok(keys)
}
