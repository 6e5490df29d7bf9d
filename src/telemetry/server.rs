//! The telemetry listener: plain HTTP, one worker, inside the mode's actix System.
//! `GET /healthz`, `GET /readyz`, `GET /startupz` and `GET /metrics`; any other path is
//! 404, any other method 405. It answers kubelet probes, so connections that sit idle must
//! not keep it from answering: see [`CLIENT_REQUEST_TIMEOUT`] and [`connection_limit`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use prometheus_client::registry::Registry;

use super::events;
use super::health::Health;
use super::metrics::{render, Format};

const TEXT: &str = "text/plain; charset=utf-8";

/// Time a client has to send its request head, from the moment it connects; then it gets
/// 408 and the connection is closed. The kubelet and Prometheus send theirs at once, so 2 s
/// is generous for them, and it bounds how long a connection that sends nothing (or half
/// a request line) holds a place: to keep the listener full one must open more than
/// [`MAX_CONNECTIONS`] connections every 2 s.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle time allowed between two requests on one connection. Probes connect afresh each
/// time and scrapers come back every 15 s or more: a longer keep-alive would only hold
/// connections open for nobody.
const KEEP_ALIVE: Duration = Duration::from_secs(2);
/// Time to wait for a client to take the last response before the connection is dropped.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Most connections held at once (actix counts per worker; there is one). An idle HTTP/1
/// connection costs a descriptor and a few KiB; past the limit actix stops accepting, and
/// a probe would wait in the accept queue until idle connections time out. 1024 keeps
/// hundreds of idle connections from blocking a probe; [`connection_limit`] lowers it when
/// the descriptor limit is tight.
const MAX_CONNECTIONS: usize = 1024;
/// Descriptors left for everything but telemetry connections: packet sockets (one per
/// interface), the collector, watched files, the runtime's own. Capture matters more than
/// telemetry: a flood of connections must not take the descriptors packet sockets need.
const RESERVED_DESCRIPTORS: u64 = 256;
/// Fewest connections allowed whatever the descriptor limit.
const MIN_CONNECTIONS: usize = 16;
/// Accept queue of the listening socket (the kernel caps it at `net.core.somaxconn`): a
/// burst of connections waits there, not in SYN retransmits, while the acceptor catches up.
const BACKLOG: u32 = 1024;

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The address does not parse or resolve, or it is taken (port in use, no permission).
    #[error("cannot listen on telemetry.listen = {listen:?}: {error}")]
    Bind { listen: String, error: io::Error },
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
    /// Binds `listen` and serves `/metrics` from `registry` and the probes from `health`
    /// until [`Telemetry::stop`]. An empty `listen` disables the listener (`Ok(None)`).
    /// Call it from inside the actix System (`System::block_on`): the server runs on it,
    /// with one worker thread. It does not handle signals; the mode does.
    pub fn start(
        listen: &str,
        registry: Registry,
        health: Arc<Health>,
    ) -> Result<Option<Telemetry>, TelemetryError> {
        let listen = listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        let state = web::Data::new(State { registry, health });
        let bind_error = |error| TelemetryError::Bind {
            listen: listen.to_owned(),
            error,
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .service(get_only("/healthz").route(web::get().to(healthz)))
                .service(get_only("/readyz").route(web::get().to(readyz)))
                .service(get_only("/startupz").route(web::get().to(startupz)))
                .service(get_only("/metrics").route(web::get().to(metrics)))
        })
        .workers(1)
        .backlog(BACKLOG)
        .max_connections(connection_limit(descriptor_limit()))
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .keep_alive(KEEP_ALIVE)
        .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
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

/// The connections the listener may hold with `descriptors` open files allowed (the
/// soft `RLIMIT_NOFILE`): [`MAX_CONNECTIONS`], less when fewer than that are left after
/// [`RESERVED_DESCRIPTORS`]. Pure.
fn connection_limit(descriptors: u64) -> usize {
    let room = descriptors.saturating_sub(RESERVED_DESCRIPTORS);
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// The process's soft limit on open files (`u64::MAX` when unlimited).
fn descriptor_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
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
    answer(readiness.is_ready(), readiness.to_string())
}

/// 200 once the mode's main work has run, or (live sidecar) once the startup grace has
/// passed; 503 before. The body says which.
async fn startupz(state: web::Data<State>) -> HttpResponse {
    let startup = state.health.startup();
    answer(startup.is_started(), startup.to_string())
}

/// 200 or 503 with a plain-text `body`.
fn answer(ok: bool, body: String) -> HttpResponse {
    let mut response = if ok {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response.content_type(TEXT).body(body)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_the_descriptor_limit() {
        assert_eq!(connection_limit(u64::MAX), MAX_CONNECTIONS);
        assert_eq!(connection_limit(1_048_576), MAX_CONNECTIONS);
        // Debian's and containerd's usual soft limit: room for 768, well above 500.
        assert_eq!(connection_limit(1024), 768);
        assert_eq!(connection_limit(300), 44);
        assert_eq!(connection_limit(260), MIN_CONNECTIONS);
        assert_eq!(connection_limit(0), MIN_CONNECTIONS);
    }
}
