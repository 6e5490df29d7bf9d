//! Node mode's attribution: a record belongs to the pod that the container runtime says
//! owns the network namespace it was observed in (as the index knows that pod, or as the
//! runtime names it until the index does; the node itself for its own interfaces), never
//! to a pod whose address the namespace holds; and it names the pod at its other end when
//! the index knows one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::{NamespaceView, SharedNamespaces};
use crate::capture::Interfaces;
use crate::export::{
    addresses, direction, peer_address, Attribution, Points, POINT_HOST, POINT_POD_NAMESPACE,
};
use crate::flow::FlowRecord;
use crate::identity::{PeerIdentity, PodIdentity};
use crate::ipfix::ExportRecord;
use crate::metadata::{IndexedPod, SharedIndex};

/// The namespaces and the pod index, read once per batch.
pub struct NodeAttribution {
    /// The node: node name and address, cluster, no pod fields.
    node: Arc<PodIdentity>,
    points: Points,
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
    /// The owner as the index knows it, else as the runtime names it.
    pod: Option<Owned>,
}

#[derive(Clone, Debug)]
enum Owned {
    Indexed(Arc<IndexedPod>),
    Runtime(Box<PodIdentity>),
}

impl NodeAttribution {
    /// Records observed at the points of `interfaces`, in the namespaces of `namespaces`,
    /// named through `index`; `node` is the identity of the node itself.
    pub fn new(
        node: Arc<PodIdentity>,
        interfaces: Interfaces,
        namespaces: SharedNamespaces,
        index: SharedIndex,
    ) -> Self {
        NodeAttribution {
            node,
            points: Points::new(interfaces),
            namespaces,
            index,
            batch: HashMap::new(),
            peers: HashMap::new(),
        }
    }

    /// A pod the index does not know (yet), as the runtime names it, on this node.
    fn runtime_identity(&self, owner: &super::Owner) -> PodIdentity {
        PodIdentity {
            pod_name: owner.name.clone(),
            pod_namespace: owner.namespace.clone(),
            pod_uid: owner.uid.clone(),
            ..(*self.node).clone()
        }
    }

    /// The namespace `flow` was observed in, as this batch sees it.
    fn namespace(&self, flow: &FlowRecord) -> Option<&BatchNamespace> {
        self.points
            .get(flow.key.point)
            .and_then(|p| self.batch.get(&p.netns))
    }
}

impl Attribution for NodeAttribution {
    fn prepare(&mut self, flows: &[FlowRecord]) {
        self.points.refresh();
        let views: HashMap<u64, NamespaceView> = self
            .namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        self.batch = views
            .into_iter()
            .map(|(id, v)| {
                let pod = match (&v.pod, &v.owner) {
                    _ if v.host => None,
                    (Some(p), _) => Some(Owned::Indexed(p.clone())),
                    (None, Some(o)) => Some(
                        index
                            .by_name(&o.namespace, &o.name)
                            .filter(|p| p.pod.uid == o.uid)
                            .map_or_else(
                                || Owned::Runtime(Box::new(self.runtime_identity(o))),
                                |p| Owned::Indexed(p.clone()),
                            ),
                    ),
                    (None, None) => None,
                };
                let ns = BatchNamespace {
                    host: v.host,
                    addrs: addresses(&v.addrs),
                    pod,
                };
                (id, ns)
            })
            .collect();
        let mut peers = HashMap::new();
        for flow in flows {
            let addrs = self.namespace(flow).map_or(&[][..], |n| &n.addrs[..]);
            let peer = peer_address(flow, addrs);
            if let Some(pod) = index.by_ip(&peer) {
                peers.entry(peer).or_insert_with(|| pod.clone());
            }
        }
        drop(index);
        self.peers = peers;
    }

