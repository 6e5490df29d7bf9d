//! Encode, then decode in one `Session`, as a collector reads a transport session: the
//! templates, the RFC 5610 type records, any batch of records podflow can export (any
//! identity strings, metadata that is a JSON object or not), the exporter statistics and
//! the withdrawal, under any `ipfix` section and any `export.max_message_bytes` the
//! configuration accepts. No message exceeds the budget. A record that fits comes back
//! field for field; one that does not has its metadata cut to whole JSON entries
//! (annotations, then the peer's labels, then the pod's: each cut only once those before
//! it are empty), or, when that is not enough, the metadata emptied and every other string
//! cut to a common length; `Encoded::cut` counts exactly the records that differ.
//! Sequence numbers count the data records, type and options records included.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use podflow::export::{Config as ExportConfig, IpfixConfig};
use podflow::flow::{Counters, EndReason, FlowKey, FlowRecord, PROTO_ICMP, PROTO_ICMPV6};
use podflow::identity::{PeerIdentity, PodIdentity};
use podflow::ipfix::{
    split_messages, Counts, DataRecord, Encoder, EncoderOptions, ExportRecord, FieldSpec, Ie,
    Message, Registry, Session, HEADER_LEN, MAX_MESSAGE_LEN, TEMPLATE_ID_IPV4, TEMPLATE_ID_IPV6,
    TEMPLATE_ID_OPTIONS, TEMPLATE_ID_TYPE_INFO, VARLEN,
};
use podflow::section::Section;
use serde_json::{Map, Value as Json};

#[derive(Arbitrary, Debug)]
struct Input {
    ipfix: (u32, u32),
    biflow: bool,
    with_peer: bool,
    max_message_bytes: u16,
    export_time: u32,
    counts: [u64; 8],
    /// Above 240, makes the first record's annotations at least (`pad` - 240) x 8 KiB
    /// long (more entries, or the text repeated), so that small inputs also reach records
    /// larger than any message, and metadata longer than a string field can say (65535
    /// bytes). Only some inputs: such records take most of the time of a run.
    pad: u8,
    records: Vec<Record>,
}

/// Labels or annotations: a JSON object of entries, as podflow builds them, or any text.
#[derive(Arbitrary, Debug)]
enum Meta {
    Entries(Vec<(String, String)>),
    Text(String),
}

impl Meta {
    fn into_string(self) -> String {
        match self {
            Meta::Entries(entries) => entries_json(entries.into_iter()),
            Meta::Text(s) => s,
        }
    }
}

fn entries_json(entries: impl Iterator<Item = (String, String)>) -> String {
    let map: Map<String, Json> = entries.map(|(k, v)| (k, Json::String(v))).collect();
    Json::Object(map).to_string()
}

/// `meta` made at least `min` bytes long, still a JSON object if it was one.
fn padded(meta: Meta, min: usize) -> String {
    if min == 0 {
        return meta.into_string();
    }
    match meta {
        Meta::Entries(entries) if !entries.is_empty() => {
            // Long values: a few hundred entries rather than thousands keep the run fast.
            let filler = ".".repeat(256);
            let mut len = 2;
            let entries = entries.iter().cycle().enumerate().map_while(|(i, (k, v))| {
                let entry = (format!("{k}{i}"), format!("{v}{filler}"));
                let more = len < min;
                len += entry.0.len() + entry.1.len() + 6;
                more.then_some(entry)
            });
            entries_json(entries)
        }
        Meta::Text(s) if !s.is_empty() => s.repeat(min.div_ceil(s.len())),
        other => other.into_string(),
    }
}

#[derive(Arbitrary, Debug)]
struct Record {
    key: (u128, u128, u16, u16, u16, u32, u8, bool),
    times: (u64, u64),
    forward: (u64, u64, u16),
    reverse: (u64, u64, u16),
    tos: u8,
    end_reason: u8,
    direction: u8,
    observation_point: u8,
    interface: String,
    pod: [String; 7],
    labels: Meta,
    annotations: Meta,
    node_ip: Option<(bool, u128)>,
    peer: [String; 5],
    peer_labels: Meta,
}

struct Owned {
    flow: FlowRecord,
    interface: String,
    pod: PodIdentity,
    peer: PeerIdentity,
    direction: u8,
    observation_point: u8,
}

