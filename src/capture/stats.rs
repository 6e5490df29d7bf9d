//! Capture counters shared with the exporter (options records) and, later, metrics.
//! Capture threads count locally and publish here in batches, never per packet.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
