//! Encode, then decode: any batch of records podflow can export, with any identity
//! strings, under any `ipfix` section the configuration accepts, comes back from the
//! decoder field for field, in messages that fit the budget, with sequence numbers that
//! count the records. Strings are cut only when a record would not fit a message of
//! 65535 bytes, and then only at their end.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use podflow::export::IpfixConfig;
use podflow::flow::{Counters, EndReason, FlowKey, FlowRecord, PROTO_ICMP, PROTO_ICMPV6};
use podflow::identity::{PeerIdentity, PodIdentity};
use podflow::ipfix::{
    split_messages, Counts, DataRecord, Encoder, EncoderOptions, ExportRecord, Session, Value,
    MAX_MESSAGE_LEN,
};
use podflow::section::Section;

#[derive(Arbitrary, Debug)]
struct Input {
    ipfix: (u32, u32),
    biflow: bool,
    with_peer: bool,
    max_message_bytes: u16,
    export_time: u32,
    counts: [u64; 8],
    /// Makes the first record's annotations about `pad` x 512 bytes long, so that small
    /// inputs also reach records too large for one message.
    pad: u8,
    records: Vec<Record>,
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
    pod: [String; 9],
    node_ip: Option<(bool, u128)>,
    peer: [String; 6],
}

struct Owned {
    flow: FlowRecord,
    interface: String,
    pod: PodIdentity,
    peer: PeerIdentity,
    direction: u8,
    observation_point: u8,
}

fn owned(r: Record) -> Owned {
    let (src, dst, src_port, dst_port, vlan, point, proto, ipv6) = r.key;
    let counters = |(packets, octets, tcp_flags)| Counters {
        packets,
        octets,
        tcp_flags,
    };
    let [node_name, pod_name, pod_namespace, pod_uid, workload_name, workload_kind, cluster_name, labels_json, annotations_json] =
        r.pod;
    let [p_name, p_namespace, p_workload, p_kind, p_node, p_labels] = r.peer;
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
            labels_json,
            annotations_json,
        },
        peer: PeerIdentity {
            pod_name: p_name,
            pod_namespace: p_namespace,
            workload_name: p_workload,
            workload_kind: p_kind,
            node_name: p_node,
            labels_json: p_labels,
        },
        direction: r.direction,
        observation_point: r.observation_point,
    }
}

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

    fn strings(&self) -> Vec<(&'static str, &str)> {
        let (p, q) = (&self.pod, &self.peer);
        vec![
            ("interfaceName", &self.interface),
            ("k8sNodeName", &p.node_name),
            ("k8sPodName", &p.pod_name),
            ("k8sPodNamespace", &p.pod_namespace),
            ("k8sPodUid", &p.pod_uid),
            ("k8sWorkloadName", &p.workload_name),
            ("k8sWorkloadKind", &p.workload_kind),
            ("k8sClusterName", &p.cluster_name),
            ("k8sPodLabels", &p.labels_json),
            ("k8sPodAnnotations", &p.annotations_json),
            ("k8sPeerPodName", &q.pod_name),
            ("k8sPeerPodNamespace", &q.pod_namespace),
            ("k8sPeerWorkloadName", &q.workload_name),
            ("k8sPeerWorkloadKind", &q.workload_kind),
            ("k8sPeerNodeName", &q.node_name),
            ("k8sPeerPodLabels", &q.labels_json),
        ]
    }
}

