//! The information elements podflow exports: IANA ids, RFC 5103 reverse elements and the
//! Kubernetes elements under the configured enterprise number, with their types and names.

/// Private Enterprise Number of the RFC 5103 reverse elements.
pub const REVERSE_PEN: u32 = 29305;

/// Default enterprise number of the Kubernetes elements: the documentation PEN of RFC 5612.
pub const DEFAULT_ENTERPRISE_NUMBER: u32 = 32473;

/// Field length announcing a variable-length field in a template (RFC 7011 §7).
pub const VARLEN: u16 = 65535;

/// Who assigned an element's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registry {
    /// The IANA IPFIX registry (no enterprise number on the wire).
    Iana,
    /// RFC 5103 reverse elements (PEN 29305).
    Reverse,
    /// podflow's elements (Kubernetes identity, network performance, application
    /// identity), under `ipfix.enterprise_number`.
    Kubernetes,
    /// Flowmon's elements (PEN 39499), for the collectors that know them.
    Flowmon,
}

/// Private Enterprise Number of Flowmon's elements (CESNET libfds `flowmon.xml`).
pub const FLOWMON_PEN: u32 = 39499;

/// Which ids carry the elements that Flowmon probes also export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementIds {
    /// podflow's own, under `ipfix.enterprise_number`.
    #[default]
    Podflow,
    /// Flowmon's (PEN 39499) where one exists: Flowmon collectors and ipfixcol2 decode
    /// them with the definitions they already have.
    Flowmon,
}

impl Registry {
    /// The enterprise number on the wire, 0 for IANA elements.
    pub fn pen(self, enterprise_number: u32) -> u32 {
        match self {
            Registry::Iana => 0,
            Registry::Reverse => REVERSE_PEN,
            Registry::Kubernetes => enterprise_number,
            Registry::Flowmon => FLOWMON_PEN,
        }
    }
}

/// Abstract data types of RFC 7012 §3.1 that podflow uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    Unsigned8,
    Unsigned16,
    Unsigned32,
    Unsigned64,
    Ipv4Address,
    Ipv6Address,
    DateTimeMilliseconds,
    String,
    OctetArray,
}

impl DataType {
    /// Encoded length in a template: the natural size, or [`VARLEN`] for strings.
    pub fn length(self) -> u16 {
        match self {
            DataType::Unsigned8 => 1,
            DataType::Unsigned16 => 2,
            DataType::Unsigned32 | DataType::Ipv4Address => 4,
            DataType::Unsigned64 | DataType::DateTimeMilliseconds => 8,
            DataType::Ipv6Address => 16,
            DataType::String | DataType::OctetArray => VARLEN,
        }
    }

    /// The type's name as the IANA registry, libfds and python-ipfix spell it.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Unsigned8 => "unsigned8",
            DataType::Unsigned16 => "unsigned16",
            DataType::Unsigned32 => "unsigned32",
            DataType::Unsigned64 => "unsigned64",
            DataType::Ipv4Address => "ipv4Address",
            DataType::Ipv6Address => "ipv6Address",
            DataType::DateTimeMilliseconds => "dateTimeMilliseconds",
            DataType::String => "string",
            DataType::OctetArray => "octetArray",
        }
    }
}

