//! Encoder bytes checked against hand-built messages, sequence numbers, packing, round
//! trips through the decoder and decoder robustness.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::flow::{from_addr, Counters, EndReason, FlowKey, FlowRecord, PROTO_ICMP, PROTO_TCP};
use crate::identity::{PeerIdentity, PodIdentity};

const PEN: u32 = 32473;

fn flow(src: IpAddr, dst: IpAddr, proto: u8, src_port: u16, dst_port: u16) -> FlowRecord {
    let (src, ipv6) = from_addr(src);
    let (dst, _) = from_addr(dst);
    FlowRecord {
        key: FlowKey {
            src,
            dst,
            src_port,
            dst_port,
            vlan: 42,
            point: 0,
            proto,
            ipv6,
        },
        start: 1_700_000_000_123_456_789,
        end: 1_700_000_005_987_000_000,
        forward: Counters {
            packets: 10,
            octets: 1500,
            tcp_flags: 0x1b,
        },
        reverse: Counters {
            packets: 8,
            octets: 9000,
            tcp_flags: 0x12,
        },
        tos: 0x28,
        end_reason: EndReason::EndOfFlow,
    }
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pod() -> PodIdentity {
    PodIdentity {
        node_name: "node-a".into(),
        node_ip: Some(v4([192, 168, 1, 5])),
        pod_name: "shop-7d9f".into(),
        pod_namespace: "prod".into(),
        pod_uid: "0f3c".into(),
        workload_name: "shop".into(),
        workload_kind: "Deployment".into(),
        cluster_name: "".into(),
        labels_json: r#"{"app":"shop"}"#.into(),
        annotations_json: format!(r#"{{"note":"{}"}}"#, "x".repeat(290)),
    }
}

fn record<'a>(flow: &'a FlowRecord, pod: &'a PodIdentity) -> ExportRecord<'a> {
    ExportRecord {
        flow,
        direction: 1,
        interface: "eth0",
        observation_point: 1,
        pod,
        peer: None,
    }
}

fn opts(biflow: bool, with_peer: bool, max_message_bytes: usize) -> EncoderOptions {
    EncoderOptions {
        observation_domain_id: 7,
        enterprise_number: PEN,
        biflow,
        with_peer,
        max_message_bytes,
    }
}

// ---- hand-built bytes -------------------------------------------------------------------

/// An IANA field specifier: id, length.
fn iana(out: &mut Vec<u8>, id: u16, len: u16) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
}

/// An enterprise field specifier: id with bit 15 set, length, PEN.
fn ent(out: &mut Vec<u8>, pen: u32, id: u16, len: u16) {
    out.extend_from_slice(&(0x8000 | id).to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&pen.to_be_bytes());
}

fn header(len: u16, time: u32, seq: u32, domain: u32) -> Vec<u8> {
    let mut h = vec![0x00, 0x0a];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&time.to_be_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&domain.to_be_bytes());
    h
}

fn data_template_by_hand(id: u16, ipv6: bool, biflow: bool) -> Vec<u8> {
    let mut t = Vec::new();
    let count: u16 = 13 + if biflow { 3 } else { 0 } + 3 + 12;
    t.extend_from_slice(&id.to_be_bytes());
    t.extend_from_slice(&count.to_be_bytes());
    iana(&mut t, 152, 8);
    iana(&mut t, 153, 8);
    if ipv6 {
        iana(&mut t, 27, 16);
        iana(&mut t, 28, 16);
    } else {
        iana(&mut t, 8, 4);
        iana(&mut t, 12, 4);
    }
    iana(&mut t, 7, 2);
    iana(&mut t, 11, 2);
    iana(&mut t, 4, 1);
    iana(&mut t, 5, 1);
    iana(&mut t, 58, 2);
    iana(&mut t, if ipv6 { 139 } else { 32 }, 2);
    iana(&mut t, 6, 2);
    iana(&mut t, 1, 8);
    iana(&mut t, 2, 8);
    if biflow {
        ent(&mut t, 29305, 1, 8);
        ent(&mut t, 29305, 2, 8);
        ent(&mut t, 29305, 6, 2);
    }
    iana(&mut t, 136, 1);
    iana(&mut t, 61, 1);
    iana(&mut t, 82, 65535);
    ent(&mut t, PEN, 1, 65535);
    ent(&mut t, PEN, 2, 4);
    ent(&mut t, PEN, 3, 16);
    for id in 4..=11 {
        ent(&mut t, PEN, id, 65535);
    }
    ent(&mut t, PEN, 12, 1);
    t
}

