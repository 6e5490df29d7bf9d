//! The mediator (`--mode mediator`, an IPFIX Mediator in the sense of RFC 6183): IPFIX in
//! from podflow's probes and any other exporter, each record passed on byte for byte with
//! both of its ends named from one cluster-wide view (by address and time), the traffic
//! class and the original exporter (RFC 7119) appended, IPFIX out to the user's collector.
//!
//! Threads: `mediator-recv` runs the listeners and every exporter session on one tokio
//! runtime (a session turns each message into batches, reading the view under its lock
//! for the message); `mediator-export` packs the batches into messages and sends them.
//! Between them a queue bounded in records: the receiver never waits on the collector.

mod config;
pub mod enrich;
mod metrics;
pub mod output;
pub mod receive;
pub mod session;

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use config::Config;

use crate::cluster::ClusterView;
use crate::collect::{Listen, ServerTls};
use crate::export::{self, ExportStats, IpfixConfig};
use crate::ipfix::{Encoder, EncoderOptions};
use output::{GiveUpAt, Output, Queue, Received, Target};
use receive::{ReceiveStats, Shared};
use session::OutTemplates;

/// Why the mediator cannot start: bad settings or files, a port taken.
#[derive(Debug, thiserror::Error)]
pub enum MediatorError {
    #[error("cannot listen on mediator.listen {listen}: {error}")]
    Listen {
        listen: String,
        error: std::io::Error,
    },
    #[error("mediator TLS: {0}")]
    Tls(String),
    #[error("export.collector {collector}: {error}")]
    Collector {
        collector: String,
        error: std::io::Error,
    },
    #[error("cannot start the {0} thread: {1}")]
    Thread(&'static str, std::io::Error),
}

/// What the mediator is given.
pub struct Settings<'a> {
    pub mediator: &'a Config,
    pub export: &'a export::Config,
    pub ipfix: &'a IpfixConfig,
    /// The view, filled by its source (a file, the watches).
    pub view: Arc<RwLock<ClusterView>>,
}

/// A running mediator.
pub struct Mediator {
    queue: Arc<Queue>,
    give_up: Arc<GiveUpAt>,
    output: JoinHandle<()>,
    stop_receiving: tokio::sync::oneshot::Sender<()>,
    receiver: JoinHandle<()>,
    pub export: Arc<ExportStats>,
    pub received: Arc<Received>,
    pub receive: Arc<ReceiveStats>,
    pub view: Arc<RwLock<ClusterView>>,
    /// The addresses bound, as `udp://...` (a port 0 resolved).
    pub bound: Vec<String>,
}

/// A listener bound before the receiver thread starts, so that a taken port is an error
/// at start.
enum Bound {
    Udp(UdpSocket),
    Tcp(TcpListener, bool),
}

impl Mediator {
    /// Binds the listeners, opens the collector, and starts receiving and sending.
    pub fn start(s: Settings<'_>) -> Result<Mediator, MediatorError> {
        let cfg = s.mediator;
        let tls = tls_acceptor(cfg)?;
        let mut bound = Vec::new();
        let mut names = Vec::new();
        for listen in &cfg.listen {
            let error = |error| MediatorError::Listen {
                listen: listen.to_string(),
                error,
            };
            let (b, local) = match listen {
                Listen::Udp(a) => {
                    let sock = UdpSocket::bind(a).map_err(error)?;
                    let local = sock.local_addr().map_err(error)?;
                    (Bound::Udp(sock), format!("udp://{local}"))
                }
                Listen::Tcp(a) | Listen::Tls(a) => {
                    let l = TcpListener::bind(a).map_err(error)?;
                    let local = l.local_addr().map_err(error)?;
                    let tls = matches!(listen, Listen::Tls(_));
                    let scheme = if tls { "tls" } else { "tcp" };
                    (Bound::Tcp(l, tls), format!("{scheme}://{local}"))
                }
            };
            bound.push(b);
            names.push(local);
        }

        let export = Arc::new(ExportStats::default());
        let received = Arc::new(Received::default());
        let templates = Arc::new(Mutex::new(OutTemplates::new(s.ipfix.enterprise_number)));
        let queue = Arc::new(Queue::new(s.export.queue_records, export.clone()));
        let target = match export::link(&s.export.collector, s.export).map_err(|error| {
            MediatorError::Collector {
                collector: s.export.collector.to_string(),
                error,
            }
        })? {
            Some(link) => Target::Link(link),
            None => Target::Stdout,
        };
        let encoder = Encoder::new(EncoderOptions {
            observation_domain_id: s.ipfix.observation_domain_id,
            enterprise_number: s.ipfix.enterprise_number,
            max_message_bytes: s.export.message_bytes(),
            ..EncoderOptions::default()
        });
        let give_up = Arc::new(GiveUpAt::default());
        let output = Output {
            target,
            encoder,
            templates: templates.clone(),
            stats: export.clone(),
            received: received.clone(),
            buffer_records: s.export.buffer_records,
            started: SystemTime::now(),
        };
        let output = {
            let (queue, give_up) = (queue.clone(), give_up.clone());
            std::thread::Builder::new()
                .name("mediator-export".into())
                .spawn(move || output.run(&queue, &give_up))
                .map_err(|e| MediatorError::Thread("mediator-export", e))?
        };

        let shared = Arc::new(Shared::new(
            s.view.clone(),
            templates,
            queue.clone(),
            received.clone(),
            s.ipfix.enterprise_number,
            cfg.max_templates_per_session,
            cfg.max_sessions,
            Duration::from_secs(cfg.message_timeout_secs),
        ));
        let receive = shared.stats.clone();
        let grace = Duration::from_secs(cfg.deleted_pod_grace_secs);
        let (stop_receiving, stopped) = tokio::sync::oneshot::channel();
        let receiver = std::thread::Builder::new()
            .name("mediator-recv".into())
            .spawn(move || receive_until(bound, tls, shared, grace, stopped))
            .map_err(|e| MediatorError::Thread("mediator-recv", e))?;
        Ok(Mediator {
            queue,
            give_up,
            output,
            stop_receiving,
            receiver,
            export,
            received,
            receive,
            view: s.view,
            bound: names,
        })
    }

