//! One error type for every handler; it becomes an OperationOutcome with the right status.

use super::extract::Format;
use crate::auth::AuthError;
use crate::fhir::{to_xml, FhirVersion, IssueType, OperationOutcome, JSON_MIME, XML_MIME};
use crate::runtime::ServiceError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use dva_source_api::SourceError;
use std::fmt;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub outcome: OperationOutcome,
    /// The format the client asked for: the OperationOutcome is written in it.
    pub format: Format,
}

impl ApiError {
    pub fn new(status: StatusCode, issue: IssueType, text: impl Into<String>) -> Self {
        Self { status, outcome: OperationOutcome::new(issue, text), format: Format::Json }
    }

    pub fn in_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    pub fn bad_request(text: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, IssueType::Invalid, text)
    }

    /// A search the server refuses: bad syntax, or beyond one of its limits.
    pub fn bad_search(e: crate::search::SearchError) -> Self {
        let issue = if e.limit { IssueType::TooLong } else { IssueType::Invalid };
        Self::new(StatusCode::BAD_REQUEST, issue, e.message)
    }

    pub fn not_found(text: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, IssueType::NotFound, text)
    }

    pub fn not_supported(text: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, IssueType::NotSupported, text)
    }

    pub fn unavailable(text: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, IssueType::Transient, text)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            IssueType::Exception,
            "internal error; the operator's log has the details",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.outcome.diagnostics)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"dva-connector\""));
        }
        let json = self.outcome.to_json();
        // OperationOutcome is the same in STU3 and R4.
        match (self.format, to_xml(FhirVersion::Stu3, &json)) {
            (Format::Xml, Ok(xml)) => response.insert_header((header::CONTENT_TYPE, XML_MIME)).body(xml),
            _ => response.insert_header((header::CONTENT_TYPE, JSON_MIME)).body(json.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::OutOfScope => Self::new(StatusCode::FORBIDDEN, IssueType::Forbidden, e.to_string()),
            AuthError::Duplicated => Self::bad_request(e.to_string()),
            AuthError::Unavailable => Self::new(StatusCode::SERVICE_UNAVAILABLE, IssueType::Transient, e.to_string()),
            _ => Self::new(StatusCode::UNAUTHORIZED, IssueType::Login, e.to_string()),
        }
    }
}

impl From<crate::runtime::Unanswered> for ApiError {
    fn from(e: crate::runtime::Unanswered) -> Self {
        match e {
            // The breaker has logged the outage; one line per request would flood the log.
            crate::runtime::Unanswered::TimedOut { waited } => {
                tracing::debug!(waited_ms = waited.as_millis() as u64, "gave up waiting for the database");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    IssueType::Timeout,
                    "the care provider's database did not answer in time; try again later",
                )
            }
            crate::runtime::Unanswered::Failed => Self::internal(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Source(SourceError::Unavailable(cause)) => {
                // The circuit breaker logs the outage and how many requests it refused.
                tracing::debug!(error = %cause, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    IssueType::Transient,
                    "the care provider's database is not available; try again later",
                )
            }
            ServiceError::Source(SourceError::Timeout(t)) => {
                tracing::warn!(timeout = ?t, "statement timed out");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    IssueType::Transient,
                    "the care provider's database did not answer in time; try again later",
                )
            }
            ServiceError::Source(SourceError::Busy(wait)) => {
                tracing::warn!(wait = ?wait, "every database connection stayed busy; raise pool_size if the database can take it");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    IssueType::Transient,
                    "the care provider's database is busy; try again later",
                )
            }
            ServiceError::Source(SourceError::RowCap(n)) => {
                tracing::warn!(max_rows = n, "row cap reached");
                Self::new(
                    StatusCode::BAD_REQUEST,
                    IssueType::TooCostly,
                    format!("the request would read more than {n} rows; narrow the search or use a smaller _count"),
                )
            }
            ServiceError::Source(e @ (SourceError::Statement(_) | SourceError::Decode { .. })) => {
                tracing::error!(error = %e, "a mapping's statement failed; check the mapping files");
                Self::internal()
            }
            ServiceError::AmbiguousPatient => {
                tracing::error!("the patient lookup returned more than one record for one BSN; no data served");
                Self::new(
                    StatusCode::CONFLICT,
                    IssueType::Conflict,
                    "the patient's record cannot be identified uniquely at this provider",
                )
            }
        }
    }
}
