//! The MedMij request headers (shared/medmij.md §1.2, core.rscint.201): `MedMij-Request-ID` and
//! `X-Correlation-ID` are UUIDs; the server checks them, echoes them in the response and
//! carries them into its log line. They identify requests, not patients.

use super::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};

pub const REQUEST_ID: &str = "medmij-request-id";
pub const CORRELATION_ID: &str = "x-correlation-id";

/// The ids of one request, as sent (each optional), for logs and later the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestIds {
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() })
}

/// Rejects malformed ids with 400, stores valid ones in the request, echoes them back.
pub async fn check_ids(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let mut ids = RequestIds::default();
    for (name, slot) in [(REQUEST_ID, &mut ids.request_id), (CORRELATION_ID, &mut ids.correlation_id)] {
        let Some(value) = req.headers().get(name) else { continue };
        match value.to_str().ok().filter(|v| is_uuid(v.trim())) {
            Some(v) => *slot = Some(v.trim().to_ascii_lowercase()),
            None => {
                let error = ApiError::bad_request(format!("the {name} header must be a UUID"));
                return Ok(req.into_response(error.error_response()).map_into_right_body());
            }
        }
    }
    req.extensions_mut().insert(ids.clone());
    let mut response = next.call(req).await?;
    for (name, value) in [(REQUEST_ID, &ids.request_id), (CORRELATION_ID, &ids.correlation_id)] {
        if let Some(v) = value.as_ref().and_then(|v| HeaderValue::from_str(v).ok()) {
            response.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::is_uuid;

    #[test]
    fn uuids() {
        assert!(is_uuid("57510be1-73e6-4a75-9db8-ee005cced48f"));
        assert!(is_uuid("57510BE1-73E6-4A75-9DB8-EE005CCED48F"));
        assert!(!is_uuid("57510be1-73e6-4a75-9db8-ee005cced48"));
        assert!(!is_uuid("57510be1x73e6-4a75-9db8-ee005cced48f"));
        assert!(!is_uuid("g7510be1-73e6-4a75-9db8-ee005cced48f"));
    }
}
