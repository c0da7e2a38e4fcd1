//! Access tokens as JWTs signed by the DVA's authorization server: the signature (RS256,
//! PS256 or ES256, only those configured, with a key from the JWKS (file or URL) named by `kid`), then
//! `iss`, `aud`, `exp` and `nbf` with a bounded clock skew, then the patient, scope and client
//! claims. Any failure is the same 401 to the client; the reason goes to metrics and logs.

use super::jwks::{self, Key};
use super::outbound::HttpsClient;
use super::scope::Scopes;
use super::{bearer_token, AuthError, Bsn, Principal};
use crate::config::{Algorithm, JwksSource, JwtSettings};
use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An unknown `kid` re-reads the key set at most this often (key rotation without a restart,
/// without letting forged `kid`s make us read the file on every request).
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(10);

pub struct JwtValidator {
    settings: JwtSettings,
    /// For a JWKS URL.
    client: Option<HttpsClient>,
    keys: ArcSwap<HashMap<String, Key>>,
    last_read: Mutex<Instant>,
}

impl JwtValidator {
    pub fn load(settings: &JwtSettings) -> Result<JwtValidator, String> {
        let client = match &settings.jwks {
            JwksSource::Url { ca_file, .. } => Some(HttpsClient::new(ca_file.as_deref())?),
            JwksSource::File(_) => None,
        };
        let keys = read_keys(&settings.jwks, client.as_ref())?;
        // A new `kid` right after start may re-read the set at once.
        let long_ago = Instant::now().checked_sub(REFRESH_AT_MOST_EVERY).unwrap_or_else(Instant::now);
        Ok(JwtValidator {
            settings: settings.clone(),
            client,
            keys: ArcSwap::from_pointee(keys),
            last_read: Mutex::new(long_ago),
        })
    }

    pub fn authenticate(&self, authorization: Option<&str>, now: SystemTime) -> Result<Principal, AuthError> {
        let token = bearer_token(authorization)?;
        let refuse = |reason: &'static str| AuthError::Invalid(reason);
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refuse("not a JWS"));
        };
        let header: Json = decode_json(header).ok_or(refuse("bad header"))?;
        // RFC 7515 4.1.11: a recipient must refuse critical extensions it does not understand;
        // this one understands none (and `crit` may not name the registered ones).
        if header.get("crit").is_some() {
            return Err(refuse("critical header extension"));
        }
        let alg = header["alg"].as_str().and_then(Algorithm::from_name).ok_or(refuse("algorithm not supported"))?;
        if !self.settings.algorithms.contains(&alg) {
            return Err(refuse("algorithm not allowed"));
        }
        let kid = header["kid"].as_str().ok_or(refuse("no kid"))?;
        let key = self.key(kid).ok_or(refuse("unknown kid"))?;
        if !key.fits(alg) {
            return Err(refuse("key does not fit the algorithm"));
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| refuse("bad signature encoding"))?;
        let signed = &token[..header_len(token)];
        if !key.verify(alg, signed.as_bytes(), &signature) {
            return Err(refuse("bad signature"));
        }
        let claims: Json = decode_json(payload).ok_or(refuse("bad payload"))?;
        self.check_claims(&claims, now)?;
        let bsn = claims[&self.settings.patient_claim]
            .as_str()
            .and_then(Bsn::parse)
            .ok_or(refuse("no valid patient claim"))?;
        let scopes = claims[&self.settings.scope_claim].as_str().map(Scopes::parse).ok_or(refuse("no scope"))?;
        let client = claims[&self.settings.client_claim].as_str().map(str::to_owned);
        Ok(Principal { bsn, scopes: Some(scopes), client })
    }

    fn check_claims(&self, claims: &Json, now: SystemTime) -> Result<(), AuthError> {
        let refuse = |reason: &'static str| AuthError::Invalid(reason);
        if claims["iss"].as_str() != Some(self.settings.issuer.as_str()) {
            return Err(refuse("wrong issuer"));
        }
        let audience_ok = match &claims["aud"] {
            Json::String(a) => *a == self.settings.audience,
            Json::Array(list) => list.iter().any(|a| a.as_str() == Some(self.settings.audience.as_str())),
            _ => false,
        };
        if !audience_ok {
            return Err(refuse("wrong audience"));
        }
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let skew = self.settings.max_clock_skew.as_secs();
        let exp = claims["exp"].as_u64().ok_or(refuse("no exp"))?;
        if now >= exp.saturating_add(skew) {
            return Err(refuse("expired"));
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_u64().ok_or(refuse("bad nbf"))?;
            if now.saturating_add(skew) < nbf {
                return Err(refuse("not yet valid"));
            }
        }
        Ok(())
    }

    /// The key named `kid`; an unknown one re-reads the key set, at most every few seconds.
    fn key(&self, kid: &str) -> Option<Key> {
        if let Some(key) = self.keys.load().get(kid) {
            return Some(key.clone());
        }
        {
            let mut last = self.last_read.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < REFRESH_AT_MOST_EVERY {
                return None;
            }
            *last = Instant::now();
        }
        match read_keys(&self.settings.jwks, self.client.as_ref()) {
            Ok(keys) => self.keys.store(Arc::new(keys)),
            Err(e) => tracing::warn!(error = %e, "cannot read the JWKS again; keeping the keys loaded before"),
        }
        self.keys.load().get(kid).cloned()
    }
}

fn read_keys(source: &JwksSource, client: Option<&HttpsClient>) -> Result<HashMap<String, Key>, String> {
    let (text, origin) = match (source, client) {
        (JwksSource::File(path), _) => (
            std::fs::read_to_string(path).map_err(|e| format!("JWKS file {}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        (JwksSource::Url { url, .. }, Some(client)) => (client.get_json(url)?.to_string(), url.clone()),
        (JwksSource::Url { url, .. }, None) => return Err(format!("JWKS {url}: no HTTPS client")),
    };
    let keys = jwks::parse(&text).map_err(|e| format!("JWKS {origin}: {e}"))?;
    if keys.is_empty() {
        return Err(format!("JWKS {origin}: no RSA or P-256 signing key with a `kid`"));
    }
    Ok(keys)
}

/// The length of `header.payload`, the signed part.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

fn decode_json(part: &str) -> Option<Json> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok().filter(Json::is_object)
}
