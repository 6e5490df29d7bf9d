//! What the exporter has done since start, shared with metrics and health checks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::telemetry::{collector, encode_counters, encode_gauges, Registry, Sending, Unit};

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
    /// Records sent with their metadata cut to fit the message budget.
    pub cut: AtomicU64,
    /// Failed attempts to connect to a stream collector (TLS handshakes included).
    pub connect_failures: AtomicU64,
    /// Records in the hand-off from the sweeper now.
    pub queued: AtomicU64,
    /// Records the transport holds for a collector now (a stream collector's buffer, a
    /// line being written).
    pub buffered: AtomicU64,
    /// True while the transport can take records (a stream collector is connected; UDP,
    /// file and stdout always, once open).
    pub ready: AtomicBool,
}

impl ExportStats {
    /// One message of `msg_bytes` carrying `records` flow records was sent.
    pub fn sent(&self, msg_bytes: usize, records: u64) {
        self.messages.fetch_add(1, Relaxed);
        self.records.fetch_add(records, Relaxed);
        self.octets.fetch_add(msg_bytes as u64, Relaxed);
    }

    /// One data message was sent.
    pub(super) fn sent_data(&self, msg: &crate::ipfix::Encoded) {
        self.sent(msg.bytes.len(), u64::from(msg.records));
        self.cut.fetch_add(u64::from(msg.cut), Relaxed);
    }

    /// `records` flow records could not be sent.
    pub fn lost(&self, records: u64) {
        self.not_sent.fetch_add(records, Relaxed);
    }

    /// Records in the hand-off now.
    pub(super) fn set_queued(&self, records: usize) {
        self.queued.store(records as u64, Relaxed);
    }

    /// Records the transport holds now.
    pub(super) fn set_buffered(&self, records: usize) {
        self.buffered.store(records as u64, Relaxed);
    }

    /// Whether the transport can take records now.
    pub(super) fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Relaxed);
    }

    /// Registers `podflow_export_records_total`, `podflow_export_records_not_sent_total`,
    /// `podflow_export_errors_total`, `podflow_export_records_cut_total`,
    /// `podflow_export_bytes_total`, `podflow_export_messages_total`,
    /// `podflow_export_connect_failures_total` and the gauges
    /// `podflow_export_queued_records` and `podflow_export_buffered_records`.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        let s = self.clone();
        registry.register_collector(collector(move |out| {
            encode_counters(
                out,
                [
                    (
                        "export_records",
                        "Flow records handed to the transport.",
                        None,
                        s.records.load(Relaxed),
                    ),
                    (
                        "export_records_not_sent",
                        "Flow records that could not be sent: collector down, buffer full, write errors.",
                        None,
                        s.not_sent.load(Relaxed),
                    ),
                    (
                        "export_errors",
                        "Failed writes to the collector.",
                        None,
                        s.errors.load(Relaxed),
                    ),
                    (
                        "export_records_cut",
                        "Flow records sent with their labels or annotations cut to fit the message size.",
                        None,
                        s.cut.load(Relaxed),
                    ),
                    (
                        "export",
                        "Bytes of the messages sent to the collector.",
                        Some(Unit::Bytes),
                        s.octets.load(Relaxed),
                    ),
                    (
                        "export_messages",
                        "IPFIX messages (or JSON lines) sent to the collector.",
                        None,
                        s.messages.load(Relaxed),
                    ),
                    (
                        "export_connect_failures",
                        "Failed attempts to connect to a TCP or TLS collector, handshakes included.",
                        None,
                        s.connect_failures.load(Relaxed),
                    ),
                ],
            )?;
            encode_gauges(
                out,
                [
                    (
                        "export_queued_records",
                        "Records waiting in the hand-off from the flow table to the exporter.",
                        s.queued.load(Relaxed),
                    ),
                    (
                        "export_buffered_records",
                        "Records held for the collector: a TCP or TLS collector's buffer, a line being written.",
                        s.buffered.load(Relaxed),
                    ),
                ],
            )
        }));
    }
}

impl Sending for ExportStats {
    fn can_send(&self) -> bool {
        self.ready.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{assert_lines, registry, render, Format};

    #[test]
    fn export_counters() {
        let export = Arc::new(ExportStats::default());
        export.messages.store(4, Relaxed);
        export.records.store(2, Relaxed);
        export.octets.store(512, Relaxed);
        export.not_sent.store(1, Relaxed);
        export.errors.store(3, Relaxed);
        export.cut.store(6, Relaxed);
        export.connect_failures.store(7, Relaxed);
        export.queued.store(8, Relaxed);
        export.buffered.store(9, Relaxed);
        let mut registry = registry();
        export.register(&mut registry);
        assert_lines(
            &registry,
            &[
                "podflow_export_records_total 2",
                "podflow_export_records_not_sent_total 1",
                "podflow_export_errors_total 3",
                "podflow_export_records_cut_total 6",
                "podflow_export_bytes_total 512",
                "podflow_export_messages_total 4",
                "podflow_export_connect_failures_total 7",
                "podflow_export_queued_records 8",
                "podflow_export_buffered_records 9",
            ],
        );
        let body = render(&registry, Format::OpenMetrics).unwrap();
        assert!(
            body.contains("\n# UNIT podflow_export_bytes bytes\n"),
            "{body}"
        );
    }
}
