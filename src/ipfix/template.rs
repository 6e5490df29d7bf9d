//! Template ids, the field lists of the data and options templates, and their encoding
//! as Template and Options Template Records (RFC 7011 §3.4.1, §3.4.2, §3.2).

use super::elements::Ie;

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

const KUBERNETES: [Ie; 12] = [
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
    Ie::K8sObservationPoint,
];

const PEER: [Ie; 6] = [
    Ie::K8sPeerPodName,
    Ie::K8sPeerPodNamespace,
    Ie::K8sPeerWorkloadName,
    Ie::K8sPeerWorkloadKind,
    Ie::K8sPeerNodeName,
    Ie::K8sPeerPodLabels,
];

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
    fields.extend(KUBERNETES);
    if with_peer {
        fields.extend(PEER);
    }
    fields
}

/// Appends one field specifier: the id with the enterprise bit and the 4-byte PEN when the
/// element is not IANA's (RFC 7011 §3.2).
fn put_field_specifier(buf: &mut Vec<u8>, ie: Ie, enterprise_number: u32) {
    let e = ie.element();
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
pub fn put_template_record(buf: &mut Vec<u8>, template_id: u16, fields: &[Ie], pen: u32) {
    buf.extend_from_slice(&template_id.to_be_bytes());
    buf.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for &ie in fields {
        put_field_specifier(buf, ie, pen);
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
        put_field_specifier(buf, ie, pen);
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
        put_template_record(&mut buf, 300, &[Ie::VlanId, Ie::K8sPodName], 32473);
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
