//! Field values and their encodings (RFC 7011 §6.1, network byte order; §7,
//! variable-length strings).

use std::net::IpAddr;

use super::{Counts, ExportRecord};
use crate::flow::app::App;
use crate::flow::{FlowExt, Nanos};
use crate::identity::PeerIdentity;
use crate::ipfix::elements::{DataType, Ie};

/// A value before it is written with its element's type: addresses are numbers too
/// (an IPv4 address in the low 32 bits), so every fixed-size type writes the low bytes.
#[derive(Clone, Copy)]
pub(super) enum FieldValue<'a> {
    Number(u128),
    Str(&'a str),
    /// Bytes from the wire for a string: written up to the first byte that is not UTF-8.
    Bytes(&'a [u8]),
    /// A digest: lowercase hex in a string, the bytes themselves in an octetArray.
    Digest(&'a [u8]),
}

pub(super) fn millis(t: Nanos) -> u128 {
    (t / 1_000_000) as u128
}

/// The value of `ie` in the data record of `rec`.
pub(super) fn flow_value<'a>(ie: Ie, rec: &ExportRecord<'a>) -> FieldValue<'a> {
    use FieldValue::{Bytes as B, Number as N, Str as S};
    let f = rec.flow;
    let k = &f.key;
    let icmp = k.is_icmp();
    let pod = rec.pod;
    let peer = |get: fn(&'a PeerIdentity) -> &'a str| S(rec.peer.map_or("", get));
    let ext = f.ext.as_deref();
    let tcp = ext.and_then(FlowExt::tcp_figures).unwrap_or_default();
    let (rtt, cnd, snd) = tcp
        .handshake
        .map_or((0, 0, 0), |(c, s)| (c.saturating_add(s), c, s));
    let app = ext.and_then(FlowExt::app);
    let dns = match app {
        Some(App::Dns(d)) => Some(d),
        _ => None,
    };
    let http = match app {
        Some(App::Http(h)) => Some(h),
        _ => None,
    };
    let hello = match app {
        Some(App::Tls(t)) => t.hello.as_ref(),
        _ => None,
    };
    let tls_version = match app {
        Some(App::Tls(t)) => t.version,
        _ => 0,
    };
    let response = dns.and_then(|d| d.response);
    match ie {
        Ie::NpmRoundTripTime => N(rtt.into()),
        Ie::NpmClientNetworkDelay => N(cnd.into()),
        Ie::NpmServerNetworkDelay => N(snd.into()),
        Ie::NpmServerResponseTime => N(dns.map_or(tcp.response_time, |d| d.response_time()).into()),
        Ie::NpmRetransmittedPackets => {
            N(u128::from(tcp.retransmitted[0]) + u128::from(tcp.retransmitted[1]))
        }
        Ie::NpmClientRetransmittedPackets => N(tcp.retransmitted[0].into()),
        Ie::NpmServerRetransmittedPackets => N(tcp.retransmitted[1].into()),
        Ie::NpmClientRetransmittedOctets => N(tcp.retransmitted_octets[0].into()),
        Ie::NpmServerRetransmittedOctets => N(tcp.retransmitted_octets[1].into()),
        Ie::NpmOutOfOrderPackets => N(tcp.out_of_order.into()),
        Ie::NpmZeroWindowEvents => N(tcp.zero_window.into()),
        Ie::DnsQueryName => B(dns.map_or(&[][..], |d| d.name.as_bytes())),
        Ie::DnsQueryType => N(dns.map_or(0, |d| d.qtype).into()),
        Ie::DnsResponseCode => N(response.map_or(0, |r| r.rcode).into()),
        Ie::DnsAnswerCount => N(response.map_or(0, |r| r.answers).into()),
        Ie::DnsFlags => N(response
            .map_or(dns.map_or(0, |d| d.query_flags), |r| r.flags)
            .into()),
        Ie::DnsTransactionId => N(dns.map_or(0, |d| d.id).into()),
        Ie::HttpHost => B(http.map_or(&[][..], |h| h.host.as_bytes())),
        Ie::HttpMethod => B(http.map_or(&[][..], |h| h.method.as_bytes())),
        Ie::HttpPath => B(http.map_or(&[][..], |h| h.path.as_bytes())),
        Ie::HttpStatusCode => N(http.map_or(0, |h| h.status).into()),
        Ie::TlsServerName => B(hello.map_or(&[][..], |h| h.sni.as_bytes())),
        Ie::TlsVersion => N(tls_version.into()),
        Ie::TlsClientVersion => N(hello.map_or(0, |h| h.client_version).into()),
        Ie::TlsAlpn => B(hello.map_or(&[][..], |h| h.alpn.as_bytes())),
        Ie::TlsJa4 => B(hello.map_or(&[][..], |h| h.ja4.as_bytes())),
        Ie::TlsJa3 => FieldValue::Digest(hello.map_or(&[][..], |h| &h.ja3[..])),
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
        // Not part of a flow template (statistics, type records, what the mediator adds
        // to the records it relays); zero or empty keeps a record consistent regardless.
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
        | Ie::InformationElementSemantics
        | Ie::OriginalObservationDomainId
        | Ie::OriginalExporterIPv4Address
        | Ie::OriginalExporterIPv6Address
        | Ie::K8sTrafficClass => N(0),
        Ie::InformationElementName
        | Ie::K8sSourcePodName
        | Ie::K8sSourcePodNamespace
        | Ie::K8sSourcePodUid
        | Ie::K8sSourceWorkloadName
        | Ie::K8sSourceWorkloadKind
        | Ie::K8sSourcePodLabels
        | Ie::K8sSourceNodeName
        | Ie::K8sSourceZone
        | Ie::K8sSourceRegion
        | Ie::K8sSourceServiceNamespace
        | Ie::K8sSourceServiceName
        | Ie::K8sSourceServicePortName
        | Ie::K8sDestinationPodName
        | Ie::K8sDestinationPodNamespace
        | Ie::K8sDestinationPodUid
        | Ie::K8sDestinationWorkloadName
        | Ie::K8sDestinationWorkloadKind
        | Ie::K8sDestinationPodLabels
        | Ie::K8sDestinationNodeName
        | Ie::K8sDestinationZone
        | Ie::K8sDestinationRegion
        | Ie::K8sDestinationServiceNamespace
        | Ie::K8sDestinationServiceName
        | Ie::K8sDestinationServicePortName => S(""),
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
        (DataType::String, FieldValue::Bytes(b)) => {
            let text = match std::str::from_utf8(b) {
                Ok(s) => s,
                // Safe: `valid_up_to` is where the UTF-8 prefix ends.
                Err(e) => std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default(),
            };
            put_string(buf, text, max_string)
        }
        (DataType::String, FieldValue::Digest(d)) => {
            let mut hex = [0u8; 64];
            let n = d.len().min(32);
            for (i, byte) in d[..n].iter().enumerate() {
                hex[2 * i] = HEX[usize::from(byte >> 4)];
                hex[2 * i + 1] = HEX[usize::from(byte & 0xf)];
            }
            put_string(
                buf,
                std::str::from_utf8(&hex[..2 * n]).unwrap_or_default(),
                max_string,
            )
        }
        (DataType::OctetArray, FieldValue::Digest(d) | FieldValue::Bytes(d)) => put_octets(buf, d),
        (DataType::String | DataType::OctetArray, _) => buf.push(0),
        (_, v) => {
            let n = match v {
                FieldValue::Number(n) => n,
                _ => 0,
            };
            put_number(buf, n, data_type.length());
        }
    }
}

/// The low `len` bytes of `n`, in network byte order. Each fixed length writes a
/// fixed-size array, so no byte count is left for a copy loop to work out per field.
#[inline]
fn put_number(buf: &mut Vec<u8>, n: u128, len: u16) {
    match len {
        1 => buf.push(n as u8),
        2 => buf.extend_from_slice(&(n as u16).to_be_bytes()),
        4 => buf.extend_from_slice(&(n as u32).to_be_bytes()),
        8 => buf.extend_from_slice(&(n as u64).to_be_bytes()),
        len => buf.extend_from_slice(&n.to_be_bytes()[16 - usize::from(len).min(16)..]),
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes in the variable-length encoding (RFC 7011 §7): one length byte below 255, else
/// 255 and a 16-bit length; cut at 65535.
pub fn put_octets(buf: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(usize::from(u16::MAX))];
    if bytes.len() < 255 {
        buf.push(bytes.len() as u8);
    } else {
        buf.push(255);
        buf.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    }
    buf.extend_from_slice(bytes);
}

/// Variable-length encoding (RFC 7011 §7): one length byte below 255, else 255 and a
/// 16-bit length.
fn put_string(buf: &mut Vec<u8>, s: &str, max_string: usize) {
    put_octets(
        buf,
        &s.as_bytes()[..cut_at(s, max_string.min(usize::from(u16::MAX)))],
    );
}

/// The longest prefix length of `s` within `max` bytes that ends on a character boundary.
pub(super) fn cut_at(s: &str, max: usize) -> usize {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The value of a network performance or application element of `rec` as JSON: for the
/// writers of records other than the IPFIX encoder (JSON lines), so that both say the same.
pub fn group_field_json(ie: Ie, rec: &ExportRecord<'_>) -> serde_json::Value {
    let text = |b: &[u8]| serde_json::Value::from(String::from_utf8_lossy(b).into_owned());
    match flow_value(ie, rec) {
        FieldValue::Number(n) => serde_json::Value::from(u64::try_from(n).unwrap_or(u64::MAX)),
        FieldValue::Str(s) => serde_json::Value::from(s),
        FieldValue::Bytes(b) => text(b),
        FieldValue::Digest(d) => {
            serde_json::Value::from(d.iter().map(|x| format!("{x:02x}")).collect::<String>())
        }
    }
}