#[test]
fn templates_message_matches_hand_built_bytes() {
    let mut templates = Vec::new();
    templates.extend(data_template_by_hand(256, false, true));
    templates.extend(data_template_by_hand(257, true, true));
    let mut set2 = vec![0x00, 0x02];
    set2.extend_from_slice(&((templates.len() + 4) as u16).to_be_bytes());
    set2.extend(templates);

    let mut set3 = vec![0x00, 0x03, 0x00, 4 + 6 + 9 * 4];
    set3.extend_from_slice(&[0x01, 0x02, 0x00, 0x09, 0x00, 0x01]); // 258, 9 fields, 1 scope
    iana(&mut set3, 149, 4);
    for id in [41, 42, 40, 163, 164, 166] {
        iana(&mut set3, id, 8);
    }
    iana(&mut set3, 152, 8);
    iana(&mut set3, 153, 8);

    let len = 16 + set2.len() + set3.len();
    let mut want = header(len as u16, 1_700_000_000, 0, 7);
    want.extend(set2);
    want.extend(set3);

    let mut enc = Encoder::new(opts(true, false, 1400));
    assert_eq!(enc.templates(1_700_000_000), want);
    assert_eq!(enc.sequence(), 0, "templates are not data records");
}

#[test]
fn data_record_matches_hand_built_bytes() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 40000, 443);
    let p = pod();
    let mut enc = Encoder::new(opts(false, false, 1400));
    let msgs = bytes(enc.records(&[record(&f, &p)], 1_700_000_006));
    assert_eq!(msgs.len(), 1);

    let mut r = Vec::new();
    r.extend_from_slice(&1_700_000_000_123u64.to_be_bytes()); // start, ms
    r.extend_from_slice(&1_700_000_005_987u64.to_be_bytes()); // end, ms
    r.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    r.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb]); // 40000, 443
    r.extend_from_slice(&[6, 0x28, 0x00, 42]); // proto, tos, vlan
    r.extend_from_slice(&[0x00, 0x00, 0x00, 0x1b]); // icmp type code 0, flags
    r.extend_from_slice(&1500u64.to_be_bytes());
    r.extend_from_slice(&10u64.to_be_bytes());
    r.extend_from_slice(&[3, 1]); // end of flow, egress
    r.extend_from_slice(b"\x04eth0");
    r.extend_from_slice(b"\x06node-a");
    r.extend_from_slice(&[192, 168, 1, 5]);
    r.extend_from_slice(&[0; 16]); // no IPv6 node address
    r.extend_from_slice(b"\x09shop-7d9f\x04prod\x04shop\x0aDeployment");
    r.extend_from_slice(b"\x0e{\"app\":\"shop\"}");
    let annotations = pod().annotations_json;
    assert_eq!(annotations.len(), 301);
    r.extend_from_slice(&[255, 0x01, 0x2d]); // long form: 255 then 301
    r.extend_from_slice(annotations.as_bytes());
    r.extend_from_slice(b"\x040f3c");
    r.push(0); // empty cluster name
    r.push(1); // sidecar

    let mut want = header((16 + 4 + r.len()) as u16, 1_700_000_006, 0, 7);
    want.extend_from_slice(&[0x01, 0x00]);
    want.extend_from_slice(&((4 + r.len()) as u16).to_be_bytes());
    want.extend(r);
    assert_eq!(msgs[0], want);
    assert_eq!(enc.sequence(), 1);
}

