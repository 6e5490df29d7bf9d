//! Enrichment: what a flow record gains between the flow table and the wire. Pure apart
//! from the shared registries it reads once per batch.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::capture::{Interfaces, PointInfo};
use crate::flow::{from_addr, FlowRecord};
use crate::ipfix::{ExportRecord, PeerIdentity};
use crate::metadata::{IndexedPod, PodIdentity, SharedIndex};
use crate::node::{NamespaceView, SharedNamespaces};

/// flowDirection when podflow knows none of the pod's addresses (offline input without
/// `k8s.pod_ips`): outside the 0/1 of the registry, so no collector mistakes it for either.
pub const DIRECTION_UNKNOWN: u8 = 255;

/// k8sObservationPoint of node mode inside a pod's namespace.
pub const POINT_POD_NAMESPACE: u8 = 2;
/// k8sObservationPoint of node mode on the node's own interfaces.
pub const POINT_HOST: u8 = 3;

/// The observed pod and its capture points, as the exporter needs them for every record.
#[derive(Clone, Debug)]
pub struct Enricher {
    /// The observed pod (sidecar); in node mode, the node (host records and namespaces no
    /// pod of the index holds): node name and address, cluster, no pod fields.
    pub pod: Arc<PodIdentity>,
    pod_addrs: Vec<(u128, bool)>,
    /// Interface and namespace of each observation point index.
    points: HashMap<u32, PointInfo>,
    /// Where the points come from when interfaces come and go (live capture).
    registry: Option<Interfaces>,
    pub observation_point: u8,
    node: Option<NodeEnrichment>,
}

/// What node mode adds: the namespaces and the pod index, read once per batch.
#[derive(Clone, Debug)]
struct NodeEnrichment {
    namespaces: SharedNamespaces,
    index: SharedIndex,
    /// This batch's view of the namespaces, their pods resolved.
    batch: HashMap<u64, BatchNamespace>,
    /// This batch's peers, by address.
    peers: HashMap<IpAddr, Arc<IndexedPod>>,
}

#[derive(Clone, Debug)]
struct BatchNamespace {
    host: bool,
    addrs: Vec<(u128, bool)>,
    pod: Option<Arc<IndexedPod>>,
}

impl Enricher {
    pub fn new(
        pod: Arc<PodIdentity>,
        pod_ips: &[IpAddr],
        interfaces: Vec<String>,
        observation_point: u8,
    ) -> Self {
        let points = interfaces
            .into_iter()
            .enumerate()
            .map(|(i, interface)| {
                (
                    i as u32,
                    PointInfo {
                        interface,
                        netns: 0,
                    },
                )
            })
            .collect();
        Enricher {
            pod,
            pod_addrs: pod_ips.iter().map(|ip| from_addr(*ip)).collect(),
            points,
            registry: None,
            observation_point,
            node: None,
        }
    }

    /// Node mode: each record is attributed to the pod of the namespace it was observed in
    /// (or to the node for host interfaces) and its other end looked up in `index`.
    /// `node` is the identity of the node itself.
    pub fn for_node(
        node: Arc<PodIdentity>,
        registry: Interfaces,
        namespaces: SharedNamespaces,
        index: SharedIndex,
    ) -> Self {
        Enricher::new(node, &[], Vec::new(), POINT_HOST)
            .with_registry(registry)
            .with_node(namespaces, index)
    }

    fn with_node(mut self, namespaces: SharedNamespaces, index: SharedIndex) -> Self {
        self.node = Some(NodeEnrichment {
            namespaces,
            index,
            batch: HashMap::new(),
            peers: HashMap::new(),
        });
        self
    }

    /// Names interfaces from a live registry, read again by [`Enricher::prepare`].
    pub fn with_registry(mut self, registry: Interfaces) -> Self {
        self.points = registry.snapshot();
        self.registry = Some(registry);
        self
    }

    /// Reads the registries for a batch of records: interfaces registered since the last
    /// batch, and in node mode the namespaces, their pods and the peers of `flows` (one
    /// read of the index per batch).
    pub fn prepare(&mut self, flows: &[FlowRecord]) {
        if let Some(registry) = &self.registry {
            self.points = registry.snapshot();
        }
        let Some(node) = &mut self.node else {
            return;
        };
        let views: HashMap<u64, NamespaceView> = node
            .namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let index = node.index.read().unwrap_or_else(|e| e.into_inner());
        node.batch = views
            .into_iter()
            .map(|(id, v)| {
                let pod = if v.host {
                    None
                } else {
                    v.pod
                        .clone()
                        .or_else(|| v.addrs.iter().find_map(|a| index.by_ip(a).cloned()))
                };
                let addrs = v.addrs.iter().map(|a| from_addr(*a)).collect();
                (
                    id,
                    BatchNamespace {
                        host: v.host,
                        addrs,
                        pod,
                    },
                )
            })
            .collect();
        node.peers.clear();
        for flow in flows {
            let addrs = self
                .points
                .get(&flow.key.point)
                .and_then(|p| node.batch.get(&p.netns))
                .map_or(&[][..], |n| &n.addrs[..]);
            let peer = peer_address(flow, addrs);
            if let Some(pod) = index.by_ip(&peer) {
                node.peers.entry(peer).or_insert_with(|| pod.clone());
            }
        }
    }

