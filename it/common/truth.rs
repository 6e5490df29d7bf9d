//! The ground truth of a capture: per direction of each 5-tuple, the packets and IP bytes
//! tcpdump wrote to a pcap file (read back with tshark), and the same sums made of flow
//! records, so that the two compare with `==`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use podflow::ipfix::DataRecord;

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
    assert!(
        out.status.success(),
        "tshark -r {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
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

/// An address element of a record, IPv4 or IPv6.
pub fn addr(r: &DataRecord, v4: &str, v6: &str) -> IpAddr {
    r.get_ip(v4).or_else(|| r.get_ip(v6)).unwrap()
}

/// The 5-tuple of a record as [`truth_from_pcap`] keys packets: an ICMP flow's type and
/// code as its destination port, its source port 0.
pub fn key_of(r: &DataRecord) -> Key {
    let proto = r.get_u64("protocolIdentifier").unwrap() as u8;
    let port = |name: &str| r.get_u64(name).unwrap_or(0) as u16;
    let (sport, dport) = match proto {
        1 | 58 => (
            0,
            r.get_u64("icmpTypeCodeIPv4")
                .or_else(|| r.get_u64("icmpTypeCodeIPv6"))
                .map_or_else(|| port("destinationTransportPort"), |t| t as u16),
        ),
        _ => (
            port("sourceTransportPort"),
            port("destinationTransportPort"),
        ),
    };
    (
        addr(r, "sourceIPv4Address", "sourceIPv6Address"),
        addr(r, "destinationIPv4Address", "destinationIPv6Address"),
        proto,
        sport,
        dport,
    )
}

/// The records' packets and bytes per direction, keyed as [`truth_from_pcap`] keys them:
/// a biflow's reverse counts under the reversed 5-tuple. Directions without packets are
/// left out.
pub fn per_direction<'a>(records: impl IntoIterator<Item = &'a DataRecord>) -> Truth {
    let mut sums = Truth::new();
    for r in records {
        let (src, dst, proto, sport, dport) = key_of(r);
        let count = |packets: &str, octets: &str| {
            (
                r.get_u64(packets).unwrap_or(0),
                r.get_u64(octets).unwrap_or(0),
            )
        };
        let directions = [
            (
                (src, dst, proto, sport, dport),
                count("packetDeltaCount", "octetDeltaCount"),
            ),
            (
                (dst, src, proto, dport, sport),
                count("reversePacketDeltaCount", "reverseOctetDeltaCount"),
            ),
        ];
        for (key, (packets, octets)) in directions {
            if packets > 0 {
                let e = sums.entry(key).or_default();
                e.0 += packets;
                e.1 += octets;
            }
        }
    }
    sums
}