fn owned(r: Record, pad: usize) -> Owned {
    let (src, dst, src_port, dst_port, vlan, point, proto, ipv6) = r.key;
    let counters = |(packets, octets, tcp_flags)| Counters {
        packets,
        octets,
        tcp_flags,
    };
    let [node_name, pod_name, pod_namespace, pod_uid, workload_name, workload_kind, cluster_name] =
        r.pod;
    let [p_name, p_namespace, p_workload, p_kind, p_node] = r.peer;
    Owned {
        flow: FlowRecord {
            key: FlowKey {
                src,
                dst,
                src_port,
                dst_port,
                vlan,
                point,
                proto,
                ipv6,
            },
            start: r.times.0,
            end: r.times.1,
            forward: counters(r.forward),
            reverse: counters(r.reverse),
            tos: r.tos,
            end_reason: EndReason::ALL[usize::from(r.end_reason) % EndReason::ALL.len()],
            ext: None,
        },
        interface: r.interface,
        pod: PodIdentity {
            node_name,
            node_ip: r.node_ip.map(|(v6, a)| {
                if v6 {
                    IpAddr::V6(Ipv6Addr::from(a))
                } else {
                    IpAddr::V4(Ipv4Addr::from(a as u32))
                }
            }),
            pod_name,
            pod_namespace,
            pod_uid,
            workload_name,
            workload_kind,
            cluster_name,
            labels_json: r.labels.into_string(),
            annotations_json: padded(r.annotations, pad),
        },
        peer: PeerIdentity {
            pod_name: p_name,
            pod_namespace: p_namespace,
            workload_name: p_workload,
            workload_kind: p_kind,
            node_name: p_node,
            labels_json: r.peer_labels.into_string(),
        },
        direction: r.direction,
        observation_point: r.observation_point,
    }
}

/// The metadata the encoder may cut to whole entries, in the order it cuts them.
const CUT_ORDER: [&str; 3] = ["k8sPodAnnotations", "k8sPeerPodLabels", "k8sPodLabels"];

impl Owned {
    fn record(&self, with_peer: bool) -> ExportRecord<'_> {
        ExportRecord {
            flow: &self.flow,
            direction: self.direction,
            interface: &self.interface,
            observation_point: self.observation_point,
            pod: &self.pod,
            peer: with_peer.then_some(&self.peer),
        }
    }

    /// Every string the record's template carries, by element name.
    fn strings(&self, with_peer: bool) -> Vec<(&'static str, &str)> {
        let (p, q) = (&self.pod, &self.peer);
        let mut out = vec![
            ("interfaceName", self.interface.as_str()),
            ("k8sNodeName", &p.node_name),
            ("k8sPodName", &p.pod_name),
            ("k8sPodNamespace", &p.pod_namespace),
            ("k8sPodUid", &p.pod_uid),
            ("k8sWorkloadName", &p.workload_name),
            ("k8sWorkloadKind", &p.workload_kind),
            ("k8sClusterName", &p.cluster_name),
            ("k8sPodLabels", &p.labels_json),
            ("k8sPodAnnotations", &p.annotations_json),
        ];
        if with_peer {
            out.extend([
                ("k8sPeerPodName", q.pod_name.as_str()),
                ("k8sPeerPodNamespace", &q.pod_namespace),
                ("k8sPeerWorkloadName", &q.workload_name),
                ("k8sPeerWorkloadKind", &q.workload_kind),
                ("k8sPeerNodeName", &q.node_name),
                ("k8sPeerPodLabels", &q.labels_json),
            ]);
        }
        out
    }
}

/// One transport session as the collector sees it.
struct Collector {
    session: Session,
    budget: usize,
    domain: u32,
    time: u32,
    /// The sequence number the next message must carry.
    sequence: u32,
}

impl Collector {
    /// Decodes one message the encoder wrote: within the budget, one whole message, its
    /// header as configured, numbered after the data records before it.
    fn decode(&mut self, bytes: &[u8]) -> Message {
        assert!(
            bytes.len() <= self.budget,
            "{} > {}",
            bytes.len(),
            self.budget
        );
        assert_eq!(split_messages(bytes).count(), 1);
        let m = self
            .session
            .decode(bytes)
            .expect("a message podflow wrote decodes");
        assert_eq!(m.header.sequence, self.sequence);
        assert_eq!(m.header.export_time, self.time);
        assert_eq!(m.header.observation_domain_id, self.domain);
        assert!(m.unknown_sets.is_empty());
        self.sequence = self.sequence.wrapping_add(m.records.len() as u32);
        m
    }

