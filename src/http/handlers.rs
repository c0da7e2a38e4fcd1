//! Request handlers: metadata, search, read, and the fallbacks.

use super::audit::AuditResult;
use super::extract::{
    accepts, negotiate, negotiate_binary, not_acceptable_content, Authenticated, BinaryFormat, Format,
};
use super::links::{base_url, search_link};
use super::medmij::RequestIds;
use super::{ApiError, AppState};
use crate::diagnostics::quoted;
use crate::engine::Problem;
use crate::fhir::{self, FhirVersion, JSON_MIME, XML_MIME};
use crate::metrics;
use crate::runtime::{watched, DataService, Snapshot};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use base64::Engine;
use serde_json::Value as Json;
use std::sync::Arc;
use std::time::Instant;

/// Which data service a scope serves.
pub struct ServiceName(pub String);

fn service(state: &AppState, name: &ServiceName) -> Result<(Arc<Snapshot>, Arc<DataService>), ApiError> {
    let snapshot = state.snapshot.load_full();
    let service = snapshot.services.iter().find(|s| s.name == name.0).cloned().ok_or_else(ApiError::internal)?;
    Ok((snapshot, service))
}

/// A 200 in the negotiated format. XML is written from the JSON with the version's element
/// tables; JSON that the definitions do not know is a mapping error (500, logged).
fn respond(format: Format, version: FhirVersion, body: &Json) -> Result<HttpResponse, ApiError> {
    match format {
        // Straight into bytes: `to_string` goes through the formatter, a write call per token.
        Format::Json => {
            let bytes = serde_json::to_vec(body).map_err(|_| ApiError::internal())?;
            Ok(HttpResponse::Ok().insert_header((header::CONTENT_TYPE, JSON_MIME)).body(bytes))
        }
        Format::Xml => match fhir::to_xml(version, body) {
            Ok(xml) => Ok(HttpResponse::Ok().insert_header((header::CONTENT_TYPE, XML_MIME)).body(xml)),
            Err(e) => {
                tracing::error!(error = %e, "a mapping produced JSON that is not FHIR; check the mapping files");
                Err(ApiError::internal())
            }
        },
    }
}

pub async fn metadata(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Data<ServiceName>,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate(&req)?;
    let (snapshot, service) = service(&state, &name).map_err(|e| e.in_format(format))?;
    let base = base_url(&req, &snapshot, &service.base_path);
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    respond(format, service.fhir_version(), &service.capability_statement(&base, &date))
        .map_err(|e| e.in_format(format))
}

pub async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Data<ServiceName>,
    path: web::Path<String>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate(&req)?;
    search_in(req, state, name, path.into_inner(), principal, format, false).await.map_err(|e| e.in_format(format))
}

/// `GET [base]/Observation/$lastn`: the most recent `max` (default 1) matches per code.
pub async fn lastn(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Data<ServiceName>,
    path: web::Path<String>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate(&req)?;
    let resource_type = path.into_inner();
    if resource_type != "Observation" {
        let e = ApiError::not_supported(format!("$lastn is defined on Observation, not on {}", quoted(&resource_type)));
        return Err(e.in_format(format));
    }
    search_in(req, state, name, resource_type, principal, format, true).await.map_err(|e| e.in_format(format))
}

/// `max` of `$lastn` out of the query string: the rest is an ordinary search.
fn split_max(query: &str) -> Result<(usize, String), ApiError> {
    let mut max = 1;
    let mut rest = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        match part.strip_prefix("max=") {
            Some(v) => {
                max = v
                    .parse::<usize>()
                    .ok()
                    .filter(|m| *m >= 1)
                    .ok_or_else(|| ApiError::bad_request("max must be a whole number of at least 1"))?
            }
            None => rest.push(part),
        }
    }
    Ok((max, rest.join("&")))
}