/// Every element podflow writes, in no particular order; templates pick from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ie {
    FlowStartMilliseconds,
    FlowEndMilliseconds,
    SourceIPv4Address,
    DestinationIPv4Address,
    SourceIPv6Address,
    DestinationIPv6Address,
    SourceTransportPort,
    DestinationTransportPort,
    ProtocolIdentifier,
    IpClassOfService,
    VlanId,
    IcmpTypeCodeIPv4,
    IcmpTypeCodeIPv6,
    TcpControlBits,
    OctetDeltaCount,
    PacketDeltaCount,
    ReverseOctetDeltaCount,
    ReversePacketDeltaCount,
    ReverseTcpControlBits,
    FlowEndReason,
    FlowDirection,
    InterfaceName,
    K8sNodeName,
    K8sNodeIPv4Address,
    K8sNodeIPv6Address,
    K8sPodName,
    K8sPodNamespace,
    K8sWorkloadName,
    K8sWorkloadKind,
    K8sPodLabels,
    K8sPodAnnotations,
    K8sPodUid,
    K8sClusterName,
    K8sObservationPoint,
    K8sPeerPodName,
    K8sPeerPodNamespace,
    K8sPeerWorkloadName,
    K8sPeerWorkloadKind,
    K8sPeerNodeName,
    K8sPeerPodLabels,
    NpmRoundTripTime,
    NpmClientNetworkDelay,
    NpmServerNetworkDelay,
    NpmServerResponseTime,
    NpmRetransmittedPackets,
    NpmClientRetransmittedPackets,
    NpmServerRetransmittedPackets,
    NpmClientRetransmittedOctets,
    NpmServerRetransmittedOctets,
    NpmOutOfOrderPackets,
    NpmZeroWindowEvents,
    DnsQueryName,
    DnsQueryType,
    DnsResponseCode,
    DnsAnswerCount,
    DnsFlags,
    DnsTransactionId,
    HttpHost,
    HttpMethod,
    HttpPath,
    HttpStatusCode,
    TlsServerName,
    TlsVersion,
    TlsClientVersion,
    TlsAlpn,
    TlsJa4,
    TlsJa3,
    ObservationDomainId,
    ExportedMessageTotalCount,
    ExportedFlowRecordTotalCount,
    ExportedOctetTotalCount,
    ObservedFlowTotalCount,
    IgnoredPacketTotalCount,
    NotSentFlowTotalCount,
    InformationElementId,
    PrivateEnterpriseNumber,
    InformationElementDataType,
    InformationElementSemantics,
    InformationElementName,
}

/// The definition of one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element {
    pub registry: Registry,
    pub id: u16,
    pub name: &'static str,
    pub data_type: DataType,
}

const fn def(registry: Registry, id: u16, name: &'static str, data_type: DataType) -> Element {
    Element {
        registry,
        id,
        name,
        data_type,
    }
}

impl Ie {
    /// Every element, IANA first, then reverse, then Kubernetes.
    pub const ALL: [Ie; 79] = [
        Ie::OctetDeltaCount,
        Ie::PacketDeltaCount,
        Ie::ProtocolIdentifier,
        Ie::IpClassOfService,
        Ie::TcpControlBits,
        Ie::SourceTransportPort,
        Ie::SourceIPv4Address,
        Ie::DestinationTransportPort,
        Ie::DestinationIPv4Address,
        Ie::SourceIPv6Address,
        Ie::DestinationIPv6Address,
        Ie::IcmpTypeCodeIPv4,
        Ie::ExportedOctetTotalCount,
        Ie::ExportedMessageTotalCount,
        Ie::ExportedFlowRecordTotalCount,
        Ie::VlanId,
        Ie::FlowDirection,
        Ie::InterfaceName,
        Ie::FlowEndReason,
        Ie::IcmpTypeCodeIPv6,
        Ie::ObservationDomainId,
        Ie::FlowStartMilliseconds,
        Ie::FlowEndMilliseconds,
        Ie::ObservedFlowTotalCount,
        Ie::IgnoredPacketTotalCount,
        Ie::NotSentFlowTotalCount,
        Ie::InformationElementId,
        Ie::InformationElementDataType,
        Ie::InformationElementName,
        Ie::InformationElementSemantics,
        Ie::PrivateEnterpriseNumber,
        Ie::ReverseOctetDeltaCount,
        Ie::ReversePacketDeltaCount,
        Ie::ReverseTcpControlBits,
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
        Ie::K8sPeerPodName,
        Ie::K8sPeerPodNamespace,
        Ie::K8sPeerWorkloadName,
        Ie::K8sPeerWorkloadKind,
        Ie::K8sPeerNodeName,
        Ie::K8sPeerPodLabels,
        Ie::NpmRoundTripTime,
        Ie::NpmClientNetworkDelay,
        Ie::NpmServerNetworkDelay,
        Ie::NpmServerResponseTime,
        Ie::NpmRetransmittedPackets,
        Ie::NpmClientRetransmittedPackets,
        Ie::NpmServerRetransmittedPackets,
        Ie::NpmClientRetransmittedOctets,
        Ie::NpmServerRetransmittedOctets,
        Ie::NpmOutOfOrderPackets,
        Ie::NpmZeroWindowEvents,
        Ie::DnsQueryName,
        Ie::DnsQueryType,
        Ie::DnsResponseCode,
        Ie::DnsAnswerCount,
        Ie::DnsFlags,
        Ie::DnsTransactionId,
        Ie::HttpHost,
        Ie::HttpMethod,
        Ie::HttpPath,
        Ie::HttpStatusCode,
        Ie::TlsServerName,
        Ie::TlsVersion,
        Ie::TlsClientVersion,
        Ie::TlsAlpn,
        Ie::TlsJa4,
        Ie::TlsJa3,
    ];