    /// The bytes a record of template `id` takes with these strings.
    fn record_len(&self, id: u16, strings: &[&str]) -> usize {
        let template = self.session.template(self.domain, id).expect("template");
        let fixed: usize = template
            .fields
            .iter()
            .filter(|f| f.length != VARLEN)
            .map(|f| usize::from(f.length))
            .sum();
        let varlen = template
            .fields
            .iter()
            .filter(|f| f.length == VARLEN)
            .count();
        assert_eq!(
            varlen,
            strings.len(),
            "a string for each variable-length field"
        );
        let strings: usize = strings
            .iter()
            .map(|s| s.len() + if s.len() < 255 { 1 } else { 3 })
            .sum();
        fixed + strings
    }
}

/// Checks the numbers of one decoded record against what was encoded.
fn check_numbers(d: &DataRecord, o: &Owned, biflow: bool) {
    let f = &o.flow;
    let k = &f.key;
    let icmp = (!k.ipv6 && k.proto == PROTO_ICMP) || (k.ipv6 && k.proto == PROTO_ICMPV6);
    let (src, dst) = if k.ipv6 {
        ("sourceIPv6Address", "destinationIPv6Address")
    } else {
        ("sourceIPv4Address", "destinationIPv4Address")
    };
    let id = if k.ipv6 {
        TEMPLATE_ID_IPV6
    } else {
        TEMPLATE_ID_IPV4
    };
    assert_eq!(d.template_id, id);
    assert_eq!(d.get_ip(src), Some(k.src_addr()));
    assert_eq!(d.get_ip(dst), Some(k.dst_addr()));
    let ports = if icmp {
        (0, 0)
    } else {
        (k.src_port, k.dst_port)
    };
    let numbers = [
        ("flowStartMilliseconds", f.start / 1_000_000),
        ("flowEndMilliseconds", f.end / 1_000_000),
        ("sourceTransportPort", ports.0.into()),
        ("destinationTransportPort", ports.1.into()),
        ("protocolIdentifier", k.proto.into()),
        ("ipClassOfService", f.tos.into()),
        ("vlanId", k.vlan.into()),
        ("tcpControlBits", f.forward.tcp_flags.into()),
        ("octetDeltaCount", f.forward.octets),
        ("packetDeltaCount", f.forward.packets),
        ("flowEndReason", f.end_reason as u64),
        ("flowDirection", o.direction.into()),
        ("k8sObservationPoint", o.observation_point.into()),
    ];
    for (name, want) in numbers {
        assert_eq!(d.get_u64(name), Some(want), "{name}");
    }
    let icmp_ie = if k.ipv6 {
        "icmpTypeCodeIPv6"
    } else {
        "icmpTypeCodeIPv4"
    };
    assert_eq!(
        d.get_u64(icmp_ie),
        Some(if icmp { k.dst_port.into() } else { 0 })
    );
    let reverse = [
        ("reverseOctetDeltaCount", f.reverse.octets),
        ("reversePacketDeltaCount", f.reverse.packets),
        ("reverseTcpControlBits", f.reverse.tcp_flags.into()),
    ];
    for (name, want) in reverse {
        assert_eq!(d.get_u64(name), biflow.then_some(want), "{name}");
    }
    let (node4, node6) = match o.pod.node_ip {
        Some(IpAddr::V4(a)) => (a, Ipv6Addr::UNSPECIFIED),
        Some(IpAddr::V6(a)) => (Ipv4Addr::UNSPECIFIED, a),
        None => (Ipv4Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED),
    };
    assert_eq!(d.get_ip("k8sNodeIPv4Address"), Some(IpAddr::V4(node4)));
    assert_eq!(d.get_ip("k8sNodeIPv6Address"), Some(IpAddr::V6(node6)));
}

/// A JSON object's entries, when `s` is one.
fn object(s: &str) -> Option<Map<String, Json>> {
    serde_json::from_str(s).ok()
}