    fn record<'a>(&'a self, flow: &'a FlowRecord) -> ExportRecord<'a> {
        let ns = self.namespace(flow);
        let addrs = ns.map_or(&[][..], |n| &n.addrs[..]);
        let pod = match ns.and_then(|n| n.pod.as_ref()) {
            Some(Owned::Indexed(p)) => &p.identity,
            Some(Owned::Runtime(p)) => p,
            None => &*self.node,
        };
        let observation_point = match ns {
            Some(n) if !n.host => POINT_POD_NAMESPACE,
            _ => POINT_HOST,
        };
        let peer: Option<&PeerIdentity> =
            self.peers.get(&peer_address(flow, addrs)).map(|p| &p.peer);
        ExportRecord {
            flow,
            direction: direction(flow, addrs),
            interface: self.points.interface(flow),
            observation_point,
            pod,
            peer,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::RwLock;

    use super::*;
    use crate::export::test_flow as flow;
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

    /// Namespaces 100 (owned by pod web, 10.0.0.1), 200 (no owner, an address no pod
    /// holds) and 1 (the host, 192.168.1.10); a peer pod db on another node.
    fn node() -> (NodeAttribution, SharedIndex, SharedNamespaces) {
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
            let web = NamespaceView {
                owner: Some(owner("web")),
                ..view(false, "10.0.0.1")
            };
            ns.insert(100, web);
            ns.insert(200, view(false, "10.0.0.2"));
            ns.insert(1, view(true, "192.168.1.10"));
        }
        let me = PodIdentity {
            node_name: "node-1".into(),
            ..PodIdentity::default()
        };
        let e = NodeAttribution::new(Arc::new(me), registry, namespaces.clone(), index.clone());
        (e, index, namespaces)
    }

    fn owner(name: &str) -> crate::node::Owner {
        crate::node::Owner {
            uid: format!("uid-{name}"),
            name: name.into(),
            namespace: "shop".into(),
        }
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
        assert_eq!(
            (r[4].direction, peer(4)),
            (crate::export::DIRECTION_UNKNOWN, Some("web"))
        );
        assert_eq!(r[4].interface, "ens3");
    }

    #[test]
    fn the_owner_counts_never_the_addresses() {
        let (mut e, index, namespaces) = node();
        let f = [flow(1, "10.0.0.2", "10.0.9.9")];
        // A pod of the index takes namespace 200's address: without an owner, the
        // namespace stays the node's.
        index
            .write()
            .unwrap()
            .apply(pod("late", "10.0.0.2", "node-1"));
        e.prepare(&f);
        assert_eq!(e.record(&f[0]).pod.pod_name, "");
        // A namespace whose owner the index does not know, holding web's address: named
        // as the runtime names it, not as web.
        namespaces.write().unwrap().get_mut(&200).unwrap().owner = Some(owner("spoof"));
        namespaces.write().unwrap().get_mut(&200).unwrap().addrs =
            vec!["10.0.0.1".parse().unwrap()];
        let f = [flow(1, "10.0.0.1", "10.0.9.9")];
        e.prepare(&f);
        let r = e.record(&f[0]);
        assert_eq!(
            (
                r.pod.pod_name.as_str(),
                r.pod.pod_uid.as_str(),
                r.pod.workload_name.as_str()
            ),
            ("spoof", "uid-spoof", "")
        );
        assert_eq!(r.pod.node_name, "node-1");
        // An owner whose name the index holds under another UID is not that pod either.
        namespaces.write().unwrap().get_mut(&200).unwrap().owner = Some(crate::node::Owner {
            uid: "another".into(),
            ..owner("web")
        });
        e.prepare(&f);
        assert_eq!(e.record(&f[0]).pod.pod_uid, "another");
    }

    #[test]
    fn a_pod_found_later_and_a_pod_gone_from_the_index() {
        let (mut e, index, namespaces) = node();
        namespaces.write().unwrap().get_mut(&200).unwrap().owner = Some(owner("late"));
        let f = [flow(1, "10.0.0.2", "10.0.9.9")];
        // The owner of namespace 200 arrives in the index: the next batch names it with its
        // workload.
        index
            .write()
            .unwrap()
            .apply(pod("late", "10.0.0.2", "node-1"));
        e.prepare(&f);
        assert_eq!(e.record(&f[0]).pod.workload_kind, "Pod");
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
        assert_eq!(e.record(&f[0]).pod.workload_kind, "Pod");
        // An unknown point (its namespace forgotten): the node, no interface name.
        let r = e.record(&f[1]);
        assert_eq!(
            (r.pod.pod_name.as_str(), r.interface, r.observation_point),
            ("", "", 3)
        );
    }
}
