//! The cluster's pods as the mediator needs them: who each pod is (name, namespace, UID,
//! workload, node, labels) and which addresses it held when. A deleted pod is kept until
//! the grace after its last address was let go, so that late records still find it; a
//! relist ends the pods it no longer names instead of forgetting them. Pure.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::tenure::{Millis, Tenures};

/// Who a pod is: what the mediator writes for an end of a record that it held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodFacts {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub workload_name: String,
    pub workload_kind: String,
    pub node: String,
    /// The labels that pass the allow-list, as a JSON object with sorted keys.
    pub labels_json: String,
    /// On the node's network: its addresses are the node's, and it claims none.
    pub host_network: bool,
}

/// A pod as the API server tells it, trimmed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodUpdate {
    pub facts: PodFacts,
    /// `status.podIPs`; empty until the pod has its network, and once it has finished.
    pub ips: Vec<IpAddr>,
    /// Since when the pod has held its addresses: the time its sandbox got its network
    /// (the `PodReadyToStartContainers` condition), else `status.startTime`, else its
    /// creation; None when the API says none of these.
    pub since: Option<Millis>,
}

/// A pod's place in the table; stable while the pod is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PodId(u32);

#[derive(Debug)]
struct Entry {
    facts: Arc<PodFacts>,
    ips: Vec<IpAddr>,
    /// When the pod was deleted or last missing from a relist; None while it exists.
    gone: Option<Millis>,
    /// The relist generation in which it was last seen.
    seen: u64,
}

/// A relist in progress: the pods not seen again before [`Pods::list_done`] are gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListMark(pub u64);

/// The pods and their addresses over time.
#[derive(Debug, Default)]
pub struct Pods {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    by_uid: HashMap<String, PodId, foldhash::fast::RandomState>,
    addresses: Tenures<PodId>,
    generation: u64,
}

impl Pods {
    /// A pod added or changed, learnt at `now`. Addresses it no longer lists are let go
    /// at `now`; addresses it lists are its own from `since` (or `now`).
    pub fn apply(&mut self, pod: PodUpdate, now: Millis) {
        let since = pod.since.map_or(now, |s| s.min(now));
        let ips = if pod.facts.host_network {
            Vec::new()
        } else {
            pod.ips
        };
        let id = match self.by_uid.get(&pod.facts.uid) {
            Some(&id) => id,
            None => self.insert(&pod.facts.uid),
        };
        let generation = self.generation;
        let entry = self.entries[id.0 as usize]
            .as_mut()
            .expect("an id names an entry");
        for gone in entry.ips.iter().filter(|a| !ips.contains(a)) {
            self.addresses.release(*gone, id, now);
        }
        // A pod deleted and seen again (a relist raced with its deletion) is back.
        let from = if entry.gone.take().is_some() {
            now
        } else {
            since
        };
        for ip in &ips {
            self.addresses.claim(*ip, id, from);
        }
        if *entry.facts != pod.facts {
            entry.facts = Arc::new(pod.facts);
        }
        entry.ips = ips;
        entry.seen = generation;
    }

