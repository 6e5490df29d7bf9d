//! The state of one live flow and the rules that end it (IPFIX.md "Flow keys").
//!
//! Every rule is a due time computed from packet times alone (the last packet plus the idle
//! timeout or the TCP linger, the first packet of the current piece plus the active timeout),
//! so a flow ends the same way whether a sweep or the next packet notices it.

use super::FlowTableConfig;
use crate::flow::app::{App, Wants};
use crate::flow::ext::FlowExt;
use crate::flow::key::{tcp_flags, FlowKey, Nanos, Packet, PROTO_TCP};
use crate::flow::perf::TcpPerf;
use crate::flow::record::{Counters, EndReason, FlowRecord};

/// The initiator sent a FIN.
const FIN_FWD: u8 = 1;
/// The responder sent a FIN.
const FIN_REV: u8 = 2;
/// Either side sent a RST.
const RST: u8 = 4;

/// What the table keeps per live flow.
///
/// The counters hold the current piece only: they are reset each time an active-timeout
/// piece is exported. An empty piece (no packet since the last cut) keeps the flow alive
/// for the initiator side and the TCP state, and ends without a record.
#[derive(Clone, Debug)]
pub(super) struct Flow {
    /// First packet of the current piece (meaningless while the piece is empty).
    first: Nanos,
    /// Last packet of the flow, in either direction.
    pub(super) last: Nanos,
    /// Packets and octets of the current piece: initiator, responder.
    packets: [u64; 2],
    octets: [u64; 2],
    /// TCP flags ORed over the current piece: initiator, responder.
    flags: [u16; 2],
    /// TOS of the flow's first packet.
    tos: u8,
    /// The initiator's packets have the canonical key's endpoints swapped.
    initiator_swapped: bool,
    /// `FIN_FWD | FIN_REV | RST` seen so far; survives active-timeout cuts.
    tcp_end: u8,
    /// An active-timeout piece of it has been exported: it is a conversation, not noise.
    was_cut: bool,
    /// TCP performance and application identity, for the flows that have them.
    pub(super) ext: Option<Box<FlowExt>>,
}

impl Flow {
    /// A new flow whose initiator sent `pkt`.
    #[inline]
    pub(super) fn new(pkt: &Packet, swapped: bool, now: Nanos) -> Flow {
        let mut flow = Flow {
            ext: None,
            first: now,
            last: now,
            packets: [0; 2],
            octets: [0; 2],
            flags: [0; 2],
            tos: pkt.tos,
            initiator_swapped: swapped,
            tcp_end: 0,
            was_cut: false,
        };
        flow.add(pkt, swapped, now, false);
        flow
    }

    /// Counts `pkt` (seen at `now`, with the canonical key's endpoints `swapped` or not);
    /// with `npm`, follows a TCP flow's performance from its second packet on (a lone SYN
    /// costs nothing more).
    #[inline]
    pub(super) fn add(&mut self, pkt: &Packet, swapped: bool, now: Nanos, npm: bool) {
        let forward = swapped == self.initiator_swapped;
        if npm && pkt.key.proto == PROTO_TCP {
            self.add_tcp_perf(pkt, forward, now);
        }
        if self.is_empty() || now < self.first {
            self.first = now;
        }
        self.last = self.last.max(now);
        let side = usize::from(!forward);
        self.packets[side] += 1;
        self.octets[side] += u64::from(pkt.octets);
        self.flags[side] |= pkt.tcp_flags;
        if pkt.key.proto == PROTO_TCP {
            if pkt.tcp_flags & tcp_flags::RST != 0 {
                self.tcp_end |= RST;
            }
            if pkt.tcp_flags & tcp_flags::FIN != 0 {
                self.tcp_end |= if forward { FIN_FWD } else { FIN_REV };
            }
        }
    }

    #[inline]
    fn add_tcp_perf(&mut self, pkt: &Packet, forward: bool, now: Nanos) {
        let ext = self.ext.get_or_insert_with(Box::default);
        let first = (self.first, self.flags[0], self.packets);
        let perf = ext.tcp.get_or_insert_with(|| {
            // Made at the second packet: the first was a bare SYN, or the flow is seen
            // from its middle.
            let syn =
                first.2 == [1, 0] && first.1 & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
            TcpPerf::new(syn, first.0)
        });
        perf.add(pkt, forward, now);
    }

