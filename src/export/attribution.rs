//! Attribution: who each record belongs to, between the flow table and the wire. The
//! exporter holds one [`Attribution`]: [`PodAttribution`] in a sidecar (every record is the
//! pod's), node mode's own (the pod of the namespace a flow was observed in, and its peer).
//! Pure apart from the shared registries read once per batch.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::capture::{Interfaces, PointInfo};
use crate::flow::{from_addr, FlowRecord};
use crate::identity::PodIdentity;
use crate::ipfix::ExportRecord;

/// flowDirection when podflow knows none of the pod's addresses (offline input without
/// `k8s.pod_ips`): outside the 0/1 of the registry, so no collector mistakes it for either.
pub const DIRECTION_UNKNOWN: u8 = 255;

/// k8sObservationPoint of a sidecar: the pod's own namespace.
pub const POINT_SIDECAR: u8 = 1;
/// k8sObservationPoint of node mode inside a pod's namespace.
pub const POINT_POD_NAMESPACE: u8 = 2;
/// k8sObservationPoint of node mode on the node's own interfaces.
pub const POINT_HOST: u8 = 3;

/// Who the records belong to. The exporter calls [`Attribution::prepare`] once per batch,
/// then [`Attribution::record`] for each flow of it.
pub trait Attribution: Send {
    /// Reads what is shared (interfaces registered since the last batch; in node mode the
    /// namespaces, their pods and the peers of `flows`) once for a batch.
    fn prepare(&mut self, flows: &[FlowRecord]);

    /// `flow` with the identity, direction and interface it is exported with.
    fn record<'a>(&'a self, flow: &'a FlowRecord) -> ExportRecord<'a>;

    /// The observed pod's identity changed (its labels or annotations files were
    /// rewritten).
    fn pod_changed(&mut self, _pod: Arc<PodIdentity>) {}
}

/// The interface and namespace of each observation point, as of the last batch.
#[derive(Clone, Debug, Default)]
pub struct Points {
    registry: Interfaces,
    now: HashMap<u32, PointInfo>,
}

impl Points {
    /// The points of `registry`, read again by [`Points::refresh`].
    pub fn new(registry: Interfaces) -> Points {
        Points {
            now: registry.snapshot(),
            registry,
        }
    }

    /// Reads the registry again: interfaces come and go while capturing.
    pub fn refresh(&mut self) {
        self.now = self.registry.snapshot();
    }

    /// What point `point` is, when it is known.
    pub fn get(&self, point: u32) -> Option<&PointInfo> {
        self.now.get(&point)
    }

    /// The interface name of `flow`'s observation point; empty when unknown.
    pub fn interface(&self, flow: &FlowRecord) -> &str {
        self.get(flow.key.point)
            .map(|p| p.interface.as_str())
            .unwrap_or("")
    }
}

/// A sidecar's attribution: every record is the pod's, its direction seen from the pod's
/// addresses.
#[derive(Clone, Debug)]
pub struct PodAttribution {
    pod: Arc<PodIdentity>,
    addrs: Vec<(u128, bool)>,
    points: Points,
}

impl PodAttribution {
    /// Records of `pod`, whose addresses are `pod_ips`, captured on the interfaces of
    /// `interfaces`.
    pub fn new(pod: Arc<PodIdentity>, pod_ips: &[IpAddr], interfaces: Interfaces) -> Self {
        PodAttribution {
            pod,
            addrs: addresses(pod_ips),
            points: Points::new(interfaces),
        }
    }
}

impl Attribution for PodAttribution {
    fn prepare(&mut self, _flows: &[FlowRecord]) {
        self.points.refresh();
    }

    fn record<'a>(&'a self, flow: &'a FlowRecord) -> ExportRecord<'a> {
        ExportRecord {
            flow,
            direction: direction(flow, &self.addrs),
            interface: self.points.interface(flow),
            observation_point: POINT_SIDECAR,
            pod: &self.pod,
            peer: None,
        }
    }

    fn pod_changed(&mut self, pod: Arc<PodIdentity>) {
        self.pod = pod;
    }
}

/// Addresses as flow keys hold them.
pub fn addresses(ips: &[IpAddr]) -> Vec<(u128, bool)> {
    ips.iter().map(|ip| from_addr(*ip)).collect()
}

/// flowDirection of `flow` seen from the side that holds `addrs`: 1 (egress) when that
/// side initiated it, 0 (ingress) when the other did.
pub fn direction(flow: &FlowRecord, addrs: &[(u128, bool)]) -> u8 {
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
pub fn peer_address(flow: &FlowRecord, addrs: &[(u128, bool)]) -> IpAddr {
    match direction(flow, addrs) {
        0 => flow.key.src_addr(),
        _ => flow.key.dst_addr(),
    }
}

/// A TCP flow from `src` to `dst` seen at observation point `point`.
#[cfg(test)]
pub fn test_flow(point: u32, src: &str, dst: &str) -> FlowRecord {
    let (s, v6) = from_addr(src.parse().unwrap());
    let (d, _) = from_addr(dst.parse().unwrap());
    FlowRecord {
        key: crate::flow::FlowKey {
            src: s,
            dst: d,
            ipv6: v6,
            proto: 6,
            point,
            ..Default::default()
        },
        start: 0,
        end: 0,
        forward: crate::flow::Counters::default(),
        reverse: crate::flow::Counters::default(),
        tos: 0,
        end_reason: crate::flow::EndReason::IdleTimeout,
        ext: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(src: &str, dst: &str) -> FlowRecord {
        test_flow(0, src, dst)
    }

    #[test]
    fn direction_from_pod_addresses() {
        let interfaces = Interfaces::default();
        assert_eq!(interfaces.point("eth0"), Some(0));
        let mut a = PodAttribution::new(
            Arc::default(),
            &["10.0.0.7".parse().unwrap(), "fd00::7".parse().unwrap()],
            interfaces,
        );
        let flows = [
            flow("10.0.0.7", "10.0.0.9"),
            flow("10.0.0.9", "10.0.0.7"),
            flow("fd00::9", "fd00::7"),
            flow("10.0.0.8", "10.0.0.9"),
            // An IPv4 address never matches an IPv6 one with the same low bits.
            flow("0.0.0.7", "0.0.0.9"),
        ];
        a.prepare(&flows);
        let d: Vec<u8> = flows.iter().map(|f| a.record(f).direction).collect();
        assert_eq!(d, [1, 0, 0, DIRECTION_UNKNOWN, DIRECTION_UNKNOWN]);
        assert_eq!(a.record(&flows[0]).interface, "eth0");
        assert_eq!(a.record(&flows[0]).observation_point, POINT_SIDECAR);
    }
}
