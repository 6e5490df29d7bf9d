//! Named events of the exporter: each `emit()` logs and, where there is a counter, counts
//! into [`ExportStats`]. Events that can repeat quickly (write errors, a collector that
//! stays unreachable) log at most once a minute, with a count.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::stats::ExportStats;
use crate::flow::wall_now;

/// Writing to the collector failed.
pub struct ExportError<'a> {
    pub collector: &'a str,
    pub error: &'a std::io::Error,
}

static EXPORT_ERROR_LOGGED: AtomicU64 = AtomicU64::new(0);

impl ExportError<'_> {
    pub fn emit(self, stats: &ExportStats) {
        let n = stats.errors.fetch_add(1, Relaxed) + 1;
        if once_a_minute(&EXPORT_ERROR_LOGGED) {
            tracing::warn!(collector = self.collector, error = %self.error, errors_so_far = n, "cannot send to the collector");
        }
    }
}

/// A stream collector accepted the connection.
pub struct CollectorConnected<'a> {
    pub addr: &'a str,
}

impl CollectorConnected<'_> {
    pub fn emit(self) {
        tracing::info!(collector = self.addr, "connected to the collector");
    }
}

/// A stream collector could not be reached, or its TLS handshake failed; records wait in
/// the buffer. Counted every time; logged as a warning when the cause is new (a cause that
/// stays is repeated at debug level only).
pub struct CollectorUnreachable<'a> {
    pub addr: &'a str,
    pub error: &'a std::io::Error,
    pub retry_in: Duration,
    /// The same cause as the previous failure.
    pub repeated: bool,
}

impl CollectorUnreachable<'_> {
    pub fn emit(self, stats: &ExportStats) {
        let n = stats.connect_failures.fetch_add(1, Relaxed) + 1;
        let retry_in_secs = self.retry_in.as_secs();
        if self.repeated {
            tracing::debug!(collector = self.addr, error = %self.error, retry_in_secs, failures = n, "collector still unreachable");
        } else {
            tracing::warn!(collector = self.addr, error = %self.error, retry_in_secs, failures = n, "cannot connect to the collector, buffering records");
        }
    }
}

/// A stream collector sent bytes: IPFIX collectors never do, so whatever listens there
/// speaks something else. The connection is dropped and tried again later.
pub struct CollectorSpoke<'a> {
    pub addr: &'a str,
    /// The first bytes it sent.
    pub bytes: &'a [u8],
}

impl CollectorSpoke<'_> {
    pub fn emit(self, stats: &ExportStats) {
        stats.errors.fetch_add(1, Relaxed);
        let text = String::from_utf8_lossy(self.bytes);
        tracing::error!(
            collector = self.addr,
            sent = %crate::quote::quote(&text),
            "the collector sent data: IPFIX collectors never do, so this is not one (wrong port?); reconnecting later"
        );
    }
}

/// The sweeper handed over more records than the hand-off holds: the rest are dropped.
pub struct QueueFull {
    pub dropped: u64,
    pub capacity: usize,
}

static QUEUE_FULL_LOGGED: AtomicU64 = AtomicU64::new(0);

impl QueueFull {
    pub fn emit(self) {
        if once_a_minute(&QUEUE_FULL_LOGGED) {
            tracing::warn!(
                dropped = self.dropped,
                queue_records = self.capacity,
                "the exporter is behind (slow collector or output): records dropped and counted as not sent"
            );
        }
    }
}

/// The certificate files of the collector TLS changed and cannot be used; the ones in
/// service stay.
pub struct TlsFilesRejected<'a> {
    pub error: &'a crate::certs::TlsError,
}

impl TlsFilesRejected<'_> {
    pub fn emit(self, stats: &ExportStats) {
        stats.errors.fetch_add(1, Relaxed);
        tracing::error!(error = %self.error, "cannot use the new collector TLS files; keeping the previous ones");
    }
}

/// The collector TLS files changed and are in service for the next connection.
pub struct TlsFilesReloaded;

impl TlsFilesReloaded {
    pub fn emit(self) {
        tracing::info!("collector TLS files changed: reconnecting with them");
    }
}

/// A UDP collector's name now resolves to another address.
pub struct CollectorMoved<'a> {
    pub name: &'a str,
    pub from: std::net::SocketAddr,
    pub to: std::net::SocketAddr,
}

impl CollectorMoved<'_> {
    pub fn emit(self) {
        tracing::info!(collector = self.name, from = %self.from, to = %self.to, "collector moved: sending to its new address");
    }
}

/// A UDP collector's name no longer resolves; the last address stays in use.
pub struct ResolveFailed<'a> {
    pub name: &'a str,
    pub error: &'a std::io::Error,
}

static RESOLVE_LOGGED: AtomicU64 = AtomicU64::new(0);

impl ResolveFailed<'_> {
    pub fn emit(self) {
        if once_a_minute(&RESOLVE_LOGGED) {
            tracing::warn!(collector = self.name, error = %self.error, "cannot resolve the collector again; still sending to its last address");
        }
    }
}

/// A stream collector closed the connection; podflow reconnects.
pub struct CollectorClosed<'a> {
    pub addr: &'a str,
}

impl CollectorClosed<'_> {
    pub fn emit(self) {
        tracing::warn!(
            collector = self.addr,
            "collector closed the connection, reconnecting"
        );
    }
}

/// True when the last log through `slot` is at least a minute old (and marks now).
fn once_a_minute(slot: &AtomicU64) -> bool {
    let now = wall_now() / 1_000_000_000;
    let last = slot.load(Relaxed);
    (last == 0 || now >= last + 60)
        && slot
            .compare_exchange(last, now.max(1), Relaxed, Relaxed)
            .is_ok()
}
