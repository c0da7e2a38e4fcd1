//! The actix-web app: routes per data service, content negotiation, the authentication
//! extractor, and errors as OperationOutcomes.

mod admin;
mod audit;
mod error;
mod extract;
mod handlers;
mod head_guard;
mod links;
pub mod medmij;
mod peer;
mod server;

pub use admin::serve_admin;
pub use error::ApiError;
pub use head_guard::{MAX_HEADERS, MAX_HEAD_BYTES, MAX_REQUEST_LINE_BYTES};
pub use server::{Connection, MAX_CONNECTIONS};

use crate::runtime::Snapshot;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{middleware, web, App};
use arc_swap::ArcSwap;
use std::net::TcpListener;
use std::sync::Arc;

/// Shared by all workers: the live snapshot.
#[derive(Clone)]
pub struct AppState {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
}

/// Starts serving on `listener`. Routes come from the snapshot's services.
pub fn serve(state: AppState, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    server::serve(state, listener)
}

/// The routes: per data service its FHIR interactions, each wrapped by the audit trail; the
/// whole app by the request log, the head-guard answers and the MedMij request ids.
fn app(
    state: &AppState,
    services: &[(String, String)],
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let mut app = App::new()
        .app_data(web::Data::new(state.clone()))
        .wrap(middleware::from_fn(medmij::check_ids))
        .wrap(middleware::from_fn(peer::check_client))
        .wrap(middleware::from_fn(head_guard::answer_rejected_heads))
        .wrap(middleware::from_fn(handlers::log_request))
        .default_service(web::to(handlers::not_found));
    for (name, base) in services {
        app = app.service(
            web::scope(base)
                .wrap(middleware::from_fn(audit::record_access))
                // Patient data is not for caches, shared or private.
                .wrap(middleware::DefaultHeaders::new().add((actix_web::http::header::CACHE_CONTROL, "no-store")))
                .app_data(web::Data::new(handlers::ServiceName(name.clone())))
                .route("/metadata", web::get().to(handlers::metadata))
                .route("/{type}", web::get().to(handlers::search))
                .route("/{type}/$lastn", web::get().to(handlers::lastn))
                .route("/{type}/{id}", web::get().to(handlers::read))
                .default_service(web::to(handlers::not_found)),
        );
    }
    app
}