    /// 1 (egress) when the pod initiated the flow, 0 (ingress) when the peer did.
    pub fn direction(&self, flow: &FlowRecord) -> u8 {
        direction(flow, &self.pod_addrs)
    }

    pub fn interface(&self, flow: &FlowRecord) -> &str {
        self.points
            .get(&flow.key.point)
            .map(|p| p.interface.as_str())
            .unwrap_or("")
    }

    pub fn record<'a>(&'a self, flow: &'a FlowRecord) -> ExportRecord<'a> {
        let interface = self.interface(flow);
        let Some(node) = &self.node else {
            return ExportRecord {
                flow,
                direction: self.direction(flow),
                interface,
                observation_point: self.observation_point,
                pod: &self.pod,
                peer: None,
            };
        };
        let ns = self
            .points
            .get(&flow.key.point)
            .and_then(|p| node.batch.get(&p.netns));
        let addrs = ns.map_or(&[][..], |n| &n.addrs[..]);
        let pod = ns
            .and_then(|n| n.pod.as_ref())
            .map_or(&*self.pod, |p| &p.identity);
        let observation_point = match ns {
            Some(n) if !n.host => POINT_POD_NAMESPACE,
            _ => POINT_HOST,
        };
        let peer: Option<&PeerIdentity> =
            node.peers.get(&peer_address(flow, addrs)).map(|p| &p.peer);
        ExportRecord {
            flow,
            direction: direction(flow, addrs),
            interface,
            observation_point,
            pod,
            peer,
        }
    }
}

/// flowDirection of `flow` seen from the side that holds `addrs`.
fn direction(flow: &FlowRecord, addrs: &[(u128, bool)]) -> u8 {
    let k = &flow.key;
    if addrs.contains(&(k.src, k.ipv6)) {
        1
    } else if addrs.contains(&(k.dst, k.ipv6)) {
        0
    } else {
        DIRECTION_UNKNOWN
    }
}

/// The other end of `flow` seen from the side that holds `addrs`: the destination when
/// that side initiated it or when neither end is its own, else the source.
fn peer_address(flow: &FlowRecord, addrs: &[(u128, bool)]) -> IpAddr {
    match direction(flow, addrs) {
        0 => flow.key.src_addr(),
        _ => flow.key.dst_addr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Counters, EndReason, FlowKey};

    fn flow(src: &str, dst: &str) -> FlowRecord {
        flow_at(0, src, dst)
    }

    /// A TCP flow from `src` to `dst` seen at observation point `point`.
    pub(super) fn flow_at(point: u32, src: &str, dst: &str) -> FlowRecord {
        let (s, v6) = from_addr(src.parse().unwrap());
        let (d, _) = from_addr(dst.parse().unwrap());
        FlowRecord {
            key: FlowKey {
                src: s,
                dst: d,
                ipv6: v6,
                proto: 6,
                point,
                ..Default::default()
            },
            start: 0,
            end: 0,
            forward: Counters::default(),
            reverse: Counters::default(),
            tos: 0,
            end_reason: EndReason::IdleTimeout,
        }
    }

    #[test]
    fn direction_from_pod_addresses() {
        let e = Enricher::new(
            Arc::default(),
            &["10.0.0.7".parse().unwrap(), "fd00::7".parse().unwrap()],
            vec!["eth0".into()],
            1,
        );
        assert_eq!(e.direction(&flow("10.0.0.7", "10.0.0.9")), 1);
        assert_eq!(e.direction(&flow("10.0.0.9", "10.0.0.7")), 0);
        assert_eq!(e.direction(&flow("fd00::9", "fd00::7")), 0);
        assert_eq!(
            e.direction(&flow("10.0.0.8", "10.0.0.9")),
            DIRECTION_UNKNOWN
        );
        // An IPv4 address never matches an IPv6 one with the same low bits.
        assert_eq!(e.direction(&flow("0.0.0.7", "0.0.0.9")), DIRECTION_UNKNOWN);
        assert_eq!(e.interface(&flow("10.0.0.7", "10.0.0.9")), "eth0");
    }
}

#[cfg(test)]
mod node_tests {
    use std::sync::RwLock;

    use super::tests::flow_at as flow;
    use super::*;
    use crate::metadata::{IdentityRules, PodIndex, TrimmedPod};

    fn pod(name: &str, ip: &str, node: &str) -> TrimmedPod {
        TrimmedPod {
            name: name.into(),
            namespace: "shop".into(),
            uid: format!("uid-{name}"),
            ips: vec![ip.parse().unwrap()],
            node_name: node.into(),
            ..TrimmedPod::default()
        }
    }

