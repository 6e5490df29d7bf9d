//! Matching non-first IP fragments to the ports of their first fragment (IPFIX.md "Flow
//! keys"), so that a fragmented datagram is counted in one flow.
//!
//! One tracker per capture thread, no locking. A fixed set of slots, four per bucket, the
//! oldest of a bucket replaced; nothing is allocated after construction. An entry stays
//! until it is replaced, since a datagram may have many later fragments.

use std::hash::{BuildHasher, Hasher};

use super::key::{FlowKey, Fragment, Packet};

/// Slots per bucket.
const WAYS: usize = 4;
/// Slots in a tracker made by [`FragmentTracker::new`].
const DEFAULT_SLOTS: usize = 1024;

/// Bounded map from (addresses, protocol, VLAN, IP identification) to the ports of the
/// datagram's first fragment.
#[derive(Debug)]
pub struct FragmentTracker {
    slots: Box<[Slot]>,
    /// Buckets minus one (a power of two minus one).
    mask: usize,
    /// Insertion counter: the slot with the smallest `seq` in a bucket is the oldest.
    seq: u64,
    hasher: foldhash::fast::RandomState,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// 0 for a free slot.
    seq: u64,
    src: u128,
    dst: u128,
    id: u32,
    vlan: u16,
    proto: u8,
    ipv6: bool,
    src_port: u16,
    dst_port: u16,
}

impl Slot {
    #[inline]
    fn matches(&self, key: &FlowKey, id: u32) -> bool {
        self.seq != 0
            && self.id == id
            && self.src == key.src
            && self.dst == key.dst
            && self.proto == key.proto
            && self.ipv6 == key.ipv6
            && self.vlan == key.vlan
    }
}

impl Default for FragmentTracker {
    fn default() -> Self {
        FragmentTracker::new()
    }
}

impl FragmentTracker {
    /// A tracker of 1024 datagrams.
    pub fn new() -> FragmentTracker {
        FragmentTracker::with_slots(DEFAULT_SLOTS)
    }

    /// A tracker of at least `slots` datagrams (rounded up to a power of two, at least 4).
    fn with_slots(slots: usize) -> FragmentTracker {
        let buckets = slots.div_ceil(WAYS).max(1).next_power_of_two();
        FragmentTracker {
            slots: vec![Slot::default(); buckets * WAYS].into_boxed_slice(),
            mask: buckets - 1,
            seq: 0,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Remembers the ports of a first fragment, or gives a later fragment the ports of its
    /// first fragment when known (otherwise they stay 0 and the packet is still metered).
    /// Unfragmented packets are left alone.
    pub fn resolve(&mut self, pkt: &mut Packet) {
        match pkt.fragment {
            Fragment::Whole => {}
            Fragment::First { id } => self.remember(&pkt.key, id),
            Fragment::Later { id } => {
                let bucket = self.bucket(&pkt.key, id);
                if let Some(slot) = self.slots[bucket].iter().find(|s| s.matches(&pkt.key, id)) {
                    pkt.key.src_port = slot.src_port;
                    pkt.key.dst_port = slot.dst_port;
                }
            }
        }
    }

    fn remember(&mut self, key: &FlowKey, id: u32) {
        self.seq += 1;
        let bucket = self.bucket(key, id);
        let ways = &mut self.slots[bucket];
        let slot = match ways.iter().position(|s| s.matches(key, id)) {
            Some(i) => &mut ways[i],
            None => ways
                .iter_mut()
                .min_by_key(|s| s.seq)
                .expect("a bucket has WAYS slots"),
        };
        *slot = Slot {
            seq: self.seq,
            src: key.src,
            dst: key.dst,
            id,
            vlan: key.vlan,
            proto: key.proto,
            ipv6: key.ipv6,
            src_port: key.src_port,
            dst_port: key.dst_port,
        };
    }

    /// The slot range of the bucket for a datagram.
    #[inline]
    fn bucket(&self, key: &FlowKey, id: u32) -> std::ops::Range<usize> {
        let mut h = self.hasher.build_hasher();
        h.write_u128(key.src);
        h.write_u128(key.dst);
        h.write_u64(u64::from(id) | u64::from(key.proto) << 32 | u64::from(key.vlan) << 40);
        let start = (h.finish() as usize & self.mask) * WAYS;
        start..start + WAYS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::PROTO_UDP;

    fn frag(src: u128, dst: u128, ports: (u16, u16), fragment: Fragment) -> Packet {
        Packet {
            key: FlowKey {
                src,
                dst,
                src_port: ports.0,
                dst_port: ports.1,
                proto: PROTO_UDP,
                ..FlowKey::default()
            },
            octets: 1500,
            fragment,
            ..Packet::default()
        }
    }

    #[test]
    fn later_fragments_get_the_first_fragments_ports() {
        let mut t = FragmentTracker::new();
        let mut first = frag(1, 2, (5353, 53), Fragment::First { id: 7 });
        t.resolve(&mut first);
        assert_eq!((first.key.src_port, first.key.dst_port), (5353, 53));
        for _ in 0..3 {
            let mut later = frag(1, 2, (0, 0), Fragment::Later { id: 7 });
            t.resolve(&mut later);
            assert_eq!((later.key.src_port, later.key.dst_port), (5353, 53));
        }
    }

    #[test]
    fn unknown_or_mismatched_later_fragments_keep_zero_ports() {
        let mut t = FragmentTracker::new();
        t.resolve(&mut frag(1, 2, (5353, 53), Fragment::First { id: 7 }));
        for (src, dst, id) in [(1, 2, 8), (2, 1, 7), (1, 3, 7)] {
            let mut later = frag(src, dst, (0, 0), Fragment::Later { id });
            t.resolve(&mut later);
            assert_eq!((later.key.src_port, later.key.dst_port), (0, 0));
        }
    }

    #[test]
    fn whole_packets_are_untouched() {
        let mut t = FragmentTracker::new();
        t.resolve(&mut frag(1, 2, (5353, 53), Fragment::First { id: 7 }));
        let mut whole = frag(1, 2, (0, 0), Fragment::Whole);
        t.resolve(&mut whole);
        assert_eq!((whole.key.src_port, whole.key.dst_port), (0, 0));
    }

    #[test]
    fn bounded_oldest_replaced() {
        let mut t = FragmentTracker::with_slots(4);
        assert_eq!(t.slots.len(), 4);
        for id in 0..5 {
            t.resolve(&mut frag(
                1,
                2,
                (1000 + id as u16, 53),
                Fragment::First { id },
            ));
        }
        let mut oldest = frag(1, 2, (0, 0), Fragment::Later { id: 0 });
        t.resolve(&mut oldest);
        assert_eq!(oldest.key.src_port, 0);
        for id in 1..5 {
            let mut later = frag(1, 2, (0, 0), Fragment::Later { id });
            t.resolve(&mut later);
            assert_eq!(later.key.src_port, 1000 + id as u16);
        }
    }

    #[test]
    fn a_repeated_first_fragment_updates_its_entry() {
        let mut t = FragmentTracker::with_slots(4);
        t.resolve(&mut frag(1, 2, (1, 53), Fragment::First { id: 9 }));
        t.resolve(&mut frag(1, 2, (2, 53), Fragment::First { id: 9 }));
        for id in 10..13 {
            t.resolve(&mut frag(1, 2, (3, 53), Fragment::First { id }));
        }
        let mut later = frag(1, 2, (0, 0), Fragment::Later { id: 9 });
        t.resolve(&mut later);
        assert_eq!(later.key.src_port, 2);
    }
}
