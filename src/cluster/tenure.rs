//! Who held an address when. Pod IPs are recycled within minutes: a flow is attributed to
//! the owner that held its address while the flow ran, never to the one that holds it now.
//! Each address keeps its owners with the times they held it; a tenure stays after it ends
//! until [`Tenures::forget_before`] drops it (a grace period), so that a record that
//! arrives late still finds the pod it belonged to. Pure: the cluster view feeds it the
//! API server's events, nothing here does I/O.
//!
//! A tenure starts when its owner is seen with the address and ends when the owner lets
//! it go (deleted, finished, another address). When the API server's events arrive late,
//! a later owner's start ends the earlier tenure: an address never has two owners at once.

use std::collections::HashMap;
use std::net::IpAddr;

use smallvec::SmallVec;

/// Milliseconds since 1970 (the time of IPFIX's flowStartMilliseconds/flowEndMilliseconds).
pub type Millis = i64;

/// The end of a tenure that has not ended.
pub const OPEN: Millis = Millis::MAX;

/// One owner's hold on one address, from `from` (included) to `until` (excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tenure<T> {
    pub owner: T,
    pub from: Millis,
    pub until: Millis,
}

/// An address's tenures: most addresses have had one owner within the grace, held in
/// place (no allocation of its own, and no second cache miss when it is looked up).
type List<T> = SmallVec<[Tenure<T>; 1]>;

/// Every address's tenures, oldest first, none overlapping.
#[derive(Debug)]
pub struct Tenures<T> {
    by_addr: HashMap<IpAddr, List<T>, foldhash::fast::RandomState>,
}

impl<T> Default for Tenures<T> {
    fn default() -> Self {
        Tenures {
            by_addr: HashMap::default(),
        }
    }
}

impl<T: Copy + Eq> Tenures<T> {
    /// `owner` holds `addr` from `from` on. Said again while it holds it, nothing changes.
    /// Another owner's tenure that is open at `from` ends there; when a later owner is
    /// already known (events out of order), this tenure ends where that one starts.
    pub fn claim(&mut self, addr: IpAddr, owner: T, from: Millis) {
        let list = self.by_addr.entry(addr).or_default();
        if list.iter().any(|t| t.owner == owner && t.until == OPEN) {
            return;
        }
        // The first tenure that starts after `from`: the new one goes before it.
        let at = list.partition_point(|t| t.from <= from);
        let until = list.get(at).map_or(OPEN, |next| next.from);
        if let Some(before) = at.checked_sub(1).map(|i| &mut list[i]) {
            before.until = before.until.min(from);
        }
        list.insert(at, Tenure { owner, from, until });
        // A tenure cut to nothing by one that starts at the same time says nothing.
        list.retain(|t| t.from < t.until);
    }

    /// `owner` lets `addr` go at `at` (deleted, finished, moved to another address). A
    /// release of a tenure that is not open changes nothing.
    pub fn release(&mut self, addr: IpAddr, owner: T, at: Millis) {
        let Some(list) = self.by_addr.get_mut(&addr) else {
            return;
        };
        if let Some(t) = list
            .iter_mut()
            .find(|t| t.owner == owner && t.until == OPEN)
        {
            t.until = at.max(t.from + 1);
        }
    }

    /// Who held `addr` at `t`, allowing `skew` milliseconds either way (the clocks of the
    /// probe and of the API server differ): the tenure that covers `t`, else the nearest
    /// one within `skew`.
    pub fn owner_at(&self, addr: &IpAddr, t: Millis, skew: Millis) -> Option<T> {
        let list = self.by_addr.get(addr)?;
        let at = list.partition_point(|x| x.from <= t);
        if let Some(held) = at.checked_sub(1).map(|i| &list[i]) {
            if t < held.until {
                return Some(held.owner);
            }
        }
        // Between tenures, or before the first: the nearest edge within `skew`.
        let after_end = at
            .checked_sub(1)
            .map(|i| &list[i])
            .map(|x| (t.saturating_sub(x.until).saturating_add(1), x.owner));
        let before_start = list.get(at).map(|x| (x.from - t, x.owner));
        [after_end, before_start]
            .into_iter()
            .flatten()
            .filter(|(gap, _)| *gap <= skew)
            .min_by_key(|(gap, _)| *gap)
            .map(|(_, owner)| owner)
    }

    /// Forgets the tenures that ended before `cutoff`; how many.
    pub fn forget_before(&mut self, cutoff: Millis) -> usize {
        let mut forgotten = 0;
        self.by_addr.retain(|_, list| {
            let before = list.len();
            list.retain(|t| t.until >= cutoff);
            forgotten += before - list.len();
            list.shrink_to_fit();
            !list.is_empty()
        });
        forgotten
    }