async fn search_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Data<ServiceName>,
    resource_type: String,
    principal: crate::auth::Principal,
    format: Format,
    lastn: bool,
) -> Result<HttpResponse, ApiError> {
    let (snapshot, service) = service(&state, &name)?;
    supported_type(&service, &resource_type)?;
    let (max, query) = if lastn { split_max(req.query_string())? } else { (0, req.query_string().to_owned()) };
    let request = service.parse_search(&resource_type, &query).map_err(ApiError::bad_search)?;
    let base = base_url(&req, &snapshot, &service.base_path);
    let link_path = if lastn { format!("{resource_type}/$lastn") } else { resource_type.clone() };
    let mut echo = request.echo.clone();
    if lastn && max != 1 {
        echo.push(("max".into(), max.to_string()));
    }
    let self_link = search_link(&base, &link_path, &echo);

    let worker = Arc::clone(&service);
    let rt = resource_type.clone();
    let req_for_page = request.clone();
    let (page, patient_key) = watched(None, move || -> Result<_, crate::runtime::ServiceError> {
        let key = worker.patient_key(principal.bsn.expose())?;
        let page = match &key {
            Some(key) if lastn => Some(worker.lastn(key, &rt, &req_for_page, max)?),
            Some(key) => Some(worker.search(key, &rt, &req_for_page)?),
            None => None,
        };
        Ok((page, key.and_then(|k| k.to_text())))
    })
    .await??;

    let bundle = match page {
        // The patient has no record here: nothing matches.
        None => fhir::searchset(&base, &self_link, None, Some(0), Vec::new()),
        Some(page) => {
            log_problems(&service, &page.problems);
            let next = page.next.map(|cursor| {
                let mut params = request.echo.clone();
                params.push(("_cursor".into(), cursor.to_param()));
                search_link(&base, &resource_type, &params)
            });
            fhir::searchset(&base, &self_link, next.as_deref(), page.total, page.entries)
        }
    };
    req.extensions_mut().insert(AuditResult::of_bundle(patient_key, &bundle));
    respond(format, service.fhir_version(), &bundle)
}

pub async fn read(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Data<ServiceName>,
    path: web::Path<(String, String)>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (resource_type, id) = path.into_inner();
    let wanted =
        if resource_type == "Binary" { negotiate_binary(&req)? } else { BinaryFormat::Resource(negotiate(&req)?) };
    // Errors are OperationOutcomes, also for a read that asked for a PDF.
    let error_format = match wanted {
        BinaryFormat::Resource(format) => format,
        BinaryFormat::Raw(_) => negotiate(&req).unwrap_or_default(),
    };
    read_in(req, state, name, resource_type, id, principal, wanted).await.map_err(|e| e.in_format(error_format))
}

async fn read_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Data<ServiceName>,
    resource_type: String,
    id: String,
    principal: crate::auth::Principal,
    wanted: BinaryFormat,
) -> Result<HttpResponse, ApiError> {
    let (_, service) = service(&state, &name)?;
    supported_type(&service, &resource_type)?;
    // Not an id at all (e.g. `DocumentReference/$`) is bad syntax, not an unknown resource.
    if !fhir::is_id(&id) {
        return Err(ApiError::bad_request(format!(
            "`{}` is not a FHIR id (letters, digits, `-` and `.`, at most 64)",
            quoted(&id)
        )));
    }
    let params = crate::search::pairs(req.query_string()).map_err(ApiError::bad_search)?;
    if let Some((key, _)) = params.into_iter().find(|(k, _)| k != "_format") {
        return Err(ApiError::bad_request(format!(
            "a read takes no parameters besides _format, found `{}`",
            quoted(&key)
        )));
    }
    let worker = Arc::clone(&service);
    let rt = resource_type.clone();
    let (found, patient_key) = watched(None, move || -> Result<_, crate::runtime::ServiceError> {
        let key = worker.patient_key(principal.bsn.expose())?;
        let found = match &key {
            Some(key) => Some(worker.read(key, &rt, &id)?),
            None => None,
        };
        Ok((found, key.and_then(|k| k.to_text())))
    })
    .await??;
    match found {
        Some((Some(resource), problems)) => {
            log_problems(&service, &problems);
            let response = match &wanted {
                BinaryFormat::Resource(format) => respond(*format, service.fhir_version(), &resource.json),
                BinaryFormat::Raw(accept) => raw_content(&resource.json, accept.as_deref()),
            };
            let served = if response.is_ok() {
                AuditResult::of_resource(patient_key, &resource.json)
            } else {
                AuditResult { patient_key, resources: Vec::new() }
            };
            req.extensions_mut().insert(served);
            response
        }
        // Another patient's resource is indistinguishable from one that does not exist.
        _ => {
            req.extensions_mut().insert(AuditResult { patient_key, resources: Vec::new() });
            Err(ApiError::not_found(format!("{resource_type} with this id is not known")))
        }
    }
}