    /// Registry, id, name and type of this element.
    pub const fn element(self) -> Element {
        use DataType::*;
        use Registry::*;
        match self {
            Ie::OctetDeltaCount => def(Iana, 1, "octetDeltaCount", Unsigned64),
            Ie::PacketDeltaCount => def(Iana, 2, "packetDeltaCount", Unsigned64),
            Ie::ProtocolIdentifier => def(Iana, 4, "protocolIdentifier", Unsigned8),
            Ie::IpClassOfService => def(Iana, 5, "ipClassOfService", Unsigned8),
            Ie::TcpControlBits => def(Iana, 6, "tcpControlBits", Unsigned16),
            Ie::SourceTransportPort => def(Iana, 7, "sourceTransportPort", Unsigned16),
            Ie::SourceIPv4Address => def(Iana, 8, "sourceIPv4Address", Ipv4Address),
            Ie::DestinationTransportPort => def(Iana, 11, "destinationTransportPort", Unsigned16),
            Ie::DestinationIPv4Address => def(Iana, 12, "destinationIPv4Address", Ipv4Address),
            Ie::SourceIPv6Address => def(Iana, 27, "sourceIPv6Address", Ipv6Address),
            Ie::DestinationIPv6Address => def(Iana, 28, "destinationIPv6Address", Ipv6Address),
            Ie::IcmpTypeCodeIPv4 => def(Iana, 32, "icmpTypeCodeIPv4", Unsigned16),
            Ie::ExportedOctetTotalCount => def(Iana, 40, "exportedOctetTotalCount", Unsigned64),
            Ie::ExportedMessageTotalCount => def(Iana, 41, "exportedMessageTotalCount", Unsigned64),
            Ie::ExportedFlowRecordTotalCount => {
                def(Iana, 42, "exportedFlowRecordTotalCount", Unsigned64)
            }
            Ie::VlanId => def(Iana, 58, "vlanId", Unsigned16),
            Ie::FlowDirection => def(Iana, 61, "flowDirection", Unsigned8),
            Ie::InterfaceName => def(Iana, 82, "interfaceName", String),
            Ie::FlowEndReason => def(Iana, 136, "flowEndReason", Unsigned8),
            Ie::IcmpTypeCodeIPv6 => def(Iana, 139, "icmpTypeCodeIPv6", Unsigned16),
            Ie::ObservationDomainId => def(Iana, 149, "observationDomainId", Unsigned32),
            Ie::FlowStartMilliseconds => {
                def(Iana, 152, "flowStartMilliseconds", DateTimeMilliseconds)
            }
            Ie::FlowEndMilliseconds => def(Iana, 153, "flowEndMilliseconds", DateTimeMilliseconds),
            Ie::ObservedFlowTotalCount => def(Iana, 163, "observedFlowTotalCount", Unsigned64),
            Ie::IgnoredPacketTotalCount => def(Iana, 164, "ignoredPacketTotalCount", Unsigned64),
            Ie::NotSentFlowTotalCount => def(Iana, 166, "notSentFlowTotalCount", Unsigned64),
            Ie::InformationElementId => def(Iana, 303, "informationElementId", Unsigned16),
            Ie::InformationElementDataType => {
                def(Iana, 339, "informationElementDataType", Unsigned8)
            }
            Ie::InformationElementName => def(Iana, 341, "informationElementName", String),
            Ie::InformationElementSemantics => {
                def(Iana, 344, "informationElementSemantics", Unsigned8)
            }
            Ie::PrivateEnterpriseNumber => def(Iana, 346, "privateEnterpriseNumber", Unsigned32),
            Ie::ReverseOctetDeltaCount => def(Reverse, 1, "reverseOctetDeltaCount", Unsigned64),
            Ie::ReversePacketDeltaCount => def(Reverse, 2, "reversePacketDeltaCount", Unsigned64),
            Ie::ReverseTcpControlBits => def(Reverse, 6, "reverseTcpControlBits", Unsigned16),
            Ie::K8sNodeName => def(Kubernetes, 1, "k8sNodeName", String),
            Ie::K8sNodeIPv4Address => def(Kubernetes, 2, "k8sNodeIPv4Address", Ipv4Address),
            Ie::K8sNodeIPv6Address => def(Kubernetes, 3, "k8sNodeIPv6Address", Ipv6Address),
            Ie::K8sPodName => def(Kubernetes, 4, "k8sPodName", String),
            Ie::K8sPodNamespace => def(Kubernetes, 5, "k8sPodNamespace", String),
            Ie::K8sWorkloadName => def(Kubernetes, 6, "k8sWorkloadName", String),
            Ie::K8sWorkloadKind => def(Kubernetes, 7, "k8sWorkloadKind", String),
            Ie::K8sPodLabels => def(Kubernetes, 8, "k8sPodLabels", String),
            Ie::K8sPodAnnotations => def(Kubernetes, 9, "k8sPodAnnotations", String),
            Ie::K8sPodUid => def(Kubernetes, 10, "k8sPodUid", String),
            Ie::K8sClusterName => def(Kubernetes, 11, "k8sClusterName", String),
            Ie::K8sObservationPoint => def(Kubernetes, 12, "k8sObservationPoint", Unsigned8),
            Ie::K8sPeerPodName => def(Kubernetes, 20, "k8sPeerPodName", String),
            Ie::K8sPeerPodNamespace => def(Kubernetes, 21, "k8sPeerPodNamespace", String),
            Ie::K8sPeerWorkloadName => def(Kubernetes, 22, "k8sPeerWorkloadName", String),
            Ie::K8sPeerWorkloadKind => def(Kubernetes, 23, "k8sPeerWorkloadKind", String),
            Ie::K8sPeerNodeName => def(Kubernetes, 24, "k8sPeerNodeName", String),
            Ie::K8sPeerPodLabels => def(Kubernetes, 25, "k8sPeerPodLabels", String),
            Ie::NpmRoundTripTime => def(Kubernetes, 40, "npmRoundTripTime", Unsigned32),
            Ie::NpmClientNetworkDelay => def(Kubernetes, 41, "npmClientNetworkDelay", Unsigned32),
            Ie::NpmServerNetworkDelay => def(Kubernetes, 42, "npmServerNetworkDelay", Unsigned32),
            Ie::NpmServerResponseTime => def(Kubernetes, 43, "npmServerResponseTime", Unsigned32),
            Ie::NpmRetransmittedPackets => {
                def(Kubernetes, 44, "npmRetransmittedPackets", Unsigned32)
            }
            Ie::NpmClientRetransmittedPackets => {
                def(Kubernetes, 45, "npmClientRetransmittedPackets", Unsigned32)
            }
            Ie::NpmServerRetransmittedPackets => {
                def(Kubernetes, 46, "npmServerRetransmittedPackets", Unsigned32)
            }
            Ie::NpmClientRetransmittedOctets => {
                def(Kubernetes, 47, "npmClientRetransmittedOctets", Unsigned64)
            }
            Ie::NpmServerRetransmittedOctets => {
                def(Kubernetes, 48, "npmServerRetransmittedOctets", Unsigned64)
            }
            Ie::NpmOutOfOrderPackets => def(Kubernetes, 49, "npmOutOfOrderPackets", Unsigned32),
            Ie::NpmZeroWindowEvents => def(Kubernetes, 50, "npmZeroWindowEvents", Unsigned32),
            Ie::DnsQueryName => def(Kubernetes, 60, "dnsQueryName", String),
            Ie::DnsQueryType => def(Kubernetes, 61, "dnsQueryType", Unsigned16),
            Ie::DnsResponseCode => def(Kubernetes, 62, "dnsResponseCode", Unsigned8),
            Ie::DnsAnswerCount => def(Kubernetes, 63, "dnsAnswerCount", Unsigned16),
            Ie::DnsFlags => def(Kubernetes, 64, "dnsFlags", Unsigned16),
            Ie::DnsTransactionId => def(Kubernetes, 65, "dnsTransactionId", Unsigned16),
            Ie::HttpHost => def(Kubernetes, 80, "httpHost", String),
            Ie::HttpMethod => def(Kubernetes, 81, "httpMethod", String),
            Ie::HttpPath => def(Kubernetes, 82, "httpPath", String),
            Ie::HttpStatusCode => def(Kubernetes, 83, "httpStatusCode", Unsigned16),
            Ie::TlsServerName => def(Kubernetes, 100, "tlsServerName", String),
            Ie::TlsVersion => def(Kubernetes, 101, "tlsVersion", Unsigned16),
            Ie::TlsClientVersion => def(Kubernetes, 102, "tlsClientVersion", Unsigned16),
            Ie::TlsAlpn => def(Kubernetes, 103, "tlsAlpn", String),
            Ie::TlsJa4 => def(Kubernetes, 104, "tlsJa4", String),
            Ie::TlsJa3 => def(Kubernetes, 105, "tlsJa3", String),
        }
    }

