//! Capture counters shared with the exporter (options records) and metrics. Capture
//! threads count locally and publish here in batches, never per packet.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::telemetry::{collector, encode_counters, Registry};

/// Totals over every capture thread of the process.
#[derive(Debug, Default)]
pub struct CaptureStats {
    /// Frames read from the file or the socket.
    pub frames: AtomicU64,
    /// Frames that were IP and went into the flow table.
    pub metered: AtomicU64,
    /// Frames not metered: not IP, or not decodable.
    pub ignored: AtomicU64,
    /// Frames the kernel dropped before podflow could read them.
    pub kernel_drops: AtomicU64,
}

impl CaptureStats {
    /// Frames that did not make it into a flow, for ignoredPacketTotalCount.
    pub fn not_metered(&self) -> u64 {
        self.ignored.load(Relaxed) + self.kernel_drops.load(Relaxed)
    }

    /// Registers `podflow_capture_packets_total`, `podflow_capture_ignored_packets_total`
    /// and `podflow_capture_dropped_packets_total`.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        let s = self.clone();
        registry.register_collector(collector(move |out| {
            encode_counters(
                out,
                [
                    (
                        "capture_packets",
                        "Frames read from the interfaces or the capture file.",
                        None,
                        s.frames.load(Relaxed),
                    ),
                    (
                        "capture_ignored_packets",
                        "Frames not metered: not IP, or not decodable.",
                        None,
                        s.ignored.load(Relaxed),
                    ),
                    (
                        "capture_dropped_packets",
                        "Frames the kernel dropped before podflow could read them.",
                        None,
                        s.kernel_drops.load(Relaxed),
                    ),
                ],
            )
        }));
    }
}

/// A capture thread's own counters, published to [`CaptureStats`] now and then.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalStats {
    pub frames: u64,
    pub metered: u64,
    pub ignored: u64,
}

impl LocalStats {
    /// Adds the counts to the shared totals and starts again from zero.
    pub fn publish(&mut self, to: &CaptureStats) {
        to.frames.fetch_add(self.frames, Relaxed);
        to.metered.fetch_add(self.metered, Relaxed);
        to.ignored.fetch_add(self.ignored, Relaxed);
        *self = LocalStats::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{assert_lines, registry};

    #[test]
    fn capture_counters() {
        let stats = Arc::new(CaptureStats::default());
        stats.frames.store(10, Relaxed);
        stats.ignored.store(2, Relaxed);
        stats.kernel_drops.store(1, Relaxed);
        let mut registry = registry();
        stats.register(&mut registry);
        assert_lines(
            &registry,
            &[
                "podflow_capture_packets_total 10",
                "podflow_capture_ignored_packets_total 2",
                "podflow_capture_dropped_packets_total 1",
                "# TYPE podflow_capture_packets_total counter",
            ],
        );
        assert_eq!(stats.not_metered(), 3);
    }
}
