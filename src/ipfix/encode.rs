//! The pure IPFIX encoder: flow records and exporter statistics in, messages out.
//!
//! Messages follow RFC 7011 §3.1 (header), §3.3 (sets), §3.4 (template and options
//! template records), §6.1 (encodings, network byte order) and §7 (variable-length
//! strings). No padding is ever written.

use std::net::IpAddr;

use super::elements::{DataType, Ie, DEFAULT_ENTERPRISE_NUMBER};
use super::template::{
    data_fields, put_options_template_record, put_template_record, OPTIONS_FIELDS, OPTIONS_SCOPE,
    SET_ID_OPTIONS_TEMPLATE, SET_ID_TEMPLATE, TEMPLATE_ID_IPV4, TEMPLATE_ID_IPV6,
    TEMPLATE_ID_OPTIONS,
};
use crate::flow::{FlowRecord, Nanos};
use crate::identity::{PeerIdentity, PodIdentity};

/// IPFIX version number in every message header.
pub const VERSION: u16 = 10;
/// Length of the message header.
pub const HEADER_LEN: usize = 16;
/// Length of a set header.
pub const SET_HEADER_LEN: usize = 4;
/// The largest message the 16-bit length field can describe.
pub const MAX_MESSAGE_LEN: usize = 65535;

/// Everything one data record carries: the flow plus what attribution added.
#[derive(Clone, Copy, Debug)]
pub struct ExportRecord<'a> {
    pub flow: &'a FlowRecord,
    /// flowDirection seen from the observed pod: 0 ingress, 1 egress.
    pub direction: u8,
    /// The interface inside the observed namespace, e.g. `eth0`.
    pub interface: &'a str,
    /// k8sObservationPoint: 1 sidecar, 2 node (pod namespace), 3 node (host interfaces).
    pub observation_point: u8,
    pub pod: &'a PodIdentity,
    /// The other end, sent only when the templates carry peer elements.
    pub peer: Option<&'a PeerIdentity>,
}

/// What shapes the templates and the messages of one exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderOptions {
    pub observation_domain_id: u32,
    /// PEN of the Kubernetes elements.
    pub enterprise_number: u32,
    /// Adds the RFC 5103 reverse counters to the data templates.
    pub biflow: bool,
    /// Adds the k8sPeer* elements to the data templates.
    pub with_peer: bool,
    /// Upper bound of a message (capped at 65535, the most the header can say).
    pub max_message_bytes: usize,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            observation_domain_id: 0,
            enterprise_number: DEFAULT_ENTERPRISE_NUMBER,
            biflow: false,
            with_peer: false,
            // Fits an Ethernet MTU with room for IP and UDP headers.
            max_message_bytes: 1400,
        }
    }
}

/// Exporter statistics carried by the options record (RFC 7011 §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub exported_messages: u64,
    pub exported_records: u64,
    pub exported_octets: u64,
    pub observed_flows: u64,
    pub ignored_packets: u64,
    pub not_sent_records: u64,
    /// The period the counts cover.
    pub period_start: Nanos,
    pub period_end: Nanos,
}

/// One encoded message with the data records it carries: the sender counts what it sent
/// from here, never from the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// The whole message, header included.
    pub bytes: Vec<u8>,
    /// Data records in it: what its header's sequence number advanced the session by.
    pub records: u32,
}

/// Turns records into IPFIX messages and keeps the sequence number of one transport
/// session and observation domain.
#[derive(Clone, Debug)]
pub struct Encoder {
    opts: EncoderOptions,
    fields_v4: Vec<Ie>,
    fields_v6: Vec<Ie>,
    pub(super) sequence: u32,
}

/// A value before it is written with its element's type: addresses are numbers too
/// (an IPv4 address in the low 32 bits), so every fixed-size type writes the low bytes.
#[derive(Clone, Copy)]
enum FieldValue<'a> {
    Number(u128),
    Str(&'a str),
}

fn millis(t: Nanos) -> u128 {
    (t / 1_000_000) as u128
}

