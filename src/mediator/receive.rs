//! The exporters' side: UDP sockets, TCP and TLS listeners, one task per connection on
//! the receiver's thread, each message turned into batches by its exporter's session and
//! handed to the output. One bad exporter never holds up the others: a message that does
//! not parse drops a TCP or TLS session (its framing is lost) and is skipped over UDP; a
//! template flood is refused past `mediator.max_templates_per_session`; a session that
//! starts a message (or a TLS handshake) and stalls is dropped after
//! `mediator.message_timeout_secs`; past `mediator.max_sessions` a new connection is
//! refused and the longest-idle UDP exporter forgotten. Each is logged once per exporter
//! and counted.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};

use super::output::{Queue, Received};
use super::session::{ExporterSession, OutTemplates};
use crate::cluster::ClusterView;
use crate::ipfix::{peek_header, HEADER_LEN};

/// What the receiver shares with every session task.
pub struct Shared {
    pub view: Arc<RwLock<ClusterView>>,
    pub templates: Arc<Mutex<OutTemplates>>,
    pub queue: Arc<Queue>,
    pub received: Arc<Received>,
    pub stats: Arc<ReceiveStats>,
    pub enterprise_number: u32,
    pub max_templates: usize,
    pub max_sessions: usize,
    pub message_timeout: Duration,
    logged: Mutex<HashMap<(IpAddr, Trouble), ()>>,
}

/// What an exporter did wrong, for its one log line and its counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trouble {
    /// A message that does not parse.
    Garbage,
    /// More templates than a session may hold.
    TemplateFlood,
    /// A message or TLS handshake begun and not finished in time.
    Stalled,
    /// A TLS handshake that failed.
    Handshake,
}

/// The receiver's counters, beside [`Received`].
#[derive(Debug, Default)]
pub struct ReceiveStats {
    pub sessions: AtomicUsize,
    pub sessions_refused: AtomicU64,
    pub garbage: AtomicU64,
    pub stalled: AtomicU64,
    pub handshakes_failed: AtomicU64,
    pub templates_refused: AtomicU64,
    /// Data sets whose template the session did not know: their records are lost.
    pub unknown_sets: AtomicU64,
    /// Records with an end the view named.
    pub named: AtomicU64,
    /// Records named while the view was not current.
    pub not_current: AtomicU64,
    /// Ends in the cluster's ranges nothing held.
    pub unowned_ends: AtomicU64,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        view: Arc<RwLock<ClusterView>>,
        templates: Arc<Mutex<OutTemplates>>,
        queue: Arc<Queue>,
        received: Arc<Received>,
        enterprise_number: u32,
        max_templates: usize,
        max_sessions: usize,
        message_timeout: Duration,
    ) -> Shared {
        Shared {
            view,
            templates,
            queue,
            received,
            stats: Arc::default(),
            enterprise_number,
            max_templates,
            max_sessions,
            message_timeout,
            logged: Mutex::default(),
        }
    }

    fn session(&self, exporter: IpAddr) -> ExporterSession {
        ExporterSession::new(exporter, self.enterprise_number, self.max_templates)
    }

    /// One whole message of `session`: its batches to the output. False when it does not
    /// parse.
    fn message(&self, from: SocketAddr, session: &mut ExporterSession, msg: &[u8]) -> bool {
        let outcome = {
            let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
            session.message(msg, &view, &self.templates, &self.queue.spare)
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.trouble(from, Trouble::Garbage, &e.to_string());
                return false;
            }
        };
        self.received.messages.fetch_add(1, Relaxed);
        self.received.records.fetch_add(outcome.records, Relaxed);
        self.stats.named.fetch_add(outcome.named, Relaxed);
        self.stats
            .not_current
            .fetch_add(outcome.not_current, Relaxed);
        self.stats
            .unowned_ends
            .fetch_add(outcome.unowned_ends, Relaxed);
        self.stats
            .unknown_sets
            .fetch_add(outcome.unknown_sets, Relaxed);
        if outcome.refused_templates > 0 {
            self.stats
                .templates_refused
                .fetch_add(outcome.refused_templates, Relaxed);
            let why = format!(
                "{} templates refused: a session holds at most {} (mediator.max_templates_per_session)",
                outcome.refused_templates, self.max_templates
            );
            self.trouble(from, Trouble::TemplateFlood, &why);
        }
        for batch in outcome.batches {
            self.queue.push(batch);
        }
        true
    }

    /// Counts `trouble`, and logs it the first time this exporter has it.
    fn trouble(&self, from: SocketAddr, trouble: Trouble, why: &str) {
        let counter = match trouble {
            Trouble::Garbage => &self.stats.garbage,
            Trouble::TemplateFlood => return self.log_once(from, trouble, why),
            Trouble::Stalled => &self.stats.stalled,
            Trouble::Handshake => &self.stats.handshakes_failed,
        };
        counter.fetch_add(1, Relaxed);
        self.log_once(from, trouble, why);
    }

    fn log_once(&self, from: SocketAddr, trouble: Trouble, why: &str) {
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        // Bounded: a flood of addresses cannot grow it past this.
        if logged.len() >= 4096 || logged.insert((from.ip(), trouble), ()).is_some() {
            return;
        }
        let what = match trouble {
            Trouble::Garbage => "an exporter sent what is not IPFIX; its session is dropped",
            Trouble::TemplateFlood => "an exporter defined more templates than it may",
            Trouble::Stalled => "an exporter stalled in the middle of a message; dropped",
            Trouble::Handshake => "an exporter's TLS handshake failed; dropped",
        };
        tracing::warn!(exporter = %from, why = %crate::quote::quote(why), "{what} (logged once per exporter, counted in podflow_mediator_exporter_errors_total)");
    }
}

