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

/// A stream collector could not be reached; records wait in the buffer.
pub struct CollectorUnreachable<'a> {
    pub addr: &'a str,
    pub error: &'a std::io::Error,
    pub retry_in: Duration,
}

static UNREACHABLE_LOGGED: AtomicU64 = AtomicU64::new(0);

impl CollectorUnreachable<'_> {
    pub fn emit(self) {
        if once_a_minute(&UNREACHABLE_LOGGED) {
            tracing::warn!(collector = self.addr, error = %self.error, retry_in_secs = self.retry_in.as_secs(), "collector unreachable, buffering records");
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
