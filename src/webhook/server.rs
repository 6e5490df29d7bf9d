//! The webhook's HTTPS listener: actix-web over rustls on `webhook.listen`.
//!
//! `POST /mutate` hands the body to the admission logic and returns its AdmissionReview.
//! Bodies over 1 MiB get 413, a body the logic cannot use gets 400 with its message,
//! unknown paths 404, other methods 405. Nothing answers 500: should the logic panic, the
//! pod is admitted unchanged with a warning. `GET /healthz` (alive) and `GET /readyz`
//! (serving with a loaded certificate, 503 once stopping) answer on the same listener, so
//! that the kubelet's probes go through TLS as the API server's calls do. The certificate
//! follows its files (see the `tls` module); the counters are in [`WebhookMetrics`].

use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

mod metrics;
use metrics::Outcome;
pub use metrics::WebhookMetrics;

use super::tls::{self, CertFiles, CertWatch, Check, TlsError};
use super::{BadRequest, Injector, Reviewed};
use crate::quote::quote;

/// Largest AdmissionReview accepted. The API server caps objects near 1.5 MiB, but a pod
/// spec that large is not one podflow needs to see.
const MAX_BODY_BYTES: usize = 1 << 20;
/// Time to receive the request head, and then the body. The API server gives up after
/// 10 s by default; every answer must come well before.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The API server keeps idle connections for reuse; closing them sooner only adds handshakes.
const KEEP_ALIVE: Duration = Duration::from_secs(60);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long requests in progress may take to finish after a stop.
const SHUTDOWN_GRACE_SECS: u64 = 5;
/// How often the certificate files are looked at (two `stat` calls).
const CERT_CHECK_INTERVAL: Duration = Duration::from_secs(2);

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// The admission logic as the server sees it: AdmissionReview bytes in, the answer or the
/// reason the request is unusable (sent back as a 400) out. [`Injector`] is the real one.
pub trait Admission: Send + Sync + 'static {
    /// Reviews one request body.
    fn admit(&self, body: &[u8]) -> Result<Reviewed, BadRequest>;
}

impl Admission for Injector {
    fn admit(&self, body: &[u8]) -> Result<Reviewed, BadRequest> {
        self.review(body)
    }
}

impl<F> Admission for F
where
    F: Fn(&[u8]) -> Result<Reviewed, BadRequest> + Send + Sync + 'static,
{
    fn admit(&self, body: &[u8]) -> Result<Reviewed, BadRequest> {
        self(body)
    }
}

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The certificate or key cannot be served.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// rustls refused the configuration.
    #[error("cannot configure TLS: {0}")]
    Config(#[from] rustls::Error),
    /// The address does not parse, or it is taken.
    #[error("cannot listen on webhook.listen = {listen:?}: {error}")]
    Bind {
        /// The address as configured.
        listen: String,
        /// The operating system's reason.
        error: io::Error,
    },
}

/// The running HTTPS listener.
#[derive(Debug)]
pub struct WebhookServer {
    addr: SocketAddr,
    handle: ServerHandle,
    /// What `/readyz` says: true from the start with a loaded certificate until a stop.
    ready: Arc<AtomicBool>,
}

impl WebhookServer {
    /// Loads the certificate pair, binds `config.listen` and serves until
    /// [`WebhookServer::stop`]; the certificate files are then looked at every few seconds.
    /// Call it inside the actix System. It does not handle signals; the mode does.
    pub fn start(
        config: &super::Config,
        admission: Arc<dyn Admission>,
        metrics: Arc<WebhookMetrics>,
    ) -> Result<WebhookServer, ServerError> {
        let watch = CertWatch::load(CertFiles {
            cert: config.tls_cert.clone(),
            key: config.tls_key.clone(),
            keys: tls::KEYS,
        })?;
        let tls = tls::server_config(watch.resolver())?;
        let ready = Arc::new(AtomicBool::new(false));
        let state = web::Data::new(State {
            admission,
            metrics: metrics.clone(),
            ready: ready.clone(),
        });
        let listen = config.listen.trim();
        let bind_error = |error| ServerError::Bind {
            listen: listen.to_owned(),
            error,
        };
        let listener = std::net::TcpListener::bind(listen).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(routes))
            .disable_signals()
            .shutdown_timeout(SHUTDOWN_GRACE_SECS)
            .keep_alive(KEEP_ALIVE)
            .client_request_timeout(REQUEST_TIMEOUT)
            .client_disconnect_timeout(Duration::from_secs(1))
            .tls_handshake_timeout(HANDSHAKE_TIMEOUT)
            .listen_rustls_0_23(listener, tls)
            .map_err(bind_error)?
            .run();
        let handle = server.handle();
        actix_rt::spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, "the webhook listener failed");
            }
        });
        actix_rt::spawn(follow_certificate(watch, metrics));
        // The certificate is loaded (CertWatch::load) and the socket listens.
        ready.store(true, Relaxed);
        Ok(WebhookServer {
            addr,
            handle,
            ready,
        })
    }

    /// The address bound (the first one, if `listen` resolved to several).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in progress finish (up to [`SHUTDOWN_GRACE_SECS`])
    /// and returns once the listener is down.
    pub async fn stop(self) {
        self.ready.store(false, Relaxed);
        self.handle.stop(true).await;
    }
}

