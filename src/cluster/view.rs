//! One cluster-wide view: pods, Services, EndpointSlices and nodes, and what it says of
//! an end of a record (an address and port at a time) and of the pair of ends (the
//! traffic class). Pure.

use std::net::IpAddr;
use std::sync::Arc;

use super::nodes::{Cidr, NodeFacts, Nodes};
use super::pods::{PodFacts, Pods};
use super::services::{ServiceHit, Services};
use super::tenure::Millis;

/// The view, fed by the watches (or a file) and read by the mediator.
#[derive(Debug, Default)]
pub struct ClusterView {
    pub pods: Pods,
    pub services: Services,
    pub nodes: Nodes,
    /// Ranges that are the cluster's own though no pod, Service or node holds an address
    /// of them (`mediator.cluster_cidrs`): an address in them is not the world.
    pub cluster_ranges: Vec<Cidr>,
    /// How far the probes' clocks and the API server's may differ, in ms.
    pub skew: Millis,
    /// Every kind is listed and no watch fails: what the view does not hold, the cluster
    /// does not either. Records named while it is not are counted.
    pub current: bool,
}

/// One end of a record: an address and port of a protocol, at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
    pub protocol: u8,
}

/// What the view says of an end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct End {
    /// The pod that held the address then.
    pub pod: Option<Arc<PodFacts>>,
    /// The node the pod ran on, or the node whose address it is.
    pub node: Option<Arc<NodeFacts>>,
    /// The address is a node's own (the node, or a pod on its network).
    pub node_address: bool,
    /// The Service the end addressed (a ClusterIP, ingress IP or node port), or that the
    /// pod served the port of (its EndpointSlices).
    pub service: Option<ServiceHit>,
    /// Nothing in the cluster holds the address.
    pub world: bool,
}

impl End {
    /// Something in the cluster holds the address: a pod, a node, a Service.
    pub fn named(&self) -> bool {
        self.pod.is_some() || self.node.is_some() || self.service.is_some()
    }

    /// The address is the cluster's (a pod range, `mediator.cluster_cidrs`) but nothing
    /// held it then: a pod the view does not know (yet), or one gone past the grace.
    pub fn unowned(&self) -> bool {
        !self.world && !self.named()
    }
}

/// The kind of path a record took, for the cost questions: one element, unsigned8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TrafficClass {
    /// An end is not known well enough to say (a Service address whose backend the
    /// record does not show, nodes without zone labels, both ends outside the cluster).
    Unknown = 0,
    /// Both ends are the same pod.
    SamePod = 1,
    /// Two pods on one node.
    SameNode = 2,
    /// Two nodes of one zone.
    SameZone = 3,
    /// Two zones of one region.
    CrossZone = 4,
    /// Two regions.
    CrossRegion = 5,
    /// From the cluster to an address outside it.
    Egress = 6,
    /// From outside the cluster into it.
    Ingress = 7,
    /// An end is a node's own address: the node, or a pod on the host network.
    HostNetwork = 8,
    /// To a Service's address (ClusterIP, ingress IP, node port): where it went is on the
    /// far side of the Service's load balancing.
    Service = 9,
}

impl TrafficClass {
    /// The name operators see in JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            TrafficClass::Unknown => "unknown",
            TrafficClass::SamePod => "same_pod",
            TrafficClass::SameNode => "same_node",
            TrafficClass::SameZone => "same_zone",
            TrafficClass::CrossZone => "cross_zone",
            TrafficClass::CrossRegion => "cross_region",
            TrafficClass::Egress => "egress",
            TrafficClass::Ingress => "ingress",
            TrafficClass::HostNetwork => "host_network",
            TrafficClass::Service => "service",
        }
    }
}

impl ClusterView {
    /// What held `end` at `t`: a pod (and the Service whose endpoints it is), a Service's
    /// address, a node's address (and a node port's Service), or the world.
    pub fn end(&self, end: Endpoint, t: Millis) -> End {
        let Endpoint {
            addr,
            port,
            protocol,
        } = end;
        if let Some(pod) = self.pods.at(&addr, t, self.skew) {
            return End {
                node: self.nodes.named(&pod.node).cloned(),
                service: self.services.by_endpoint(&addr, protocol, port).cloned(),
                pod: Some(pod.clone()),
                ..End::default()
            };
        }
        if let Some(service) = self.services.by_address(&addr, protocol, port) {
            return End {
                service: Some(service),
                ..End::default()
            };
        }
        if let Some(node) = self.nodes.at(&addr) {
            return End {
                node: Some(node.clone()),
                node_address: true,
                // A node port, or a pod on the host network serving a Service.
                service: self
                    .services
                    .by_node_port(protocol, port)
                    .or_else(|| self.services.by_endpoint(&addr, protocol, port).cloned()),
                ..End::default()
            };
        }
        let inside = self.cluster_ranges.iter().any(|r| r.contains(&addr))
            || self.nodes.in_pod_ranges(&addr);
        End {
            world: !inside,
            ..End::default()
        }
    }
}

/// The traffic class of a record from `source` (the side that started it) to
/// `destination`.
pub fn traffic_class(source: &End, destination: &End) -> TrafficClass {
    use TrafficClass::*;
    let in_cluster = |e: &End| !e.world && e.named();
    match (source.world, destination.world) {
        (true, true) => return Unknown,
        (false, true) if in_cluster(source) => return Egress,
        (true, false) if in_cluster(destination) => return Ingress,
        (false, false) => {}
        _ => return Unknown,
    }
    if let (Some(a), Some(b)) = (&source.pod, &destination.pod) {
        if a.uid == b.uid {
            return SamePod;
        }
    }
    if source.node_address || destination.node_address {
        return HostNetwork;
    }
    let backend = |e: &End| e.pod.is_some();
    if !backend(source) || !backend(destination) {
        // A Service's address: the backend is on the far side of its load balancing.
        let service = |e: &End| e.pod.is_none() && e.service.is_some();
        return if service(source) || service(destination) {
            Service
        } else {
            Unknown
        };
    }
    let (Some(a), Some(b)) = (&source.node, &destination.node) else {
        return Unknown;
    };
    if a.name == b.name {
        return SameNode;
    }
    match (
        a.zone.as_str(),
        b.zone.as_str(),
        a.region.as_str(),
        b.region.as_str(),
    ) {
        (za, zb, _, _) if !za.is_empty() && za == zb => SameZone,
        (_, _, ra, rb) if !ra.is_empty() && !rb.is_empty() && ra != rb => CrossRegion,
        (za, zb, _, _) if !za.is_empty() && !zb.is_empty() => CrossZone,
        _ => Unknown,
    }
}

#[cfg(test)]
mod tests;