#[test]
fn options_record_matches_hand_built_bytes() {
    let counts = Counts {
        exported_messages: 3,
        exported_records: 40,
        exported_octets: 5000,
        observed_flows: 41,
        ignored_packets: 2,
        not_sent_records: 1,
        period_start: 1_000_000_000,
        period_end: 61_500_000_000,
    };
    let mut enc = Encoder::new(opts(false, false, 1400));
    let got = enc.options(&counts, 99);
    let mut want = header(16 + 4 + 68, 99, 0, 7);
    want.extend_from_slice(&[0x01, 0x02, 0x00, 72]);
    want.extend_from_slice(&7u32.to_be_bytes());
    for n in [3u64, 40, 5000, 41, 2, 1, 1000, 61_500] {
        want.extend_from_slice(&n.to_be_bytes());
    }
    assert_eq!(got, want);
    assert_eq!(enc.sequence(), 1);
}

// ---- sequence numbers and packing -------------------------------------------------------

/// The bytes of encoded messages.
fn bytes(msgs: Vec<Encoded>) -> Vec<Vec<u8>> {
    msgs.into_iter().map(|m| m.bytes).collect()
}

fn seq_of(msg: &[u8]) -> u32 {
    u32::from_be_bytes([msg[8], msg[9], msg[10], msg[11]])
}

#[test]
fn sequence_counts_data_and_options_records_and_resets() {
    let p = pod();
    let flows: Vec<FlowRecord> = (0..30)
        .map(|i| {
            flow(
                v4([10, 0, 0, i]),
                v4([10, 0, 1, 1]),
                PROTO_TCP,
                1000 + i as u16,
                80,
            )
        })
        .collect();
    let recs: Vec<ExportRecord> = flows.iter().map(|f| record(f, &p)).collect();
    let mut enc = Encoder::new(opts(false, false, 1400));
    let mut session = Session::new(PEN);
    session.decode(&enc.templates(1)).unwrap();

    let mut expected = 0u32;
    for msg in enc.records(&recs, 2) {
        assert_eq!(seq_of(&msg.bytes), expected);
        let decoded = session.decode(&msg.bytes).unwrap().records.len() as u32;
        assert_eq!(msg.records, decoded, "the encoder counts what it packed");
        expected += decoded;
    }
    assert_eq!(expected, 30);
    let opt = enc.options(&Counts::default(), 3);
    assert_eq!(seq_of(&opt), 30);
    assert_eq!(enc.sequence(), 31);
    let more = bytes(enc.records(&recs[..2], 4));
    assert_eq!(seq_of(&more[0]), 31);
    assert_eq!(seq_of(&enc.templates(5)), 33);

    enc.reset_session();
    assert_eq!(enc.sequence(), 0);
    assert_eq!(seq_of(&enc.templates(6)), 0);
    assert_eq!(seq_of(&bytes(enc.records(&recs[..1], 7))[0]), 0);
    assert_eq!(enc.sequence(), 1);
}

#[test]
fn sequence_wraps_modulo_2_pow_32() {
    let mut enc = Encoder::new(opts(false, false, 1400));
    enc.sequence = u32::MAX;
    let msg = enc.options(&Counts::default(), 0);
    assert_eq!(seq_of(&msg), u32::MAX);
    assert_eq!(enc.sequence(), 0);
}

