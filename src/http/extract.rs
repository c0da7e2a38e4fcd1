//! The one place a request is authenticated, and content negotiation.

use super::audit::AuditSubject;
use super::handlers::ServiceName;
use super::{ApiError, AppState};
use crate::auth::{AuthError, Principal};
use crate::fhir::IssueType;
use crate::metrics;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
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
        let result = snapshot.auth.authenticate(header);
        // For the audit trail: who, as far as the token says, even when refused for scope.
        req.extensions_mut().insert(AuditSubject {
            bsn: result.as_ref().ok().map(|p| p.bsn.clone()),
            client: result.as_ref().ok().and_then(|p| p.client.clone()),
            refused: result.as_ref().err().map(AuthError::reason),
        });
        let result = result.and_then(|principal| {
            // The data service this route belongs to, as the token's scope must name it.
            let service = req
                .app_data::<web::Data<ServiceName>>()
                .and_then(|name| snapshot.settings.services.iter().find(|s| s.name == name.0));
            match service.and_then(|s| s.provider.as_deref().zip(s.data_service_id.as_deref())) {
                Some((provider, id)) if !principal.may_read(provider, id) => Err(AuthError::OutOfScope),
                _ => Ok(Authenticated(principal)),
            }
        });
        ready(result.map_err(|e| {
            if let Some(subject) = req.extensions_mut().get_mut::<AuditSubject>() {
                subject.refused = Some(e.reason());
            }
            tracing::info!(reason = e.reason(), "request refused by authentication");
            metrics::count("dva_auth_failures_total", vec![("reason", e.reason().to_owned())]);
            ApiError::from(e).in_format(negotiate(req).unwrap_or_default())
        }))
    }
}

/// The response formats this server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Json,
    Xml,
}

impl Format {
    /// A `_format` value or media type; `None` for what we cannot write.
    fn of(name: &str) -> Option<Format> {
        match name.trim().to_ascii_lowercase().as_str() {
            "json"
            | "application/json"
            | "application/fhir+json"
            | "application/json+fhir"
            | "*/*"
            | "application/*"
            | "" => Some(Format::Json),
            "xml" | "application/xml" | "application/fhir+xml" | "application/xml+fhir" | "text/xml" => {
                Some(Format::Xml)
            }
            _ => None,
        }
    }
}

/// `_format` wins over `Accept`; within `Accept` the highest `q` wins. A request for nothing
/// we can write gets 406 (in JSON: we cannot know what the client reads).
pub fn negotiate(req: &HttpRequest) -> Result<Format, ApiError> {
    let format_param = crate::search::pairs(req.query_string())
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "_format")
        .map(|(_, v)| v);
    if let Some(f) = format_param {
        return Format::of(&f).ok_or_else(|| not_acceptable(&f));
    }
    let Some(accept) = req.headers().get(header::ACCEPT).and_then(|h| h.to_str().ok()) else {
        return Ok(Format::Json);
    };
    let mut offers: Vec<(f32, Format)> = accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let format = Format::of(parts.next().unwrap_or_default())?;
            let q = parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            (q > 0.0).then_some((q, format))
        })
        .collect();
    // Stable: among equal q, the first listed wins.
    offers.sort_by(|a, b| b.0.total_cmp(&a.0));
    offers.first().map(|(_, f)| *f).ok_or_else(|| not_acceptable(accept))
}

fn not_acceptable(what: &str) -> ApiError {
    let what: String = what.chars().take(80).filter(|c| !c.is_control()).collect();
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        IssueType::NotSupported,
        format!("cannot produce `{what}`; this server writes application/fhir+json and application/fhir+xml"),
    )
}
