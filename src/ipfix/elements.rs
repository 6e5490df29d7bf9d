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

/// informationElementSemantics (RFC 5610 §3.2, the IANA "IPFIX Information Element
/// Semantics" registry): the values podflow's elements use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Semantics {
    /// No particular semantics (strings, addresses).
    Default = 0,
    /// A measured value (a delay, a response time).
    Quantity = 1,
    /// A count over the record's piece of the flow (retransmitted segments).
    DeltaCounter = 3,
    /// A value that names something (a code, a point number), not a quantity.
    Identifier = 4,
    /// Bits that each mean something (DNS header flags).
    Flags = 5,
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

/// Declares every element once: `Variant: REGISTRY ID "name" TYPE SEMANTICS`, and
/// `, flowmon ID "name" TYPE` where Flowmon's collectors know the same value by their own
/// element. The enum, the list, the definitions, the semantics and the Flowmon twins all
/// come from this one table.
macro_rules! elements {
    ($($ie:ident: $registry:ident $id:literal $name:literal $ty:ident $semantics:ident
        $(, flowmon $fid:literal $fname:literal $fty:ident)?;)*) => {
        /// Every element podflow reads or writes, in no particular order; templates pick
        /// from these.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Ie {
            $($ie,)*
        }

        const COUNT: usize = [$($name),*].len();

        impl Ie {
            /// Every element, IANA first, then reverse, then Kubernetes.
            pub const ALL: [Ie; COUNT] = [$(Ie::$ie),*];

            /// Registry, id, name and type of this element.
            pub const fn element(self) -> Element {
                match self {
                    $(Ie::$ie => def(Registry::$registry, $id, $name, DataType::$ty),)*
                }
            }

            /// What its values mean, for its type record.
            pub const fn semantics(self) -> Semantics {
                match self {
                    $(Ie::$ie => Semantics::$semantics,)*
                }
            }

            /// The Flowmon element (CESNET libfds `flowmon.xml`, PEN 39499) that carries
            /// the same value, with its data type there, for the elements that have one.
            pub const fn flowmon(self) -> Option<Element> {
                match self {
                    $(Ie::$ie => elements!(@flowmon $($fid $fname $fty)?),)*
                }
            }
        }
    };
    (@flowmon $id:literal $name:literal $ty:ident) => {
        Some(def(Registry::Flowmon, $id, $name, DataType::$ty))
    };
    (@flowmon) => {
        None
    };
}