#[test]
fn records_are_packed_within_the_budget() {
    let p = PodIdentity {
        annotations_json: "{}".into(),
        ..pod()
    };
    let mut flows = Vec::new();
    for i in 0..100u8 {
        if i % 3 == 0 {
            let src = v6(&format!("2001:db8::{i:x}"));
            flows.push(flow(src, v6("2001:db8::ffff"), PROTO_TCP, 5000, 443));
        } else {
            flows.push(flow(v4([10, 1, 0, i]), v4([10, 2, 0, 1]), 17, 53, 5353));
        }
    }
    let recs: Vec<ExportRecord> = flows.iter().map(|f| record(f, &p)).collect();
    for (budget, biflow) in [(1400, false), (1400, true), (65000, true), (4000, false)] {
        let mut enc = Encoder::new(opts(biflow, false, budget));
        // Every record of a family has the same length here: measure one of each.
        let shortest = [&recs[0], &recs[1]]
            .map(|r| bytes(enc.records(std::slice::from_ref(r), 0))[0].len() - 20)
            .into_iter()
            .min()
            .unwrap();
        let mut session = Session::new(PEN);
        session.decode(&enc.templates(0)).unwrap();
        let msgs = bytes(enc.records(&recs, 0));
        let mut total = 0;
        let (mut n4, mut n6) = (0, 0);
        for (i, msg) in msgs.iter().enumerate() {
            assert!(msg.len() <= budget, "{} > {budget}", msg.len());
            if i + 1 < msgs.len() {
                assert!(msg.len() + shortest > budget, "message {i} had room left");
            }
            let m = session.decode(msg).unwrap();
            assert!(m.unknown_sets.is_empty());
            assert!(
                m.records.len() > 1 || i + 1 == msgs.len(),
                "one record per message"
            );
            total += m.records.len();
            n4 += m.records.iter().filter(|r| r.template_id == 256).count();
            n6 += m.records.iter().filter(|r| r.template_id == 257).count();
        }
        assert_eq!((total, n4, n6), (100, 66, 34));
        if budget == 65000 {
            assert_eq!(msgs.len(), 1, "v4 and v6 sets share one message");
        }
    }
}

#[test]
fn oversized_record_goes_alone_and_huge_strings_are_cut() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let mut big = pod();
    big.annotations_json = "a".repeat(3000);
    let small = pod();
    let mut enc = Encoder::new(opts(false, false, 1400));
    let mut session = Session::new(PEN);
    session.decode(&enc.templates(0)).unwrap();
    let recs = [record(&f, &small), record(&f, &big), record(&f, &small)];
    let msgs = bytes(enc.records(&recs, 0));
    let sizes: Vec<usize> = msgs
        .iter()
        .map(|m| session.decode(m).unwrap().records.len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 3);
    assert!(msgs.iter().any(|m| m.len() > 1400 && m.len() < 3400));

    let mut huge = pod();
    huge.annotations_json = "é".repeat(40_000); // 80 000 bytes
    huge.labels_json = "b".repeat(30_000);
    let msgs = bytes(enc.records(&[record(&f, &huge)], 0));
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].len() <= MAX_MESSAGE_LEN);
    assert!(msgs[0].len() > 60_000, "cut no more than needed");
    let m = session.decode(&msgs[0]).unwrap();
    let ann = m.records[0].get_str("k8sPodAnnotations").unwrap();
    let labels = m.records[0].get_str("k8sPodLabels").unwrap();
    assert!(ann.len() < 80_000 && ann.chars().all(|c| c == 'é'));
    assert!(labels.len() <= 30_000 && labels.len() > 20_000);
    assert_eq!(m.records[0].get_str("k8sPodName"), Some("shop-7d9f"));
}

// ---- round trips ------------------------------------------------------------------------

