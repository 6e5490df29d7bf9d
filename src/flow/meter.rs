//! The per-capture-thread handle on the shared flow table.

use std::sync::Arc;

use super::frag::FragmentTracker;
use super::key::{Fragment, Nanos, Packet};
use super::table::FlowTable;

/// What one capture thread needs to meter its packets: the shared table, its own fragment
/// tracker and the observation point (capture interface) it reads.
pub struct Meter {
    table: Arc<FlowTable>,
    frags: FragmentTracker,
    point: u32,
}

impl Meter {
    /// A meter for packets seen on observation point `point`.
    pub fn new(table: Arc<FlowTable>, point: u32) -> Meter {
        Meter {
            table,
            frags: FragmentTracker::new(),
            point,
        }
    }

    /// Meters one decoded packet seen at `now`: sets its observation point, gives a later
    /// fragment the ports of its first fragment, and updates the table.
    #[inline]
    pub fn observe(&mut self, mut pkt: Packet, now: Nanos) {
        pkt.key.point = self.point;
        if pkt.fragment != Fragment::Whole {
            self.frags.resolve(&mut pkt);
        }
        self.table.update(&pkt, now);
    }

    /// Meters the packets that follow as seen on observation point `point` (a capture
    /// thread that reads several interfaces switches before each one's frames).
    #[inline]
    pub fn set_point(&mut self, point: u32) {
        self.point = point;
    }

    /// The shared table.
    pub fn table(&self) -> &Arc<FlowTable> {
        &self.table
    }
}