/// Checks one decoded record against what was encoded.
fn check(d: &DataRecord, o: &Owned, biflow: bool, with_peer: bool) {
    let f = &o.flow;
    let k = &f.key;
    let icmp = (!k.ipv6 && k.proto == PROTO_ICMP) || (k.ipv6 && k.proto == PROTO_ICMPV6);
    let (src, dst) = if k.ipv6 {
        ("sourceIPv6Address", "destinationIPv6Address")
    } else {
        ("sourceIPv4Address", "destinationIPv4Address")
    };
    assert_eq!(d.template_id, if k.ipv6 { 257 } else { 256 });
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

    // Strings come back whole, unless the record had to be cut to fit 65535 bytes: then
    // each is a prefix of what was sent.
    let strings = o.strings();
    let sent = if with_peer {
        &strings[..]
    } else {
        &strings[..10]
    };
    let total: usize = sent.iter().map(|(_, s)| s.len() + 3).sum();
    let whole = total + 256 < MAX_MESSAGE_LEN;
    for (name, want) in sent {
        let got = match d.get(name) {
            Some(Value::String(s)) => s.as_str(),
            other => panic!("{name}: {other:?}"),
        };
        if whole {
            assert_eq!(got, *want, "{name}");
        } else {
            assert!(want.starts_with(got), "{name}");
        }
    }
    if !with_peer {
        assert_eq!(d.get("k8sPeerPodName"), None);
    }
}

fuzz_target!(|input: Input| {
    let ipfix = IpfixConfig {
        enterprise_number: input.ipfix.0,
        observation_domain_id: input.ipfix.1,
    };
    if ipfix.check().is_err() {
        return;
    }
    let (biflow, with_peer) = (input.biflow, input.with_peer);
    let mut encoder = Encoder::new(EncoderOptions {
        observation_domain_id: ipfix.observation_domain_id,
        enterprise_number: ipfix.enterprise_number,
        biflow,
        with_peer,
        max_message_bytes: usize::from(input.max_message_bytes),
    });
    let mut session = Session::new(ipfix.enterprise_number);
    let time = input.export_time;

    let templates = session
        .decode(&encoder.templates(time))
        .expect("templates decode");
    assert_eq!(templates.templates.len(), 3);
    assert_eq!(templates.header.sequence, 0);

    let mut owned: Vec<Owned> = input.records.into_iter().map(owned).collect();
    if let Some(first) = owned.first_mut() {
        let s = &mut first.pod.annotations_json;
        if input.pad > 0 && !s.is_empty() {
            *s = s.repeat((usize::from(input.pad) * 512).div_ceil(s.len()));
        }
    }
    let records: Vec<ExportRecord<'_>> = owned.iter().map(|o| o.record(with_peer)).collect();
    let messages = encoder.records(&records, time);
    // IPv4 records go first, then IPv6 ones, each in the order given.
    let mut expected = owned
        .iter()
        .filter(|o| !o.flow.key.ipv6)
        .chain(owned.iter().filter(|o| o.flow.key.ipv6));
    let mut sequence = 0u32;
    let budget = usize::from(input.max_message_bytes);
    for encoded in &messages {
        let bytes = &encoded.bytes;
        assert!(encoded.records == 1 || bytes.len() <= budget, "over budget");
        let framed: Vec<_> = split_messages(bytes).collect();
        assert_eq!(framed.len(), 1);
        let m = session
            .decode(bytes)
            .expect("a message podflow wrote decodes");
        assert_eq!(m.header.sequence, sequence);
        assert_eq!(m.header.export_time, time);
        assert_eq!(m.header.observation_domain_id, ipfix.observation_domain_id);
        assert_eq!(m.records.len(), encoded.records as usize);
        assert!(m.unknown_sets.is_empty());
        for d in &m.records {
            check(
                d,
                expected.next().expect("no more records than sent"),
                biflow,
                with_peer,
            );
        }
        sequence = sequence.wrapping_add(encoded.records);
    }
    assert!(expected.next().is_none(), "every record sent");
    assert_eq!(encoder.sequence(), sequence);

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
    let m = session
        .decode(&encoder.options(&counts, time))
        .expect("options decode");
    assert_eq!(m.header.sequence, sequence);
    let [d] = &m.records[..] else {
        panic!("one options record: {m:?}");
    };
    assert!(d.is_options());
    let want = [
        (
            "observationDomainId",
            u64::from(ipfix.observation_domain_id),
        ),
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
});
