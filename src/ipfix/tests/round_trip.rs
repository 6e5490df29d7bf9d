//! Every field encoded, then decoded back.

use super::*;

fn check_round_trip(rec: &ExportRecord<'_>, biflow: bool, with_peer: bool) {
    // Room for the longest strings here: cutting is checked apart.
    let mut enc = Encoder::new(opts(biflow, with_peer, 65000));
    let mut session = Session::new(PEN);
    let t = session.decode(&templates(&mut enc, 10)).unwrap();
    assert_eq!(t.templates.len(), 4);
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
    let mut udp_ports_icmp = icmp4.clone();
    udp_ports_icmp.key.src_port = 7; // ports must not leak out for ICMP
    let mut empty = tcp6.clone();
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
    session.decode(&templates(&mut enc, 0)).unwrap();
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
    let templates = templates(&mut enc, 0);
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

#[test]
fn type_records_describe_every_kubernetes_element() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let p = pod();
    let mut o = opts(true, true, 1400);
    o.enterprise_number = 4242;
    let mut enc = Encoder::new(o);
    // A collector without podflow's table: it knows the Kubernetes elements under 32473
    // only, so everything it learns about PEN 4242 comes from the type records.
    let mut session = Session::new(PEN);
    session.decode(&templates(&mut enc, 0)).unwrap();
    let mut described = Vec::new();
    for m in enc.type_info(0) {
        assert!(m.len() <= 1400);
        let m = session.decode(&m).unwrap();
        assert!(m
            .records
            .iter()
            .all(|r| r.template_id == TEMPLATE_ID_TYPE_INFO));
        described.extend(m.records);
    }
    assert_eq!(described.len(), 45);
    assert_eq!(enc.sequence(), 45, "type records are data records");
    let data = bytes(enc.records(&[record(&f, &p)], 0)).remove(0);
    assert_eq!(seq_of_header(&data), 45);
    let r = session.decode(&data).unwrap().records.remove(0);
    let by_name = |name: &str| {
        let spec = r
            .fields
            .iter()
            .map(|(s, _)| *s)
            .find(|s| session.element_name(7, *s) == Some(name))
            .unwrap_or_else(|| panic!("no field named {name}"));
        assert_eq!(spec.pen, 4242);
        r.fields.iter().find(|(s, _)| *s == spec).unwrap().1.clone()
    };
    assert_eq!(by_name("k8sPodName"), Value::String("shop-7d9f".into()));
    assert_eq!(
        by_name("k8sNodeIPv4Address"),
        Value::Ip(v4([192, 168, 1, 5]))
    );
    assert_eq!(by_name("k8sObservationPoint"), Value::Unsigned(1));
    assert_eq!(by_name("k8sPeerPodLabels"), Value::String(String::new()));
    let point = FieldSpec { pen: 4242, id: 12 };
    let info = session.type_info(7, point).unwrap();
    assert_eq!((info.data_type_code, info.semantics), (1, 4));
    assert_eq!(
        session.type_info(8, point),
        None,
        "type records are per domain"
    );
}

#[test]
fn withdrawal_withdraws_every_template_and_keeps_the_sequence() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let p = pod();
    let mut enc = Encoder::new(opts(false, false, 1400));
    let mut session = Session::new(PEN);
    session.decode(&templates(&mut enc, 0)).unwrap();
    enc.records(&[record(&f, &p)], 0);
    let w = enc.withdrawal(5);
    let mut want = header(48, 5, 1, 7);
    want.extend_from_slice(&[0, 2, 0, 12, 1, 0, 0, 0, 1, 1, 0, 0]);
    want.extend_from_slice(&[0, 3, 0, 10, 1, 2, 0, 0, 0, 0]);
    want.extend_from_slice(&[0, 3, 0, 10, 1, 3, 0, 0, 0, 0]);
    assert_eq!(w, want);
    assert_eq!(enc.sequence(), 1);
    session.decode(&w).unwrap();
    for id in [256, 257, 258, 259] {
        assert!(session.template(7, id).is_none(), "{id} withdrawn");
    }
}

fn seq_of_header(msg: &[u8]) -> u32 {
    u32::from_be_bytes([msg[8], msg[9], msg[10], msg[11]])
}

#[test]
fn records_of_several_pods_in_one_batch_each_carry_their_own_pod() {
    // The pod's fields are written once per run of records of one pod and copied: runs
    // that alternate, and two pods equal in content but distinct, must each come out right.
    let a = pod();
    let b = PodIdentity {
        pod_name: "cart-5b2c".into(),
        node_ip: Some(v6("fd00::5")),
        labels_json: r#"{"app":"cart"}"#.into(),
        ..pod()
    };
    let a_again = pod();
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), 6, 40000, 80);
    let pods = [&a, &a, &b, &a, &b, &b, &a_again];
    let recs: Vec<ExportRecord<'_>> = pods.iter().map(|p| record(&f, p)).collect();
    let mut enc = Encoder::new(opts(true, false, 65000));
    let mut session = Session::new(PEN);
    session.decode(&templates(&mut enc, 10)).unwrap();
    let msgs = bytes(enc.records(&recs, 11));
    let decoded: Vec<_> = msgs
        .iter()
        .flat_map(|m| session.decode(m).unwrap().records)
        .collect();
    assert_eq!(decoded.len(), pods.len());
    for (d, p) in decoded.iter().zip(pods) {
        assert_eq!(
            d.get("k8sPodName"),
            Some(&Value::String(p.pod_name.clone()))
        );
        assert_eq!(
            d.get("k8sPodLabels"),
            Some(&Value::String(p.labels_json.clone()))
        );
        let (v4_node, v6_node) = match p.node_ip {
            Some(IpAddr::V4(a)) => (IpAddr::V4(a), IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
            Some(IpAddr::V6(a)) => (IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), IpAddr::V6(a)),
            None => unreachable!(),
        };
        assert_eq!(d.get_ip("k8sNodeIPv4Address"), Some(v4_node));
        assert_eq!(d.get_ip("k8sNodeIPv6Address"), Some(v6_node));
        // The fields after the pod's run are the record's own.
        assert_eq!(d.get_u64("k8sObservationPoint"), Some(1));
    }
}