    /// The Flowmon element (CESNET libfds `flowmon.xml`, PEN 39499) that carries the same
    /// value, with its data type there, for the elements that have one.
    pub const fn flowmon(self) -> Option<Element> {
        use DataType::*;
        use Registry::Flowmon;
        Some(match self {
            Ie::NpmRoundTripTime => def(Flowmon, 69, "npnRoundTripTime", Unsigned32),
            Ie::NpmServerResponseTime => def(Flowmon, 70, "npmServerResponseTime", Unsigned32),
            Ie::NpmRetransmittedPackets => def(Flowmon, 71, "npmTcpRetransmission", Unsigned32),
            Ie::NpmOutOfOrderPackets => def(Flowmon, 72, "npmTcpOutOfOrder", Unsigned32),
            Ie::DnsQueryName => def(Flowmon, 121, "dnsQname", String),
            Ie::DnsQueryType => def(Flowmon, 122, "dnsQtype", Unsigned16),
            Ie::DnsAnswerCount => def(Flowmon, 113, "dnsAnswrecCount", Unsigned16),
            Ie::DnsFlags => def(Flowmon, 111, "dnsFlagsCodes", Unsigned16),
            Ie::DnsTransactionId => def(Flowmon, 110, "dnsId", Unsigned16),
            Ie::HttpHost => def(Flowmon, 1, "httpHost", String),
            Ie::HttpPath => def(Flowmon, 2, "httpUrl", String),
            Ie::HttpStatusCode => def(Flowmon, 12, "httpStatusCode", Unsigned32),
            Ie::TlsServerName => def(Flowmon, 338, "tlsSni", String),
            Ie::TlsVersion => def(Flowmon, 333, "tlsServerVersion", Unsigned16),
            Ie::TlsClientVersion => def(Flowmon, 340, "tlsClientVersion", Unsigned16),
            Ie::TlsAlpn => def(Flowmon, 337, "tlsAlpn", String),
            Ie::TlsJa3 => def(Flowmon, 357, "tlsJa3Fingerprint", OctetArray),
            _ => return None,
        })
    }