/// `/mutate`, `/healthz`, `/readyz`, and 404 for any other path.
fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/mutate")
                .route(web::post().to(mutate))
                .default_service(web::to(|| method_not_allowed("POST"))),
        )
        .service(
            web::resource("/healthz")
                .route(web::get().to(|| async { text(HttpResponse::Ok(), "ok") }))
                .default_service(web::to(|| method_not_allowed("GET"))),
        )
        .service(
            web::resource("/readyz")
                .route(web::get().to(readyz))
                .default_service(web::to(|| method_not_allowed("GET"))),
        )
        .default_service(web::to(|| async {
            text(HttpResponse::NotFound(), "no such path; POST /mutate")
        }));
}

/// Looks at the certificate files every few seconds for as long as the System runs.
async fn follow_certificate(mut watch: CertWatch, metrics: Arc<WebhookMetrics>) {
    let mut interval = tokio::time::interval(CERT_CHECK_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match watch.check() {
            Check::Unchanged => {}
            Check::Reloaded => {
                metrics.certificate_reloaded();
                tracing::info!(cert = %watch.files().cert.display(), "serving the renewed certificate");
            }
            Check::Rejected(error) => {
                metrics.certificate_rejected();
                tracing::warn!(%error, "the certificate files changed but cannot be served; the previous certificate stays in service");
            }
        }
    }
}

/// What the handlers share.
struct State {
    admission: Arc<dyn Admission>,
    metrics: Arc<WebhookMetrics>,
    ready: Arc<AtomicBool>,
}

async fn readyz(state: web::Data<State>) -> HttpResponse {
    if state.ready.load(Relaxed) {
        text(HttpResponse::Ok(), "ready")
    } else {
        text(HttpResponse::ServiceUnavailable(), "not ready: stopping")
    }
}

fn text(mut response: actix_web::HttpResponseBuilder, body: impl Into<String>) -> HttpResponse {
    let mut body = body.into();
    body.push('\n');
    response.content_type(TEXT).body(body)
}

async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = HttpResponse::MethodNotAllowed();
    response.insert_header((header::ALLOW, allow));
    text(response, format!("method not allowed; use {allow}"))
}

async fn mutate(req: HttpRequest, payload: web::Payload, state: web::Data<State>) -> HttpResponse {
    let started = Instant::now();
    let (response, outcome) = answer(&req, payload, &state.admission).await;
    state.metrics.observe(outcome, started.elapsed());
    response
}

/// The response to one `/mutate` request, and how it is counted.
async fn answer(
    req: &HttpRequest,
    payload: web::Payload,
    admission: &Arc<dyn Admission>,
) -> (HttpResponse, Outcome) {
    let too_large = || {
        let msg = format!("request body over {MAX_BODY_BYTES} bytes");
        (
            text(HttpResponse::PayloadTooLarge(), msg),
            Outcome::TooLarge,
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let body = match tokio::time::timeout(REQUEST_TIMEOUT, payload.to_bytes_limited(MAX_BODY_BYTES))
        .await
    {
        Err(_) => {
            let msg = "the request body did not arrive in time";
            return (text(HttpResponse::RequestTimeout(), msg), Outcome::Timeout);
        }
        Ok(Err(_)) => return too_large(),
        Ok(Ok(Err(error))) => {
            let msg = format!("cannot read the request body: {error}");
            return (text(HttpResponse::BadRequest(), msg), Outcome::BadRequest);
        }
        Ok(Ok(Ok(body))) => body,
    };
    match catch_unwind(AssertUnwindSafe(|| admission.admit(&body))) {
        Ok(Ok(reviewed)) => {
            let response = HttpResponse::Ok().content_type(JSON).body(reviewed.body);
            (response, Outcome::from(reviewed.decision))
        }
        Ok(Err(BadRequest(msg))) => (text(HttpResponse::BadRequest(), msg), Outcome::BadRequest),
        Err(_) => admit_unchanged(&body),
    }
}

/// After a failure of the admission logic: the pod is let through as it is, with a
/// warning the user sees, so a fault in podflow never stops a pod from starting.
fn admit_unchanged(body: &[u8]) -> (HttpResponse, Outcome) {
    #[derive(serde::Deserialize)]
    struct Review {
        request: Request,
    }
    #[derive(serde::Deserialize)]
    struct Request {
        uid: String,
    }
    let Ok(review) = serde_json::from_slice::<Review>(body) else {
        let msg = "not an AdmissionReview with a request uid";
        return (text(HttpResponse::BadRequest(), msg), Outcome::BadRequest);
    };
    tracing::error!(uid = %quote(&review.request.uid), "the admission logic failed; the pod is admitted unchanged");
    let response = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": review.request.uid,
            "allowed": true,
            "warnings": ["podflow could not review this pod; it was admitted without the podflow sidecar"],
        },
    });
    let response = HttpResponse::Ok().content_type(JSON).json(response);
    (response, Outcome::FailedOpen)
}

