//! The actix-web app: routes per data service, content negotiation, the authentication
//! extractor, and errors as OperationOutcomes.

mod admin;
mod audit;
mod error;
mod extract;
mod handlers;
mod links;
pub mod medmij;

pub use admin::serve_admin;
pub use error::ApiError;

use crate::runtime::Snapshot;
use crate::tls::{ClientAllowList, PeerIdentity};
use actix_web::{dev::Server, middleware, web, App, HttpServer};
use arc_swap::ArcSwap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// Open connections per worker; beyond it, new connections wait to be accepted.
pub const MAX_CONNECTIONS: usize = 2048;

/// Shared by all workers: the live snapshot.
#[derive(Clone)]
pub struct AppState {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
}

/// Starts serving on `listener`. Routes come from the snapshot's services.
pub fn serve(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    let initial = state.snapshot.load_full();
    let workers = initial.settings.workers;
    let services: Vec<(String, String)> =
        initial.services.iter().map(|s| (s.name.clone(), s.base_path.clone())).collect();
    let tls = initial.tls.as_ref().map(|t| Arc::clone(&t.config));
    let allowed_clients = initial.tls.as_ref().map(|t| Arc::clone(&t.clients));
    let server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(web::Data::new(state.clone()))
            .wrap(middleware::from_fn(medmij::check_ids))
            .wrap(middleware::from_fn(handlers::log_request))
            .default_service(web::to(handlers::not_found));
        for (name, base) in &services {
            app = app.service(
                web::scope(base)
                    .wrap(middleware::from_fn(audit::record_access))
                    .app_data(web::Data::new(handlers::ServiceName(name.clone())))
                    .route("/metadata", web::get().to(handlers::metadata))
                    .route("/{type}", web::get().to(handlers::search))
                    .route("/{type}/$lastn", web::get().to(handlers::lastn))
                    .route("/{type}/{id}", web::get().to(handlers::read))
                    .default_service(web::to(handlers::not_found)),
            );
        }
        app
    })
    .on_connect(move |connection, extensions| {
        if let Some(peer) = allowed_clients.as_ref().and_then(|allowed| peer_identity(connection, allowed)) {
            extensions.insert(peer);
        }
    })
    .workers(workers)
    // Connections are bounded: one that has not sent a whole request head within 5 s gets a
    // 408 and is closed (slowloris), an idle keep-alive connection is closed after 5 s, and each
    // worker holds at most MAX_CONNECTIONS (more wait in the listen backlog). The systemd unit's
    // LimitNOFILE leaves room for them all.
    .client_request_timeout(Duration::from_secs(5))
    .keep_alive(Duration::from_secs(5))
    .client_disconnect_timeout(Duration::from_secs(1))
    .max_connections(MAX_CONNECTIONS)
    // On SIGTERM: stop accepting, give in-flight requests this long to finish.
    .shutdown_timeout(30);
    let server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, (*config).clone())?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

/// The verified client certificate's identity on a TLS connection, if it presented one.
fn peer_identity(connection: &dyn std::any::Any, allowed: &ClientAllowList) -> Option<PeerIdentity> {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    let tls = connection.downcast_ref::<Tls>()?;
    let (_, session) = tls.get_ref();
    let end_entity = session.peer_certificates()?.first()?;
    PeerIdentity::of(end_entity, allowed)
}
