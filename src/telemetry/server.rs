//! The telemetry listener: plain HTTP, one worker, inside the mode's actix System.
//! `GET /healthz`, `GET /readyz` and `GET /metrics`; any other path is 404, any other
//! method 405.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use prometheus_client::registry::Registry;

use super::events;
use super::health::Health;
use super::metrics::{render, Format, MetricSources};

const TEXT: &str = "text/plain; charset=utf-8";

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The address does not parse or resolve, or it is taken (port in use, no permission).
    #[error("cannot listen on telemetry.listen = {listen:?}: {source}")]
    Bind {
        listen: String,
        #[source]
        source: io::Error,
    },
}

/// A running listener. Dropping it leaves the server running until the System stops.
#[derive(Debug)]
pub struct Telemetry {
    addr: SocketAddr,
    handle: ServerHandle,
}

/// What the handlers share; read only, so no lock is ever held.
struct State {
    registry: Registry,
    health: Arc<Health>,
}

impl Telemetry {
    /// Binds `listen` and serves until [`Telemetry::stop`]. An empty `listen` disables the
    /// listener (`Ok(None)`). Call it from inside the actix System (`System::block_on`):
    /// the server runs on it, with one worker thread. It does not handle signals; the
    /// mode does.
    pub fn start(
        listen: &str,
        sources: MetricSources,
    ) -> Result<Option<Telemetry>, TelemetryError> {
        let listen = listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        let state = web::Data::new(State {
            health: sources.health.clone(),
            registry: sources.registry(),
        });
        let bind_error = |source| TelemetryError::Bind {
            listen: listen.to_owned(),
            source,
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .service(get_only("/healthz").route(web::get().to(healthz)))
                .service(get_only("/readyz").route(web::get().to(readyz)))
                .service(get_only("/metrics").route(web::get().to(metrics)))
        })
        .workers(1)
        .backlog(64)
        .max_connections(64)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(listen)
        .map_err(bind_error)?;
        let addr = *server.addrs().first().ok_or_else(|| {
            bind_error(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no address to bind",
            ))
        })?;
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(async move {
            if let Err(error) = server.await {
                events::TelemetryFailed { error: &error }.emit();
            }
        });
        events::TelemetryListening { addr }.emit();
        Ok(Some(Telemetry { addr, handle }))
    }

    /// The address bound (the first one, if `listen` resolved to several).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Stops accepting, lets requests in progress finish (for up to a second) and returns
    /// once the server is down.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// A resource that answers 405 with `Allow: GET` to any method it has no route for.
fn get_only(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET"))
            .finish()
    }))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type(TEXT).body("ok")
}

async fn readyz(state: web::Data<State>) -> HttpResponse {
    let readiness = state.health.readiness();
    let mut response = if readiness.is_ready() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response.content_type(TEXT).body(readiness.to_string())
}

async fn metrics(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    match render(&state.registry, format) {
        Ok(body) => HttpResponse::Ok()
            .content_type(format.content_type())
            .body(body),
        Err(_) => HttpResponse::InternalServerError()
            .content_type(TEXT)
            .body("cannot encode the metrics"),
    }
}