fn check_round_trip(rec: &ExportRecord<'_>, biflow: bool, with_peer: bool) {
    let mut enc = Encoder::new(opts(biflow, with_peer, 1400));
    let mut session = Session::new(PEN);
    let t = session.decode(&enc.templates(10)).unwrap();
    assert_eq!(t.templates.len(), 3);
    assert_eq!(t.header.observation_domain_id, 7);
    let msgs = bytes(enc.records(std::slice::from_ref(rec), 11));
    let m = session.decode(&msgs[0]).unwrap();
    assert_eq!(m.header.export_time, 11);
    let d = &m.records[0];
    let f = rec.flow;
    let k = &f.key;
    let icmp = k.is_icmp();
    assert_eq!(d.template_id, if k.ipv6 { 257 } else { 256 });
    assert!(!d.is_options());
    assert_eq!(
        d.get("flowStartMilliseconds"),
        Some(&Value::Milliseconds(f.start / 1_000_000))
    );
    assert_eq!(d.get_u64("flowEndMilliseconds"), Some(f.end / 1_000_000));
    let (src, dst) = if k.ipv6 {
        ("sourceIPv6Address", "destinationIPv6Address")
    } else {
        ("sourceIPv4Address", "destinationIPv4Address")
    };
    assert_eq!(d.get_ip(src), Some(k.src_addr()));
    assert_eq!(d.get_ip(dst), Some(k.dst_addr()));
    let ports = if icmp {
        (0, 0)
    } else {
        (k.src_port, k.dst_port)
    };
    assert_eq!(d.get_u64("sourceTransportPort"), Some(ports.0.into()));
    assert_eq!(d.get_u64("destinationTransportPort"), Some(ports.1.into()));
    assert_eq!(d.get_u64("protocolIdentifier"), Some(k.proto.into()));
    assert_eq!(d.get_u64("ipClassOfService"), Some(f.tos.into()));
    assert_eq!(d.get_u64("vlanId"), Some(k.vlan.into()));
    let (icmp_ie, other) = if k.ipv6 {
        ("icmpTypeCodeIPv6", "icmpTypeCodeIPv4")
    } else {
        ("icmpTypeCodeIPv4", "icmpTypeCodeIPv6")
    };
    let code = if icmp { k.dst_port } else { 0 };
    assert_eq!(d.get_u64(icmp_ie), Some(code.into()));
    assert_eq!(d.get(other), None);
    assert_eq!(
        d.get_u64("tcpControlBits"),
        Some(f.forward.tcp_flags.into())
    );
    assert_eq!(d.get_u64("octetDeltaCount"), Some(f.forward.octets));
    assert_eq!(d.get_u64("packetDeltaCount"), Some(f.forward.packets));
    if biflow {
        assert_eq!(d.get_u64("reverseOctetDeltaCount"), Some(f.reverse.octets));
        assert_eq!(
            d.get_u64("reversePacketDeltaCount"),
            Some(f.reverse.packets)
        );
        let flags = f.reverse.tcp_flags.into();
        assert_eq!(d.get_u64("reverseTcpControlBits"), Some(flags));
    } else {
        assert_eq!(d.get("reverseOctetDeltaCount"), None);
    }
    assert_eq!(d.get_u64("flowEndReason"), Some(f.end_reason as u64));
    assert_eq!(d.get_u64("flowDirection"), Some(rec.direction.into()));
    assert_eq!(d.get_str("interfaceName"), Some(rec.interface));
    let p = rec.pod;
    assert_eq!(d.get_str("k8sNodeName"), Some(p.node_name.as_str()));
    let (node4, node6) = match p.node_ip {
        Some(IpAddr::V4(a)) => (a, Ipv6Addr::UNSPECIFIED),
        Some(IpAddr::V6(a)) => (Ipv4Addr::UNSPECIFIED, a),
        None => (Ipv4Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED),
    };
    assert_eq!(d.get_ip("k8sNodeIPv4Address"), Some(IpAddr::V4(node4)));
    assert_eq!(d.get_ip("k8sNodeIPv6Address"), Some(IpAddr::V6(node6)));
    for (name, want) in [
        ("k8sPodName", &p.pod_name),
        ("k8sPodNamespace", &p.pod_namespace),
        ("k8sWorkloadName", &p.workload_name),
        ("k8sWorkloadKind", &p.workload_kind),
        ("k8sPodLabels", &p.labels_json),
        ("k8sPodAnnotations", &p.annotations_json),
        ("k8sPodUid", &p.pod_uid),
        ("k8sClusterName", &p.cluster_name),
    ] {
        assert_eq!(d.get_str(name), Some(want.as_str()), "{name}");
    }
    let point = rec.observation_point.into();
    assert_eq!(d.get_u64("k8sObservationPoint"), Some(point));
    let empty = PeerIdentity::default();
    let peer = rec.peer.unwrap_or(&empty);
    for (name, want) in [
        ("k8sPeerPodName", &peer.pod_name),
        ("k8sPeerPodNamespace", &peer.pod_namespace),
        ("k8sPeerWorkloadName", &peer.workload_name),
        ("k8sPeerWorkloadKind", &peer.workload_kind),
        ("k8sPeerNodeName", &peer.node_name),
        ("k8sPeerPodLabels", &peer.labels_json),
    ] {
        let got = d.get_str(name);
        assert_eq!(got, with_peer.then_some(want.as_str()), "{name}");
    }
    let expected_fields = 13 + 3 + 12 + if biflow { 3 } else { 0 } + if with_peer { 6 } else { 0 };
    assert_eq!(d.fields.len(), expected_fields);
}