    /// Namespaces 100 (pod web, 10.0.0.1), 200 (an address no pod holds) and 1 (the host,
    /// 192.168.1.10); a peer pod db on another node.
    fn node() -> (Enricher, SharedIndex, SharedNamespaces) {
        let index: SharedIndex = Arc::new(RwLock::new(PodIndex::from_pods(
            IdentityRules::default(),
            [
                pod("web", "10.0.0.1", "node-1"),
                pod("db", "10.0.9.9", "node-2"),
            ],
        )));
        let registry = Interfaces::default();
        assert_eq!(registry.point_in(100, "eth0"), Some(0));
        assert_eq!(registry.point_in(200, "eth0"), Some(1));
        assert_eq!(registry.point_in(1, "ens3"), Some(2));
        let namespaces = SharedNamespaces::default();
        let view = |host: bool, addr: &str| NamespaceView {
            host,
            addrs: vec![addr.parse().unwrap()],
            ..NamespaceView::default()
        };
        {
            let mut ns = namespaces.write().unwrap();
            ns.insert(100, view(false, "10.0.0.1"));
            ns.insert(200, view(false, "10.0.0.2"));
            ns.insert(1, view(true, "192.168.1.10"));
        }
        let me = PodIdentity {
            node_name: "node-1".into(),
            ..PodIdentity::default()
        };
        let e = Enricher::for_node(Arc::new(me), registry, namespaces.clone(), index.clone());
        (e, index, namespaces)
    }

    #[test]
    fn records_name_the_observed_pod_and_the_peer() {
        let (mut e, _, _) = node();
        let flows = [
            flow(0, "10.0.0.1", "10.0.9.9"),
            flow(0, "10.0.9.9", "10.0.0.1"),
            flow(1, "10.0.0.2", "10.0.9.9"),
            flow(2, "192.168.1.10", "10.0.0.1"),
            flow(2, "10.0.9.9", "10.0.0.1"),
        ];
        e.prepare(&flows);
        let r: Vec<_> = flows.iter().map(|f| e.record(f)).collect();
        let peer = |i: usize| r[i].peer.map(|p| p.pod_name.as_str());
        // In web's namespace: web is observed; egress then ingress; db is the peer.
        assert_eq!((r[0].pod.pod_name.as_str(), r[0].direction), ("web", 1));
        assert_eq!((r[1].pod.pod_name.as_str(), r[1].direction), ("web", 0));
        assert_eq!((peer(0), peer(1)), (Some("db"), Some("db")));
        assert_eq!(r[0].peer.unwrap().node_name, "node-2");
        assert_eq!((r[0].observation_point, r[0].interface), (2, "eth0"));
        // A namespace no pod holds: the node's identity, still point 2, peer known.
        assert_eq!(
            (r[2].pod.pod_name.as_str(), r[2].pod.node_name.as_str()),
            ("", "node-1")
        );
        assert_eq!((r[2].observation_point, peer(2)), (2, Some("db")));
        // The host: point 3, direction from the node's addresses; when neither end is the
        // node's, the destination is the peer.
        assert_eq!(
            (r[3].observation_point, r[3].direction, peer(3)),
            (3, 1, Some("web"))
        );
        assert_eq!((r[4].direction, peer(4)), (DIRECTION_UNKNOWN, Some("web")));
        assert_eq!(r[4].interface, "ens3");
    }

    #[test]
    fn a_pod_found_later_and_a_pod_gone_from_the_index() {
        let (mut e, index, namespaces) = node();
        let f = [flow(1, "10.0.0.2", "10.0.9.9")];
        // The pod of namespace 200 arrives in the index: the next batch names it.
        index
            .write()
            .unwrap()
            .apply(pod("late", "10.0.0.2", "node-1"));
        e.prepare(&f);
        assert_eq!(e.record(&f[0]).pod.pod_name, "late");
        // Namespace 100 keeps the pod it was resolved to after the pod leaves the index.
        let web = index
            .read()
            .unwrap()
            .by_ip(&"10.0.0.1".parse().unwrap())
            .cloned();
        namespaces.write().unwrap().get_mut(&100).unwrap().pod = web;
        index
            .write()
            .unwrap()
            .replace([pod("db", "10.0.9.9", "node-2")]);
        let f = [
            flow(0, "10.0.0.1", "10.0.9.9"),
            flow(7, "10.0.0.1", "10.0.9.9"),
        ];
        e.prepare(&f);
        assert_eq!(e.record(&f[0]).pod.pod_name, "web");
        // An unknown point (its namespace forgotten): the node, no interface name.
        let r = e.record(&f[1]);
        assert_eq!(
            (r.pod.pod_name.as_str(), r.interface, r.observation_point),
            ("", "", 3)
        );
    }
}