elements! {
    OctetDeltaCount: Iana 1 "octetDeltaCount" Unsigned64 Default;
    PacketDeltaCount: Iana 2 "packetDeltaCount" Unsigned64 Default;
    ProtocolIdentifier: Iana 4 "protocolIdentifier" Unsigned8 Default;
    IpClassOfService: Iana 5 "ipClassOfService" Unsigned8 Default;
    TcpControlBits: Iana 6 "tcpControlBits" Unsigned16 Default;
    SourceTransportPort: Iana 7 "sourceTransportPort" Unsigned16 Default;
    SourceIPv4Address: Iana 8 "sourceIPv4Address" Ipv4Address Default;
    DestinationTransportPort: Iana 11 "destinationTransportPort" Unsigned16 Default;
    DestinationIPv4Address: Iana 12 "destinationIPv4Address" Ipv4Address Default;
    SourceIPv6Address: Iana 27 "sourceIPv6Address" Ipv6Address Default;
    DestinationIPv6Address: Iana 28 "destinationIPv6Address" Ipv6Address Default;
    IcmpTypeCodeIPv4: Iana 32 "icmpTypeCodeIPv4" Unsigned16 Default;
    ExportedOctetTotalCount: Iana 40 "exportedOctetTotalCount" Unsigned64 Default;
    ExportedMessageTotalCount: Iana 41 "exportedMessageTotalCount" Unsigned64 Default;
    ExportedFlowRecordTotalCount: Iana 42 "exportedFlowRecordTotalCount" Unsigned64 Default;
    VlanId: Iana 58 "vlanId" Unsigned16 Default;
    FlowDirection: Iana 61 "flowDirection" Unsigned8 Default;
    InterfaceName: Iana 82 "interfaceName" String Default;
    FlowEndReason: Iana 136 "flowEndReason" Unsigned8 Default;
    IcmpTypeCodeIPv6: Iana 139 "icmpTypeCodeIPv6" Unsigned16 Default;
    ObservationDomainId: Iana 149 "observationDomainId" Unsigned32 Default;
    FlowStartMilliseconds: Iana 152 "flowStartMilliseconds" DateTimeMilliseconds Default;
    FlowEndMilliseconds: Iana 153 "flowEndMilliseconds" DateTimeMilliseconds Default;
    ObservedFlowTotalCount: Iana 163 "observedFlowTotalCount" Unsigned64 Default;
    IgnoredPacketTotalCount: Iana 164 "ignoredPacketTotalCount" Unsigned64 Default;
    NotSentFlowTotalCount: Iana 166 "notSentFlowTotalCount" Unsigned64 Default;
    InformationElementId: Iana 303 "informationElementId" Unsigned16 Default;
    InformationElementDataType: Iana 339 "informationElementDataType" Unsigned8 Default;
    InformationElementName: Iana 341 "informationElementName" String Default;
    InformationElementSemantics: Iana 344 "informationElementSemantics" Unsigned8 Default;
    PrivateEnterpriseNumber: Iana 346 "privateEnterpriseNumber" Unsigned32 Default;
    OriginalExporterIPv4Address: Iana 403 "originalExporterIPv4Address" Ipv4Address Default;
    OriginalExporterIPv6Address: Iana 404 "originalExporterIPv6Address" Ipv6Address Default;
    OriginalObservationDomainId: Iana 405 "originalObservationDomainId" Unsigned32 Identifier;
    ReverseOctetDeltaCount: Reverse 1 "reverseOctetDeltaCount" Unsigned64 Default;
    ReversePacketDeltaCount: Reverse 2 "reversePacketDeltaCount" Unsigned64 Default;
    ReverseTcpControlBits: Reverse 6 "reverseTcpControlBits" Unsigned16 Default;
    K8sNodeName: Kubernetes 1 "k8sNodeName" String Default;
    K8sNodeIPv4Address: Kubernetes 2 "k8sNodeIPv4Address" Ipv4Address Default;
    K8sNodeIPv6Address: Kubernetes 3 "k8sNodeIPv6Address" Ipv6Address Default;
    K8sPodName: Kubernetes 4 "k8sPodName" String Default;
    K8sPodNamespace: Kubernetes 5 "k8sPodNamespace" String Default;
    K8sWorkloadName: Kubernetes 6 "k8sWorkloadName" String Default;
    K8sWorkloadKind: Kubernetes 7 "k8sWorkloadKind" String Default;
    K8sPodLabels: Kubernetes 8 "k8sPodLabels" String Default;
    K8sPodAnnotations: Kubernetes 9 "k8sPodAnnotations" String Default;
    K8sPodUid: Kubernetes 10 "k8sPodUid" String Default;
    K8sClusterName: Kubernetes 11 "k8sClusterName" String Default;
    K8sObservationPoint: Kubernetes 12 "k8sObservationPoint" Unsigned8 Identifier;
    K8sPeerPodName: Kubernetes 20 "k8sPeerPodName" String Default;
    K8sPeerPodNamespace: Kubernetes 21 "k8sPeerPodNamespace" String Default;
    K8sPeerWorkloadName: Kubernetes 22 "k8sPeerWorkloadName" String Default;
    K8sPeerWorkloadKind: Kubernetes 23 "k8sPeerWorkloadKind" String Default;
    K8sPeerNodeName: Kubernetes 24 "k8sPeerNodeName" String Default;
    K8sPeerPodLabels: Kubernetes 25 "k8sPeerPodLabels" String Default;
    NpmRoundTripTime: Kubernetes 40 "npmRoundTripTime" Unsigned32 Quantity, flowmon 69 "npnRoundTripTime" Unsigned32;
    NpmClientNetworkDelay: Kubernetes 41 "npmClientNetworkDelay" Unsigned32 Quantity;
    NpmServerNetworkDelay: Kubernetes 42 "npmServerNetworkDelay" Unsigned32 Quantity;
    NpmServerResponseTime: Kubernetes 43 "npmServerResponseTime" Unsigned32 Quantity, flowmon 70 "npmServerResponseTime" Unsigned32;
    NpmRetransmittedPackets: Kubernetes 44 "npmRetransmittedPackets" Unsigned32 DeltaCounter, flowmon 71 "npmTcpRetransmission" Unsigned32;
    NpmClientRetransmittedPackets: Kubernetes 45 "npmClientRetransmittedPackets" Unsigned32 DeltaCounter;
    NpmServerRetransmittedPackets: Kubernetes 46 "npmServerRetransmittedPackets" Unsigned32 DeltaCounter;
    NpmClientRetransmittedOctets: Kubernetes 47 "npmClientRetransmittedOctets" Unsigned64 DeltaCounter;
    NpmServerRetransmittedOctets: Kubernetes 48 "npmServerRetransmittedOctets" Unsigned64 DeltaCounter;
    NpmOutOfOrderPackets: Kubernetes 49 "npmOutOfOrderPackets" Unsigned32 DeltaCounter, flowmon 72 "npmTcpOutOfOrder" Unsigned32;
    NpmZeroWindowEvents: Kubernetes 50 "npmZeroWindowEvents" Unsigned32 DeltaCounter;
    DnsQueryName: Kubernetes 60 "dnsQueryName" String Default, flowmon 121 "dnsQname" String;
    DnsQueryType: Kubernetes 61 "dnsQueryType" Unsigned16 Identifier, flowmon 122 "dnsQtype" Unsigned16;
    DnsResponseCode: Kubernetes 62 "dnsResponseCode" Unsigned8 Identifier;
    DnsAnswerCount: Kubernetes 63 "dnsAnswerCount" Unsigned16 Quantity, flowmon 113 "dnsAnswrecCount" Unsigned16;
    DnsFlags: Kubernetes 64 "dnsFlags" Unsigned16 Flags, flowmon 111 "dnsFlagsCodes" Unsigned16;
    DnsTransactionId: Kubernetes 65 "dnsTransactionId" Unsigned16 Identifier, flowmon 110 "dnsId" Unsigned16;
    HttpHost: Kubernetes 80 "httpHost" String Default, flowmon 1 "httpHost" String;
    HttpMethod: Kubernetes 81 "httpMethod" String Default;
    HttpPath: Kubernetes 82 "httpPath" String Default, flowmon 2 "httpUrl" String;
    HttpStatusCode: Kubernetes 83 "httpStatusCode" Unsigned16 Identifier, flowmon 12 "httpStatusCode" Unsigned32;
    TlsServerName: Kubernetes 100 "tlsServerName" String Default, flowmon 338 "tlsSni" String;
    TlsVersion: Kubernetes 101 "tlsVersion" Unsigned16 Identifier, flowmon 333 "tlsServerVersion" Unsigned16;
    TlsClientVersion: Kubernetes 102 "tlsClientVersion" Unsigned16 Identifier, flowmon 340 "tlsClientVersion" Unsigned16;
    TlsAlpn: Kubernetes 103 "tlsAlpn" String Default, flowmon 337 "tlsAlpn" String;
    TlsJa4: Kubernetes 104 "tlsJa4" String Default;
    TlsJa3: Kubernetes 105 "tlsJa3" String Default, flowmon 357 "tlsJa3Fingerprint" OctetArray;
    K8sSourcePodName: Kubernetes 120 "k8sSourcePodName" String Default;
    K8sSourcePodNamespace: Kubernetes 121 "k8sSourcePodNamespace" String Default;
    K8sSourcePodUid: Kubernetes 122 "k8sSourcePodUid" String Default;
    K8sSourceWorkloadName: Kubernetes 123 "k8sSourceWorkloadName" String Default;
    K8sSourceWorkloadKind: Kubernetes 124 "k8sSourceWorkloadKind" String Default;
    K8sSourcePodLabels: Kubernetes 125 "k8sSourcePodLabels" String Default;
    K8sSourceNodeName: Kubernetes 126 "k8sSourceNodeName" String Default;
    K8sSourceZone: Kubernetes 127 "k8sSourceZone" String Default;
    K8sSourceRegion: Kubernetes 128 "k8sSourceRegion" String Default;
    K8sSourceServiceNamespace: Kubernetes 129 "k8sSourceServiceNamespace" String Default;
    K8sSourceServiceName: Kubernetes 130 "k8sSourceServiceName" String Default;
    K8sSourceServicePortName: Kubernetes 131 "k8sSourceServicePortName" String Default;
    K8sDestinationPodName: Kubernetes 140 "k8sDestinationPodName" String Default;
    K8sDestinationPodNamespace: Kubernetes 141 "k8sDestinationPodNamespace" String Default;
    K8sDestinationPodUid: Kubernetes 142 "k8sDestinationPodUid" String Default;
    K8sDestinationWorkloadName: Kubernetes 143 "k8sDestinationWorkloadName" String Default;
    K8sDestinationWorkloadKind: Kubernetes 144 "k8sDestinationWorkloadKind" String Default;
    K8sDestinationPodLabels: Kubernetes 145 "k8sDestinationPodLabels" String Default;
    K8sDestinationNodeName: Kubernetes 146 "k8sDestinationNodeName" String Default;
    K8sDestinationZone: Kubernetes 147 "k8sDestinationZone" String Default;
    K8sDestinationRegion: Kubernetes 148 "k8sDestinationRegion" String Default;
    K8sDestinationServiceNamespace: Kubernetes 149 "k8sDestinationServiceNamespace" String Default;
    K8sDestinationServiceName: Kubernetes 150 "k8sDestinationServiceName" String Default;
    K8sDestinationServicePortName: Kubernetes 151 "k8sDestinationServicePortName" String Default;
    K8sTrafficClass: Kubernetes 160 "k8sTrafficClass" Unsigned8 Identifier;
}

