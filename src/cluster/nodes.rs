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

/// Nodes by name and by address.
#[derive(Debug, Default)]
pub struct Nodes {
    by_name: Map<String, (Arc<NodeFacts>, NodeUpdate, u64)>,
    by_address: Map<IpAddr, Arc<NodeFacts>>,
    generation: u64,
}

impl Nodes {
    pub fn apply(&mut self, update: NodeUpdate) {
        self.delete(&update.facts.name);
        let facts = Arc::new(update.facts.clone());
        for a in &update.addresses {
            self.by_address.insert(*a, facts.clone());
        }
        self.by_name
            .insert(update.facts.name.clone(), (facts, update, self.generation));
    }

    pub fn delete(&mut self, name: &str) {
        if self.by_name.remove(name).is_some() {
            self.by_address.retain(|_, n| n.name != name);
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
        self.by_name
            .values()
            .any(|(_, n, _)| n.pod_ranges.iter().any(|r| r.contains(addr)))
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
}
