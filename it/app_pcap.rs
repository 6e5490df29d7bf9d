//! Network performance and application identity of a real capture (curl over HTTP and
//! HTTPS to local servers, dig to dnsmasq, on loopback), read by the real binary and
//! checked field by field against tshark's own dissection of the same file.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use podflow::ipfix::{DataRecord, Value};

const CAPTURE: &str = "app-loopback.pcap";

/// tshark's fields of every frame of the capture, by name.
fn tshark_frames(fields: &[&str]) -> Vec<BTreeMap<String, String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(fixture(CAPTURE)).args([
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=f",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            fields
                .iter()
                .zip(line.split('|'))
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// What tshark says of each flow, keyed by the client's port: the first value of each
/// field seen in the flow.
fn tshark_flows() -> BTreeMap<u16, BTreeMap<String, String>> {
    let fields = [
        "frame.time_epoch",
        "tcp.srcport",
        "tcp.dstport",
        "udp.srcport",
        "udp.dstport",
        "tcp.flags",
        "tcp.analysis.initial_rtt",
        "tcp.analysis.retransmission",
        "http.host",
        "http.request.method",
        "http.request.uri",
        "http.response.code",
        "tls.handshake.extensions_server_name",
        "tls.handshake.ja3",
        "tls.handshake.extensions_alpn_str",
        "tls.handshake.extensions.supported_version",
        "dns.qry.name",
        "dns.qry.type",
        "dns.flags.rcode",
        "dns.count.answers",
        "dns.time",
        "dns.id",
    ];
    let mut flows: BTreeMap<u16, BTreeMap<String, String>> = BTreeMap::new();
    for frame in tshark_frames(&fields) {
        let port = |k: &str| frame.get(k).map(|p| p.parse::<u16>().unwrap());
        let (src, dst) = match (port("tcp.srcport"), port("udp.srcport")) {
            (Some(s), _) => (s, port("tcp.dstport").unwrap()),
            (None, Some(s)) => (s, port("udp.dstport").unwrap()),
            _ => continue,
        };
        // The client's port is the ephemeral one.
        let client = src.max(dst);
        let flow = flows.entry(client).or_default();
        let time = frame["frame.time_epoch"].clone();
        // The handshake's frame times, by flags.
        match frame.get("tcp.flags").map(String::as_str) {
            Some("0x0002") => {
                flow.insert("syn".into(), time.clone());
            }
            Some("0x0012") => {
                flow.insert("syn_ack".into(), time.clone());
            }
            Some("0x0010") if flow.contains_key("syn_ack") => {
                flow.entry("ack".into()).or_insert(time.clone());
            }
            _ => {}
        }
        for (k, v) in frame {
            if k == "dns.flags.rcode" || k == "dns.count.answers" {
                // The answer's, which comes after the question.
                flow.insert(k, v);
            } else if k == "tcp.analysis.retransmission" {
                *flow.entry("retransmissions".into()).or_default() += "x";
            } else {
                flow.entry(k).or_insert(v);
            }
        }
    }
    flows
}

/// Microseconds from `a` to `b`, two tshark epoch times with microsecond digits.
fn micros_between(a: &str, b: &str) -> u64 {
    let us = |t: &str| {
        let (s, frac) = t.split_once('.').unwrap();
        s.parse::<u64>().unwrap() * 1_000_000 + frac[..6].parse::<u64>().unwrap()
    };
    us(b) - us(a)
}

/// The flow records podflow exports of the capture with the settings `env`.
fn records_with(env: &[(&str, &str)]) -> Vec<DataRecord> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flows.ipfix");
    let collector = format!("file:{}", out.display());
    let mut env = env.to_vec();
    env.push(("PODFLOW_EXPORT__COLLECTOR", &collector));
    meter(&fixture(CAPTURE), &env);
    flow_records(&read_ipfix_file(&out))
}

/// podflow's records of the capture (IPFIX file, decoded), keyed by the client's port.
fn podflow_flows(element_ids: &str) -> BTreeMap<u16, DataRecord> {
    records_with(&[("PODFLOW_IPFIX__ELEMENT_IDS", element_ids)])
        .into_iter()
        .map(|r| {
            let client = r.get_u64("sourceTransportPort").unwrap() as u16;
            (client, r)
        })
        .collect()
}

fn check_against_tshark(element_ids: &str) {
    let ours = podflow_flows(element_ids);
    let theirs = tshark_flows();
    let mut seen = BTreeMap::<&str, usize>::new();
    for (client, t) in &theirs {
        let server = t
            .get("tcp.dstport")
            .or(t.get("udp.dstport"))
            .map(|p| p.parse::<u16>().unwrap())
            .unwrap();
        let Some(r) = ours.get(client) else {
            panic!("no record of the flow from port {client}");
        };
        let num = |k: &str| r.get_u64(k).unwrap_or_else(|| panic!("{k} missing: {r:?}"));
        let text = |k: &str| r.get_str(k).unwrap_or_else(|| panic!("{k} missing: {r:?}"));
        if t.contains_key("syn") {
            // The handshake, split at the probe: frame times as tshark reads them.
            let snd = micros_between(&t["syn"], &t["syn_ack"]);
            let cnd = micros_between(&t["syn_ack"], &t["ack"]);
            assert_eq!(num("npmServerNetworkDelay"), snd, "port {client}");
            assert_eq!(num("npmClientNetworkDelay"), cnd, "port {client}");
            assert_eq!(num("npmRoundTripTime"), snd + cnd, "port {client}");
            let irtt: f64 = t["tcp.analysis.initial_rtt"].parse().unwrap();
            assert_eq!(num("npmRoundTripTime"), (irtt * 1e6).round() as u64);
            let retransmitted = t.get("retransmissions").map_or(0, String::len) as u64;
            assert_eq!(num("npmRetransmittedPackets"), retransmitted);
            assert_eq!(num("npmOutOfOrderPackets"), 0);
            *seen.entry("tcp").or_default() += 1;
        }
        if let Some(host) = t.get("http.host") {
            assert_eq!(text("httpHost"), host);
            assert_eq!(text("httpMethod"), t["http.request.method"]);
            assert_eq!(text("httpPath"), t["http.request.uri"]);
            assert_eq!(num("httpStatusCode").to_string(), t["http.response.code"]);
            *seen.entry("http").or_default() += 1;
        }
        if let Some(sni) = t.get("tls.handshake.extensions_server_name") {
            assert_eq!(text("tlsServerName"), sni);
            // A string of hex digits, or (Flowmon's element) the digest's 16 bytes.
            let ja3 = match r.get("tlsJa3") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bytes(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
                other => panic!("tlsJa3: {other:?}"),
            };
            assert_eq!(ja3, t["tls.handshake.ja3"]);
            // tshark gives the first ALPN protocol offered; podflow all of them, in order.
            let alpn = text("tlsAlpn");
            assert!(alpn.starts_with(&format!("{},", t["tls.handshake.extensions_alpn_str"])));
            assert_eq!(num("tlsClientVersion"), 0x0304);
            assert_eq!(num("tlsVersion"), 0x0304, "the ServerHello chose TLS 1.3");
            assert!(text("tlsJa4").starts_with("t13d"), "{}", text("tlsJa4"));
            *seen.entry("tls").or_default() += 1;
        }
        if server == 53 {
            assert_eq!(text("dnsQueryName"), t["dns.qry.name"]);
            assert_eq!(num("dnsQueryType").to_string(), t["dns.qry.type"]);
            assert_eq!(num("dnsResponseCode").to_string(), t["dns.flags.rcode"]);
            assert_eq!(num("dnsAnswerCount").to_string(), t["dns.count.answers"]);
            let id = u64::from_str_radix(t["dns.id"].trim_start_matches("0x"), 16).unwrap();
            assert_eq!(num("dnsTransactionId"), id);
            let dns_time: f64 = t["dns.time"].parse().unwrap();
            assert_eq!(
                num("npmServerResponseTime"),
                (dns_time * 1e6).round() as u64
            );
            *seen.entry("dns").or_default() += 1;
        } else if server == 15353 {
            // DNS on another port is not read as DNS.
            assert!(r.get("dnsQueryName").is_none());
        }
    }
    assert_eq!(
        seen,
        BTreeMap::from([("dns", 2), ("http", 1), ("tcp", 2), ("tls", 1)]),
        "every kind of flow of the capture was checked"
    );
}

#[test]
fn application_fields_and_tcp_figures_equal_tsharks() {
    check_against_tshark("podflow");
}

#[test]
fn flowmon_ids_carry_the_same_values() {
    check_against_tshark("flowmon");
}

#[test]
fn with_both_off_no_record_has_the_new_fields() {
    let records = records_with(&[
        ("PODFLOW_FLOW__NPM", "false"),
        ("PODFLOW_FLOW__L7", "false"),
    ]);
    assert_eq!(records.len(), 5);
    for r in &records {
        assert!(r.template_id == 256 || r.template_id == 257, "{r:?}");
        for name in [
            "npmRoundTripTime",
            "dnsQueryName",
            "httpHost",
            "tlsServerName",
        ] {
            assert!(r.get(name).is_none(), "{name} in {r:?}");
        }
    }
}