impl Ie {
    /// What the mediator adds to the records it relays: each end's pod, node, zone,
    /// region and Service, the traffic class, the original exporter (RFC 7119). A probe
    /// never writes these.
    pub const fn added_by_mediator(self) -> bool {
        use Ie::*;
        matches!(
            self,
            OriginalExporterIPv4Address
                | OriginalExporterIPv6Address
                | OriginalObservationDomainId
                | K8sSourcePodName
                | K8sSourcePodNamespace
                | K8sSourcePodUid
                | K8sSourceWorkloadName
                | K8sSourceWorkloadKind
                | K8sSourcePodLabels
                | K8sSourceNodeName
                | K8sSourceZone
                | K8sSourceRegion
                | K8sSourceServiceNamespace
                | K8sSourceServiceName
                | K8sSourceServicePortName
                | K8sDestinationPodName
                | K8sDestinationPodNamespace
                | K8sDestinationPodUid
                | K8sDestinationWorkloadName
                | K8sDestinationWorkloadKind
                | K8sDestinationPodLabels
                | K8sDestinationNodeName
                | K8sDestinationZone
                | K8sDestinationRegion
                | K8sDestinationServiceNamespace
                | K8sDestinationServiceName
                | K8sDestinationServicePortName
                | K8sTrafficClass
        )
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
    fn the_mediator_adds_each_end_and_the_class_under_its_ids_and_rfc_7119_s_elements() {
        let added: Vec<(Registry, u16)> = Ie::ALL
            .into_iter()
            .filter(|ie| ie.added_by_mediator())
            .map(|ie| (ie.element().registry, ie.element().id))
            .collect();
        let want: Vec<(Registry, u16)> = (403..=405)
            .map(|id| (Registry::Iana, id))
            .chain(
                (120..=131)
                    .chain(140..=151)
                    .chain([160])
                    .map(|id| (Registry::Kubernetes, id)),
            )
            .collect();
        assert_eq!(added, want);
        // The two ends are named alike: k8sSource* and k8sDestination*, id + 20.
        for ie in Ie::ALL
            .into_iter()
            .filter(|ie| ie.element().name.starts_with("k8sSource"))
        {
            let e = ie.element();
            let twin = Ie::by_name(&e.name.replace("k8sSource", "k8sDestination")).unwrap();
            assert_eq!(twin.element().id, e.id + 20);
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
