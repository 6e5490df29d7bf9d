//! The sample capture through the real binary: what comes out must match its ground truth
//! exactly, through the IPFIX file export and the JSON output alike.

mod common;

use std::collections::BTreeMap;

use common::*;
use podflow::ipfix::DataRecord;

const HUGE: &str = "1000000";

fn ipfix_of_sample(extra: &[(&str, &str)]) -> (Vec<podflow::ipfix::Message>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flows.ipfix");
    let collector = format!("file:{}", out.display());
    let mut env = vec![
        ("PODFLOW_EXPORT__COLLECTOR", collector.as_str()),
        ("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", HUGE),
        ("PODFLOW_FLOW__ACTIVE_TIMEOUT_SECS", HUGE),
    ];
    env.extend_from_slice(extra);
    meter(&fixture("sample-1k.pcap"), &env);
    (read_ipfix_file(&out), dir)
}

fn truth_u64(key: &str) -> u64 {
    truth()[key].as_u64().unwrap()
}

fn truth_ip_packets() -> u64 {
    truth()["ip_packets_by_proto"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

#[test]
fn biflows_match_the_truth() {
    let (msgs, _dir) = ipfix_of_sample(&[]);
    let flows = flow_records(&msgs);
    assert_eq!(flows.len() as u64, truth_u64("bi_flows"));
    assert_eq!(flows.len(), 101);
    assert_eq!(total(&flows, "PacketDeltaCount"), truth_ip_packets());
    assert_eq!(total(&flows, "PacketDeltaCount"), 1110);
    assert_eq!(
        total(&flows, "OctetDeltaCount"),
        truth_u64("ip_bytes_total")
    );
    assert_eq!(total(&flows, "OctetDeltaCount"), 735_719);
    // Every connection answered by the other side is one record with both directions.
    assert!(flows
        .iter()
        .any(|r| r.get_u64("reversePacketDeltaCount").unwrap() > 0));
}

#[test]
fn uniflows_match_the_truth() {
    let (msgs, _dir) = ipfix_of_sample(&[("PODFLOW_FLOW__BIFLOW", "false")]);
    let flows = flow_records(&msgs);
    assert_eq!(flows.len() as u64, truth_u64("uni_flows_5tuple"));
    assert_eq!(flows.len(), 196);
    assert!(flows
        .iter()
        .all(|r| r.get("reversePacketDeltaCount").is_none()));
    assert_eq!(total(&flows, "PacketDeltaCount"), 1110);
    assert_eq!(total(&flows, "OctetDeltaCount"), 735_719);

    let mut by_proto: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &flows {
        let name = match r.get_u64("protocolIdentifier").unwrap() {
            1 => "icmp",
            6 => "tcp",
            17 => "udp",
            58 => "icmp6",
            other => panic!("unexpected protocol {other}"),
        };
        *by_proto.entry(name).or_default() += 1;
    }
    for (proto, n) in truth()["uni_flows_by_proto"].as_object().unwrap() {
        assert_eq!(
            by_proto[proto.as_str()],
            n.as_u64().unwrap(),
            "{proto} flows"
        );
    }
    let v6 = flows
        .iter()
        .filter(|r| r.get("sourceIPv6Address").is_some())
        .count();
    assert_eq!(v6 as u64, truth_u64("ipv6_uni_flows"));
}

#[test]
fn short_timeouts_split_flows_but_keep_every_packet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flows.ipfix");
    let collector = format!("file:{}", out.display());
    meter(
        &fixture("sample-1k.pcap"),
        &[
            ("PODFLOW_EXPORT__COLLECTOR", &collector),
            ("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "2"),
            ("PODFLOW_FLOW__ACTIVE_TIMEOUT_SECS", "2"),
        ],
    );
    let flows = flow_records(&read_ipfix_file(&out));
    assert!(flows.len() > 101, "only {} records", flows.len());
    assert_eq!(total(&flows, "PacketDeltaCount"), 1110);
    assert_eq!(total(&flows, "OctetDeltaCount"), 735_719);
    let reasons: Vec<u64> = flows
        .iter()
        .map(|r| r.get_u64("flowEndReason").unwrap())
        .collect();
    for reason in [1, 2, 3] {
        assert!(
            reasons.contains(&reason),
            "no record ended with reason {reason}"
        );
    }
    // Packet time drives the clock: pieces of a flow never span more than the active timeout.
    for r in &flows {
        let span =
            r.get_u64("flowEndMilliseconds").unwrap() - r.get_u64("flowStartMilliseconds").unwrap();
        assert!(span <= 2000, "a record spans {span} ms");
    }
}

#[test]
fn kubernetes_fields_and_sequence_numbers() {
    let labels = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(labels.path(), "app=\"shop\"\ntier=\"web\"\n").unwrap();
    let annotations = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(annotations.path(), "team=\"payments\"\n").unwrap();
    let (msgs, _dir) = ipfix_of_sample(&[
        ("PODFLOW_K8S__POD_NAME", "shop-web-7c9d8f6b5-x2x9k"),
        ("PODFLOW_K8S__POD_NAMESPACE", "shop"),
        ("PODFLOW_K8S__NODE_NAME", "node-1"),
        ("PODFLOW_K8S__NODE_IP", "192.168.1.10"),
        ("PODFLOW_K8S__WORKLOAD_NAME", "shop-web"),
        ("PODFLOW_K8S__WORKLOAD_KIND", "Deployment"),
        ("PODFLOW_K8S__POD_UID", "0b1c6f3e-1111"),
        ("PODFLOW_K8S__CLUSTER_NAME", "prod-eu-1"),
        ("PODFLOW_K8S__LABELS_FILE", labels.path().to_str().unwrap()),
        (
            "PODFLOW_K8S__ANNOTATIONS_FILE",
            annotations.path().to_str().unwrap(),
        ),
        ("PODFLOW_IPFIX__OBSERVATION_DOMAIN_ID", "77"),
    ]);
    let flows = flow_records(&msgs);
    assert_eq!(flows.len(), 101);
    for r in &flows {
        assert_eq!(r.get_str("k8sPodName"), Some("shop-web-7c9d8f6b5-x2x9k"));
        assert_eq!(r.get_str("k8sPodNamespace"), Some("shop"));
        assert_eq!(r.get_str("k8sNodeName"), Some("node-1"));
        assert_eq!(
            r.get_ip("k8sNodeIPv4Address"),
            Some("192.168.1.10".parse().unwrap())
        );
        assert_eq!(r.get_str("k8sWorkloadName"), Some("shop-web"));
        assert_eq!(r.get_str("k8sWorkloadKind"), Some("Deployment"));
        assert_eq!(r.get_str("k8sPodUid"), Some("0b1c6f3e-1111"));
        assert_eq!(r.get_str("k8sClusterName"), Some("prod-eu-1"));
        assert_eq!(
            r.get_str("k8sPodLabels"),
            Some(r#"{"app":"shop","tier":"web"}"#)
        );
        assert_eq!(
            r.get_str("k8sPodAnnotations"),
            Some(r#"{"team":"payments"}"#)
        );
        assert_eq!(r.get_u64("k8sObservationPoint"), Some(1));
    }
    // Sequence number = data records (options records included) sent before the message.
    let mut sent = 0u32;
    for m in &msgs {
        assert_eq!(m.header.observation_domain_id, 77);
        assert_eq!(m.header.sequence, sent, "sequence number of a message");
        sent += m.records.len() as u32;
    }
    // Options records: at start and at the end; the last one counts everything.
    let options: Vec<&DataRecord> = msgs
        .iter()
        .flat_map(|m| &m.records)
        .filter(|r| r.is_options())
        .collect();
    assert!(options.len() >= 2);
    let last = options.last().unwrap();
    assert_eq!(last.get_u64("exportedFlowRecordTotalCount"), Some(101));
    assert_eq!(last.get_u64("observedFlowTotalCount"), Some(101));
    assert_eq!(
        last.get_u64("ignoredPacketTotalCount"),
        Some(truth_u64("non_ip_frames"))
    );
    assert_eq!(last.get_u64("notSentFlowTotalCount"), Some(0));
}

#[test]
fn json_lines_carry_the_same_records_as_ipfix() {
    let (msgs, _dir) = ipfix_of_sample(&[]);
    let out = meter(
        &fixture("sample-1k.pcap"),
        &[
            ("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", HUGE),
            ("PODFLOW_FLOW__ACTIVE_TIMEOUT_SECS", HUGE),
        ],
    );
    let json: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let key_of_json = |v: &serde_json::Value| -> String {
        let src = v
            .get("sourceIPv4Address")
            .or(v.get("sourceIPv6Address"))
            .unwrap();
        let dst = v
            .get("destinationIPv4Address")
            .or(v.get("destinationIPv6Address"))
            .unwrap();
        format!(
            "{} {} {} {} {} {} {} {} {} {}",
            src.as_str().unwrap(),
            dst.as_str().unwrap(),
            v["protocolIdentifier"],
            v["sourceTransportPort"],
            v["destinationTransportPort"],
            v["flowStartMilliseconds"],
            v["packetDeltaCount"],
            v["octetDeltaCount"],
            v["reversePacketDeltaCount"],
            v["flowEndReason"],
        )
    };
    let key_of_ipfix = |r: &DataRecord| -> String {
        let src = r
            .get_ip("sourceIPv4Address")
            .or(r.get_ip("sourceIPv6Address"))
            .unwrap();
        let dst = r
            .get_ip("destinationIPv4Address")
            .or(r.get_ip("destinationIPv6Address"))
            .unwrap();
        let n = |name: &str| r.get_u64(name).unwrap();
        format!(
            "{src} {dst} {} {} {} {} {} {} {} {}",
            n("protocolIdentifier"),
            n("sourceTransportPort"),
            n("destinationTransportPort"),
            n("flowStartMilliseconds"),
            n("packetDeltaCount"),
            n("octetDeltaCount"),
            n("reversePacketDeltaCount"),
            n("flowEndReason"),
        )
    };
    let mut a: Vec<String> = json.iter().map(key_of_json).collect();
    let mut b: Vec<String> = flow_records(&msgs).iter().map(key_of_ipfix).collect();
    a.sort();
    b.sort();
    assert_eq!(a.len(), 101);
    assert_eq!(a, b);
}

#[test]
fn a_full_table_ends_flows_early_and_counts_them() {
    let (msgs, _dir) = ipfix_of_sample(&[("PODFLOW_FLOW__MAX_FLOWS", "8")]);
    let flows = flow_records(&msgs);
    let early = flows
        .iter()
        .filter(|r| r.get_u64("flowEndReason") == Some(5))
        .count();
    assert!(early > 0, "no record ended for lack of resources");
    // Ending early splits flows but loses no packet.
    assert_eq!(total(&flows, "PacketDeltaCount"), 1110);
    assert_eq!(total(&flows, "OctetDeltaCount"), 735_719);
}

#[test]
fn json_keys_are_the_names_of_the_ipfix_elements() {
    let node = ("PODFLOW_K8S__NODE_IP", "10.1.2.3");
    let (_, dir) = ipfix_of_sample(&[node]);
    let collected = podflow()
        .args(["collect", "-f"])
        .arg(dir.path().join("flows.ipfix"))
        .output()
        .unwrap();
    assert_success(&collected);
    let printed = meter(
        &fixture("sample-1k.pcap"),
        &[
            node,
            ("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", HUGE),
            ("PODFLOW_FLOW__ACTIVE_TIMEOUT_SECS", HUGE),
        ],
    );
    let records = |stdout: &[u8]| -> Vec<serde_json::Map<String, serde_json::Value>> {
        String::from_utf8_lossy(stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter_map(|v| v.as_object().cloned())
            .filter(|v| v.contains_key("flowEndReason"))
            .collect()
    };
    let (decoded, json) = (records(&collected.stdout), records(&printed.stdout));
    assert_eq!(json.len(), decoded.len());
    // Each flow's JSON line has the keys its decoded record has names, and no other.
    let names = |r: &serde_json::Map<String, serde_json::Value>| -> Vec<String> {
        // What `collect` adds of the message a record came in.
        let message = ["exporter", "observationDomainId", "sequence", "templateId"];
        let mut names: Vec<String> = r
            .keys()
            .filter(|k| !message.contains(&k.as_str()))
            .cloned()
            .collect();
        names.sort();
        names
    };
    let flow = |r: &serde_json::Map<String, serde_json::Value>| {
        let of = |a: &str, b: &str| r.get(a).or(r.get(b)).unwrap().to_string();
        [
            of("sourceIPv4Address", "sourceIPv6Address"),
            of("destinationIPv4Address", "destinationIPv6Address"),
            of("sourceTransportPort", "sourceTransportPort"),
            of("destinationTransportPort", "destinationTransportPort"),
            of("protocolIdentifier", "protocolIdentifier"),
            of("flowStartMilliseconds", "flowStartMilliseconds"),
        ]
    };
    let by_flow: std::collections::HashMap<_, _> =
        decoded.iter().map(|r| (flow(r), names(r))).collect();
    assert_eq!(by_flow.len(), decoded.len(), "flows are told apart");
    for line in &json {
        assert_eq!(Some(&names(line)), by_flow.get(&flow(line)), "{line:?}");
        assert_eq!(line["k8sNodeIPv4Address"], "10.1.2.3");
        assert_eq!(line["k8sNodeIPv6Address"], "::");
    }
    assert!(json.iter().any(|l| l.contains_key("npmRoundTripTime")));
}
