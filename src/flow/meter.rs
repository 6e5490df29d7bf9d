//! The per-capture-thread handle on the shared flow table: packets metered one at a time
//! ([`Meter::observe`]), or gathered and metered a batch at a time ([`Meter::push`],
//! [`Meter::flush`]), which is faster when they are many.

use std::sync::Arc;

use super::frag::FragmentTracker;
use super::key::{Fragment, Nanos, Packet};
use super::table::{FlowTable, MAX_BATCH};

/// What one capture thread needs to meter its packets: the shared table, its own fragment
/// tracker and the observation point (capture interface) it reads.
pub struct Meter {
    table: Arc<FlowTable>,
    frags: FragmentTracker,
    point: u32,
    /// Packets pushed and not metered yet (at most [`MAX_BATCH`]).
    pending: Vec<(Packet, Nanos)>,
}

impl Meter {
    /// A meter for packets seen on observation point `point`.
    pub fn new(table: Arc<FlowTable>, point: u32) -> Meter {
        Meter {
            table,
            frags: FragmentTracker::new(),
            point,
            pending: Vec::with_capacity(MAX_BATCH),
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

    /// Like [`Meter::observe`], but the packet waits with others for [`Meter::flush`] (or
    /// until a batch is full). Flush before anything reads the table or its clock moves.
    #[inline]
    pub fn push(&mut self, mut pkt: Packet, now: Nanos) {
        pkt.key.point = self.point;
        if pkt.fragment != Fragment::Whole {
            self.frags.resolve(&mut pkt);
        }
        self.pending.push((pkt, now));
        if self.pending.len() == MAX_BATCH {
            self.flush();
        }
    }

    /// Meters the packets pushed since the last flush.
    #[inline]
    pub fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.table.update_batch(&self.pending);
            self.pending.clear();
        }
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
