//! podflow's flow records (the JSON lines of `podflow collect`) held against tshark's
//! conversations: which groups of fields a record carries, and their values.
//!
//! What counts, per end of a conversation (tshark 4.0):
//! - retransmitted: frames with `tcp.analysis.retransmission`, which tshark 4.0 also sets
//!   on a `fast_retransmission` and a `spurious_retransmission`; their octets are the
//!   frames' `ip.len`;
//! - out of order: frames with `tcp.analysis.out_of_order` (a frame tshark calls so is
//!   not also a retransmission), both ends together;
//! - zero window: frames with `tcp.analysis.zero_window`, both ends together;
//! - handshake: SYN to SYN/ACK (server network delay) and SYN/ACK to the ACK that
//!   completes it (client network delay) from the frames' times, their sum against
//!   `tcp.analysis.initial_rtt`;
//! - response time: the first frame with payload from the client to the first with
//!   payload from the server after it (TCP); `dns.time` of the answer (DNS).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::Value;

use super::oracle::{Conversation, End};

/// Keys of the groups of fields (the shared element list), by group.
pub const HANDSHAKE: &[&str] = &[
    "npmRoundTripTime",
    "npmClientNetworkDelay",
    "npmServerNetworkDelay",
];
pub const TCP: &[&str] = &[
    "npmServerResponseTime",
    "npmRetransmittedPackets",
    "npmClientRetransmittedPackets",
    "npmServerRetransmittedPackets",
    "npmClientRetransmittedOctets",
    "npmServerRetransmittedOctets",
    "npmOutOfOrderPackets",
    "npmZeroWindowEvents",
];
pub const DNS: &[&str] = &[
    "npmServerResponseTime",
    "dnsQueryName",
    "dnsQueryType",
    "dnsResponseCode",
    "dnsAnswerCount",
    "dnsFlags",
    "dnsTransactionId",
];
pub const HTTP: &[&str] = &["httpHost", "httpMethod", "httpPath", "httpStatusCode"];
pub const TLS: &[&str] = &[
    "tlsServerName",
    "tlsVersion",
    "tlsClientVersion",
    "tlsAlpn",
    "tlsJa4",
    "tlsJa3",
];

/// Microseconds two captures of the same packets may disagree by: each has its own
/// timestamps.
pub const TIME_SLACK_US: u64 = 1000;

/// What a conversation is, for the groups its record may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dns,
    Http,
    Tls,
    /// TCP whose payload is neither.
    Tcp,
    /// TCP the probe saw from its middle: no handshake.
    TcpMidway,
}

/// The keys of every group.
pub fn all_group_keys() -> BTreeSet<&'static str> {
    [HANDSHAKE, TCP, DNS, HTTP, TLS]
        .concat()
        .into_iter()
        .collect()
}

/// The group keys a record of `kind` carries with `flow.npm` and `flow.l7` so set.
pub fn expected_keys(kind: Kind, npm: bool, l7: bool) -> BTreeSet<&'static str> {
    let mut groups: Vec<&[&str]> = Vec::new();
    let tcp = kind != Kind::Dns;
    if npm && tcp && kind != Kind::TcpMidway {
        groups.push(HANDSHAKE);
    }
    if npm && tcp {
        groups.push(TCP);
    }
    if l7 {
        match kind {
            Kind::Dns => groups.push(DNS),
            Kind::Http => groups.push(HTTP),
            Kind::Tls => groups.push(TLS),
            Kind::Tcp | Kind::TcpMidway => {}
        }
    }
    groups.concat().into_iter().collect()
}

/// The group keys `record` carries.
pub fn group_keys(record: &Value) -> BTreeSet<&'static str> {
    all_group_keys()
        .into_iter()
        .filter(|k| record.get(*k).is_some())
        .collect()
}

/// The two ends of a record: source, destination.
fn ends(r: &Value) -> Option<(End, End)> {
    let ip = |k: &str| r[k].as_str()?.parse::<IpAddr>().ok();
    let port = |k: &str| Some(r[k].as_u64()? as u16);
    Some((
        (ip("sourceIPv4Address")?, port("sourceTransportPort")?),
        (
            ip("destinationIPv4Address")?,
            port("destinationTransportPort")?,
        ),
    ))
}

/// The flow record of the conversation between `a` and `b`: exactly one.
pub fn record_of<'a>(records: &'a [Value], what: &str, a: End, b: End) -> &'a Value {
    let mine: Vec<&Value> = records
        .iter()
        .filter(|r| ends(r).is_some_and(|e| e == (a, b) || e == (b, a)))
        .collect();
    assert_eq!(mine.len(), 1, "{what}: {mine:?}");
    mine[0]
}

