//! Every data request leaves one audit record before its response does (NEN 7513). Handlers
//! and the authentication extractor put what they know into the request's extensions; this
//! middleware writes the record, and answers 503 instead of the data when it cannot (fail
//! closed).

use super::medmij::RequestIds;
use super::{ApiError, AppState};
use crate::audit::AuditEvent;
use crate::auth::Bsn;
use crate::tls::PeerIdentity;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use serde_json::Value as Json;

/// Who asked, as the extractor found it.
#[derive(Clone)]
pub struct AuditSubject {
    pub bsn: Option<Bsn>,
    pub client: Option<String>,
    /// Why the request was refused, when it was.
    pub refused: Option<&'static str>,
}

/// What a handler served.
#[derive(Clone, Default)]
pub struct AuditResult {
    pub patient_key: Option<String>,
    /// `Type/id` of every resource in the response.
    pub resources: Vec<String>,
}

impl AuditResult {
    /// The resources of a search Bundle (matches and includes).
    pub fn of_bundle(patient_key: Option<String>, bundle: &Json) -> AuditResult {
        let resources = bundle["entry"]
            .as_array()
            .map(|entries| entries.iter().filter_map(|e| type_and_id(&e["resource"])).collect())
            .unwrap_or_default();
        AuditResult { patient_key, resources }
    }

    pub fn of_resource(patient_key: Option<String>, resource: &Json) -> AuditResult {
        AuditResult { patient_key, resources: type_and_id(resource).into_iter().collect() }
    }
}

fn type_and_id(resource: &Json) -> Option<String> {
    Some(format!("{}/{}", resource["resourceType"].as_str()?, resource["id"].as_str()?))
}

pub async fn record_access(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let response = next.call(req).await?.map_into_boxed_body();
    let request = response.request().clone();
    // The capability statement is public and holds no patient data.
    if request.path().ends_with("/metadata") {
        return Ok(response);
    }
    let Some(state) = request.app_data::<web::Data<AppState>>() else { return Ok(response) };
    let snapshot = state.snapshot.load_full();
    let status = response.status().as_u16();
    let (subject, result, ids, peer) = {
        let ext = request.extensions();
        (
            ext.get::<AuditSubject>().cloned(),
            ext.get::<AuditResult>().cloned().unwrap_or_default(),
            ext.get::<RequestIds>().cloned().unwrap_or_default(),
            request.conn_data::<PeerIdentity>().cloned(),
        )
    };
    let info = request.match_info();
    // The type as the request names it, which need not be a real one.
    let resource_type = crate::diagnostics::quoted(info.get("type").unwrap_or("-"));
    let interaction = match (info.get("id"), request.path().ends_with("/$lastn")) {
        (_, true) => format!("lastn {resource_type}"),
        (Some(_), _) => format!("read {resource_type}"),
        (None, _) => format!("search {resource_type}"),
    };
    let service =
        request.app_data::<web::Data<super::handlers::ServiceName>>().map(|s| s.0.clone()).unwrap_or_default();
    let refused = subject.as_ref().and_then(|s| s.refused);
    let event = AuditEvent {
        at,
        action: "R".into(),
        service,
        interaction,
        resources: result.resources.join(" "),
        patient_key: result.patient_key.unwrap_or_default(),
        client: subject.as_ref().and_then(|s| s.client.clone()).unwrap_or_default(),
        peer: peer.and_then(|p| p.host).unwrap_or_default(),
        outcome: match status {
            200..=299 => "granted",
            401 | 403 => "denied",
            _ => "failed",
        }
        .into(),
        status,
        reason: refused.unwrap_or_default().to_owned(),
        request_id: ids.request_id.unwrap_or_default(),
        correlation_id: ids.correlation_id.unwrap_or_default(),
    };
    let bsn = subject.and_then(|s| s.bsn);
    let audit = std::sync::Arc::clone(&snapshot.audit);
    let written = web::block(move || audit.append(bsn.as_ref(), &event)).await;
    match written {
        Ok(Ok(())) => Ok(response),
        Ok(Err(e)) => Ok(fail_closed(request, &e.to_string())),
        Err(e) => Ok(fail_closed(request, &e.to_string())),
    }
}

/// The record could not be written: the client gets a 503, never the data.
fn fail_closed(request: actix_web::HttpRequest, cause: &str) -> ServiceResponse<BoxBody> {
    tracing::error!(error = %cause, "audit trail not writable: refusing the response (fail closed)");
    let format = super::extract::negotiate(&request).unwrap_or_default();
    let error = ApiError::unavailable("the access could not be recorded; try again later").in_format(format);
    ServiceResponse::new(request, error.error_response())
}