/// Serves UDP datagrams on `sock` until the runtime ends.
pub async fn udp(sock: UdpSocket, shared: Arc<Shared>) {
    let mut sessions: HashMap<SocketAddr, (ExporterSession, Instant)> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        if !sessions.contains_key(&from) && sessions.len() >= shared.max_sessions {
            // Forget the exporter heard from longest ago.
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(a, _)| *a)
            {
                sessions.remove(&oldest);
                shared.stats.sessions_refused.fetch_add(1, Relaxed);
            }
        }
        let entry = sessions
            .entry(from)
            .or_insert_with(|| (shared.session(from.ip()), Instant::now()));
        entry.1 = Instant::now();
        shared.message(from, &mut entry.0, &buf[..n]);
        shared.stats.sessions.store(sessions.len(), Relaxed);
    }
}

/// Accepts TCP (or, with `tls`, TLS) connections on `listener`, one task each.
pub async fn accept(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    streams: Arc<AtomicUsize>,
) {
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        if streams.load(Relaxed) >= shared.max_sessions {
            shared.stats.sessions_refused.fetch_add(1, Relaxed);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (shared, tls, streams) = (shared.clone(), tls.clone(), streams.clone());
        streams.fetch_add(1, Relaxed);
        tokio::task::spawn_local(async move {
            let _count = Gone(&streams);
            match tls {
                None => read_stream(stream, from, &shared).await,
                Some(acceptor) => {
                    let timeout = shared.message_timeout;
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => read_stream(tls, from, &shared).await,
                        Ok(Err(e)) => shared.trouble(from, Trouble::Handshake, &e.to_string()),
                        Err(_) => shared.trouble(
                            from,
                            Trouble::Stalled,
                            &format!("no TLS handshake within {timeout:?}"),
                        ),
                    }
                }
            }
        });
    }
}

/// Counts a stream as gone when its task ends, however it ends.
struct Gone<'a>(&'a AtomicUsize);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Reads whole messages from one connection until it ends or misbehaves. Waiting for a
/// message to start has no bound (an exporter with nothing to say is quiet); once its
/// first byte came, the rest must within the message timeout.
async fn read_stream(mut stream: impl AsyncRead + Unpin, from: SocketAddr, shared: &Shared) {
    let mut session = shared.session(from.ip());
    let mut msg = Vec::with_capacity(4096);
    loop {
        let mut first = [0u8; 1];
        match stream.read(&mut first).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        msg.clear();
        msg.push(first[0]);
        let rest = async {
            msg.resize(HEADER_LEN, 0);
            stream.read_exact(&mut msg[1..HEADER_LEN]).await?;
            let length = match peek_header(&msg) {
                Ok(Some(h)) => usize::from(h.length),
                Ok(None) => unreachable!("a whole header was read"),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            };
            msg.resize(length, 0);
            stream.read_exact(&mut msg[HEADER_LEN..]).await?;
            Ok::<(), io::Error>(())
        };
        match tokio::time::timeout(shared.message_timeout, rest).await {
            Ok(Ok(())) => {
                if !shared.message(from, &mut session, &msg) {
                    return;
                }
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                return shared.trouble(from, Trouble::Garbage, &e.to_string());
            }
            Ok(Err(_)) => return,
            Err(_) => {
                return shared.trouble(
                    from,
                    Trouble::Stalled,
                    &format!("a message not finished within {:?}", shared.message_timeout),
                )
            }
        }
        // A long message's buffer is not kept for a quiet session.
        if msg.capacity() > 16384 {
            msg = Vec::with_capacity(4096);
        }
    }
}
