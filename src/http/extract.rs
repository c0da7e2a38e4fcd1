//! The one place a request is authenticated, and content negotiation.

use super::{ApiError, AppState};
use crate::auth::{AuthError, Principal};
use crate::fhir::IssueType;
use crate::metrics;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use std::future::{ready, Ready};

/// Extracting this authenticates the request; handlers that take it never see a request
/// without a valid token.
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::internal()));
        };
        let snapshot = state.snapshot.load();
        let header = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
        ready(snapshot.tokens.authenticate(header).map(Authenticated).map_err(|e| {
            let reason = match e {
                AuthError::Missing => "missing",
                AuthError::Malformed => "malformed",
                AuthError::Invalid => "invalid",
            };
            metrics::count("dva_auth_failures_total", vec![("reason", reason.to_owned())]);
            ApiError::from(e)
        }))
    }
}

/// The response formats this server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
}

/// `_format` wins over `Accept`; a request for anything we cannot write gets 406.
pub fn negotiate(req: &HttpRequest) -> Result<Format, ApiError> {
    let format_param = crate::search::pairs(req.query_string())
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "_format")
        .map(|(_, v)| v);
    if let Some(f) = format_param {
        return match f.as_str() {
            "json" | "application/json" | "application/fhir+json" | "application/json+fhir" => Ok(Format::Json),
            _ => Err(not_acceptable(&f)),
        };
    }
    let Some(accept) = req.headers().get(header::ACCEPT).and_then(|h| h.to_str().ok()) else {
        return Ok(Format::Json);
    };
    for item in accept.split(',') {
        let mime = item.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if matches!(
            mime.as_str(),
            "application/fhir+json" | "application/json" | "application/json+fhir" | "*/*" | "application/*" | ""
        ) {
            return Ok(Format::Json);
        }
    }
    Err(not_acceptable(accept))
}

fn not_acceptable(what: &str) -> ApiError {
    let what: String = what.chars().take(80).filter(|c| !c.is_control()).collect();
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        IssueType::NotSupported,
        format!("cannot produce `{what}`; this server writes application/fhir+json"),
    )
}
