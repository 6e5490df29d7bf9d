//! Enrichment: what a flow record gains between the flow table and the wire. Pure.

use std::net::IpAddr;
use std::sync::Arc;

use crate::capture::Interfaces;
use crate::flow::{from_addr, FlowRecord};
use crate::ipfix::ExportRecord;
use crate::metadata::PodIdentity;

/// flowDirection when podflow knows none of the pod's addresses (offline input without
/// `k8s.pod_ips`): outside the 0/1 of the registry, so no collector mistakes it for either.
pub const DIRECTION_UNKNOWN: u8 = 255;

/// The observed pod and its capture points, as the exporter needs them for every record.
#[derive(Clone, Debug)]
pub struct Enricher {
    pub pod: Arc<PodIdentity>,
    pod_addrs: Vec<(u128, bool)>,
    /// Interface name of each observation point index.
    interfaces: Vec<String>,
    /// Where the names come from when interfaces come and go (live capture).
    registry: Option<Interfaces>,
    pub observation_point: u8,
}

impl Enricher {
    pub fn new(
        pod: Arc<PodIdentity>,
        pod_ips: &[IpAddr],
        interfaces: Vec<String>,
        observation_point: u8,
    ) -> Self {
        Enricher {
            pod,
            pod_addrs: pod_ips.iter().map(|ip| from_addr(*ip)).collect(),
            interfaces,
            registry: None,
            observation_point,
        }
    }

    /// Names interfaces from a live registry, read again by [`Enricher::refresh`].
    pub fn with_registry(mut self, registry: Interfaces) -> Self {
        self.interfaces = registry.names();
        self.registry = Some(registry);
        self
    }

    /// Takes in interfaces registered since the last call; once per export batch.
    pub fn refresh(&mut self) {
        if let Some(registry) = &self.registry {
            self.interfaces = registry.names();
        }
    }

    /// 1 (egress) when the pod initiated the flow, 0 (ingress) when the peer did.
    pub fn direction(&self, flow: &FlowRecord) -> u8 {
        let k = &flow.key;
        if self.pod_addrs.contains(&(k.src, k.ipv6)) {
            1
        } else if self.pod_addrs.contains(&(k.dst, k.ipv6)) {
            0
        } else {
            DIRECTION_UNKNOWN
        }
    }

    pub fn interface(&self, flow: &FlowRecord) -> &str {
        self.interfaces
            .get(flow.key.point as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn record<'a>(&'a self, flow: &'a FlowRecord) -> ExportRecord<'a> {
        ExportRecord {
            flow,
            direction: self.direction(flow),
            interface: self.interface(flow),
            observation_point: self.observation_point,
            pod: &self.pod,
            peer: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Counters, EndReason, FlowKey};

    fn flow(src: &str, dst: &str) -> FlowRecord {
        let (s, v6) = from_addr(src.parse().unwrap());
        let (d, _) = from_addr(dst.parse().unwrap());
        FlowRecord {
            key: FlowKey {
                src: s,
                dst: d,
                ipv6: v6,
                proto: 6,
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
