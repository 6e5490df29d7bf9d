//! Connecting to a stream collector, apart from sending on it: what makes a connection
//! ([`Connect`]) and when to try again ([`Dialer`]: a doubling backoff).

use std::io;
use std::time::{Duration, Instant};

use super::MessageSink;
use crate::export::events::{CollectorConnected, CollectorUnreachable};

/// First wait after a failed connect; it doubles after each failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Makes connections to one collector: TCP, and TLS over TCP to come.
pub trait Connect: Send {
    /// A connection, ready to send on.
    type Stream: MessageSink + Send;

    /// `HOST:PORT`, for logs.
    fn addr(&self) -> &str;

    /// Connects, within a bounded time.
    fn connect(&self) -> io::Result<Self::Stream>;

    /// True when the collector has closed its end of `stream`.
    fn closed(stream: &Self::Stream) -> bool;
}

/// Connects when a try is due, and schedules the next one after a failure.
pub struct Dialer<C> {
    connect: C,
    pub(super) backoff: Duration,
    max_backoff: Duration,
    retry_at: Instant,
}

impl<C: Connect> Dialer<C> {
    /// Dials through `connect`, backing off up to `max_backoff` between failed tries.
    pub fn new(connect: C, max_backoff: Duration) -> Self {
        Dialer {
            connect,
            backoff: FIRST_BACKOFF,
            max_backoff,
            retry_at: Instant::now(),
        }
    }

    /// The collector, for logs.
    pub fn addr(&self) -> &str {
        self.connect.addr()
    }

    /// A new connection when a try is due and it succeeds. A failure is logged and the
    /// next try put off by the backoff, which doubles.
    pub fn dial(&mut self) -> Option<C::Stream> {
        if Instant::now() < self.retry_at {
            return None;
        }
        match self.connect.connect() {
            Ok(stream) => {
                CollectorConnected { addr: self.addr() }.emit();
                self.backoff = FIRST_BACKOFF;
                Some(stream)
            }
            Err(error) => {
                CollectorUnreachable {
                    addr: self.addr(),
                    error: &error,
                    retry_in: self.backoff,
                }
                .emit();
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

    /// Whether `stream` was closed by the collector.
    pub fn closed(&self, stream: &C::Stream) -> bool {
        C::closed(stream)
    }
}
