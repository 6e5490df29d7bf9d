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
/// every interface that is up and not loopback.
pub fn select(configured: &[String], links: &[Link]) -> Selection {
    let mut out = Selection::default();
    if configured.is_empty() {
        out.capture = links
            .iter()
            .filter(|l| l.up && !l.loopback)
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

/// Observation points of the live capture: a small stable index per interface name, used
/// as the flow key's `point`. Indexes are handed out in order of first capture and never
/// reused for another name within the process, so flows of an interface that went away
/// still export its name. Cheap to clone; read rarely (per export batch, not per packet).
#[derive(Clone, Debug, Default)]
pub struct Interfaces(Arc<RwLock<Points>>);

#[derive(Debug, Default)]
struct Points {
    names: Vec<String>,
    by_name: HashMap<String, u16>,
}

impl Interfaces {
    /// The index of `name`, registering it if new; `None` once 65536 names are taken.
    pub fn point(&self, name: &str) -> Option<u16> {
        if let Some(&i) = self.read().by_name.get(name) {
            return Some(i);
        }
        let mut points = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(&i) = points.by_name.get(name) {
            return Some(i);
        }
        let i = u16::try_from(points.names.len()).ok()?;
        points.names.push(name.to_owned());
        points.by_name.insert(name.to_owned(), i);
        Some(i)
    }

    /// The interface name of observation point `point`.
    pub fn name(&self, point: u16) -> Option<String> {
        self.read().names.get(usize::from(point)).cloned()
    }

    /// Every registered name, at the position of its index (the shape the exporter's
    /// interface table takes).
    pub fn names(&self) -> Vec<String> {
        self.read().names.clone()
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
        assert_eq!(reg.names(), names(&["eth0", "net1", "eth2"]));
    }

    #[test]
    fn points_run_out_after_65536_names() {
        let reg = Interfaces::default();
        for i in 0..=u16::MAX {
            assert_eq!(reg.point(&format!("if{i}")), Some(i));
        }
        assert_eq!(reg.point("one-too-many"), None);
        assert_eq!(reg.point("if7"), Some(7));
    }
}
