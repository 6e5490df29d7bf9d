//! The per-capture-thread handle on the shared flow table: packets metered one at a time
//! ([`Meter::observe`]), or gathered and metered a batch at a time ([`Meter::push`],
//! [`Meter::flush`]), which is faster when they are many.

use std::sync::Arc;

use super::app::{is_candidate, Wants};
use super::frag::FragmentTracker;
use super::key::{FlowKey, Fragment, Nanos, Packet};
use super::table::{FlowTable, MAX_BATCH};

/// Flows whose initiator's next segments are wanted (a ClientHello not yet whole) that one
/// capture thread remembers at most; the oldest is forgotten first.
const AWAITED: usize = 8;

/// What one capture thread needs to meter its packets: the shared table, its own fragment
/// tracker and the observation point (capture interface) it reads.
pub struct Meter {
    table: Arc<FlowTable>,
    frags: FragmentTracker,
    point: u32,
    /// Packets pushed and not metered yet (at most [`MAX_BATCH`]).
    pending: Vec<(Packet, Nanos)>,
    /// Read application identity from payloads (the table's `l7`).
    l7: bool,
    /// Directional keys of flows whose next segments go to the table with their payload.
    awaited: [FlowKey; AWAITED],
    awaited_len: usize,
}

impl Meter {
    /// A meter for packets seen on observation point `point`.
    pub fn new(table: Arc<FlowTable>, point: u32) -> Meter {
        Meter {
            l7: table.config().l7,
            awaited: [FlowKey::default(); AWAITED],
            awaited_len: 0,
            table,
            frags: FragmentTracker::new(),
            point,
            pending: Vec::with_capacity(MAX_BATCH),
        }
    }

    /// Meters one decoded packet seen at `now`: sets its observation point, gives a later
    /// fragment the ports of its first fragment, and updates the table. `frame` is the
    /// frame `pkt` was decoded from (its payload may carry application identity).
    #[inline]
    pub fn observe(&mut self, mut pkt: Packet, now: Nanos, frame: &[u8]) {
        pkt.key.point = self.point;
        if pkt.fragment != Fragment::Whole {
            self.frags.resolve(&mut pkt);
        }
        if !self.with_payload(&pkt, now, frame) {
            self.table.update(&pkt, now);
        }
    }

    /// Like [`Meter::observe`], but the packet waits with others for [`Meter::flush`] (or
    /// until a batch is full). Flush before anything reads the table or its clock moves.
    /// `frame` is the frame `pkt` was decoded from: a payload that may carry application
    /// identity (and the rest of a ClientHello) goes to the table at once, with the
    /// packets before it.
    #[inline]
    pub fn push(&mut self, mut pkt: Packet, now: Nanos, frame: &[u8]) {
        pkt.key.point = self.point;
        if pkt.fragment != Fragment::Whole {
            self.frags.resolve(&mut pkt);
        }
        if self.with_payload(&pkt, now, frame) {
            return;
        }
        self.pending.push((pkt, now));
        if self.pending.len() == MAX_BATCH {
            self.flush();
        }
    }

    /// Meters `pkt` at once with its payload (the packets pushed before it first) when
    /// the payload may carry application identity, or its flow waits for more of it;
    /// false when it is an ordinary packet, left to the caller.
    #[inline]
    fn with_payload(&mut self, pkt: &Packet, now: Nanos, frame: &[u8]) -> bool {
        if !self.l7 || pkt.payload_at == 0 {
            return false;
        }
        let payload = pkt.payload(frame);
        if !is_candidate(pkt, payload) && !self.is_awaited(&pkt.key) {
            return false;
        }
        self.flush();
        let wants = self.table.update_payload(pkt, payload, now);
        self.await_more(&pkt.key, wants);
        true
    }

    #[inline]
    fn is_awaited(&self, key: &FlowKey) -> bool {
        self.awaited_len != 0 && self.awaited[..self.awaited_len].contains(key)
    }

    /// Remembers `key` when its flow wants more of its segments, forgets it otherwise.
    fn await_more(&mut self, key: &FlowKey, wants: Wants) {
        let known = self.awaited[..self.awaited_len]
            .iter()
            .position(|k| k == key);
        match (wants, known) {
            (Wants::MoreFromClient, None) => {
                if self.awaited_len == AWAITED {
                    self.awaited.copy_within(1.., 0);
                    self.awaited_len -= 1;
                }
                self.awaited[self.awaited_len] = *key;
                self.awaited_len += 1;
            }
            (Wants::Nothing, Some(at)) => {
                self.awaited.copy_within(at + 1..self.awaited_len, at);
                self.awaited_len -= 1;
            }
            _ => {}
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