#[test]
fn every_field_round_trips() {
    let peer = PeerIdentity {
        pod_name: "db-0".into(),
        pod_namespace: "data".into(),
        workload_name: "db".into(),
        workload_kind: "StatefulSet".into(),
        node_name: "n".repeat(260),
        labels_json: r#"{"app":"db"}"#.into(),
    };
    let mut node6 = pod();
    node6.node_ip = Some(v6("fd00::5"));
    node6.cluster_name = "prod-eu".into();
    let bare = PodIdentity {
        labels_json: "{}".into(),
        ..PodIdentity::default()
    };
    let mut unicode = pod();
    unicode.pod_name = "ü".repeat(200); // 400 bytes, long form
    unicode.labels_json = "l".repeat(255); // exactly the first long-form length
    unicode.workload_name = "w".repeat(254); // the longest short form

    let tcp4 = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 40000, 443);
    let tcp6 = flow(v6("2001:db8::1"), v6("2001:db8::2"), PROTO_TCP, 1234, 80);
    let icmp4 = flow(v4([10, 0, 0, 1]), v4([8, 8, 8, 8]), PROTO_ICMP, 0, 8 * 256);
    let icmp6 = flow(v6("fe80::1"), v6("ff02::1"), 58, 0, 135 * 256 + 3);
    let mut udp_ports_icmp = icmp4;
    udp_ports_icmp.key.src_port = 7; // ports must not leak out for ICMP
    let mut empty = tcp6;
    empty.key.vlan = 0;
    empty.end_reason = EndReason::LackOfResources;

    for f in [&tcp4, &tcp6, &icmp4, &icmp6, &udp_ports_icmp, &empty] {
        for p in [&pod(), &node6, &bare, &unicode] {
            for biflow in [false, true] {
                for (with_peer, peer) in [(false, None), (true, None), (true, Some(&peer))] {
                    let rec = ExportRecord {
                        flow: f,
                        direction: 0,
                        interface: "",
                        observation_point: 2,
                        pod: p,
                        peer,
                    };
                    check_round_trip(&rec, biflow, with_peer);
                    check_round_trip(&record(f, p), biflow, with_peer);
                }
            }
        }
    }
}

#[test]
fn options_round_trip() {
    let counts = Counts {
        exported_messages: u64::MAX,
        exported_records: 1,
        exported_octets: 2,
        observed_flows: 3,
        ignored_packets: 4,
        not_sent_records: 5,
        period_start: 6_000_000,
        period_end: 7_000_000,
    };
    let mut enc = Encoder::new(opts(false, false, 1400));
    let mut session = Session::new(PEN);
    session.decode(&enc.templates(0)).unwrap();
    let m = session.decode(&enc.options(&counts, 0)).unwrap();
    let r = &m.records[0];
    assert!(r.is_options());
    assert_eq!(r.template_id, 258);
    assert_eq!(r.get_u64("observationDomainId"), Some(7));
    assert_eq!(r.get_u64("exportedMessageTotalCount"), Some(u64::MAX));
    assert_eq!(r.get_u64("exportedFlowRecordTotalCount"), Some(1));
    assert_eq!(r.get_u64("exportedOctetTotalCount"), Some(2));
    assert_eq!(r.get_u64("observedFlowTotalCount"), Some(3));
    assert_eq!(r.get_u64("ignoredPacketTotalCount"), Some(4));
    assert_eq!(r.get_u64("notSentFlowTotalCount"), Some(5));
    assert_eq!(r.get_u64("flowStartMilliseconds"), Some(6));
    assert_eq!(r.get_u64("flowEndMilliseconds"), Some(7));
}

