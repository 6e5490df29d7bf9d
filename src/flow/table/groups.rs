//! Shares of the flow table: observation points gathered into groups (node mode makes one
//! per pod network namespace), each allowed a bounded number of live flows, so that one
//! group's flood of new flows cannot fill the table and have every other group's flows
//! ended early. A new flow of a group at its share is not metered, and counted.
//!
//! Lock-free: a point's group and each group's count are atomics in fixed arrays, read and
//! changed once per new or ended flow, never per packet of a live flow.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Points remembered, by point modulo this (points are handed out in order and never
/// reused, and a point's flows end before 65536 newer points exist).
const POINTS: usize = 1 << 16;
/// Groups at once (pod namespaces of one node).
pub const GROUPS: usize = 4096;

/// Which group each point is in, and each group's live flows.
pub struct Groups {
    /// `group + 1` of each point (index: point modulo [`POINTS`]); 0 for none.
    of_point: Box<[AtomicU32]>,
    live: Box<[AtomicU32]>,
    /// New flows refused, per group and in all.
    refused: Box<[AtomicU64]>,
    refused_total: AtomicU64,
    /// Live flows a group may hold; no limit until [`Groups::set_share`].
    share: AtomicU32,
}

impl Default for Groups {
    fn default() -> Groups {
        Groups::new()
    }
}

impl Groups {
    /// Groups without a limit yet.
    pub fn new() -> Groups {
        let zeros32 = |n| (0..n).map(|_| AtomicU32::new(0)).collect();
        Groups {
            of_point: zeros32(POINTS),
            live: zeros32(GROUPS),
            refused: (0..GROUPS).map(|_| AtomicU64::new(0)).collect(),
            refused_total: AtomicU64::new(0),
            share: AtomicU32::new(u32::MAX),
        }
    }

    /// Each group may hold `share` live flows (at least 1) from now on.
    pub fn set_share(&self, share: usize) {
        let share = u32::try_from(share.max(1)).unwrap_or(u32::MAX);
        self.share.store(share, Relaxed);
    }

    /// Puts `point` in `group` (`None`: in none, no share applies). `group` must be below
    /// [`GROUPS`].
    pub fn assign(&self, point: u32, group: Option<u32>) {
        let value = group.map_or(0, |g| g.min(GROUPS as u32 - 1) + 1);
        self.of_point[point as usize % POINTS].store(value, Relaxed);
    }

    fn group(&self, point: u32) -> Option<usize> {
        match self.of_point[point as usize % POINTS].load(Relaxed) {
            0 => None,
            g => Some(g as usize - 1),
        }
    }

    /// A new flow at `point` may start: false when its group holds its share (counted).
    #[inline]
    pub fn take(&self, point: u32) -> bool {
        let Some(g) = self.group(point) else {
            return true;
        };
        let share = self.share.load(Relaxed);
        let taken = self.live[g]
            .fetch_update(Relaxed, Relaxed, |n| (n < share).then_some(n + 1))
            .is_ok();
        if !taken {
            self.refused[g].fetch_add(1, Relaxed);
            self.refused_total.fetch_add(1, Relaxed);
        }
        taken
    }

    /// A flow at `point` has ended and left the table.
    #[inline]
    pub fn give_back(&self, point: u32) {
        if let Some(g) = self.group(point) {
            // Never below zero, even for a flow that started before its point was grouped.
            let _ = self.live[g].fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Live flows of `group`.
    pub fn live(&self, group: u32) -> usize {
        self.live[group as usize % GROUPS].load(Relaxed) as usize
    }

    /// New flows of `group` refused since start.
    pub fn refused(&self, group: u32) -> u64 {
        self.refused[group as usize % GROUPS].load(Relaxed)
    }

    /// New flows refused since start, every group.
    pub fn refused_total(&self) -> u64 {
        self.refused_total.load(Relaxed)
    }

    /// Forgets `group`'s refusals, for its next namespace.
    pub fn reset(&self, group: u32) {
        self.refused[group as usize % GROUPS].store(0, Relaxed);
    }

    /// The share of each group.
    pub fn share(&self) -> usize {
        self.share.load(Relaxed) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{FlowKey, FlowTable, FlowTableConfig, Packet, NANOS_PER_SEC, PROTO_UDP};

    /// A UDP packet at `point` from port `port`.
    fn at(point: u32, port: u16) -> Packet {
        Packet {
            key: FlowKey {
                src: 0x0a00_0001,
                dst: 0x0a00_0002,
                src_port: port,
                dst_port: 53,
                proto: PROTO_UDP,
                point,
                ..FlowKey::default()
            },
            octets: 100,
            ..Packet::default()
        }
    }

    #[test]
    fn a_flood_in_one_group_leaves_the_others_flows_alone() {
        let s = NANOS_PER_SEC;
        let t = FlowTable::new(FlowTableConfig {
            idle_timeout: 15 * s,
            active_timeout: 60 * s,
            tcp_end_linger: s,
            max_flows: 100,
            max_backlog: usize::MAX,
            biflow: true,
            npm: false,
            l7: false,
        });
        t.groups().set_share(40);
        t.groups().assign(1, Some(0));
        t.groups().assign(2, Some(1));
        // The steady flow of point 2, then 1000 new flows at point 1.
        t.update(&at(2, 7), s);
        for port in 0..1000 {
            t.update(&at(1, 1000 + port), s);
        }
        t.update(&at(2, 7), 2 * s);
        assert_eq!(
            (t.len(), t.groups().live(0), t.groups().live(1)),
            (41, 40, 1)
        );
        assert_eq!(t.groups().refused(0), 960);
        assert_eq!(t.stats().evictions, 0, "nothing was ended early");
        let mut out = Vec::new();
        t.flush(3 * s, &mut out);
        let steady = out.iter().find(|r| r.key.point == 2).unwrap();
        assert_eq!(steady.forward.packets, 2, "{steady:?}");
        // Ended flows give their share back.
        assert_eq!((t.groups().live(0), t.groups().live(1)), (0, 0));
        t.update(&at(1, 5), 4 * s);
        assert_eq!(t.groups().live(0), 1);
    }

    #[test]
    fn a_group_holds_its_share_and_no_more() {
        let g = Groups::new();
        g.set_share(2);
        g.assign(7, Some(3));
        g.assign(8, Some(3));
        assert!(g.take(7) && g.take(8));
        assert!(!g.take(7), "the share of group 3 is taken");
        assert_eq!((g.live(3), g.refused(3), g.refused_total()), (2, 1, 1));
        // Points of no group, or of another, are not limited by it.
        assert!(g.take(9));
        g.assign(10, Some(4));
        assert!(g.take(10));
        g.give_back(8);
        assert!(g.take(7));
        // Giving back more than was taken stops at zero.
        for _ in 0..5 {
            g.give_back(10);
        }
        assert_eq!(g.live(4), 0);
        g.assign(10, None);
        assert!((0..10).all(|_| g.take(10)));
    }
}