#[cfg(test)]
mod tests {
    use actix_web::test::{call_service, init_service, read_body, TestRequest};

    use super::*;
    use crate::telemetry::{registry, render, Format};
    use crate::webhook::Decision;

    fn state(admission: impl Admission) -> (web::Data<State>, Arc<WebhookMetrics>) {
        let metrics = Arc::new(WebhookMetrics::default());
        let state = web::Data::new(State {
            admission: Arc::new(admission),
            metrics: metrics.clone(),
            ready: Arc::new(AtomicBool::new(true)),
        });
        (state, metrics)
    }

    #[test]
    fn readiness_follows_the_flag() {
        actix_rt::System::new().block_on(readiness());
    }

    async fn readiness() {
        let (state, _) =
            state(|_: &[u8]| -> Result<Reviewed, BadRequest> { Err(BadRequest("unused".into())) });
        let ready = state.ready.clone();
        let app = init_service(App::new().app_data(state).configure(routes)).await;
        let get = || TestRequest::get().uri("/readyz").to_request();
        let response = call_service(&app, get()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(read_body(response).await, "ready\n");
        ready.store(false, Relaxed);
        let response = call_service(&app, get()).await;
        assert_eq!(response.status(), 503);
        let req = TestRequest::post().uri("/readyz").to_request();
        assert_eq!(call_service(&app, req).await.status(), 405);
    }

    fn scrape(metrics: &Arc<WebhookMetrics>) -> String {
        let mut registry = registry();
        metrics.register(&mut registry);
        render(&registry, Format::Prometheus).unwrap()
    }

    #[test]
    fn a_fault_in_the_logic_admits_the_pod_unchanged() {
        actix_rt::System::new().block_on(fault_admits_unchanged());
    }

    async fn fault_admits_unchanged() {
        let (state, metrics) = state(|_: &[u8]| -> Result<Reviewed, BadRequest> {
            panic!("a bug in the admission logic")
        });
        let app = init_service(App::new().app_data(state).configure(routes)).await;
        let review = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1"}}"#;
        let req = TestRequest::post().uri("/mutate").set_payload(review);
        let response = call_service(&app, req.to_request()).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(&read_body(response).await).unwrap();
        assert_eq!(body["response"]["uid"], "u-1");
        assert_eq!(body["response"]["allowed"], true);
        assert!(body["response"]["warnings"][0].is_string());

        let req = TestRequest::post().uri("/mutate").set_payload("garbage");
        let response = call_service(&app, req.to_request()).await;
        assert_eq!(response.status(), 400);

        let text = scrape(&metrics);
        assert!(
            text.contains("podflow_webhook_requests_total{outcome=\"failed_open\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("podflow_webhook_requests_total{outcome=\"bad_request\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn decisions_are_counted_with_the_skip_reason() {
        actix_rt::System::new().block_on(decisions_counted());
    }

    async fn decisions_counted() {
        let (state, metrics) = state(|body: &[u8]| {
            let decision = match body {
                b"inject" => Decision::Injected,
                b"skip" => Decision::Skipped("opted out"),
                b"other" => Decision::NotApplicable,
                _ => return Err(BadRequest("not a review".into())),
            };
            Ok(Reviewed {
                body: b"{}".to_vec(),
                decision,
            })
        });
        let app = init_service(App::new().app_data(state).configure(routes)).await;
        for (body, status) in [
            ("inject", 200),
            ("skip", 200),
            ("skip", 200),
            ("other", 200),
            ("what", 400),
        ] {
            let req = TestRequest::post().uri("/mutate").set_payload(body);
            let response = call_service(&app, req.to_request()).await;
            assert_eq!(response.status(), status, "{body}");
            if status == 400 {
                assert_eq!(read_body(response).await, "not a review\n");
            }
        }
        let req = TestRequest::put().uri("/mutate").to_request();
        let response = call_service(&app, req).await;
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers().get(header::ALLOW).unwrap(), "POST");
        let req = TestRequest::post()
            .uri("/mutate")
            .insert_header((header::CONTENT_LENGTH, (MAX_BODY_BYTES + 1).to_string()))
            .to_request();
        assert_eq!(call_service(&app, req).await.status(), 413);

        let text = scrape(&metrics);
        for line in [
            "podflow_webhook_requests_total{outcome=\"injected\"} 1",
            "podflow_webhook_requests_total{outcome=\"skipped\"} 2",
            "podflow_webhook_requests_total{outcome=\"not_applicable\"} 1",
            "podflow_webhook_requests_total{outcome=\"bad_request\"} 1",
            "podflow_webhook_requests_total{outcome=\"too_large\"} 1",
            "podflow_webhook_skipped_total{reason=\"opted out\"} 2",
            "podflow_webhook_mutate_duration_seconds_count 6",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
    }
}
