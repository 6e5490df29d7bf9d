//! Template ids, the field lists of the data and options templates, and their encoding
//! as Template and Options Template Records (RFC 7011 §3.4.1, §3.4.2, §3.2).

use super::elements::{ElementIds, Ie};

/// Set id of a Template Set.
pub const SET_ID_TEMPLATE: u16 = 2;
/// Set id of an Options Template Set.
pub const SET_ID_OPTIONS_TEMPLATE: u16 = 3;
/// Template id of the IPv4 flow records.
pub const TEMPLATE_ID_IPV4: u16 = 256;
/// Template id of the IPv6 flow records.
pub const TEMPLATE_ID_IPV6: u16 = 257;
/// Template id of the exporter statistics options records.
pub const TEMPLATE_ID_OPTIONS: u16 = 258;
/// Template id of the Information Element type records (RFC 5610).
pub const TEMPLATE_ID_TYPE_INFO: u16 = 259;

/// Scope of the options template: the observation domain the counts describe.
pub const OPTIONS_SCOPE: [Ie; 1] = [Ie::ObservationDomainId];

/// Non-scope fields of the options template, in order.
pub const OPTIONS_FIELDS: [Ie; 8] = [
    Ie::ExportedMessageTotalCount,
    Ie::ExportedFlowRecordTotalCount,
    Ie::ExportedOctetTotalCount,
    Ie::ObservedFlowTotalCount,
    Ie::IgnoredPacketTotalCount,
    Ie::NotSentFlowTotalCount,
    Ie::FlowStartMilliseconds,
    Ie::FlowEndMilliseconds,
];

/// Scope of the type records: which element a record describes (RFC 5610 §3.9).
pub const TYPE_INFO_SCOPE: [Ie; 2] = [Ie::PrivateEnterpriseNumber, Ie::InformationElementId];

/// Non-scope fields of the type records, in order.
pub const TYPE_INFO_FIELDS: [Ie; 3] = [
    Ie::InformationElementDataType,
    Ie::InformationElementSemantics,
    Ie::InformationElementName,
];

/// The elements whose values come from the observed pod's identity alone, in template
/// order: the encoder writes them once per pod and copies them.
pub(super) const POD_FIELDS: [Ie; 11] = [
    Ie::K8sNodeName,
    Ie::K8sNodeIPv4Address,
    Ie::K8sNodeIPv6Address,
    Ie::K8sPodName,
    Ie::K8sPodNamespace,
    Ie::K8sWorkloadName,
    Ie::K8sWorkloadKind,
    Ie::K8sPodLabels,
    Ie::K8sPodAnnotations,
    Ie::K8sPodUid,
    Ie::K8sClusterName,
];

const PEER: [Ie; 6] = [
    Ie::K8sPeerPodName,
    Ie::K8sPeerPodNamespace,
    Ie::K8sPeerWorkloadName,
    Ie::K8sPeerWorkloadKind,
    Ie::K8sPeerNodeName,
    Ie::K8sPeerPodLabels,
];

/// The groups of fields a flow record carries besides the base ones, as bits of a mask:
/// each combination a record can have is a template of its own, so that every record of
/// a template fills every field.
pub mod group {
    /// The handshake's round trip and its split (TCP flows seen from their SYN).
    pub const HANDSHAKE: u8 = 1;
    /// Response time, retransmissions, out-of-order and zero-window segments (TCP).
    pub const TCP: u8 = 2;
    /// The DNS question and answer, and the response time.
    pub const DNS: u8 = 4;
    /// The HTTP/1.x request and status.
    pub const HTTP: u8 = 8;
    /// The TLS ClientHello and the negotiated version.
    pub const TLS: u8 = 16;
    /// Masks are below this.
    pub const COMBINATIONS: usize = 32;
}