    /// Addresses with a tenure.
    pub fn addresses(&self) -> usize {
        self.by_addr.len()
    }

    /// Tenures held, open or ended.
    pub fn tenures(&self) -> usize {
        self.by_addr.values().map(|l| l.len()).sum()
    }

    /// The tenures of `addr`, oldest first.
    pub fn of(&self, addr: &IpAddr) -> &[Tenure<T>] {
        self.by_addr.get(addr).map_or(&[], |l| l.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_recycled_address_names_each_owner_for_its_own_time() {
        let mut t = Tenures::default();
        let a = ip("10.1.0.7");
        t.claim(a, 'A', 1_000);
        t.release(a, 'A', 5_000);
        t.claim(a, 'B', 6_000);
        assert_eq!(t.owner_at(&a, 999, 0), None);
        assert_eq!(t.owner_at(&a, 1_000, 0), Some('A'));
        assert_eq!(t.owner_at(&a, 4_999, 0), Some('A'));
        assert_eq!(t.owner_at(&a, 5_500, 0), None, "nobody held it between");
        assert_eq!(t.owner_at(&a, 6_000, 0), Some('B'));
        assert_eq!(t.owner_at(&a, i64::MAX - 1, 0), Some('B'));
        // Within the skew, the nearest edge: 5,200 is 201 ms after A, 800 before B.
        assert_eq!(t.owner_at(&a, 5_200, 1_000), Some('A'));
        assert_eq!(t.owner_at(&a, 5_900, 1_000), Some('B'));
        assert_eq!(t.owner_at(&a, 900, 200), Some('A'));
    }

    #[test]
    fn a_later_owner_ends_the_earlier_tenure_even_before_its_release_arrives() {
        let mut t = Tenures::default();
        let a = ip("10.1.0.7");
        t.claim(a, 'A', 1_000);
        t.claim(a, 'B', 3_000); // A's deletion has not arrived yet
        assert_eq!(t.owner_at(&a, 2_999, 0), Some('A'));
        assert_eq!(t.owner_at(&a, 3_000, 0), Some('B'));
        t.release(a, 'A', 4_000); // late: A's tenure already ended at 3,000
        assert_eq!(t.owner_at(&a, 3_500, 0), Some('B'));
        assert_eq!(t.of(&a).len(), 2);
    }

    #[test]
    fn events_out_of_order_still_give_one_owner_at_a_time() {
        let mut t = Tenures::default();
        let a = ip("fd00::7");
        t.claim(a, 'B', 3_000);
        t.claim(a, 'A', 1_000); // older, learnt later (a relist)
        assert_eq!(t.owner_at(&a, 2_000, 0), Some('A'));
        assert_eq!(t.owner_at(&a, 3_000, 0), Some('B'));
        assert_eq!(
            t.of(&a),
            [
                Tenure {
                    owner: 'A',
                    from: 1_000,
                    until: 3_000
                },
                Tenure {
                    owner: 'B',
                    from: 3_000,
                    until: OPEN
                }
            ]
        );
    }

    #[test]
    fn the_same_claim_again_changes_nothing_and_a_new_claim_after_release_is_a_new_tenure() {
        let mut t = Tenures::default();
        let a = ip("10.1.0.7");
        t.claim(a, 'A', 1_000);
        t.claim(a, 'A', 2_000);
        assert_eq!(t.tenures(), 1);
        t.release(a, 'A', 3_000);
        t.release(a, 'A', 9_000);
        t.claim(a, 'A', 4_000);
        assert_eq!(t.tenures(), 2);
        assert_eq!(t.owner_at(&a, 3_500, 0), None);
        assert_eq!(t.owner_at(&a, 4_500, 0), Some('A'));
    }

    #[test]
    fn ended_tenures_are_forgotten_after_the_grace_and_open_ones_never() {
        let mut t = Tenures::default();
        let (a, b) = (ip("10.1.0.7"), ip("10.1.0.8"));
        t.claim(a, 'A', 1_000);
        t.release(a, 'A', 2_000);
        t.claim(b, 'B', 1_000);
        assert_eq!(t.forget_before(1_500), 0);
        assert_eq!(t.forget_before(2_001), 1);
        assert_eq!((t.addresses(), t.tenures()), (1, 1));
        assert_eq!(t.owner_at(&a, 1_500, 0), None);
        assert_eq!(t.forget_before(i64::MAX), 0);
        assert_eq!(t.owner_at(&b, 1_000_000, 0), Some('B'));
    }
}