    fn insert(&mut self, uid: &str) -> PodId {
        let entry = Entry {
            facts: Arc::default(),
            ips: Vec::new(),
            gone: None,
            seen: self.generation,
        };
        let id = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = Some(entry);
                PodId(i)
            }
            None => {
                self.entries.push(Some(entry));
                PodId(u32::try_from(self.entries.len() - 1).expect("fewer than 2^32 pods"))
            }
        };
        self.by_uid.insert(uid.to_string(), id);
        id
    }

    /// The pod with `uid` was deleted at `now`: its addresses are let go, and it is kept
    /// for the grace.
    pub fn delete(&mut self, uid: &str, now: Millis) {
        if let Some(&id) = self.by_uid.get(uid) {
            self.end(id, now);
        }
    }

    fn end(&mut self, id: PodId, now: Millis) {
        let Some(entry) = self.entries[id.0 as usize].as_mut() else {
            return;
        };
        if entry.gone.is_none() {
            entry.gone = Some(now);
            for ip in entry.ips.drain(..) {
                self.addresses.release(ip, id, now);
            }
        }
    }

    /// A full list starts: every pod it names is applied; [`Pods::list_done`] ends the
    /// others.
    pub fn list_started(&mut self) -> ListMark {
        self.generation += 1;
        ListMark(self.generation)
    }

    /// The list that `mark` started is complete: the pods it did not name are gone at
    /// `now`. How many.
    pub fn list_done(&mut self, mark: ListMark, now: Millis) -> usize {
        let missing: Vec<PodId> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let e = e.as_ref()?;
                (e.gone.is_none() && e.seen < mark.0).then_some(PodId(i as u32))
            })
            .collect();
        for id in &missing {
            self.end(*id, now);
        }
        missing.len()
    }

    /// Who held `addr` at `t` (within `skew` ms).
    pub fn at(&self, addr: &IpAddr, t: Millis, skew: Millis) -> Option<&Arc<PodFacts>> {
        let id = self.addresses.owner_at(addr, t, skew)?;
        self.entries[id.0 as usize].as_ref().map(|e| &e.facts)
    }

    /// Forgets the tenures and the pods gone before `cutoff` (now less the grace).
    pub fn forget_before(&mut self, cutoff: Millis) {
        self.addresses.forget_before(cutoff);
        for (i, slot) in self.entries.iter_mut().enumerate() {
            if slot
                .as_ref()
                .is_some_and(|e| e.gone.is_some_and(|g| g < cutoff))
            {
                let entry = slot.take().expect("checked");
                self.by_uid.remove(&entry.facts.uid);
                self.free.push(i as u32);
            }
        }
    }

    /// Pods that exist, and pods kept for the grace after they were gone.
    pub fn counts(&self) -> (usize, usize) {
        let kept = self.entries.iter().flatten();
        let gone = kept.clone().filter(|e| e.gone.is_some()).count();
        (kept.count() - gone, gone)
    }

    /// Addresses with an owner or a past owner still in the grace.
    pub fn addresses(&self) -> usize {
        self.addresses.addresses()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, uid: &str, ips: &[&str], since: Millis) -> PodUpdate {
        PodUpdate {
            facts: PodFacts {
                name: name.into(),
                namespace: "shop".into(),
                uid: uid.into(),
                ..PodFacts::default()
            },
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            since: Some(since),
        }
    }

    fn name_at(pods: &Pods, ip: &str, t: Millis) -> Option<String> {
        pods.at(&ip.parse().unwrap(), t, 0).map(|f| f.name.clone())
    }

    #[test]
    fn pod_a_deleted_and_its_address_given_to_pod_b_names_each_for_its_flows() {
        let mut pods = Pods::default();
        pods.apply(pod("a", "uid-a", &["10.1.0.7"], 1_000), 1_500);
        pods.delete("uid-a", 10_000);
        pods.apply(pod("b", "uid-b", &["10.1.0.7"], 12_000), 12_500);
        assert_eq!(name_at(&pods, "10.1.0.7", 5_000).as_deref(), Some("a"));
        assert_eq!(name_at(&pods, "10.1.0.7", 11_000), None);
        assert_eq!(name_at(&pods, "10.1.0.7", 13_000).as_deref(), Some("b"));
        assert_eq!(pods.counts(), (1, 1));
        // After the grace, A is forgotten; B stays.
        pods.forget_before(10_001);
        assert_eq!(pods.counts(), (1, 0));
        assert_eq!(name_at(&pods, "10.1.0.7", 5_000), None);
        assert_eq!(name_at(&pods, "10.1.0.7", 13_000).as_deref(), Some("b"));
    }

    #[test]
    fn b_listed_before_a_is_deleted_still_leaves_a_its_earlier_flows() {
        let mut pods = Pods::default();
        pods.apply(pod("a", "uid-a", &["10.1.0.7"], 1_000), 1_000);
        pods.apply(pod("b", "uid-b", &["10.1.0.7"], 12_000), 12_500);
        pods.delete("uid-a", 20_000);
        assert_eq!(name_at(&pods, "10.1.0.7", 11_999).as_deref(), Some("a"));
        assert_eq!(name_at(&pods, "10.1.0.7", 12_000).as_deref(), Some("b"));
        assert_eq!(name_at(&pods, "10.1.0.7", 21_000).as_deref(), Some("b"));
    }

    #[test]
    fn a_relist_ends_the_pods_it_no_longer_names_and_never_doubles_them() {
        let mut pods = Pods::default();
        pods.apply(pod("a", "uid-a", &["10.1.0.7"], 1_000), 1_000);
        pods.apply(pod("b", "uid-b", &["10.1.0.8"], 1_000), 1_000);
        let mark = pods.list_started();
        pods.apply(pod("b", "uid-b", &["10.1.0.8"], 1_000), 5_000);
        assert_eq!(pods.list_done(mark, 5_000), 1);
        assert_eq!(pods.counts(), (1, 1));
        assert_eq!(pods.addresses(), 2);
        assert_eq!(name_at(&pods, "10.1.0.7", 4_000).as_deref(), Some("a"));
        assert_eq!(name_at(&pods, "10.1.0.7", 6_000), None);
        assert_eq!(name_at(&pods, "10.1.0.8", 6_000).as_deref(), Some("b"));
    }

    #[test]
    fn an_address_changed_or_a_host_network_pod() {
        let mut pods = Pods::default();
        pods.apply(pod("a", "uid-a", &["10.1.0.7"], 1_000), 1_000);
        pods.apply(pod("a", "uid-a", &["10.1.0.9"], 1_000), 8_000);
        assert_eq!(name_at(&pods, "10.1.0.7", 7_000).as_deref(), Some("a"));
        assert_eq!(name_at(&pods, "10.1.0.7", 8_000), None);
        assert_eq!(name_at(&pods, "10.1.0.9", 8_000).as_deref(), Some("a"));
        let mut host = pod("h", "uid-h", &["192.168.1.5"], 1_000);
        host.facts.host_network = true;
        pods.apply(host, 1_000);
        assert_eq!(
            name_at(&pods, "192.168.1.5", 2_000),
            None,
            "the node's address"
        );
    }

    #[test]
    fn a_tenure_starts_when_the_pod_got_its_address_not_when_it_was_learnt() {
        let mut pods = Pods::default();
        // Learnt at 9,000 (the mediator started late); its sandbox had its network at 1,000.
        pods.apply(pod("a", "uid-a", &["10.1.0.7"], 1_000), 9_000);
        assert_eq!(name_at(&pods, "10.1.0.7", 2_000).as_deref(), Some("a"));
        // A time the API gives after the event itself is taken as the event's.
        pods.apply(pod("c", "uid-c", &["10.1.0.8"], 50_000), 20_000);
        assert_eq!(name_at(&pods, "10.1.0.8", 20_000).as_deref(), Some("c"));
    }
}