/// The fields of each group, in the order of its bit.
pub const GROUP_FIELDS: [(u8, &[Ie]); 5] = [
    (
        group::HANDSHAKE,
        &[
            Ie::NpmRoundTripTime,
            Ie::NpmClientNetworkDelay,
            Ie::NpmServerNetworkDelay,
        ],
    ),
    (
        group::TCP,
        &[
            Ie::NpmServerResponseTime,
            Ie::NpmRetransmittedPackets,
            Ie::NpmClientRetransmittedPackets,
            Ie::NpmServerRetransmittedPackets,
            Ie::NpmClientRetransmittedOctets,
            Ie::NpmServerRetransmittedOctets,
            Ie::NpmOutOfOrderPackets,
            Ie::NpmZeroWindowEvents,
        ],
    ),
    (
        group::DNS,
        &[
            Ie::NpmServerResponseTime,
            Ie::DnsQueryName,
            Ie::DnsQueryType,
            Ie::DnsResponseCode,
            Ie::DnsAnswerCount,
            Ie::DnsFlags,
            Ie::DnsTransactionId,
        ],
    ),
    (
        group::HTTP,
        &[
            Ie::HttpHost,
            Ie::HttpMethod,
            Ie::HttpPath,
            Ie::HttpStatusCode,
        ],
    ),
    (
        group::TLS,
        &[
            Ie::TlsServerName,
            Ie::TlsVersion,
            Ie::TlsClientVersion,
            Ie::TlsAlpn,
            Ie::TlsJa4,
            Ie::TlsJa3,
        ],
    ),
];

/// The group masks records can have when network performance (`npm`) and application
/// identity (`l7`) are on or off, 0 (the base template) first.
pub fn group_masks(npm: bool, l7: bool) -> Vec<u8> {
    use group::*;
    (0..COMBINATIONS as u8)
        .filter(|&m| {
            let tcp_only = m & (HANDSHAKE | TCP | HTTP | TLS) != 0;
            let impossible = (m & DNS != 0 && tcp_only)
                || (m & HANDSHAKE != 0 && m & TCP == 0)
                || (m & HTTP != 0 && m & TLS != 0);
            !impossible
                && (npm || m & (HANDSHAKE | TCP) == 0)
                && (l7 || m & (DNS | HTTP | TLS) == 0)
        })
        .collect()
}

/// The template id of flow records of family `ipv6` with the groups of `mask`: 256 and
/// 257 for the base templates, from 264 on for the others (258 to 263 are the options
/// templates' and spare).
pub fn data_template_id(ipv6: bool, mask: u8) -> u16 {
    match (mask, ipv6) {
        (0, false) => TEMPLATE_ID_IPV4,
        (0, true) => TEMPLATE_ID_IPV6,
        (m, v6) => 264 + u16::from(v6) * group::COMBINATIONS as u16 + u16::from(m),
    }
}

/// The fields of a flow data template with the groups of `mask`, in wire order: the
/// base fields, then each group's.
pub fn data_fields_with(ipv6: bool, biflow: bool, with_peer: bool, mask: u8) -> Vec<Ie> {
    let mut fields = data_fields(ipv6, biflow, with_peer);
    for (bit, group) in GROUP_FIELDS {
        if mask & bit != 0 {
            fields.extend_from_slice(group);
        }
    }
    fields
}

/// The fields of a flow data template, in wire order.
pub fn data_fields(ipv6: bool, biflow: bool, with_peer: bool) -> Vec<Ie> {
    let (src, dst, icmp) = if ipv6 {
        (
            Ie::SourceIPv6Address,
            Ie::DestinationIPv6Address,
            Ie::IcmpTypeCodeIPv6,
        )
    } else {
        (
            Ie::SourceIPv4Address,
            Ie::DestinationIPv4Address,
            Ie::IcmpTypeCodeIPv4,
        )
    };
    let mut fields = vec![
        Ie::FlowStartMilliseconds,
        Ie::FlowEndMilliseconds,
        src,
        dst,
        Ie::SourceTransportPort,
        Ie::DestinationTransportPort,
        Ie::ProtocolIdentifier,
        Ie::IpClassOfService,
        Ie::VlanId,
        icmp,
        Ie::TcpControlBits,
        Ie::OctetDeltaCount,
        Ie::PacketDeltaCount,
    ];
    if biflow {
        fields.extend([
            Ie::ReverseOctetDeltaCount,
            Ie::ReversePacketDeltaCount,
            Ie::ReverseTcpControlBits,
        ]);
    }
    fields.extend([Ie::FlowEndReason, Ie::FlowDirection, Ie::InterfaceName]);
    fields.extend(POD_FIELDS);
    fields.push(Ie::K8sObservationPoint);
    if with_peer {
        fields.extend(PEER);
    }
    fields
}

