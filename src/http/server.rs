//! The FHIR listener, built from its parts: TCP, then TLS when configured, then the
//! [`HeadGuard`] on the plain-text stream, then HTTP/1.1 and the app. Assembling it here
//! (rather than with actix-web's `HttpServer`) is what lets request heads be checked before
//! the HTTP parser sees them.

use super::head_guard::HeadGuard;
use super::AppState;
use crate::tls::{ClientAllowList, ClientCertificate, PeerIdentity};
use actix_http::HttpService;
use actix_server::Server;
use actix_service::{boxed, fn_service, map_config, ServiceFactory, ServiceFactoryExt};
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Extensions, ServiceRequest, ServiceResponse};
use actix_web::rt::net::TcpStream;
use actix_web::App;
use std::future::ready;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// Open connections per worker; beyond it, new connections wait to be accepted.
pub const MAX_CONNECTIONS: usize = 2048;

/// What the app knows about the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// Whether it is TLS: links in responses use `https`.
    pub tls: bool,
    /// The local address it was accepted on, for links when a request names no host.
    pub local: Option<std::net::SocketAddr>,
}

/// Starts serving on `listener`, with the routes of the snapshot's data services.
pub fn serve(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    let initial = state.snapshot.load_full();
    let workers = initial.settings.workers;
    let services: Vec<(String, String)> =
        initial.services.iter().map(|s| (s.name.clone(), s.base_path.clone())).collect();
    let tls = initial.tls.as_ref().map(|t| (Arc::clone(&t.config), Arc::clone(&t.clients)));
    let local = listener.local_addr().ok();
    let builder = Server::build()
        .workers(workers)
        .max_concurrent_connections(MAX_CONNECTIONS)
        // On SIGTERM: stop accepting, give in-flight requests this long to finish.
        .shutdown_timeout(30);
    let builder = builder.listen("fhir", listener, move || {
        let allowed = tls.as_ref().map(|(_, clients)| Arc::clone(clients));
        let http = http_service(super::app(&state, &services), allowed, local)
            .map_err(|e| tracing::debug!(error = ?e, "connection ended with an HTTP error"));
        match tls.as_ref() {
            None => boxed::factory(
                fn_service(|tcp: TcpStream| {
                    let _ = tcp.set_nodelay(true);
                    let peer = tcp.peer_addr().ok();
                    ready(Ok::<_, ()>((Stream::Plain(HeadGuard::new(tcp)), peer)))
                })
                .and_then(http),
            ),
            // A failed handshake ends the connection; rustls has said why at debug level.
            Some((config, _)) => boxed::factory(
                Acceptor::new((**config).clone())
                    .map_err(|_| ())
                    .and_then(fn_service(|tls: TlsStream<TcpStream>| {
                        let _ = tls.get_ref().0.set_nodelay(true);
                        let peer = tls.get_ref().0.peer_addr().ok();
                        ready(Ok::<_, ()>((Stream::Tls(Box::new(HeadGuard::new(tls))), peer)))
                    }))
                    .and_then(http),
            ),
        }
    })?;
    Ok(builder.run())
}

/// HTTP/1.1 over a guarded stream, with the connection's identity in its data. Connections
/// are bounded: one that has not sent a whole request head within 5 s gets a 408 and is
/// closed (slowloris), an idle keep-alive connection is closed after 5 s, and each worker
/// holds at most [`MAX_CONNECTIONS`] (more wait in the listen backlog). The systemd unit's
/// LimitNOFILE leaves room for them all.
fn http_service<T, B>(
    app: App<T>,
    allowed_clients: Option<Arc<ClientAllowList>>,
    local: Option<std::net::SocketAddr>,
) -> impl ServiceFactory<
    (Stream, Option<std::net::SocketAddr>),
    Config = (),
    Response = (),
    Error = actix_http::error::DispatchError,
    InitError = (),
>
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let app = map_config(app, |_| AppConfig::default()).map_err(|e: actix_web::Error| e.error_response());
    HttpService::<Stream, _, _, _, _>::build()
        .client_request_timeout(Duration::from_secs(5))
        .keep_alive(Duration::from_secs(5))
        .client_disconnect_timeout(Duration::from_secs(1))
        .on_connect_ext(move |stream: &Stream, data: &mut Extensions| {
            data.insert(stream.verdicts());
            data.insert(Connection { tls: stream.is_tls(), local });
            if let Some(allowed) = &allowed_clients {
                if let Some(peer) = stream.peer_identity(allowed) {
                    data.insert(peer);
                }
                if let Some(certificate) = stream.client_certificate(allowed) {
                    data.insert(certificate);
                }
            }
        })
        .h1(app)
}

/// A connection's stream: plain TCP or TLS, either behind a head guard.
pub enum Stream {
    Plain(HeadGuard<TcpStream>),
    Tls(Box<HeadGuard<TlsStream<TcpStream>>>),
}

impl Stream {
    fn verdicts(&self) -> std::rc::Rc<super::head_guard::HeadVerdicts> {
        match self {
            Stream::Plain(s) => s.verdicts(),
            Stream::Tls(s) => s.verdicts(),
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// The verified client certificate of a TLS connection, to be checked on every request.
    fn client_certificate(&self, allowed: &Arc<ClientAllowList>) -> Option<ClientCertificate> {
        let Stream::Tls(tls) = self else { return None };
        let (_, session) = tls.get_ref().get_ref();
        ClientCertificate::of(session.peer_certificates()?, Arc::clone(allowed))
    }

    /// The verified client certificate's identity on a TLS connection, if it presented one.
    fn peer_identity(&self, allowed: &ClientAllowList) -> Option<PeerIdentity> {
        let Stream::Tls(tls) = self else { return None };
        let (_, session) = tls.get_ref().get_ref();
        let end_entity = session.peer_certificates()?.first()?;
        PeerIdentity::of(end_entity, allowed)
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => {
                let $s = std::pin::Pin::new($s);
                $e
            }
            Stream::Tls($s) => {
                let $s = std::pin::Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}
