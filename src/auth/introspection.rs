//! Opaque access tokens, checked with the authorization server's RFC 7662 introspection
//! endpoint (client credentials over HTTPS). Answers are cached until the token's `exp`, at
//! most `cache_max` and for a bounded number of tokens; tokens are cached by their SHA-256,
//! never kept as such.

use super::outbound::HttpsClient;
use super::scope::Scopes;
use super::{bearer_token, AuthError, Bsn, Principal};
use crate::config::IntrospectionSettings;
use ring::digest::{digest, SHA256};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The most tokens remembered at once; beyond it expired answers go, then all.
const MAX_CACHED: usize = 10_000;
/// How long a refusal is remembered: a replayed bad token does not reach the server each time.
const REFUSAL_TTL: Duration = Duration::from_secs(10);

type Answer = Result<Principal, &'static str>;

pub struct Introspector {
    settings: IntrospectionSettings,
    client: HttpsClient,
    cache: Mutex<HashMap<Vec<u8>, (Instant, Answer)>>,
}

impl Introspector {
    pub fn new(settings: &IntrospectionSettings) -> Result<Introspector, String> {
        let client = HttpsClient::new(settings.ca_file.as_deref())?;
        Ok(Introspector { settings: settings.clone(), client, cache: Mutex::new(HashMap::new()) })
    }

    pub fn authenticate(&self, authorization: Option<&str>, now: SystemTime) -> Result<Principal, AuthError> {
        let token = bearer_token(authorization)?;
        let key = digest(&SHA256, token.as_bytes()).as_ref().to_vec();
        if let Some((until, answer)) = self.lock().get(&key) {
            if Instant::now() < *until {
                return answer.clone().map_err(AuthError::Invalid);
            }
        }
        let form = [("token", token), ("token_type_hint", "access_token")];
        let s = &self.settings;
        let reply = self.client.post_form(&s.url, (&s.client_id, &s.client_secret.0), &form).map_err(|e| {
            tracing::warn!(error = %e, "the introspection endpoint did not answer");
            AuthError::Unavailable
        })?;
        let (answer, ttl) = self.judge(&reply, now);
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            let at = Instant::now();
            cache.retain(|_, (until, _)| *until > at);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now() + ttl, answer.clone()));
        answer.map_err(AuthError::Invalid)
    }

    /// The introspection answer as a principal, and how long it may be remembered.
    fn judge(&self, reply: &Json, now: SystemTime) -> (Answer, Duration) {
        let s = &self.settings;
        if reply["active"].as_bool() != Some(true) {
            return (Err("inactive"), REFUSAL_TTL);
        }
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let left = match reply["exp"].as_u64() {
            Some(exp) if exp <= now => return (Err("expired"), REFUSAL_TTL),
            Some(exp) => Duration::from_secs(exp - now),
            None => s.cache_max,
        };
        let principal = (|| {
            let bsn = reply[&s.patient_claim].as_str().and_then(Bsn::parse).ok_or("no valid patient claim")?;
            let scopes = reply[&s.scope_claim].as_str().map(Scopes::parse).ok_or("no scope")?;
            let client = reply[&s.client_claim].as_str().map(str::to_owned);
            Ok(Principal { bsn, scopes: Some(scopes), client })
        })();
        let ttl = if principal.is_ok() { left.min(s.cache_max) } else { REFUSAL_TTL };
        (principal, ttl)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, (Instant, Answer)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}
