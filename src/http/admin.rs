//! The admin listener (localhost by default): liveness, readiness and Prometheus metrics.
//! Separate from the FHIR listener so that it is never exposed to PGOs.

use super::AppState;
use crate::metrics;
use crate::runtime::watched;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

pub fn serve_admin(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .shutdown_timeout(5)
    .listen(listener)?
    .run())
}

/// Alive: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "alive"}))
}

/// Ready: every source answers. Each source is checked once, however many services read it,
/// all at once, each within its `connect_timeout_secs` and a second: a database that does not
/// answer makes `/readyz` say so in that time, not hang it. The body names the sources and
/// services that are not ready.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.snapshot.load_full();
    let mut checks = Vec::new();
    for s in &snapshot.services {
        if checks.iter().any(|(name, _)| *name == s.source_name) {
            continue;
        }
        let within = snapshot.settings.source(&s.source_name).map_or(Duration::from_secs(3), |c| c.connect_timeout)
            + dva_source_api::watch::SLACK;
        let source = std::sync::Arc::clone(&s.source);
        let check = actix_web::rt::spawn(watched(Some(within), move || source.health().is_ok()));
        checks.push((s.source_name.clone(), check));
    }
    let mut sources: BTreeMap<String, bool> = BTreeMap::new();
    for (name, check) in checks {
        sources.insert(name, matches!(check.await, Ok(Ok(true))));
    }
    let services: BTreeMap<String, bool> =
        snapshot.services.iter().map(|s| (s.name.clone(), sources.get(&s.source_name) == Some(&true))).collect();
    let ready = !services.is_empty() && services.values().all(|up| *up);
    let describe = |map: BTreeMap<String, bool>| -> serde_json::Map<String, serde_json::Value> {
        map.into_iter().map(|(name, up)| (name, json!(if up { "ready" } else { "database unavailable" }))).collect()
    };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "sources": describe(sources),
        "services": describe(services),
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.snapshot.load();
    let mut gauges = Vec::new();
    for service in &snapshot.services {
        if let Some(pool) = service.source.pool_status() {
            for (state, value) in [("max", pool.max), ("open", pool.open), ("idle", pool.idle)] {
                gauges.push((
                    "dva_source_pool_connections",
                    vec![("service", service.name.clone()), ("state", state.to_owned())],
                    f64::from(value),
                ));
            }
        }
    }
    HttpResponse::Ok().insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4")).body(metrics::render(&gauges))
}