#[test]
fn another_enterprise_number_is_used_throughout() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let p = pod();
    let mut o = opts(false, false, 1400);
    o.enterprise_number = 99999;
    let mut enc = Encoder::new(o);
    let templates = enc.templates(0);
    let data = bytes(enc.records(&[record(&f, &p)], 0)).remove(0);

    let mut mine = Session::new(99999);
    mine.decode(&templates).unwrap();
    let r = mine.decode(&data).unwrap().records.remove(0);
    assert_eq!(r.get_str("k8sPodName"), Some("shop-7d9f"));
    let pod_name = FieldSpec { pen: 99999, id: 4 };
    assert!(r.fields.iter().any(|(s, _)| *s == pod_name));

    let mut default = Session::default();
    default.decode(&templates).unwrap();
    let r = default.decode(&data).unwrap().records.remove(0);
    assert_eq!(r.get("k8sPodName"), None);
    assert_eq!(r.get_str("interfaceName"), Some("eth0"));
}

// ---- decoder behaviour and robustness ---------------------------------------------------

#[test]
fn stream_splits_into_messages() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let p = pod();
    let mut enc = Encoder::new(opts(true, true, 1400));
    let mut stream = enc.templates(0);
    let recs = vec![record(&f, &p); 20];
    for m in bytes(enc.records(&recs, 0)) {
        stream.extend(m);
    }
    stream.extend(enc.options(&Counts::default(), 0));
    let msgs: Vec<&[u8]> = split_messages(&stream).map(Result::unwrap).collect();
    assert!(msgs.len() >= 4);
    let mut session = Session::default();
    let mut data = 0;
    let mut options = 0;
    for m in &msgs {
        let m = session.decode(m).unwrap();
        data += m.records.iter().filter(|r| !r.is_options()).count();
        options += m.records.iter().filter(|r| r.is_options()).count();
    }
    assert_eq!((data, options), (20, 1));

    let cut = &stream[..stream.len() - 3];
    let results: Vec<_> = split_messages(cut).collect();
    assert!(results[..results.len() - 1].iter().all(Result::is_ok));
    assert!(matches!(
        results.last(),
        Some(Err(DecodeError::Truncated { .. }))
    ));
    assert!(matches!(
        split_messages(&[0, 9, 0, 16]).next(),
        Some(Err(DecodeError::Truncated { .. }))
    ));
}

#[test]
fn data_before_templates_is_skipped_and_withdrawal_forgets() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let p = pod();
    let mut enc = Encoder::new(opts(false, false, 1400));
    let data = bytes(enc.records(&[record(&f, &p)], 0)).remove(0);
    let mut session = Session::default();
    let m = session.decode(&data).unwrap();
    assert_eq!((m.records.len(), m.unknown_sets.clone()), (0, vec![256]));

    session.decode(&enc.templates(0)).unwrap();
    assert_eq!(session.decode(&data).unwrap().records.len(), 1);
    assert!(session.template(7, 258).is_some());

    // Withdraw all data templates of domain 7 (template id 2, field count 0).
    let mut withdraw = header(24, 0, 0, 7);
    withdraw.extend_from_slice(&[0, 2, 0, 8, 0, 2, 0, 0]);
    assert!(session.decode(&withdraw).unwrap().templates.is_empty());
    assert!(session.template(7, 256).is_none());
    assert!(session.template(7, 258).is_some(), "options templates stay");
    assert_eq!(session.decode(&data).unwrap().unknown_sets, vec![256]);
}

