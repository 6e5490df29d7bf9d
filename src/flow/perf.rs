//! Network performance of one TCP flow, as the probe sees it: the handshake's round trip
//! split at the probe, the server's response time, retransmitted, out-of-order and
//! zero-window segments.
//!
//! Pure: packets in (key fields, flags, sequence numbers, times), figures out. Segments
//! are classified as Wireshark's TCP analysis does (`tcp.analysis.retransmission`,
//! which includes fast and spurious retransmissions, and `tcp.analysis.out_of_order`),
//! so that a capture of the same traffic read by tshark gives the same counts:
//! - a segment that carries data (or SYN/FIN) below the highest sequence number seen in
//!   its direction did not advance it; unless it is a keep-alive;
//! - all of it already acknowledged by the other side: a (spurious) retransmission;
//! - else, at the sequence number two or more duplicate ACKs asked for within 20 ms: a
//!   (fast) retransmission;
//! - else, within one handshake round trip (3 ms when unknown) of the segment that last
//!   advanced the sequence, and not ending where it did: out of order;
//! - else a retransmission.

use super::key::{tcp_flags, Nanos, Packet};

/// Time the out-of-order rule allows when the handshake's round trip is unknown.
const OOO_DEFAULT: Nanos = 3_000_000;
/// A retransmission this soon after the duplicate ACKs that asked for it is fast.
const FAST_RETRANSMIT_WINDOW: Nanos = 20_000_000;

/// What one direction of the connection has sent so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Side {
    /// The sequence number after the highest segment seen (0: none yet, as tshark).
    next_seq: u32,
    /// When `next_seq` last moved.
    next_at: Nanos,
    /// The acknowledgement number and window of the last segment, and when.
    last_ack: u32,
    last_ack_at: Nanos,
    last_window: u16,
    /// Duplicate ACKs in a row.
    dup_acks: u16,
    /// Segments counted as retransmitted, and their IP octets.
    retransmitted: u32,
    retransmitted_octets: u64,
}

/// The handshake's times, each 0 until seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Handshake {
    syn: Nanos,
    syn_ack: Nanos,
    ack: Nanos,
}

/// Performance state of one TCP flow; `forward` is the initiator's direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpPerf {
    sides: [Side; 2],
    handshake: Handshake,
    /// The flow was seen from its first SYN: the handshake figures can be trusted.
    from_start: bool,
    /// First data from the initiator, and the responder's first data after it.
    request_at: Nanos,
    response_at: Nanos,
    out_of_order: u32,
    zero_window: u32,
    /// Made at the flow's second packet, its first being a SYN the state never saw.
    syn_seen: bool,
    /// The handshake is not over: packets go through [`TcpPerf::opening_step`] first.
    opening: bool,
}

/// The figures of a TCP flow at export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFigures {
    /// Client (SYN/ACK to ACK) and server (SYN to SYN/ACK) network delay, microseconds;
    /// `None` when the probe did not see the whole handshake.
    pub handshake: Option<(u32, u32)>,
    /// The initiator's first data to the responder's first data after it, microseconds;
    /// 0 when no response was seen.
    pub response_time: u32,
    /// Retransmitted segments and their IP octets: initiator, responder.
    pub retransmitted: [u32; 2],
    pub retransmitted_octets: [u64; 2],
    pub out_of_order: u32,
    pub zero_window: u32,
}

impl Side {
    #[inline]
    fn count_retransmission(&mut self, octets: u32) {
        self.retransmitted += 1;
        self.retransmitted_octets += u64::from(octets);
    }
}

/// `a < b` in 32-bit sequence space.
#[inline]
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Microseconds from `from` to `to`, saturated.
fn micros(from: Nanos, to: Nanos) -> u32 {
    u32::try_from(to.saturating_sub(from) / 1000).unwrap_or(u32::MAX)
}

impl TcpPerf {
    /// State for a flow whose first packet the probe saw at `first_at`: a bare SYN
    /// (`first_was_syn`) makes it a flow seen from its start.
    pub fn new(first_was_syn: bool, first_at: Nanos) -> TcpPerf {
        TcpPerf {
            from_start: first_was_syn,
            syn_seen: first_was_syn,
            opening: true,
            handshake: Handshake {
                syn: if first_was_syn { first_at } else { 0 },
                ..Handshake::default()
            },
            ..TcpPerf::default()
        }
    }

    /// The handshake's round trip once complete (what bounds the out-of-order rule).
    fn round_trip(&self) -> Option<Nanos> {
        let h = &self.handshake;
        (self.from_start && h.ack != 0).then(|| h.ack.saturating_sub(h.syn))
    }