/// The packets each end sent, as the record counts them and as tshark does.
pub fn check_counts(record: &Value, c: &Conversation, what: &str) {
    let (source, destination) = ends(record).unwrap();
    assert_eq!(
        (
            record["packetDeltaCount"].as_u64(),
            record["reversePacketDeltaCount"].as_u64().or(Some(0))
        ),
        (
            Some(c.sent_by(source).packets),
            Some(c.sent_by(destination).packets)
        ),
        "{what}: {record}"
    );
}

fn u(record: &Value, key: &str) -> u64 {
    record[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is no number: {record}"))
}

fn s<'a>(record: &'a Value, key: &str) -> &'a str {
    record[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is no string: {record}"))
}

fn near(record: &Value, key: &str, want_us: u64, what: &str, c: &Conversation) {
    let got = u(record, key);
    assert!(
        got.abs_diff(want_us) <= TIME_SLACK_US,
        "{what}: {key} {got} us, tshark {want_us} us\n{c}\n{record}"
    );
}

/// The values of the groups `record` carries against what tshark says of `c`.
pub fn check_fields(record: &Value, c: &Conversation, what: &str) {
    let (client, server) = ends(record).unwrap();
    let keys = group_keys(record);
    let has = |group: &[&str]| group.iter().all(|k| keys.contains(k));
    if has(HANDSHAKE) {
        // The initiator is the client of the handshake.
        assert_eq!(client, c.initiator, "{what}: {record}");
        let h = c.handshake.unwrap();
        near(
            record,
            "npmServerNetworkDelay",
            h.server_delay_us(),
            what,
            c,
        );
        near(
            record,
            "npmClientNetworkDelay",
            h.client_delay_us(),
            what,
            c,
        );
        near(record, "npmRoundTripTime", h.initial_rtt_us, what, c);
        let sum = u(record, "npmClientNetworkDelay") + u(record, "npmServerNetworkDelay");
        assert!(
            u(record, "npmRoundTripTime").abs_diff(sum) <= 1,
            "{what}: the round trip is the sum of the delays: {record}"
        );
    }
    if has(TCP) {
        let (sent, got) = (c.sent_by(client), c.sent_by(server));
        let all = |f: fn(&super::oracle::Sent) -> u64| f(&sent) + f(&got);
        assert_eq!(
            [
                "npmClientRetransmittedPackets",
                "npmServerRetransmittedPackets",
                "npmRetransmittedPackets",
                "npmClientRetransmittedOctets",
                "npmServerRetransmittedOctets",
                "npmOutOfOrderPackets",
                "npmZeroWindowEvents",
            ]
            .map(|k| u(record, k)),
            [
                sent.retransmission,
                got.retransmission,
                all(|s| s.retransmission),
                sent.retransmission_octets,
                got.retransmission_octets,
                all(|s| s.out_of_order),
                all(|s| s.zero_window),
            ],
            "{what}: retransmitted (client, server, both), their octets (client, server), \
             out of order, zero window\n{c}\n{record}"
        );
        near(
            record,
            "npmServerResponseTime",
            c.response_time_us(client),
            what,
            c,
        );
    }
    if has(DNS) {
        let d = c.dns.clone().unwrap();
        assert_eq!(
            (
                s(record, "dnsQueryName"),
                u(record, "dnsQueryType"),
                u(record, "dnsResponseCode"),
                u(record, "dnsAnswerCount"),
                u(record, "dnsFlags"),
                u(record, "dnsTransactionId"),
            ),
            (
                d.name.as_str(),
                u64::from(d.qtype),
                u64::from(d.rcode.unwrap_or(0)),
                u64::from(d.answers.unwrap_or(0)),
                u64::from(d.flags),
                u64::from(d.id),
            ),
            "{what}: {record}"
        );
        near(record, "npmServerResponseTime", d.time_us.unwrap(), what, c);
    }
    if has(HTTP) {
        let h = c.http.clone().unwrap();
        assert_eq!(
            (
                s(record, "httpHost"),
                s(record, "httpMethod"),
                s(record, "httpPath"),
                u(record, "httpStatusCode"),
            ),
            (
                h.host.as_str(),
                h.method.as_str(),
                h.uri.as_str(),
                u64::from(h.status.unwrap_or(0)),
            ),
            "{what}: {record}"
        );
    }
    if has(TLS) {
        let t = c.tls.clone().unwrap();
        assert_eq!(
            (
                s(record, "tlsServerName"),
                u(record, "tlsVersion"),
                u(record, "tlsClientVersion"),
                s(record, "tlsAlpn"),
                s(record, "tlsJa4"),
                s(record, "tlsJa3"),
            ),
            (
                t.server_name.as_deref().unwrap_or(""),
                u64::from(t.version.unwrap_or(0)),
                u64::from(t.client_version),
                t.alpn.join(",").as_str(),
                t.ja4.as_str(),
                t.ja3.as_str(),
            ),
            "{what}: {record}"
        );
    }
}