/// Checks the strings of one decoded record against what was sent; true when the record
/// was cut. A record is cut exactly when it would not fit a message of its own.
fn check_strings(c: &Collector, d: &DataRecord, o: &Owned, with_peer: bool) -> bool {
    let sent = o.strings(with_peer);
    let got: Vec<&str> = sent
        .iter()
        .map(|(name, _)| d.get_str(name).unwrap_or_else(|| panic!("{name}")))
        .collect();
    if !with_peer {
        assert_eq!(d.get("k8sPeerPodName"), None);
    }
    let max_record = c.budget - HEADER_LEN - 4;
    let sent_strings: Vec<&str> = sent.iter().map(|(_, s)| *s).collect();
    let full = c.record_len(d.template_id, &sent_strings);
    let now = c.record_len(d.template_id, &got);
    assert!(now <= max_record, "{now} > {max_record}");
    let cut = got != sent_strings;
    assert_eq!(cut, full > max_record, "cut exactly when it does not fit");
    if !cut {
        return false;
    }

    let is_meta = |name: &str| CUT_ORDER.contains(&name);
    let plain_cut = sent
        .iter()
        .zip(&got)
        .any(|((name, want), got)| !is_meta(name) && want != got);
    let present: Vec<(&str, &str, &str)> = CUT_ORDER
        .iter()
        .filter_map(|m| {
            let i = sent.iter().position(|(name, _)| name == m)?;
            Some((*m, sent[i].1, got[i]))
        })
        .collect();
    if plain_cut {
        // The last resort: the metadata emptied, every other string cut to one length.
        for (name, _, got) in &present {
            let left = got.len();
            assert_eq!(
                left, 0,
                "{name} keeps {left} bytes while other strings are cut"
            );
        }
        let longest = got.iter().map(|s| s.len()).max().unwrap_or(0);
        for ((name, want), got) in sent.iter().zip(&got) {
            if is_meta(name) || want == got {
                continue;
            }
            assert!(want.starts_with(got), "{name}: not a prefix");
            // Cut at a character boundary at or below the common length.
            assert!(got.len() + 3 >= longest, "{name}: cut to {}", got.len());
        }
        return true;
    }
    // Metadata cut to whole entries, in order: a field is cut only once those before it
    // are empty; the last one cut fits the record with as much as it can keep.
    let last = present
        .iter()
        .rposition(|(_, want, got)| want != got)
        .expect("a cut record has a string that differs");
    for (name, _, got) in &present[..last] {
        let left = got.len();
        assert_eq!(
            left, 0,
            "{name} keeps {left} bytes while later metadata is cut"
        );
    }
    let (name, want, got) = present[last];
    match object(want) {
        Some(sent) => {
            if !got.is_empty() {
                let kept = object(got).unwrap_or_else(|| {
                    panic!("{name} cut to {} bytes is not a JSON object", got.len())
                });
                for (k, v) in &kept {
                    assert_eq!(sent.get(k), Some(v), "{name}: {k} was not sent so");
                }
            }
        }
        None => {
            assert!(want.starts_with(got), "{name}: not a prefix");
            if !got.is_empty() {
                // Cut at its end, by no more than needed: a character and the longer
                // length prefix.
                assert!(now + 5 >= max_record, "{name} cut to {}", got.len());
            }
        }
    }
    true
}