#[test]
fn malformed_messages_are_errors() {
    let mut session = Session::default();
    let good = Encoder::new(opts(true, true, 1400)).templates(0);
    assert!(session.decode(&good).is_ok());

    let mut bad_version = good.clone();
    bad_version[1] = 9;
    assert_eq!(session.decode(&bad_version), Err(DecodeError::Version(9)));
    assert!(matches!(
        session.decode(&good[..good.len() - 1]),
        Err(DecodeError::LengthMismatch { .. })
    ));
    let mut set_too_long = good.clone();
    set_too_long[18..20].copy_from_slice(&[0xff, 0xf0]);
    assert!(matches!(
        session.decode(&set_too_long),
        Err(DecodeError::SetLength { .. })
    ));
    let mut low_id = good.clone();
    low_id[20..22].copy_from_slice(&[0, 17]);
    assert!(matches!(
        session.decode(&low_id),
        Err(DecodeError::TemplateId {
            template_id: 17,
            ..
        })
    ));
    let mut netflow_set = header(20, 0, 0, 0);
    netflow_set.extend_from_slice(&[0, 0, 0, 4]);
    assert!(matches!(
        session.decode(&netflow_set),
        Err(DecodeError::ReservedSet { .. })
    ));
    assert!(matches!(
        session.decode(&[0, 10, 0, 3]),
        Err(DecodeError::Truncated { .. })
    ));
    let short = header(12, 0, 0, 0);
    assert!(matches!(
        session.decode(&short),
        Err(DecodeError::ShortLength { length: 12 })
    ));
    // A record whose varlen prefix claims more than the set holds.
    let mut truncated_string = header(16 + 12, 0, 0, 0);
    truncated_string.extend_from_slice(&[0, 2, 0, 12, 1, 0, 0, 1]);
    truncated_string.extend_from_slice(&[0, 82, 0xff, 0xff]);
    session.decode(&truncated_string).unwrap();
    let mut rec = header(16 + 4 + 4, 0, 0, 0);
    rec.extend_from_slice(&[1, 0, 0, 8, 255, 0, 9, b'a']);
    let err = session.decode(&rec).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { .. }));
    assert!(err.to_string().contains("variable-length field"), "{err}");
}

/// xorshift64*: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn garbage_never_panics() {
    let f = flow(v6("2001:db8::1"), v6("2001:db8::2"), PROTO_TCP, 1, 2);
    let p = pod();
    let mut enc = Encoder::new(opts(true, true, 1400));
    let templates = enc.templates(0);
    let data = bytes(enc.records(&[record(&f, &p); 3], 0)).remove(0);
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);

    // Every prefix of valid messages, with the header length patched to match.
    for msg in [&templates, &data] {
        for cut in 0..msg.len() {
            let mut m = msg[..cut].to_vec();
            if m.len() >= 4 {
                m[2..4].copy_from_slice(&(cut as u16).to_be_bytes());
            }
            let mut session = Session::default();
            let _ = session.decode(&templates);
            let _ = session.decode(&m);
            let _ = split_messages(&m).count();
        }
    }
    // Random byte flips in valid messages.
    for _ in 0..3000 {
        let mut session = Session::default();
        let mut t = templates.clone();
        let mut d = data.clone();
        for _ in 0..1 + noise.next() % 4 {
            let i = noise.next() as usize % t.len();
            t[i] = noise.next() as u8;
            let i = noise.next() as usize % d.len();
            d[i] = noise.next() as u8;
        }
        let _ = session.decode(&t);
        let _ = session.decode(&d);
    }
    // Pure noise behind a plausible header.
    for _ in 0..3000 {
        let len = 16 + noise.next() as usize % 300;
        let mut m = header(len as u16, 0, 0, 0);
        m.extend((16..len).map(|_| noise.next() as u8));
        if noise.next().is_multiple_of(2) && len >= 24 {
            m[16..18].copy_from_slice(&[0, 2 + (noise.next() % 2) as u8]);
        }
        let mut session = Session::default();
        let _ = session.decode(&m);
        let _ = session.decode(&m);
        let _ = split_messages(&m).count();
    }
}
