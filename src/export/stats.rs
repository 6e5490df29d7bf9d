//! What the exporter has done since start, shared with metrics and health checks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// The exporter's counters. Written by the exporter's thread only; read anywhere.
#[derive(Debug, Default)]
pub struct ExportStats {
    /// IPFIX messages sent (or JSON lines written).
    pub messages: AtomicU64,
    /// Flow records handed to the transport.
    pub records: AtomicU64,
    /// Bytes of the messages sent.
    pub octets: AtomicU64,
    /// Flow records that could not be sent: collector down, buffer full, write errors.
    pub not_sent: AtomicU64,
    /// Failed writes to the collector.
    pub errors: AtomicU64,
    /// True while the transport can take records (a stream collector is connected; UDP,
    /// file and stdout always, once open).
    pub ready: AtomicBool,
}

impl ExportStats {
    /// One message of `msg_bytes` carrying `records` flow records was sent.
    pub(super) fn sent(&self, msg_bytes: usize, records: u64) {
        self.messages.fetch_add(1, Relaxed);
        self.records.fetch_add(records, Relaxed);
        self.octets.fetch_add(msg_bytes as u64, Relaxed);
    }

    /// `records` flow records could not be sent.
    pub(super) fn lost(&self, records: u64) {
        self.not_sent.fetch_add(records, Relaxed);
    }

    /// Whether the transport can take records now.
    pub(super) fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Relaxed);
    }
}