fuzz_target!(|input: Input| {
    let ipfix = IpfixConfig {
        enterprise_number: input.ipfix.0,
        observation_domain_id: input.ipfix.1,
        ..IpfixConfig::default()
    };
    let export = ExportConfig {
        max_message_bytes: Some(usize::from(input.max_message_bytes)),
        ..ExportConfig::default()
    };
    if ipfix.check().is_err() || export.check().is_err() {
        return;
    }
    let (biflow, with_peer) = (input.biflow, input.with_peer);
    let mut encoder = Encoder::new(EncoderOptions {
        observation_domain_id: ipfix.observation_domain_id,
        enterprise_number: ipfix.enterprise_number,
        biflow,
        with_peer,
        max_message_bytes: export.message_bytes(),
        ..EncoderOptions::default()
    });
    let time = input.export_time;
    let domain = ipfix.observation_domain_id;
    let mut c = Collector {
        session: Session::new(ipfix.enterprise_number),
        // The encoder's clamp: the most a message header can say.
        budget: export.message_bytes().min(MAX_MESSAGE_LEN),
        domain,
        time,
        sequence: 0,
    };

    // Templates carry no data records: the sequence number stays.
    let mut ids = Vec::new();
    for msg in encoder.templates(time) {
        let m = c.decode(&msg);
        assert!(m.records.is_empty());
        ids.extend(m.templates.iter().map(|t| t.id));
    }
    let all_templates = [
        TEMPLATE_ID_IPV4,
        TEMPLATE_ID_IPV6,
        TEMPLATE_ID_OPTIONS,
        TEMPLATE_ID_TYPE_INFO,
    ];
    assert_eq!(ids, all_templates);

    // One type record per Kubernetes element, each naming it and giving its type.
    let mut described = 0;
    for msg in encoder.type_info(time) {
        let m = c.decode(&msg);
        assert!(m.templates.is_empty());
        for r in &m.records {
            assert_eq!(r.template_id, TEMPLATE_ID_TYPE_INFO);
            assert!(r.is_options());
        }
        described += m.records.len();
    }
    // A probe describes the Kubernetes elements it writes, not those only the mediator adds.
    let kubernetes = Ie::ALL
        .into_iter()
        .filter(|ie| ie.element().registry == Registry::Kubernetes && !ie.added_by_mediator());
    assert_eq!(described, kubernetes.clone().count());
    for ie in kubernetes {
        let e = ie.element();
        let spec = FieldSpec {
            pen: ipfix.enterprise_number,
            id: e.id,
        };
        let info = c.session.type_info(domain, spec).expect(e.name);
        assert_eq!(info.name, e.name);
        assert_eq!(info.data_type(), Some(e.data_type));
    }
    assert_eq!(encoder.sequence(), c.sequence);

    let pad = usize::from(input.pad.saturating_sub(240)) * 8192;
    let owned: Vec<Owned> = input
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| owned(r, if i == 0 { pad } else { 0 }))
        .collect();
    let records: Vec<ExportRecord<'_>> = owned.iter().map(|o| o.record(with_peer)).collect();
    let messages = encoder.records(&records, time);
    // IPv4 records go first, then IPv6 ones, each in the order given.
    let mut expected = owned
        .iter()
        .filter(|o| !o.flow.key.ipv6)
        .chain(owned.iter().filter(|o| o.flow.key.ipv6));
    for encoded in &messages {
        let m = c.decode(&encoded.bytes);
        assert!(m.templates.is_empty());
        assert_eq!(m.records.len(), encoded.records as usize);
        let mut cut = 0;
        for d in &m.records {
            let o = expected.next().expect("no more records than sent");
            check_numbers(d, o, biflow);
            cut += u32::from(check_strings(&c, d, o, with_peer));
        }
        assert_eq!(encoded.cut, cut, "records cut, as counted");
    }
    assert!(expected.next().is_none(), "every record sent");
    assert_eq!(encoder.sequence(), c.sequence);

    let [messages_n, records_n, octets, flows, ignored, not_sent, start, end] = input.counts;
    let counts = Counts {
        exported_messages: messages_n,
        exported_records: records_n,
        exported_octets: octets,
        observed_flows: flows,
        ignored_packets: ignored,
        not_sent_records: not_sent,
        period_start: start,
        period_end: end,
    };
    let m = c.decode(&encoder.options(&counts, time));
    let [d] = &m.records[..] else {
        panic!("one options record: {m:?}");
    };
    assert!(d.is_options());
    assert_eq!(d.template_id, TEMPLATE_ID_OPTIONS);
    let want = [
        ("observationDomainId", u64::from(domain)),
        ("exportedMessageTotalCount", messages_n),
        ("exportedFlowRecordTotalCount", records_n),
        ("exportedOctetTotalCount", octets),
        ("observedFlowTotalCount", flows),
        ("ignoredPacketTotalCount", ignored),
        ("notSentFlowTotalCount", not_sent),
        ("flowStartMilliseconds", start / 1_000_000),
        ("flowEndMilliseconds", end / 1_000_000),
    ];
    for (name, value) in want {
        assert_eq!(d.get_u64(name), Some(value), "{name}");
    }
    assert_eq!(encoder.sequence(), c.sequence);

    // The withdrawal forgets every template and carries no records.
    let m = c.decode(&encoder.withdrawal(time));
    assert!(m.records.is_empty() && m.templates.is_empty());
    for id in all_templates {
        assert!(c.session.template(domain, id).is_none(), "{id} withdrawn");
    }
    assert_eq!(encoder.sequence(), c.sequence);
});
