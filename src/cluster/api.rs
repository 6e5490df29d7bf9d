//! The Kubernetes objects the view is made of, trimmed to what it keeps: Pods, Services,
//! EndpointSlices and Nodes as the API server (or `kubectl get -o json`) gives them.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::nodes::{NodeFacts, NodeUpdate};
use super::pods::{PodFacts, PodUpdate};
use super::services::{ServiceFacts, ServicePort, ServiceUpdate, SliceUpdate};
use super::tenure::Millis;
use crate::metadata::{capped_json, workload_of, TrimmedPod};

/// The label of an EndpointSlice that names its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const REGION_LABEL: &str = "topology.kubernetes.io/region";

fn millis(t: &Time) -> Millis {
    t.0.as_millisecond()
}

/// A pod as the view keeps it: its labels as JSON within `max_label_bytes`.
pub fn pod_update(pod: &Pod, max_label_bytes: usize) -> PodUpdate {
    let trimmed = TrimmedPod::from_api(pod);
    let workload = workload_of(&trimmed);
    let status = pod.status.as_ref();
    // When the pod got its address: its sandbox's network was ready, else it started,
    // else it was made.
    let network_ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| {
            c.iter()
                .find(|c| c.type_ == "PodReadyToStartContainers" && c.status == "True")
        })
        .and_then(|c| c.last_transition_time.as_ref());
    let since = network_ready
        .or(status.and_then(|s| s.start_time.as_ref()))
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(millis);
    let ips = if trimmed.finished {
        Vec::new()
    } else {
        trimmed.ips.clone()
    };
    PodUpdate {
        facts: PodFacts {
            labels_json: capped_json(&trimmed.labels, max_label_bytes).json,
            name: trimmed.name,
            namespace: trimmed.namespace,
            uid: trimmed.uid,
            workload_name: workload.name,
            workload_kind: workload.kind,
            node: trimmed.node_name,
            host_network: trimmed.host_network,
        },
        ips,
        since,
    }
}

fn protocol(name: Option<&str>) -> u8 {
    match name {
        Some("UDP") => 17,
        Some("SCTP") => 132,
        _ => 6,
    }
}

fn parse_ips<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<IpAddr> {
    texts.into_iter().filter_map(|t| t.parse().ok()).collect()
}

/// A Service: its ClusterIPs (none when headless), LoadBalancer ingress IPs and ports.
pub fn service_update(service: &Service) -> ServiceUpdate {
    let md = &service.metadata;
    let spec = service.spec.as_ref();
    let mut addresses = parse_ips(
        spec.and_then(|s| s.cluster_ips.as_ref())
            .into_iter()
            .flatten()
            .map(String::as_str),
    );
    if addresses.is_empty() {
        addresses = parse_ips(spec.and_then(|s| s.cluster_ip.as_deref()));
    }
    let ingress = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref());
    addresses.extend(parse_ips(ingress));
    let ports = spec
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(ServicePort {
                name: p.name.as_deref().unwrap_or_default().into(),
                protocol: protocol(p.protocol.as_deref()),
                port: u16::try_from(p.port).ok()?,
                node_port: p.node_port.and_then(|n| u16::try_from(n).ok()),
            })
        })
        .collect();
    ServiceUpdate {
        uid: uid_or_name(
            md.uid.as_deref(),
            md.namespace.as_deref(),
            md.name.as_deref(),
        ),
        facts: ServiceFacts {
            name: md.name.clone().unwrap_or_default(),
            namespace: md.namespace.clone().unwrap_or_default(),
        },
        addresses,
        ports,
    }
}

/// An EndpointSlice of a Service: its ports and its endpoints' addresses. None for a
/// slice no Service owns.
pub fn slice_update(slice: &EndpointSlice) -> Option<SliceUpdate> {
    let md = &slice.metadata;
    let service = md.labels.as_ref()?.get(SERVICE_NAME_LABEL)?.clone();
    let ports = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(ServicePort {
                name: p.name.as_deref().unwrap_or_default().into(),
                protocol: protocol(p.protocol.as_deref()),
                port: u16::try_from(p.port?).ok()?,
                node_port: None,
            })
        })
        .collect();
    let addresses = parse_ips(
        slice
            .endpoints
            .iter()
            .flat_map(|e| e.addresses.iter().map(String::as_str)),
    );
    Some(SliceUpdate {
        uid: uid_or_name(
            md.uid.as_deref(),
            md.namespace.as_deref(),
            md.name.as_deref(),
        ),
        service: ServiceFacts {
            name: service,
            namespace: md.namespace.clone().unwrap_or_default(),
        },
        ports,
        addresses,
    })
}

/// A node: its zone and region labels, addresses and pod ranges.
pub fn node_update(node: &Node) -> NodeUpdate {
    let labels = node.metadata.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).cloned().unwrap_or_default();
    let status = node.status.as_ref();
    let addresses = parse_ips(
        status
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
            .map(|a| a.address.as_str()),
    );
    let pod_ranges = node
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidrs.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.parse().ok())
        .collect();
    NodeUpdate {
        facts: NodeFacts {
            name: node.metadata.name.clone().unwrap_or_default(),
            zone: label(ZONE_LABEL),
            region: label(REGION_LABEL),
        },
        addresses,
        pod_ranges,
    }
}

/// An object's key: its UID, or namespace/name when it has none (a hand-written list).
fn uid_or_name(uid: Option<&str>, namespace: Option<&str>, name: Option<&str>) -> String {
    match uid {
        Some(uid) if !uid.is_empty() => uid.to_string(),
        _ => format!("{}/{}", namespace.unwrap_or(""), name.unwrap_or("")),
    }
}

#[cfg(test)]
mod tests;