/// A Binary as its content, with its `contentType`. The content comes back out of the
/// resource's base64, so the bytes served are those the mapping (and its problems) produced.
fn raw_content(binary: &Json, accept: Option<&str>) -> Result<HttpResponse, ApiError> {
    let (Some(content_type), Some(content)) = (binary["contentType"].as_str(), binary["content"].as_str()) else {
        tracing::error!("a Binary without contentType or content cannot be served as itself; check its mapping");
        return Err(ApiError::internal());
    };
    if !accepts(accept, content_type) {
        return Err(not_acceptable_content(accept.unwrap_or_default(), content_type));
    }
    let Ok(value) = header::HeaderValue::from_str(content_type) else {
        tracing::error!("a Binary's contentType is not a valid media type; check its mapping");
        return Err(ApiError::internal());
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(content) else {
        tracing::error!("a Binary's content is not base64; check its mapping");
        return Err(ApiError::internal());
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, value))
        // Content from the database is never to be sniffed into something executable.
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes))
}

fn supported_type<'a>(
    service: &'a DataService,
    resource_type: &str,
) -> Result<&'a crate::runtime::TypeSearch, ApiError> {
    service.type_search(resource_type).ok_or_else(|| {
        if fhir::is_resource_type(service.fhir_version(), resource_type) {
            ApiError::not_supported(format!("resource type {resource_type} is not supported by this data service"))
        } else {
            ApiError::not_found(format!("`{}` is not a FHIR resource type", quoted(resource_type)))
        }
    })
}

/// Mapping problems are for the operator; their text may quote patient data, so only counts
/// and mapping names are logged. `dva-connector preview` shows the details.
fn log_problems(service: &DataService, problems: &[Problem]) {
    if problems.is_empty() {
        return;
    }
    let mut mappings: Vec<&str> = problems.iter().map(|p| p.mapping.as_str()).collect();
    mappings.dedup();
    tracing::warn!(service = %service.name, count = problems.len(), mappings = ?mappings, "mapping problems while building resources");
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let format = negotiate(&req).unwrap_or_default();
    not_found_in(&req).map_err(|e| e.in_format(format))
}

fn not_found_in(req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            fhir::IssueType::NotSupported,
            format!("{} is not supported; this server is read-only", req.method()),
        ));
    }
    Err(ApiError::not_found("no FHIR endpoint at this path"))
}

/// One log line per request: no query string, no headers (they carry tokens and search values).
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    // The TLS client, by its allowed host name: an organisation, never a patient.
    let peer = match req.conn_data::<crate::tls::PeerIdentity>() {
        Some(crate::tls::PeerIdentity { host: Some(host) }) => host.clone(),
        Some(_) => "verified client".to_owned(),
        None => "-".to_owned(),
    };
    let response = next.call(req).await?;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let ids = response.request().extensions().get::<RequestIds>().cloned().unwrap_or_default();
    tracing::info!(
        %method,
        %path,
        status,
        elapsed_ms = elapsed.as_millis() as u64,
        request_id = ids.request_id.as_deref().unwrap_or("-"),
        correlation_id = ids.correlation_id.as_deref().unwrap_or("-"),
        %peer,
        "request"
    );
    // Routing has run: the data service and resource type are known now.
    let request = response.request();
    let service = request.app_data::<web::Data<ServiceName>>().map_or_else(|| "none".to_owned(), |s| s.0.clone());
    let resource_type = request.match_info().get("type").map_or("none", |t| {
        if t.chars().all(|c| c.is_ascii_alphanumeric() || c == '$') && t.len() <= 40 {
            t
        } else {
            "invalid"
        }
    });
    metrics::count(
        "dva_requests_total",
        vec![("service", service.clone()), ("resource_type", resource_type.to_owned()), ("status", status.to_string())],
    );
    metrics::observe("dva_request_duration_seconds", vec![("service", service)], elapsed);
    Ok(response)
}