    /// Accounts for one segment, `forward` when the initiator sent it.
    #[inline]
    pub fn add(&mut self, pkt: &Packet, forward: bool, now: Nanos) {
        let flags = pkt.tcp_flags;
        if self.opening {
            self.opening_step(pkt, forward, now);
        }
        let seg = &pkt.tcp;
        let seglen = u32::from(pkt.payload_len);
        let control = flags & (tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST);
        if seg.window == 0 && control == 0 {
            self.zero_window += 1;
        }
        if seglen > 0 {
            if forward && self.request_at == 0 {
                self.request_at = now;
            } else if !forward && self.request_at != 0 && self.response_at == 0 {
                self.response_at = now;
            }
        }

        let ooo_window = self.round_trip();
        let [initiator, responder] = &mut self.sides;
        let (side, rev) = if forward {
            (initiator, &*responder)
        } else {
            (responder, &*initiator)
        };
        let syn_fin = u32::from(flags & (tcp_flags::SYN | tcp_flags::FIN) != 0);
        if seglen > 0 || syn_fin != 0 {
            let keep_alive = seglen <= 1
                && control == 0
                && side.next_seq != 0
                && seg.seq == side.next_seq.wrapping_sub(1);
            let end = seg.seq.wrapping_add(seglen);
            let not_advanced = !keep_alive
                && side.next_seq != 0
                && seq_lt(seg.seq, side.next_seq)
                && !(seglen > 1 && side.next_seq.wrapping_sub(1) == seg.seq);
            let spurious =
                !keep_alive && seglen > 0 && rev.last_ack != 0 && !seq_lt(rev.last_ack, end);
            if spurious {
                side.count_retransmission(pkt.octets);
            } else if not_advanced {
                let fast = rev.dup_acks >= 2
                    && rev.last_ack == seg.seq
                    && now.saturating_sub(rev.last_ack_at) < FAST_RETRANSMIT_WINDOW;
                let out_of_order = !fast
                    && now.saturating_sub(side.next_at) < ooo_window.unwrap_or(OOO_DEFAULT)
                    && side.next_seq != end.wrapping_add(syn_fin);
                if out_of_order {
                    self.out_of_order += 1;
                } else {
                    side.count_retransmission(pkt.octets);
                }
            }
            let next = end.wrapping_add(syn_fin);
            if side.next_seq == 0 || seq_lt(side.next_seq, next) {
                side.next_seq = next;
                side.next_at = now;
            }
        }
        if seg.ack != side.last_ack {
            side.dup_acks = 0;
        } else if seglen == 0 && control == 0 && seg.window == side.last_window {
            side.dup_acks = side.dup_acks.saturating_add(1);
        }
        side.last_ack = seg.ack;
        side.last_ack_at = now;
        side.last_window = seg.window;
    }

    /// The first packets of a connection seen from its start: the handshake's times,
    /// and what the initiator's SYN said, which the probe did not keep: a SYN/ACK tells
    /// what followed it, and a second SYN before that is it sent again.
    #[cold]
    fn opening_step(&mut self, pkt: &Packet, forward: bool, now: Nanos) {
        let flags = pkt.tcp_flags;
        let (syn, ack) = (flags & tcp_flags::SYN != 0, flags & tcp_flags::ACK != 0);
        self.handshake_step(forward, syn, ack, now);
        if self.from_start && self.sides[0].next_seq == 0 && self.handshake.syn != 0 {
            if forward && syn && !ack && self.handshake.syn_ack == 0 && self.syn_seen {
                self.sides[0].count_retransmission(pkt.octets);
            } else if !forward && syn && ack {
                self.sides[0].next_seq = pkt.tcp.ack;
                self.sides[0].next_at = self.handshake.syn;
            }
        }
        self.syn_seen = false;
        self.opening = self.from_start && self.handshake.ack == 0;
    }

    /// SYN, then SYN/ACK, then the initiator's first ACK: the three times of the handshake.
    fn handshake_step(&mut self, forward: bool, syn: bool, ack: bool, now: Nanos) {
        let h = &mut self.handshake;
        if !self.from_start || h.ack != 0 {
            return;
        }
        match (forward, syn, ack) {
            // The most recent SYN counts, as in tshark's initial RTT.
            (true, true, false) if h.syn_ack == 0 => h.syn = now,
            (false, true, true) if h.syn_ack == 0 => h.syn_ack = now,
            (true, false, true) if h.syn_ack != 0 => h.ack = now,
            _ => {}
        }
    }

    /// The figures so far.
    pub fn figures(&self) -> TcpFigures {
        let h = &self.handshake;
        TcpFigures {
            handshake: (self.from_start && h.ack != 0)
                .then(|| (micros(h.syn_ack, h.ack), micros(h.syn, h.syn_ack))),
            response_time: if self.response_at != 0 {
                micros(self.request_at, self.response_at)
            } else {
                0
            },
            retransmitted: [self.sides[0].retransmitted, self.sides[1].retransmitted],
            retransmitted_octets: [
                self.sides[0].retransmitted_octets,
                self.sides[1].retransmitted_octets,
            ],
            out_of_order: self.out_of_order,
            zero_window: self.zero_window,
        }
    }

    /// Starts the counters of a new piece (after an active-timeout record); what the
    /// connection is (sequence state, handshake, response time) stays.
    pub fn cut(&mut self) {
        for side in &mut self.sides {
            side.retransmitted = 0;
            side.retransmitted_octets = 0;
        }
        self.out_of_order = 0;
        self.zero_window = 0;
    }
}

#[cfg(test)]
mod tests;
