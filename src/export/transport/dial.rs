//! Connecting to a stream collector, apart from sending on it: what makes a connection
//! ([`Connect`]) and when to try again ([`Dialer`]: a doubling backoff).

use std::io;
use std::time::{Duration, Instant};

use super::MessageSink;
use crate::export::events::{CollectorConnected, CollectorUnreachable};
use crate::export::stats::ExportStats;

/// First wait after a failed connect; it doubles after each failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// What the collector did on its end of a connection, as seen before writing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Nothing: as it should be.
    Open,
    /// It closed the connection.
    Closed,
    /// It sent these bytes: IPFIX collectors never send, so it is something else.
    Spoke(Vec<u8>),
}

/// Makes connections to one collector: TCP, or TLS over TCP.
pub trait Connect: Send {
    /// A connection, ready to send on.
    type Stream: MessageSink + Send;

    /// `HOST:PORT`, for logs.
    fn addr(&self) -> &str;

    /// Connects (and, for TLS, completes the handshake) within a bounded time.
    fn connect(&mut self) -> io::Result<Self::Stream>;

    /// What the collector did on its end of `stream`, without blocking.
    fn peer(stream: &mut Self::Stream) -> Peer;

    /// True when what connections are made with changed since the last look (new
    /// certificate files): the session in use is then closed and a new one made.
    fn renewed(&mut self, _stats: &ExportStats) -> bool {
        false
    }
}

/// Connects when a try is due, and schedules the next one after a failure.
pub struct Dialer<C> {
    connect: C,
    pub(super) backoff: Duration,
    max_backoff: Duration,
    retry_at: Instant,
    /// The last failure, to log a cause once rather than at every try.
    last_error: Option<String>,
}

impl<C: Connect> Dialer<C> {
    /// Dials through `connect`, backing off up to `max_backoff` between failed tries.
    pub fn new(connect: C, max_backoff: Duration) -> Self {
        Dialer {
            connect,
            backoff: FIRST_BACKOFF,
            max_backoff,
            retry_at: Instant::now(),
            last_error: None,
        }
    }

    /// The collector, for logs.
    pub fn addr(&self) -> &str {
        self.connect.addr()
    }

    /// A new connection when a try is due and it succeeds. A failure is counted, logged
    /// when its cause is new, and the next try put off by the backoff, which doubles.
    pub fn dial(&mut self, stats: &ExportStats) -> Option<C::Stream> {
        if Instant::now() < self.retry_at {
            return None;
        }
        match self.connect.connect() {
            Ok(stream) => {
                CollectorConnected { addr: self.addr() }.emit();
                self.backoff = FIRST_BACKOFF;
                self.last_error = None;
                Some(stream)
            }
            Err(error) => {
                let cause = error.to_string();
                CollectorUnreachable {
                    addr: self.addr(),
                    error: &error,
                    retry_in: self.backoff,
                    repeated: self.last_error.as_ref() == Some(&cause),
                }
                .emit(stats);
                self.last_error = Some(cause);
                self.retry_at = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(self.max_backoff);
                None
            }
        }
    }

    /// A connection broke while sending: try again once the backoff has passed.
    pub fn broke(&mut self) {
        self.retry_at = Instant::now() + self.backoff;
    }

    /// Try at the next chance, whatever the backoff says.
    pub fn retry_now(&mut self) {
        self.retry_at = Instant::now();
    }

    /// What the collector did on its end of `stream`.
    pub fn peer(&self, stream: &mut C::Stream) -> Peer {
        C::peer(stream)
    }

    /// Whether connections are now made with new settings.
    pub fn renewed(&mut self, stats: &ExportStats) -> bool {
        self.connect.renewed(stats)
    }
}