    /// Reads a payload of this flow (`pkt` already counted) into its application state.
    pub(super) fn add_payload(
        &mut self,
        pkt: &Packet,
        swapped: bool,
        payload: &[u8],
        now: Nanos,
    ) -> Wants {
        let forward = swapped == self.initiator_swapped;
        match self.ext.as_mut().and_then(|e| e.app.as_mut()) {
            Some(app) => app.add(pkt, forward, payload, now),
            None => match App::start(pkt, forward, payload, now) {
                Some((app, wants)) => {
                    self.ext.get_or_insert_with(Box::default).app = Some(Box::new(app));
                    wants
                }
                None => Wants::Nothing,
            },
        }
    }

    /// No packet since the flow started or since the last active-timeout cut.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.packets == [0; 2]
    }

    /// The TCP teardown is complete: both FINs or a RST in biflow mode; in uniflow mode the
    /// one direction this flow sees sent a FIN or a RST.
    #[inline]
    fn tcp_ended(&self, biflow: bool) -> bool {
        if biflow {
            self.tcp_end & RST != 0 || self.tcp_end & (FIN_FWD | FIN_REV) == FIN_FWD | FIN_REV
        } else {
            self.tcp_end != 0
        }
    }

    /// The earliest rule that applies and when it falls due. On a tie, ending the flow wins
    /// over cutting a piece, and a finished TCP teardown over the idle timeout.
    #[inline]
    pub(super) fn next_event(&self, cfg: &FlowTableConfig) -> (Nanos, EndReason) {
        let mut due = (
            self.last.saturating_add(cfg.idle_timeout),
            EndReason::IdleTimeout,
        );
        if self.tcp_ended(cfg.biflow) {
            let end = self.last.saturating_add(cfg.tcp_end_linger);
            if end <= due.0 {
                due = (end, EndReason::EndOfFlow);
            }
        }
        if !self.is_empty() {
            let cut = self.first.saturating_add(cfg.active_timeout);
            if cut < due.0 {
                due = (cut, EndReason::ActiveTimeout);
            }
        }
        due
    }

    /// The record of the current piece, keyed from the initiator's side, with a copy of
    /// what the flow carries besides its counters.
    pub(super) fn record(&self, canonical: &FlowKey, reason: EndReason) -> FlowRecord {
        let mut record = self.record_counters(canonical, reason);
        record.ext = self.ext.clone();
        record
    }

    /// The record of the flow's last piece: what it carries moves into the record.
    pub(super) fn take_record(&mut self, canonical: &FlowKey, reason: EndReason) -> FlowRecord {
        let mut record = self.record_counters(canonical, reason);
        record.ext = self.ext.take();
        record
    }

    fn record_counters(&self, canonical: &FlowKey, reason: EndReason) -> FlowRecord {
        let key = if self.initiator_swapped {
            canonical.reversed()
        } else {
            *canonical
        };
        FlowRecord {
            key,
            start: self.first,
            end: self.last,
            forward: self.counters(0),
            reverse: self.counters(1),
            tos: self.tos,
            end_reason: reason,
            ext: None,
        }
    }

    /// One packet and no answer: a SYN or a probe of a flood or a scan, far more likely
    /// than a conversation to be nothing but noise.
    #[inline]
    pub(super) fn looks_like_noise(&self) -> bool {
        self.packets == [1, 0] && !self.was_cut
    }

    /// Where the flow stands in the order of eviction, lowest first: flows that look like
    /// noise before the others, and within each, the oldest last packet first. The
    /// timestamp loses its lowest bit to the class.
    #[inline]
    pub(super) fn eviction_rank(&self) -> u64 {
        u64::from(!self.looks_like_noise()) << 63 | self.last >> 1
    }

    /// Starts a new, empty piece after an active-timeout record.
    #[inline]
    pub(super) fn cut(&mut self) {
        self.was_cut = true;
        self.packets = [0; 2];
        self.octets = [0; 2];
        self.flags = [0; 2];
        if let Some(tcp) = self.ext.as_mut().and_then(|e| e.tcp.as_mut()) {
            tcp.cut();
        }
    }

    fn counters(&self, side: usize) -> Counters {
        Counters {
            packets: self.packets[side],
            octets: self.octets[side],
            tcp_flags: self.flags[side],
        }
    }
}