    /// Stops receiving (messages received whole are passed on), then lets the output send
    /// what it holds until `drain` has passed; what it could not send is counted. Logs
    /// the totals.
    pub fn shutdown(self, drain: Duration) {
        let _ = self.stop_receiving.send(());
        let _ = self.receiver.join();
        *self
            .give_up
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now() + drain);
        self.queue.close();
        let _ = self.output.join();
        let (e, r, x) = (&self.export, &self.received, &self.receive);
        tracing::info!(
            messages_in = r.messages.load(Relaxed),
            records_in = r.records.load(Relaxed),
            named = x.named.load(Relaxed),
            not_current = x.not_current.load(Relaxed),
            unowned_ends = x.unowned_ends.load(Relaxed),
            unknown_template_sets = x.unknown_sets.load(Relaxed),
            records = e.records.load(Relaxed),
            not_sent = e.not_sent.load(Relaxed),
            exporter_errors = x.garbage.load(Relaxed)
                + x.stalled.load(Relaxed)
                + x.handshakes_failed.load(Relaxed),
            templates_refused = x.templates_refused.load(Relaxed),
            export_errors = e.errors.load(Relaxed),
            connect_failures = e.connect_failures.load(Relaxed),
            "done"
        );
    }

    /// Registers the mediator's metrics, the export's and the view's.
    pub fn register(&self, registry: &mut crate::telemetry::Registry) {
        self.export.register(registry);
        metrics::register(registry, &self.received, &self.receive, &self.view);
    }
}

/// The TLS acceptor of `tls://` listeners, its certificate read now.
fn tls_acceptor(cfg: &Config) -> Result<Option<tokio_rustls::TlsAcceptor>, MediatorError> {
    if !cfg.listen.iter().any(|l| matches!(l, Listen::Tls(_))) {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (&cfg.tls_cert, &cfg.tls_key) else {
        return Err(MediatorError::Tls(
            "a tls:// listener needs mediator.tls_cert and mediator.tls_key".into(),
        ));
    };
    let server = ServerTls {
        cert: cert.clone(),
        key: key.clone(),
        client_ca: cfg.tls_client_ca.clone(),
    };
    let config = server
        .config_for((
            "mediator.tls_cert",
            "mediator.tls_key",
            "mediator.tls_client_ca",
        ))
        .map_err(|e| MediatorError::Tls(e.to_string()))?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(config)))
}

/// The receiver thread: every listener and session on one runtime until `stopped`, and
/// every half minute the view forgets what left it longer than `grace` ago.
fn receive_until(
    bound: Vec<Bound>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    grace: Duration,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the mediator's receiver");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let streams = Arc::new(AtomicUsize::new(0));
        for b in bound {
            let shared = shared.clone();
            match b {
                Bound::Udp(sock) => {
                    let _ = sock.set_nonblocking(true);
                    if let Ok(sock) = tokio::net::UdpSocket::from_std(sock) {
                        tokio::task::spawn_local(receive::udp(sock, shared));
                    }
                }
                Bound::Tcp(listener, with_tls) => {
                    let _ = listener.set_nonblocking(true);
                    if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                        let tls = if with_tls { tls.clone() } else { None };
                        tokio::task::spawn_local(receive::accept(
                            listener,
                            tls,
                            shared,
                            streams.clone(),
                        ));
                    }
                }
            }
        }
        let view = shared.view.clone();
        tokio::task::spawn_local(async move {
            let mut every = tokio::time::interval(Duration::from_secs(30));
            loop {
                every.tick().await;
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let cutoff = now.saturating_sub(grace).as_millis() as i64;
                view.write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pods
                    .forget_before(cutoff);
            }
        });
        let _ = stopped.await;
    });
}
