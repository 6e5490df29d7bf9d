//! What the exporter has done since start, shared with metrics and health checks.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::telemetry::{encode_counters, Registry, Sending, Unit};

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

    /// Registers `podflow_export_records_total`, `podflow_export_records_not_sent_total`,
    /// `podflow_export_errors_total`, `podflow_export_bytes_total` and
    /// `podflow_export_messages_total`.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        registry.register_collector(Box::new(ExportCollector(self.clone())));
    }
}

impl Sending for ExportStats {
    fn can_send(&self) -> bool {
        self.ready.load(Relaxed)
    }
}

#[derive(Debug)]
struct ExportCollector(Arc<ExportStats>);

impl Collector for ExportCollector {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        encode_counters(
            &mut out,
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
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{registry, render, Format};

    #[test]
    fn export_counters() {
        let export = Arc::new(ExportStats::default());
        export.messages.store(4, Relaxed);
        export.records.store(2, Relaxed);
        export.octets.store(512, Relaxed);
        export.not_sent.store(1, Relaxed);
        export.errors.store(3, Relaxed);
        let mut registry = registry();
        export.register(&mut registry);
        let body = render(&registry, Format::Prometheus).unwrap();
        for line in [
            "podflow_export_records_total 2",
            "podflow_export_records_not_sent_total 1",
            "podflow_export_errors_total 3",
            "podflow_export_bytes_total 512",
            "podflow_export_messages_total 4",
        ] {
            assert!(
                body.lines().any(|l| l == line),
                "no {line:?} in
{body}"
            );
        }
        let body = render(&registry, Format::OpenMetrics).unwrap();
        assert!(
            body.contains("\n# UNIT podflow_export_bytes bytes\n"),
            "{body}"
        );
    }
}
