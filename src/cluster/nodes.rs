//! The cluster's nodes: each node's zone and region (its `topology.kubernetes.io/zone` and
//! `topology.kubernetes.io/region` labels), its addresses (an end at one of them is the
//! node itself, or a pod on its network) and the ranges its pods take addresses from. Pure.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Where a node is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    pub zone: String,
    pub region: String,
}

/// A node as the API server tells it, trimmed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeUpdate {
    pub facts: NodeFacts,
    /// `status.addresses` of type InternalIP and ExternalIP.
    pub addresses: Vec<IpAddr>,
    /// `spec.podCIDRs`.
    pub pod_ranges: Vec<Cidr>,
}

/// An address range, `ADDR/BITS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub base: IpAddr,
    pub bits: u8,
}

impl Cidr {
    pub fn contains(&self, addr: &IpAddr) -> bool {
        match (self.base, addr) {
            (IpAddr::V4(b), IpAddr::V4(a)) => {
                prefix_eq(u32::from(b).into(), u32::from(*a).into(), 32, self.bits)
            }
            (IpAddr::V6(b), IpAddr::V6(a)) => {
                prefix_eq(u128::from(b), u128::from(*a), 128, self.bits)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, width: u8, bits: u8) -> bool {
    let bits = bits.min(width);
    bits == 0 || (a ^ b) >> (width - bits) == 0
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (base, bits) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not ADDRESS/BITS"))?;
        let base: IpAddr = base
            .parse()
            .map_err(|_| format!("{base:?} is not an IP address"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        match bits.parse::<u8>() {
            Ok(bits) if bits <= max => Ok(Cidr { base, bits }),
            _ => Err(format!("{bits:?} is not a prefix length from 0 to {max}")),
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.bits)
    }
}

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// `addr` with the bits after the first `bits` cleared.
fn masked(addr: &IpAddr, bits: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let keep = u32::MAX
                .checked_shl(32 - u32::from(bits.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(*a) & keep).into())
        }
        IpAddr::V6(a) => {
            let keep = u128::MAX
                .checked_shl(128 - u32::from(bits.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(*a) & keep).into())
        }
    }
}

/// The nodes' pod ranges, as a set an address is looked up in once per prefix length
/// among them (usually one), however many nodes there are.
#[derive(Debug, Default)]
struct Ranges {
    /// (network address, prefix length) -> how many nodes hold that range.
    blocks: Map<(IpAddr, u8), u32>,
    /// (IPv6, prefix length) -> how many ranges have it.
    lengths: std::collections::BTreeMap<(bool, u8), u32>,
}

impl Ranges {
    fn add(&mut self, c: &Cidr) {
        *self
            .blocks
            .entry((masked(&c.base, c.bits), c.bits))
            .or_default() += 1;
        *self.lengths.entry((c.base.is_ipv6(), c.bits)).or_default() += 1;
    }

    fn remove(&mut self, c: &Cidr) {
        let block = (masked(&c.base, c.bits), c.bits);
        if let Some(n) = self.blocks.get_mut(&block) {
            *n -= 1;
            if *n == 0 {
                self.blocks.remove(&block);
            }
        }
        let length = (c.base.is_ipv6(), c.bits);
        if let Some(n) = self.lengths.get_mut(&length) {
            *n -= 1;
            if *n == 0 {
                self.lengths.remove(&length);
            }
        }
    }

    fn contains(&self, addr: &IpAddr) -> bool {
        self.lengths
            .keys()
            .filter(|(v6, _)| *v6 == addr.is_ipv6())
            .any(|(_, bits)| self.blocks.contains_key(&(masked(addr, *bits), *bits)))
    }
}

/// Nodes by name and by address.
#[derive(Debug, Default)]
pub struct Nodes {
    by_name: Map<String, (Arc<NodeFacts>, NodeUpdate, u64)>,
    by_address: Map<IpAddr, Arc<NodeFacts>>,
    ranges: Ranges,
    generation: u64,
}

impl Nodes {
    pub fn apply(&mut self, update: NodeUpdate) {
        self.delete(&update.facts.name);
        let facts = Arc::new(update.facts.clone());
        for a in &update.addresses {
            self.by_address.insert(*a, facts.clone());
        }
        for r in &update.pod_ranges {
            self.ranges.add(r);
        }
        self.by_name
            .insert(update.facts.name.clone(), (facts, update, self.generation));
    }

    pub fn delete(&mut self, name: &str) {
        if let Some((_, old, _)) = self.by_name.remove(name) {
            for a in &old.addresses {
                if self.by_address.get(a).is_some_and(|n| n.name == name) {
                    self.by_address.remove(a);
                }
            }
            for r in &old.pod_ranges {
                self.ranges.remove(r);
            }
        }
    }

    pub fn named(&self, name: &str) -> Option<&Arc<NodeFacts>> {
        self.by_name.get(name).map(|(f, _, _)| f)
    }

    /// The node at `addr`.
    pub fn at(&self, addr: &IpAddr) -> Option<&Arc<NodeFacts>> {
        self.by_address.get(addr)
    }

    /// Whether `addr` is in a node's pod range.
    pub fn in_pod_ranges(&self, addr: &IpAddr) -> bool {
        self.ranges.contains(addr)
    }

    pub fn list_started(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// The list `mark` started is complete: the nodes it did not name are deleted.
    pub fn list_done(&mut self, mark: u64) -> usize {
        let stale: Vec<String> = self
            .by_name
            .iter()
            .filter(|(_, (_, _, g))| *g < mark)
            .map(|(k, _)| k.clone())
            .collect();
        for name in &stale {
            self.delete(name);
        }
        stale.len()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_their_addresses_and_no_others() {
        let r: Cidr = "10.244.1.0/24".parse().unwrap();
        assert!(r.contains(&"10.244.1.200".parse().unwrap()));
        assert!(!r.contains(&"10.244.2.1".parse().unwrap()));
        assert!(!r.contains(&"fd00::1".parse().unwrap()));
        let r: Cidr = "fd00:10::/64".parse().unwrap();
        assert!(r.contains(&"fd00:10::abcd".parse().unwrap()));
        assert!(!r.contains(&"fd00:11::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(&"192.0.2.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert_eq!(r.to_string(), "fd00:10::/64");
    }

    #[test]
    fn a_node_is_found_by_name_and_address_until_it_is_gone() {
        let mut nodes = Nodes::default();
        nodes.apply(NodeUpdate {
            facts: NodeFacts {
                name: "n1".into(),
                zone: "eu-1a".into(),
                region: "eu-1".into(),
            },
            addresses: vec!["192.168.1.5".parse().unwrap()],
            pod_ranges: vec!["10.244.1.0/24".parse().unwrap()],
        });
        assert_eq!(nodes.named("n1").unwrap().zone, "eu-1a");
        assert_eq!(
            nodes.at(&"192.168.1.5".parse().unwrap()).unwrap().name,
            "n1"
        );
        assert!(nodes.in_pod_ranges(&"10.244.1.9".parse().unwrap()));
        let mark = nodes.list_started();
        assert_eq!(nodes.list_done(mark), 1);
        assert!(nodes.is_empty());
        assert!(nodes.at(&"192.168.1.5".parse().unwrap()).is_none());
    }

    #[test]
    fn pod_ranges_of_any_lengths_are_found_and_forgotten_with_their_nodes() {
        let mut nodes = Nodes::default();
        let node = |name: &str, ranges: &[&str]| NodeUpdate {
            facts: NodeFacts {
                name: name.into(),
                ..NodeFacts::default()
            },
            addresses: vec![],
            pod_ranges: ranges.iter().map(|r| r.parse().unwrap()).collect(),
        };
        nodes.apply(node("a", &["10.244.1.0/24", "fd00:10:244:1::/64"]));
        nodes.apply(node("b", &["10.244.0.0/16"]));
        nodes.apply(node("c", &["10.244.1.0/24", "10.1.2.3/32", "10.2.0.0/0"]));
        fn inside(nodes: &Nodes, a: &str) -> bool {
            nodes.in_pod_ranges(&a.parse().unwrap())
        }
        let all = |nodes: &Nodes, addrs: &[&str]| addrs.iter().all(|a| inside(nodes, a));
        let none = |nodes: &Nodes, addrs: &[&str]| !addrs.iter().any(|a| inside(nodes, a));
        assert!(all(
            &nodes,
            &["10.244.1.77", "10.244.200.1", "fd00:10:244:1::9"]
        ));
        assert!(all(&nodes, &["10.1.2.3", "192.0.2.1"]), "a /32 and a /0");
        assert!(none(&nodes, &["fd00:10:244:2::1"]));
        nodes.delete("c");
        assert!(
            inside(&nodes, "10.244.1.77"),
            "a's range, which c held too, stays"
        );
        assert!(none(&nodes, &["10.1.2.3", "192.0.2.1"]));
        nodes.delete("b");
        assert!(inside(&nodes, "10.244.1.77") && !inside(&nodes, "10.244.200.1"));
        nodes.delete("a");
        assert!(none(&nodes, &["10.244.1.77", "fd00:10:244:1::9"]));
        assert!(nodes.ranges.blocks.is_empty() && nodes.ranges.lengths.is_empty());
    }
}
