//! What the mediator appends to each record it passes on: the original exporter (RFC
//! 7119), then for a data record each end's pod, workload, labels, node, zone, region and
//! Service, and the traffic class. Pure: the cluster view says, this writes.

use std::net::IpAddr;

use crate::cluster::{traffic_class, ClusterView, End, Endpoint, Millis, TrafficClass};
use crate::ipfix::relay::RecordKeys;
use crate::ipfix::{put_octets, FieldSpec, Ie, TemplateField, VARLEN};

/// Each end's elements, in the order they are appended.
const SOURCE: [Ie; 12] = [
    Ie::K8sSourcePodName,
    Ie::K8sSourcePodNamespace,
    Ie::K8sSourcePodUid,
    Ie::K8sSourceWorkloadName,
    Ie::K8sSourceWorkloadKind,
    Ie::K8sSourcePodLabels,
    Ie::K8sSourceNodeName,
    Ie::K8sSourceZone,
    Ie::K8sSourceRegion,
    Ie::K8sSourceServiceNamespace,
    Ie::K8sSourceServiceName,
    Ie::K8sSourceServicePortName,
];
const DESTINATION: [Ie; 12] = [
    Ie::K8sDestinationPodName,
    Ie::K8sDestinationPodNamespace,
    Ie::K8sDestinationPodUid,
    Ie::K8sDestinationWorkloadName,
    Ie::K8sDestinationWorkloadKind,
    Ie::K8sDestinationPodLabels,
    Ie::K8sDestinationNodeName,
    Ie::K8sDestinationZone,
    Ie::K8sDestinationRegion,
    Ie::K8sDestinationServiceNamespace,
    Ie::K8sDestinationServiceName,
    Ie::K8sDestinationServicePortName,
];

/// What kind of record a template carries, as far as appending goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A flow record: the exporter, both ends and the class.
    Data { ipv6_exporter: bool },
    /// An options record (an exporter's statistics, its type records): the exporter only.
    Options { ipv6_exporter: bool },
    /// A record that went through a mediator already: passed on as it is.
    AsIs,
}

impl Shape {
    /// The elements appended, in order.
    pub fn elements(self) -> Vec<Ie> {
        let exporter = |v6: bool| {
            let address = if v6 {
                Ie::OriginalExporterIPv6Address
            } else {
                Ie::OriginalExporterIPv4Address
            };
            [address, Ie::OriginalObservationDomainId]
        };
        match self {
            Shape::Data { ipv6_exporter } => exporter(ipv6_exporter)
                .into_iter()
                .chain(SOURCE)
                .chain(DESTINATION)
                .chain([Ie::K8sTrafficClass])
                .collect(),
            Shape::Options { ipv6_exporter } => exporter(ipv6_exporter).to_vec(),
            Shape::AsIs => Vec::new(),
        }
    }

    /// The appended fields as they go in a template, the Kubernetes elements under
    /// `enterprise_number`.
    pub fn fields(self, enterprise_number: u32) -> Vec<TemplateField> {
        self.elements()
            .into_iter()
            .map(|ie| {
                let e = ie.element();
                let length = match e.data_type {
                    crate::ipfix::DataType::String => VARLEN,
                    crate::ipfix::DataType::Ipv4Address => 4,
                    crate::ipfix::DataType::Ipv6Address => 16,
                    crate::ipfix::DataType::Unsigned8 => 1,
                    crate::ipfix::DataType::Unsigned32 => 4,
                    other => unreachable!("no appended element is {other:?}"),
                };
                TemplateField {
                    spec: FieldSpec {
                        pen: e.registry.pen(enterprise_number),
                        id: e.id,
                    },
                    length,
                }
            })
            .collect()
    }
}

/// The exporter a record came from: its address and the observation domain it said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exporter {
    pub address: IpAddr,
    pub domain: u32,
}

/// What the view says of a record's two ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Named {
    pub source: End,
    pub destination: End,
    pub class: Option<TrafficClass>,
}

/// Names both ends of a record at its time: its end, else its start, else `fallback` (the
/// message's export time).
pub fn name(view: &ClusterView, keys: &RecordKeys, fallback: Millis) -> Named {
    let t = keys.end_ms.or(keys.start_ms).unwrap_or(fallback);
    let end = |addr: Option<IpAddr>, port: u16| {
        addr.map(|addr| {
            view.end(
                Endpoint {
                    addr,
                    port,
                    protocol: keys.protocol,
                },
                t,
            )
        })
    };
    let (source, destination) = (
        end(keys.source, keys.source_port),
        end(keys.destination, keys.destination_port),
    );
    let class = match (&source, &destination) {
        (Some(s), Some(d)) => Some(traffic_class(s, d)),
        _ => None,
    };
    Named {
        source: source.unwrap_or_default(),
        destination: destination.unwrap_or_default(),
        class,
    }
}

/// Appends `shape`'s fields of one record to `out`: the exporter, then (for data) the
/// two ends and the class as `named` says.
pub fn append(out: &mut Vec<u8>, shape: Shape, exporter: Exporter, named: &Named) {
    if shape == Shape::AsIs {
        return;
    }
    match exporter.address {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
    out.extend_from_slice(&exporter.domain.to_be_bytes());
    if !matches!(shape, Shape::Data { .. }) {
        return;
    }
    for end in [&named.source, &named.destination] {
        let pod = end.pod.as_deref();
        let node = end.node.as_deref();
        let service = end.service.as_ref();
        for text in [
            pod.map_or("", |p| &p.name),
            pod.map_or("", |p| &p.namespace),
            pod.map_or("", |p| &p.uid),
            pod.map_or("", |p| &p.workload_name),
            pod.map_or("", |p| &p.workload_kind),
            pod.map_or("", |p| &p.labels_json),
            node.map_or("", |n| &n.name),
            node.map_or("", |n| &n.zone),
            node.map_or("", |n| &n.region),
            service.map_or("", |s| &s.service.namespace),
            service.map_or("", |s| &s.service.name),
            service.map_or("", |s| &s.port_name),
        ] {
            put_octets(out, text.as_bytes());
        }
    }
    out.push(named.class.unwrap_or(TrafficClass::Unknown) as u8);
}

#[cfg(test)]
mod tests;