    /// How this element goes on the wire with `ids`: the Flowmon element where asked for
    /// and one exists, else podflow's.
    pub const fn wire(self, ids: ElementIds) -> Element {
        match (ids, self.flowmon()) {
            (ElementIds::Flowmon, Some(e)) => e,
            _ => self.element(),
        }
    }

    /// The element with this name, e.g. `"k8sPodName"`.
    pub fn by_name(name: &str) -> Option<Ie> {
        Ie::ALL.into_iter().find(|ie| ie.element().name == name)
    }

    /// The element with this enterprise number and id, given the Kubernetes elements' PEN;
    /// Flowmon's ids (PEN 39499) name the podflow elements they stand for.
    pub fn by_id(pen: u32, id: u16, enterprise_number: u32) -> Option<Ie> {
        Ie::ALL.into_iter().find(|ie| {
            let e = ie.element();
            (e.id == id && e.registry.pen(enterprise_number) == pen)
                || (pen == FLOWMON_PEN && ie.flowmon().is_some_and(|f| f.id == id))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_unique() {
        for (i, a) in Ie::ALL.iter().enumerate() {
            for b in &Ie::ALL[i + 1..] {
                let (ea, eb) = (a.element(), b.element());
                assert_ne!(ea.name, eb.name);
                assert!(
                    ea.registry != eb.registry || ea.id != eb.id,
                    "{ea:?} {eb:?}"
                );
            }
        }
    }

    #[test]
    fn lookups_agree() {
        for ie in Ie::ALL {
            let e = ie.element();
            assert_eq!(Ie::by_name(e.name), Some(ie));
            let pen = e.registry.pen(DEFAULT_ENTERPRISE_NUMBER);
            assert_eq!(Ie::by_id(pen, e.id, DEFAULT_ENTERPRISE_NUMBER), Some(ie));
        }
        assert_eq!(Ie::by_id(0, 9999, DEFAULT_ENTERPRISE_NUMBER), None);
        assert_eq!(Ie::by_id(1234, 4, DEFAULT_ENTERPRISE_NUMBER), None);
    }
}
