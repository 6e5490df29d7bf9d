//! Field values and their encodings (RFC 7011 §6.1, network byte order; §7,
//! variable-length strings).

use std::net::IpAddr;

use super::{Counts, ExportRecord};
use crate::flow::Nanos;
use crate::identity::PeerIdentity;
use crate::ipfix::elements::{DataType, Ie};

/// A value before it is written with its element's type: addresses are numbers too
/// (an IPv4 address in the low 32 bits), so every fixed-size type writes the low bytes.
#[derive(Clone, Copy)]
pub(super) enum FieldValue<'a> {
    Number(u128),
    Str(&'a str),
}

pub(super) fn millis(t: Nanos) -> u128 {
    (t / 1_000_000) as u128
}

/// The value of `ie` in the data record of `rec`.
pub(super) fn flow_value<'a>(ie: Ie, rec: &ExportRecord<'a>) -> FieldValue<'a> {
    use FieldValue::{Number as N, Str as S};
    let f = rec.flow;
    let k = &f.key;
    let icmp = k.is_icmp();
    let pod = rec.pod;
    let peer = |get: fn(&'a PeerIdentity) -> &'a str| S(rec.peer.map_or("", get));
    match ie {
        Ie::FlowStartMilliseconds => N(millis(f.start)),
        Ie::FlowEndMilliseconds => N(millis(f.end)),
        Ie::SourceIPv4Address | Ie::SourceIPv6Address => N(k.src),
        Ie::DestinationIPv4Address | Ie::DestinationIPv6Address => N(k.dst),
        Ie::SourceTransportPort => N(if icmp { 0 } else { k.src_port.into() }),
        Ie::DestinationTransportPort => N(if icmp { 0 } else { k.dst_port.into() }),
        Ie::ProtocolIdentifier => N(k.proto.into()),
        Ie::IpClassOfService => N(f.tos.into()),
        Ie::VlanId => N(k.vlan.into()),
        Ie::IcmpTypeCodeIPv4 | Ie::IcmpTypeCodeIPv6 => N(if icmp { k.dst_port.into() } else { 0 }),
        Ie::TcpControlBits => N(f.forward.tcp_flags.into()),
        Ie::OctetDeltaCount => N(f.forward.octets.into()),
        Ie::PacketDeltaCount => N(f.forward.packets.into()),
        Ie::ReverseOctetDeltaCount => N(f.reverse.octets.into()),
        Ie::ReversePacketDeltaCount => N(f.reverse.packets.into()),
        Ie::ReverseTcpControlBits => N(f.reverse.tcp_flags.into()),
        Ie::FlowEndReason => N(f.end_reason as u8 as u128),
        Ie::FlowDirection => N(rec.direction.into()),
        Ie::InterfaceName => S(rec.interface),
        Ie::K8sNodeName => S(&pod.node_name),
        Ie::K8sNodeIPv4Address => match pod.node_ip {
            Some(IpAddr::V4(a)) => N(u32::from(a).into()),
            _ => N(0),
        },
        Ie::K8sNodeIPv6Address => match pod.node_ip {
            Some(IpAddr::V6(a)) => N(u128::from(a)),
            _ => N(0),
        },
        Ie::K8sPodName => S(&pod.pod_name),
        Ie::K8sPodNamespace => S(&pod.pod_namespace),
        Ie::K8sWorkloadName => S(&pod.workload_name),
        Ie::K8sWorkloadKind => S(&pod.workload_kind),
        Ie::K8sPodLabels => S(&pod.labels_json),
        Ie::K8sPodAnnotations => S(&pod.annotations_json),
        Ie::K8sPodUid => S(&pod.pod_uid),
        Ie::K8sClusterName => S(&pod.cluster_name),
        Ie::K8sObservationPoint => N(rec.observation_point.into()),
        Ie::K8sPeerPodName => peer(|p| &p.pod_name),
        Ie::K8sPeerPodNamespace => peer(|p| &p.pod_namespace),
        Ie::K8sPeerWorkloadName => peer(|p| &p.workload_name),
        Ie::K8sPeerWorkloadKind => peer(|p| &p.workload_kind),
        Ie::K8sPeerNodeName => peer(|p| &p.node_name),
        Ie::K8sPeerPodLabels => peer(|p| &p.labels_json),
        // Not part of a flow template; zero keeps the record consistent regardless.
        Ie::ObservationDomainId
        | Ie::ExportedMessageTotalCount
        | Ie::ExportedFlowRecordTotalCount
        | Ie::ExportedOctetTotalCount
        | Ie::ObservedFlowTotalCount
        | Ie::IgnoredPacketTotalCount
        | Ie::NotSentFlowTotalCount
        | Ie::InformationElementId
        | Ie::PrivateEnterpriseNumber
        | Ie::InformationElementDataType
        | Ie::InformationElementSemantics => N(0),
        Ie::InformationElementName => S(""),
    }
}

/// The value of `ie` in the exporter statistics options record.
pub(super) fn options_value(ie: Ie, counts: &Counts, domain: u32) -> FieldValue<'static> {
    let n = match ie {
        Ie::ObservationDomainId => domain.into(),
        Ie::ExportedMessageTotalCount => counts.exported_messages.into(),
        Ie::ExportedFlowRecordTotalCount => counts.exported_records.into(),
        Ie::ExportedOctetTotalCount => counts.exported_octets.into(),
        Ie::ObservedFlowTotalCount => counts.observed_flows.into(),
        Ie::IgnoredPacketTotalCount => counts.ignored_packets.into(),
        Ie::NotSentFlowTotalCount => counts.not_sent_records.into(),
        Ie::FlowStartMilliseconds => millis(counts.period_start),
        Ie::FlowEndMilliseconds => millis(counts.period_end),
        _ => 0,
    };
    FieldValue::Number(n)
}

/// Appends a value in its element's encoding. Strings longer than `max_string` bytes are
/// cut at a character boundary.
pub(super) fn put_value(
    buf: &mut Vec<u8>,
    data_type: DataType,
    value: FieldValue<'_>,
    max_string: usize,
) {
    match (data_type, value) {
        (DataType::String, FieldValue::Str(s)) => put_string(buf, s, max_string),
        (DataType::String, FieldValue::Number(_)) => buf.push(0),
        (_, v) => {
            let n = match v {
                FieldValue::Number(n) => n,
                FieldValue::Str(_) => 0,
            };
            let len = usize::from(data_type.length());
            buf.extend_from_slice(&n.to_be_bytes()[16 - len..]);
        }
    }
}

/// Variable-length encoding (RFC 7011 §7): one length byte below 255, else 255 and a
/// 16-bit length.
fn put_string(buf: &mut Vec<u8>, s: &str, max_string: usize) {
    let bytes = &s.as_bytes()[..cut_at(s, max_string.min(usize::from(u16::MAX)))];
    if bytes.len() < 255 {
        buf.push(bytes.len() as u8);
    } else {
        buf.push(255);
        buf.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    }
    buf.extend_from_slice(bytes);
}

/// The longest prefix length of `s` within `max` bytes that ends on a character boundary.
pub(super) fn cut_at(s: &str, max: usize) -> usize {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}