/// Appends one field specifier: the id with the enterprise bit and the 4-byte PEN when the
/// element is not IANA's (RFC 7011 §3.2).
fn put_field_specifier(buf: &mut Vec<u8>, ie: Ie, enterprise_number: u32, ids: ElementIds) {
    let e = ie.wire(ids);
    let pen = e.registry.pen(enterprise_number);
    if pen == 0 {
        buf.extend_from_slice(&e.id.to_be_bytes());
    } else {
        buf.extend_from_slice(&(e.id | 0x8000).to_be_bytes());
    }
    buf.extend_from_slice(&e.data_type.length().to_be_bytes());
    if pen != 0 {
        buf.extend_from_slice(&pen.to_be_bytes());
    }
}

/// Appends a Template Record (RFC 7011 §3.4.1).
pub fn put_template_record(
    buf: &mut Vec<u8>,
    template_id: u16,
    fields: &[Ie],
    pen: u32,
    ids: ElementIds,
) {
    buf.extend_from_slice(&template_id.to_be_bytes());
    buf.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for &ie in fields {
        put_field_specifier(buf, ie, pen, ids);
    }
}

/// Appends an Options Template Record (RFC 7011 §3.4.2.2): scope fields first.
pub fn put_options_template_record(
    buf: &mut Vec<u8>,
    template_id: u16,
    scope: &[Ie],
    fields: &[Ie],
    pen: u32,
) {
    buf.extend_from_slice(&template_id.to_be_bytes());
    buf.extend_from_slice(&((scope.len() + fields.len()) as u16).to_be_bytes());
    buf.extend_from_slice(&(scope.len() as u16).to_be_bytes());
    for &ie in scope.iter().chain(fields) {
        put_field_specifier(buf, ie, pen, ElementIds::Podflow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(fields: &[Ie]) -> Vec<(u32, u16)> {
        fields
            .iter()
            .map(|ie| {
                let e = ie.element();
                (e.registry.pen(32473), e.id)
            })
            .collect()
    }

    #[test]
    fn field_order_follows_the_specification() {
        let mut want: Vec<(u32, u16)> = [152, 153, 8, 12, 7, 11, 4, 5, 58, 32, 6, 1, 2]
            .map(|id| (0, id))
            .to_vec();
        want.extend([
            (29305, 1),
            (29305, 2),
            (29305, 6),
            (0, 136),
            (0, 61),
            (0, 82),
        ]);
        want.extend((1..=12).map(|id| (32473, id)));
        want.extend((20..=25).map(|id| (32473, id)));
        assert_eq!(ids(&data_fields(false, true, true)), want);

        let v6 = ids(&data_fields(true, false, false));
        assert_eq!(&v6[2..4], &[(0, 27), (0, 28)]);
        assert_eq!(v6[9], (0, 139));
        assert_eq!(v6[13], (0, 136));
        assert_eq!(v6.len(), 13 + 3 + 12);
    }

    #[test]
    fn enterprise_field_specifier() {
        let mut buf = Vec::new();
        put_template_record(
            &mut buf,
            300,
            &[Ie::VlanId, Ie::K8sPodName],
            32473,
            ElementIds::Podflow,
        );
        let want = [
            [0x01, 0x2c, 0x00, 0x02].as_slice(), // template 300, 2 fields
            &[0x00, 0x3a, 0x00, 0x02],           // vlanId, 2 bytes
            &[0x80, 0x04, 0xff, 0xff],           // enterprise bit + 4, variable length
            &[0x00, 0x00, 0x7e, 0xd9],           // PEN 32473
        ]
        .concat();
        assert_eq!(buf, want);
    }
}
