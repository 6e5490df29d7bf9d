//! What tcpdump saw on the wire, per 5-tuple and direction, and the records of one
//! conversation, to compare the two.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use podflow::ipfix::DataRecord;

use crate::common::assert_success;

/// Source, destination, protocol, source port, destination port (type*256+code for ICMP).
pub type Key = (IpAddr, IpAddr, u8, u16, u16);

/// Per-direction packets and IP bytes of a 5-tuple, as tcpdump saw them on the wire.
pub type Truth = HashMap<Key, (u64, u64)>;

pub fn truth_from_pcap(pcap: &Path) -> Truth {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-E", "separator=,", "-E", "occurrence=f"])
        .args([
            "-e", "ip.src", "-e", "ip.dst", "-e", "ip.proto", "-e", "ip.len",
        ])
        .args([
            "-e",
            "ipv6.src",
            "-e",
            "ipv6.dst",
            "-e",
            "ipv6.nxt",
            "-e",
            "ipv6.plen",
        ])
        .args([
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.dstport",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
        ])
        .args([
            "-e",
            "icmp.type",
            "-e",
            "icmp.code",
            "-e",
            "icmpv6.type",
            "-e",
            "icmpv6.code",
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let mut truth = Truth::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(',').collect();
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
        let (src, dst, proto, octets) = if !f[0].is_empty() {
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                n(2).unwrap() as u8,
                n(3).unwrap(),
            )
        } else if !f[4].is_empty() {
            (
                f[4].parse().unwrap(),
                f[5].parse().unwrap(),
                n(6).unwrap() as u8,
                40 + n(7).unwrap(),
            )
        } else {
            continue; // ARP
        };
        let (sp, dp) = match proto {
            6 => (n(8).unwrap(), n(9).unwrap()),
            17 => (n(10).unwrap(), n(11).unwrap()),
            1 => (0, n(12).unwrap() * 256 + n(13).unwrap()),
            58 => (0, n(14).unwrap() * 256 + n(15).unwrap()),
            _ => (0, 0),
        };
        let e = truth
            .entry((src, dst, proto, sp as u16, dp as u16))
            .or_default();
        e.0 += 1;
        e.1 += octets;
    }
    truth
}

fn addr(r: &DataRecord, v4: &str, v6: &str) -> IpAddr {
    r.get_ip(v4).or_else(|| r.get_ip(v6)).unwrap()
}

/// The records of one conversation (initiator first), pieces summed: (fwd pkts, fwd bytes,
/// rev pkts, rev bytes, the records).
pub fn records_of(records: &[DataRecord], key: Key) -> (u64, u64, u64, u64, Vec<&DataRecord>) {
    let (src, dst, proto, sport, dport) = key;
    let mine: Vec<&DataRecord> = records
        .iter()
        .filter(|r| {
            addr(r, "sourceIPv4Address", "sourceIPv6Address") == src
                && addr(r, "destinationIPv4Address", "destinationIPv6Address") == dst
                && r.get_u64("protocolIdentifier") == Some(proto.into())
                && r.get_u64("sourceTransportPort") == Some(sport.into())
                && (r.get_u64("destinationTransportPort") == Some(dport.into())
                    || r.get_u64("icmpTypeCodeIPv4") == Some(dport.into())
                    || r.get_u64("icmpTypeCodeIPv6") == Some(dport.into()))
        })
        .collect();
    let sum = |name: &str| {
        mine.iter()
            .map(|r| r.get_u64(name).unwrap_or(0))
            .sum::<u64>()
    };
    (
        sum("packetDeltaCount"),
        sum("octetDeltaCount"),
        sum("reversePacketDeltaCount"),
        sum("reverseOctetDeltaCount"),
        mine,
    )
}
