//! Named events: one small struct per thing worth logging, whose `emit()` logs it. Events
//! that can repeat quickly (write errors) log at most once a minute, with a count.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::flow::wall_now;

/// Writing to the collector failed.
pub struct ExportError<'a> {
    pub collector: &'a str,
    pub error: &'a std::io::Error,
}

static EXPORT_ERRORS: AtomicU64 = AtomicU64::new(0);
static EXPORT_ERROR_LOGGED: AtomicU64 = AtomicU64::new(0);

impl ExportError<'_> {
    pub fn emit(self) {
        let n = EXPORT_ERRORS.fetch_add(1, Relaxed) + 1;
        if once_a_minute(&EXPORT_ERROR_LOGGED) {
            tracing::warn!(collector = self.collector, error = %self.error, errors_so_far = n, "cannot send to the collector");
        }
    }
}

/// Export errors since start.
pub fn export_errors() -> u64 {
    EXPORT_ERRORS.load(Relaxed)
}

/// A TCP collector accepted the connection.
pub struct CollectorConnected<'a> {
    pub addr: &'a str,
}

impl CollectorConnected<'_> {
    pub fn emit(self) {
        tracing::info!(collector = self.addr, "connected to the collector");
    }
}

/// A TCP collector could not be reached; records wait in the buffer.
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

/// True when the last log through `slot` is at least a minute old (and marks now).
fn once_a_minute(slot: &AtomicU64) -> bool {
    let now = wall_now() / 1_000_000_000;
    let last = slot.load(Relaxed);
    (last == 0 || now >= last + 60)
        && slot
            .compare_exchange(last, now.max(1), Relaxed, Relaxed)
            .is_ok()
}

/// A TCP collector closed the connection; podflow reconnects.
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

/// The telemetry listener is serving.
pub struct TelemetryListening {
    pub addr: std::net::SocketAddr,
}

impl TelemetryListening {
    pub fn emit(self) {
        tracing::info!(addr = %self.addr, "serving /healthz, /readyz, /startupz and /metrics");
    }
}

/// The telemetry listener stopped with an error; the probe goes on without it.
pub struct TelemetryFailed<'a> {
    pub error: &'a std::io::Error,
}

impl TelemetryFailed<'_> {
    pub fn emit(self) {
        tracing::warn!(error = %self.error, "the telemetry listener stopped");
    }
}
