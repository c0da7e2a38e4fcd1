//! Who is asking: bearer tokens -> [`Principal`]. Holding a `Principal` means the request is
//! authenticated; the patient's identity comes from the token alone (invariant 1).

mod introspection;
mod jwks;
mod jwt;
pub mod outbound;
mod scope;
mod static_tokens;

pub use introspection::Introspector;
pub use jwt::JwtValidator;
pub use scope::Scopes;
pub use static_tokens::StaticTokens;

use std::fmt;
use std::time::SystemTime;

/// The configured way of validating access tokens.
pub enum Authenticator {
    /// The static token file: qualification, tests and the demo.
    Static(StaticTokens),
    Jwt(JwtValidator),
    /// Opaque tokens, checked with the authorization server (RFC 7662).
    Introspection(Introspector),
}

impl Authenticator {
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        match self {
            Authenticator::Static(tokens) => tokens.authenticate(authorization),
            Authenticator::Jwt(jwt) => jwt.authenticate(authorization, SystemTime::now()),
            Authenticator::Introspection(i) => i.authenticate(authorization, SystemTime::now()),
        }
    }
}

/// A citizen service number. Never printed: Debug and Display redact it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bsn(String);

impl Bsn {
    /// A BSN is nine digits passing the eleven test.
    pub fn parse(text: &str) -> Option<Bsn> {
        let digits: Vec<u32> = text.chars().map(|c| c.to_digit(10)).collect::<Option<_>>()?;
        if digits.len() != 9 {
            return None;
        }
        let sum: i64 =
            digits.iter().enumerate().map(|(i, d)| i64::from(*d) * if i == 8 { -1 } else { 9 - i as i64 }).sum();
        (sum % 11 == 0 && sum != 0).then(|| Bsn(text.to_owned()))
    }

    /// The digits, for binding into the patient lookup. Do not log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bsn(<redacted>)")
    }
}

/// The authenticated caller: the patient the token is for, what it grants, and the PGO.
#[derive(Debug, Clone)]
pub struct Principal {
    pub bsn: Bsn,
    /// The data services granted; `None` for a static token, which is not scoped.
    pub scopes: Option<Scopes>,
    /// The PGO (OAuth client id), when the token names it.
    pub client: Option<String>,
}

impl Principal {
    /// Whether the token may read the data service `data_service_id` of `provider`.
    pub fn may_read(&self, provider: &str, data_service_id: &str) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.allow(provider, data_service_id))
    }
}

/// Why a request is not authenticated. The texts go to the client; they never echo the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the Authorization header is not a bearer token")]
    Malformed,
    /// More than one `Authorization` header: which one counts is not ours to guess.
    #[error("the request has more than one Authorization header")]
    Duplicated,
    /// The reason is for metrics and logs only; the client learns just that it is invalid.
    #[error("the bearer token is not valid")]
    Invalid(&'static str),
    #[error("the access token does not grant this data service")]
    OutOfScope,
    /// The authorization server could not be asked: not the client's fault.
    #[error("the access token cannot be checked right now; try again later")]
    Unavailable,
}

impl AuthError {
    /// A short label for metrics and logs (never the token).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::Duplicated => "more than one Authorization header",
            AuthError::Invalid(reason) => reason,
            AuthError::OutOfScope => "out of scope",
            AuthError::Unavailable => "authorization server unavailable",
        }
    }
}

/// The token out of an `Authorization` header value.
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let header = header.ok_or(AuthError::Missing)?;
    let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsn_eleven_test() {
        assert!(Bsn::parse("999911132").is_some());
        assert!(Bsn::parse("999911133").is_none());
        assert!(Bsn::parse("99991113").is_none());
        assert!(Bsn::parse("000000000").is_none());
        assert_eq!(format!("{:?}", Bsn::parse("999911132")), "Some(Bsn(<redacted>))");
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer_token(None), Err(AuthError::Missing));
        assert_eq!(bearer_token(Some("Basic abc")), Err(AuthError::Malformed));
        assert_eq!(bearer_token(Some("Bearer")), Err(AuthError::Malformed));
    }
}
