//! A static token file: token -> BSN, in the format of the Nictiz qualification tokens
//! (`[{"accessToken": "Bearer …", "bsn": "…"}]`). For qualification, tests and the demo.

use super::{bearer_token, AuthError, Bsn, Principal};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    access_token: String,
    bsn: String,
}

pub struct StaticTokens {
    tokens: HashMap<String, Bsn>,
}

impl StaticTokens {
    /// Reads the file. Errors name the entry, never its token or BSN.
    pub fn load(path: &Path) -> Result<StaticTokens, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
        let entries: Vec<Entry> = serde_json::from_str(&text).map_err(|e| {
            format!("token file {}: line {}: expected a JSON list of {{accessToken, bsn}}", path.display(), e.line())
        })?;
        let mut tokens = HashMap::with_capacity(entries.len());
        for (i, e) in entries.into_iter().enumerate() {
            let token = e.access_token.strip_prefix("Bearer ").unwrap_or(&e.access_token).trim().to_owned();
            let bsn = Bsn::parse(e.bsn.trim())
                .ok_or_else(|| format!("token file {}: entry {}: `bsn` is not a valid BSN", path.display(), i + 1))?;
            if token.is_empty() {
                return Err(format!("token file {}: entry {}: empty accessToken", path.display(), i + 1));
            }
            if tokens.insert(token, bsn).is_some() {
                return Err(format!("token file {}: entry {}: the same token appears twice", path.display(), i + 1));
            }
        }
        Ok(StaticTokens { tokens })
    }

    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let token = bearer_token(authorization)?;
        self.tokens
            .get(token)
            .map(|bsn| Principal { bsn: bsn.clone(), scopes: None, client: None })
            .ok_or(AuthError::Invalid("unknown static token"))
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}
