//! The TLS client of a connection, checked again on every request: a connection outlives the
//! handshake, and a PGO removed from the allow-list (or whose certificate expired) must not
//! go on being served on a connection it opened before. Within the allow-list's reload
//! interval (5 s) of a removal, its requests get 403 and the connection is closed.

use super::ApiError;
use crate::fhir::IssueType;
use crate::tls::ClientCertificate;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::ResponseError;

pub async fn check_client(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refusal =
        req.conn_data::<ClientCertificate>().and_then(|c| c.still_allowed(std::time::SystemTime::now()).err());
    if let Some(why) = refusal {
        tracing::warn!(reason = why, "a client on an open connection is no longer allowed; connection closed");
        let mut response = ApiError::new(StatusCode::FORBIDDEN, IssueType::Forbidden, why).error_response();
        response.head_mut().set_connection_type(ConnectionType::Close);
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}
