//! The one place a request is authenticated, and content negotiation.

use super::audit::AuditSubject;
use super::handlers::ServiceName;
use super::{ApiError, AppState};
use crate::auth::{AuthError, Principal};
use crate::diagnostics::quoted;
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
        let mut headers = req.headers().get_all(header::AUTHORIZATION);
        let first = headers.next().map(|h| h.to_str().ok());
        let result = match (first, headers.next()) {
            (_, Some(_)) => Err(AuthError::Duplicated),
            (value, None) => snapshot.auth.authenticate(value.flatten()),
        };
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

/// What a read of a Binary returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryFormat {
    /// The Binary resource, as any other resource.
    Resource(Format),
    /// The content itself, with the Binary's `contentType`; the `Accept` header it must satisfy.
    Raw(Option<String>),
}

/// The FHIR rule for Binary on the REST API (STU3 and R4): a read that does not ask for a FHIR
/// format gets the content itself, so a plain browser GET or a PGO's `Accept: application/pdf`
/// receives the PDF. `_format`, or an `Accept` whose most preferred type is FHIR (or plain
/// JSON or XML, which this server treats as FHIR everywhere), gets the Binary resource.
pub fn negotiate_binary(req: &HttpRequest) -> Result<BinaryFormat, ApiError> {
    let has_format_param =
        crate::search::pairs(req.query_string()).unwrap_or_default().iter().any(|(k, _)| k == "_format");
    if has_format_param {
        return negotiate(req).map(BinaryFormat::Resource);
    }
    let Some(accept) = req.headers().get(header::ACCEPT).and_then(|h| h.to_str().ok()) else {
        return Ok(BinaryFormat::Raw(None));
    };
    let mut ranges = media_ranges(accept);
    // Stable: among equal q, the first listed wins.
    ranges.sort_by(|a, b| b.1.total_cmp(&a.1));
    let fhir = ranges.first().and_then(|(range, _)| match range.as_str() {
        // Wildcards ask for nothing in particular: the content.
        "*/*" | "application/*" => None,
        named => Format::of(named),
    });
    Ok(match fhir {
        Some(format) => BinaryFormat::Resource(format),
        None => BinaryFormat::Raw(Some(accept.to_owned())),
    })
}

/// Whether an `Accept` header (none accepts anything) admits `content_type`: a range with
/// `q` above 0 that is `*/*`, `type/*` or the type itself (parameters aside).
pub fn accepts(accept: Option<&str>, content_type: &str) -> bool {
    let Some(accept) = accept else { return true };
    let wanted = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let major = wanted.split('/').next().unwrap_or_default();
    media_ranges(accept)
        .iter()
        .any(|(range, _)| range == "*/*" || *range == wanted || range.strip_suffix("/*").is_some_and(|m| m == major))
}

/// The media ranges of an `Accept` header with their `q` (default 1), lower case; those with
/// `q=0` (refused) are left out.
fn media_ranges(accept: &str) -> Vec<(String, f32)> {
    accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            (!range.is_empty() && q > 0.0).then_some((range, q))
        })
        .collect()
}

/// 406 for a Binary whose content type the `Accept` header does not admit.
pub fn not_acceptable_content(accept: &str, content_type: &str) -> ApiError {
    let (accept, content_type) = (quoted(accept), quoted(content_type));
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        IssueType::NotSupported,
        format!(
            "cannot produce `{accept}`: this Binary is `{content_type}`; ask for it, or for application/fhir+json or application/fhir+xml"
        ),
    )
}

fn not_acceptable(what: &str) -> ApiError {
    let what = quoted(what);
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        IssueType::NotSupported,
        format!("cannot produce `{what}`; this server writes application/fhir+json and application/fhir+xml"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn binary(accept: Option<&str>, query: &str) -> Result<BinaryFormat, ApiError> {
        let mut req = TestRequest::get().uri(&format!("/Binary/1{query}"));
        if let Some(a) = accept {
            req = req.insert_header((header::ACCEPT, a));
        }
        negotiate_binary(&req.to_http_request())
    }

    #[test]
    fn binary_reads_get_the_content_unless_they_ask_for_fhir() {
        let raw = |a: &str| BinaryFormat::Raw(Some(a.to_owned()));
        assert_eq!(binary(None, "").ok(), Some(BinaryFormat::Raw(None)));
        assert_eq!(binary(Some("application/pdf"), "").ok(), Some(raw("application/pdf")));
        assert_eq!(binary(Some("*/*"), "").ok(), Some(raw("*/*")));
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(binary(Some(browser), "").ok(), Some(raw(browser)));
        assert_eq!(binary(Some("application/fhir+json"), "").ok(), Some(BinaryFormat::Resource(Format::Json)));
        assert_eq!(
            binary(Some("application/pdf;q=0.5, application/fhir+xml"), "").ok(),
            Some(BinaryFormat::Resource(Format::Xml))
        );
        assert_eq!(binary(Some("application/pdf"), "?_format=xml").ok(), Some(BinaryFormat::Resource(Format::Xml)));
        assert!(binary(None, "?_format=text/turtle").is_err());
    }

    #[test]
    fn accept_admits_by_type_wildcard_and_q() {
        assert!(accepts(None, "application/pdf"));
        assert!(accepts(Some("application/pdf"), "application/pdf"));
        assert!(accepts(Some("Application/PDF"), "application/pdf; charset=binary"));
        assert!(accepts(Some("application/*"), "application/pdf"));
        assert!(accepts(Some("text/html, */*;q=0.1"), "application/pdf"));
        assert!(!accepts(Some("image/png, application/pdf;q=0"), "application/pdf"));
        assert!(!accepts(Some("text/*"), "application/pdf"));
    }
}
