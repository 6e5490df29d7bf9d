//! Which interfaces to capture, and the registry of observation points. Pure.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

/// What the selection needs to know of one interface of the network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    /// Kernel interface index; a deleted and re-created interface gets a new one.
    pub index: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    pub loopback: bool,
    /// Left out of the automatic selection (the host end of a pod's veth pair).
    pub skip: bool,
}

/// The outcome of [`select`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Interfaces to capture: name and index.
    pub capture: Vec<(String, u32)>,
    /// Configured interfaces that do not exist (now).
    pub missing: Vec<String>,
}

/// Picks the interfaces to capture: the configured ones that exist (up or not: a socket
/// bound to a down interface resumes when it comes up), or, when none is configured,
/// every interface that is up, not loopback and not skipped.
pub fn select(configured: &[String], links: &[Link]) -> Selection {
    let mut out = Selection::default();
    if configured.is_empty() {
        out.capture = links
            .iter()
            .filter(|l| l.up && !l.loopback && !l.skip)
            .map(|l| (l.name.clone(), l.index))
            .collect();
        return out;
    }
    for name in configured {
        if out.capture.iter().any(|(n, _)| n == name) {
            continue;
        }
        match links.iter().find(|l| &l.name == name) {
            Some(l) => out.capture.push((l.name.clone(), l.index)),
            None if !out.missing.contains(name) => out.missing.push(name.clone()),
            None => {}
        }
    }
    out
}

/// Observation points of live capture: a small stable index per interface of a network
/// namespace, used as the flow key's `point`. Indexes are handed out in order of first
/// capture and never reused within the process, so flows of an interface that went away
/// still export its name. Cheap to clone; read rarely (per export batch, not per packet).
#[derive(Clone, Debug, Default)]
pub struct Interfaces(Arc<RwLock<Points>>);

/// What an observation point is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointInfo {
    /// The interface name inside its namespace, e.g. `eth0`.
    pub interface: String,
    /// Inode of the network namespace; 0 for podflow's own.
    pub netns: u64,
}

#[derive(Debug, Default)]
struct Points {
    info: HashMap<u32, PointInfo>,
    by_key: HashMap<(u64, String), u32>,
    next: u32,
}

impl Interfaces {
    /// The index of interface `name` of podflow's own namespace, registering it if new.
    pub fn point(&self, name: &str) -> Option<u32> {
        self.point_in(0, name)
    }

    /// The index of interface `name` of namespace `netns`, registering it if new; `None`
    /// once every index has been handed out.
    pub fn point_in(&self, netns: u64, name: &str) -> Option<u32> {
        let key = (netns, name.to_owned());
        if let Some(&i) = self.read().by_key.get(&key) {
            return Some(i);
        }
        let mut points = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(&i) = points.by_key.get(&key) {
            return Some(i);
        }
        let i = points.next;
        points.next = i.checked_add(1)?;
        points.info.insert(
            i,
            PointInfo {
                interface: name.to_owned(),
                netns,
            },
        );
        points.by_key.insert(key, i);
        Some(i)
    }

    /// The interface name of observation point `point`.
    pub fn name(&self, point: u32) -> Option<String> {
        self.read().info.get(&point).map(|p| p.interface.clone())
    }

    /// Every registered point (what the exporter reads once per batch).
    pub fn snapshot(&self) -> HashMap<u32, PointInfo> {
        self.read().info.clone()
    }

    /// Forgets the namespace `netns` (it is gone): its interfaces get new indexes if the
    /// same inode comes back as another namespace. Returns its points, whose names stay
    /// readable until [`Interfaces::drop_points`] (records still on their way need them).
    pub fn forget(&self, netns: u64) -> Vec<u32> {
        let mut points = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let mut gone = Vec::new();
        points.by_key.retain(|(ns, _), i| {
            if *ns == netns {
                gone.push(*i);
            }
            *ns != netns
        });
        gone
    }

    /// Drops what is known of `points` for good.
    pub fn drop_points(&self, points: &[u32]) {
        let mut all = self.0.write().unwrap_or_else(PoisonError::into_inner);
        for p in points {
            all.info.remove(p);
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Points> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, index: u32, up: bool, loopback: bool) -> Link {
        Link {
            name: name.into(),
            index,
            up,
            loopback,
            skip: false,
        }
    }

    fn links() -> Vec<Link> {
        vec![
            link("lo", 1, true, true),
            link("eth0", 2, true, false),
            link("eth1", 3, false, false),
            link("net1", 4, true, false),
        ]
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn empty_configuration_takes_every_up_interface_but_loopback() {
        let s = select(&[], &links());
        assert_eq!(s.capture, vec![("eth0".into(), 2), ("net1".into(), 4)]);
        assert!(s.missing.is_empty());
    }

    #[test]
    fn configured_interfaces_are_taken_whatever_their_state() {
        let s = select(&names(&["lo", "eth1"]), &links());
        assert_eq!(s.capture, vec![("lo".into(), 1), ("eth1".into(), 3)]);
        assert!(s.missing.is_empty());
    }

    #[test]
    fn missing_configured_interfaces_are_named_once() {
        let s = select(&names(&["eth0", "wg0", "wg0", "eth0"]), &links());
        assert_eq!(s.capture, vec![("eth0".into(), 2)]);
        assert_eq!(s.missing, names(&["wg0"]));
    }

    #[test]
    fn skipped_links_are_left_out_unless_configured() {
        let mut l = links();
        l[3].skip = true;
        assert_eq!(select(&[], &l).capture, vec![("eth0".into(), 2)]);
        assert_eq!(
            select(&names(&["net1"]), &l).capture,
            vec![("net1".into(), 4)]
        );
    }

    #[test]
    fn nothing_up_selects_nothing() {
        let s = select(
            &[],
            &[link("lo", 1, true, true), link("eth0", 2, false, false)],
        );
        assert_eq!(s, Selection::default());
    }

    #[test]
    fn points_are_stable_and_never_reused() {
        let reg = Interfaces::default();
        assert_eq!(reg.point("eth0"), Some(0));
        assert_eq!(reg.point("net1"), Some(1));
        assert_eq!(reg.clone().point("eth0"), Some(0));
        assert_eq!(reg.point("eth2"), Some(2));
        assert_eq!(reg.name(1).as_deref(), Some("net1"));
        assert_eq!(reg.name(3), None);
        let snap = reg.snapshot();
        assert_eq!(snap.len(), 3);
        assert_eq!(snap[&2].interface, "eth2");
    }

    #[test]
    fn namespaces_have_their_own_points_and_a_gone_one_is_forgotten() {
        let reg = Interfaces::default();
        assert_eq!(reg.point_in(7, "eth0"), Some(0));
        assert_eq!(reg.point_in(8, "eth0"), Some(1));
        assert_eq!(reg.point("eth0"), Some(2));
        assert_eq!(reg.point_in(7, "eth1"), Some(3));
        let mut gone = reg.forget(7);
        gone.sort();
        assert_eq!(gone, [0, 3]);
        // Names stay readable for records on their way, until dropped.
        assert_eq!(reg.name(3).as_deref(), Some("eth1"));
        // The same inode again is another namespace: new points.
        assert_eq!(reg.point_in(7, "eth0"), Some(4));
        reg.drop_points(&gone);
        assert_eq!(reg.name(3), None);
        assert_eq!(reg.snapshot()[&1].netns, 8);
    }
}