fn flow_value<'a>(ie: Ie, rec: &ExportRecord<'a>) -> FieldValue<'a> {
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
        | Ie::NotSentFlowTotalCount => N(0),
    }
}

fn options_value(ie: Ie, counts: &Counts, domain: u32) -> FieldValue<'static> {
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
fn put_value(buf: &mut Vec<u8>, data_type: DataType, value: FieldValue<'_>, max_string: usize) {
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
    let mut end = s.len().min(max_string).min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = &s.as_bytes()[..end];
    if bytes.len() < 255 {
        buf.push(bytes.len() as u8);
    } else {
        buf.push(255);
        buf.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    }
    buf.extend_from_slice(bytes);
}

/// Appends a set header with a zero length, returning where the set starts.
fn open_set(buf: &mut Vec<u8>, set_id: u16) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&set_id.to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    start
}

fn close_set(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u16;
    buf[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
}

impl Encoder {
    /// An encoder at the start of a transport session (sequence number 0).
    pub fn new(opts: EncoderOptions) -> Encoder {
        Encoder {
            fields_v4: data_fields(false, opts.biflow, opts.with_peer),
            fields_v6: data_fields(true, opts.biflow, opts.with_peer),
            opts,
            sequence: 0,
        }
    }

    /// Data records sent so far in this session, modulo 2^32: the next header's sequence
    /// number.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// A new transport session (e.g. a TCP reconnect): sequence numbers restart at 0.
    pub fn reset_session(&mut self) {
        self.sequence = 0;
    }

    fn budget(&self) -> usize {
        self.opts.max_message_bytes.min(MAX_MESSAGE_LEN)
    }

    fn start_message(buf: &mut Vec<u8>) {
        buf.clear();
        buf.resize(HEADER_LEN, 0);
    }

    /// Fills in the header of a finished message and counts its data records.
    fn finish_message(&mut self, buf: &mut [u8], export_time_secs: u32, records: u32) {
        let len = buf.len() as u16;
        buf[0..2].copy_from_slice(&VERSION.to_be_bytes());
        buf[2..4].copy_from_slice(&len.to_be_bytes());
        buf[4..8].copy_from_slice(&export_time_secs.to_be_bytes());
        buf[8..12].copy_from_slice(&self.sequence.to_be_bytes());
        buf[12..16].copy_from_slice(&self.opts.observation_domain_id.to_be_bytes());
        self.sequence = self.sequence.wrapping_add(records);
    }

    /// One message with the IPv4 and IPv6 data templates (set id 2) and the options
    /// template (set id 3). It carries no data records, so the sequence number stays.
    pub fn templates(&mut self, export_time_secs: u32) -> Vec<u8> {
        let pen = self.opts.enterprise_number;
        let mut buf = Vec::with_capacity(1024);
        Self::start_message(&mut buf);
        let set = open_set(&mut buf, SET_ID_TEMPLATE);
        put_template_record(&mut buf, TEMPLATE_ID_IPV4, &self.fields_v4, pen);
        put_template_record(&mut buf, TEMPLATE_ID_IPV6, &self.fields_v6, pen);
        close_set(&mut buf, set);
        let set = open_set(&mut buf, SET_ID_OPTIONS_TEMPLATE);
        put_options_template_record(
            &mut buf,
            TEMPLATE_ID_OPTIONS,
            &OPTIONS_SCOPE,
            &OPTIONS_FIELDS,
            pen,
        );
        close_set(&mut buf, set);
        self.finish_message(&mut buf, export_time_secs, 0);
        buf
    }

    /// One message with one options data record of exporter statistics.
    pub fn options(&mut self, counts: &Counts, export_time_secs: u32) -> Vec<u8> {
        let domain = self.opts.observation_domain_id;
        let mut buf = Vec::with_capacity(HEADER_LEN + SET_HEADER_LEN + 68);
        Self::start_message(&mut buf);
        let set = open_set(&mut buf, TEMPLATE_ID_OPTIONS);
        for ie in OPTIONS_SCOPE.into_iter().chain(OPTIONS_FIELDS) {
            let value = options_value(ie, counts, domain);
            put_value(&mut buf, ie.element().data_type, value, 0);
        }
        close_set(&mut buf, set);
        self.finish_message(&mut buf, export_time_secs, 1);
        buf
    }

    /// Appends one data record of `rec`'s template, strings cut to `max_string` bytes.
    fn put_record(&self, buf: &mut Vec<u8>, rec: &ExportRecord<'_>, max_string: usize) {
        let fields = if rec.flow.key.ipv6 {
            &self.fields_v6
        } else {
            &self.fields_v4
        };
        for &ie in fields {
            put_value(buf, ie.element().data_type, flow_value(ie, rec), max_string);
        }
    }

    /// Encodes `rec` into `scratch` so that it fits a message of its own: strings are cut
    /// to the longest common length that fits, which only huge metadata can need.
    fn encode_record(&self, scratch: &mut Vec<u8>, rec: &ExportRecord<'_>) {
        const MAX_RECORD: usize = MAX_MESSAGE_LEN - HEADER_LEN - SET_HEADER_LEN;
        scratch.clear();
        self.put_record(scratch, rec, usize::MAX);
        if scratch.len() <= MAX_RECORD {
            return;
        }
        let (mut fits, mut too_long) = (0usize, usize::from(u16::MAX));
        while too_long - fits > 1 {
            let mid = fits + (too_long - fits) / 2;
            scratch.clear();
            self.put_record(scratch, rec, mid);
            if scratch.len() <= MAX_RECORD {
                fits = mid;
            } else {
                too_long = mid;
            }
        }
        scratch.clear();
        self.put_record(scratch, rec, fits);
    }

    /// Data records packed into as few messages as fit `max_message_bytes`. IPv4 records
    /// come first in one data set, IPv6 records in another, both in the same message when
    /// they fit. A record too large for the budget on its own goes alone in a message of up
    /// to 65535 bytes. Each message advances the sequence number by its records.
    pub fn records(&mut self, recs: &[ExportRecord<'_>], export_time_secs: u32) -> Vec<Encoded> {
        let budget = self.budget();
        let mut out = Vec::new();
        let mut msg = Vec::with_capacity(budget);
        let mut in_msg = 0u32;
        let mut set: Option<(u16, usize)> = None;
        let mut scratch = Vec::with_capacity(512);
        let ordered = recs
            .iter()
            .filter(|r| !r.flow.key.ipv6)
            .chain(recs.iter().filter(|r| r.flow.key.ipv6));
        for rec in ordered {
            let set_id = if rec.flow.key.ipv6 {
                TEMPLATE_ID_IPV6
            } else {
                TEMPLATE_ID_IPV4
            };
            self.encode_record(&mut scratch, rec);
            let same_set = matches!(set, Some((id, _)) if id == set_id);
            let added = scratch.len() + if same_set { 0 } else { SET_HEADER_LEN };
            if in_msg > 0 && msg.len() + added > budget {
                if let Some((_, start)) = set.take() {
                    close_set(&mut msg, start);
                }
                self.finish_message(&mut msg, export_time_secs, in_msg);
                out.push(Encoded {
                    bytes: std::mem::replace(&mut msg, Vec::with_capacity(budget)),
                    records: in_msg,
                });
                in_msg = 0;
            }
            if in_msg == 0 {
                Self::start_message(&mut msg);
            }
            match set {
                Some((id, _)) if id == set_id => {}
                _ => {
                    if let Some((_, start)) = set.take() {
                        close_set(&mut msg, start);
                    }
                    set = Some((set_id, open_set(&mut msg, set_id)));
                }
            }
            msg.extend_from_slice(&scratch);
            in_msg += 1;
        }
        if in_msg > 0 {
            if let Some((_, start)) = set.take() {
                close_set(&mut msg, start);
            }
            self.finish_message(&mut msg, export_time_secs, in_msg);
            out.push(Encoded {
                bytes: msg,
                records: in_msg,
            });
        }
        out
    }
}
