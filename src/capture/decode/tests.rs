//! Decoder tests on frames built field by field.

use super::*;
use crate::flow::tcp_flags::{ACK, SYN};

const SRC4: [u8; 4] = [10, 0, 0, 1];
const DST4: [u8; 4] = [192, 168, 1, 2];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

/// An IPv4 header field by field; `build` fills in the lengths.
struct V4 {
    tos: u8,
    id: u16,
    /// Flags and fragment offset (in 8-byte units) as in the header.
    frag: u16,
    proto: u8,
    options: Vec<u8>,
    /// Overrides the computed total length.
    total_len: Option<u16>,
}

impl V4 {
    fn new(proto: u8) -> V4 {
        V4 {
            tos: 0,
            id: 0x1234,
            frag: 0,
            proto,
            options: Vec::new(),
            total_len: None,
        }
    }

    fn build(&self, payload: &[u8]) -> Vec<u8> {
        let header_len = 20 + self.options.len();
        assert_eq!(header_len % 4, 0);
        let total = self
            .total_len
            .unwrap_or((header_len + payload.len()) as u16);
        let mut b = vec![0x40 | (header_len / 4) as u8, self.tos];
        b.extend(be16(total));
        b.extend(be16(self.id));
        b.extend(be16(self.frag));
        b.extend([64, self.proto, 0, 0]);
        b.extend(SRC4);
        b.extend(DST4);
        b.extend(&self.options);
        b.extend(payload);
        b
    }
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    V4::new(proto).build(payload)
}

fn ipv6_tc(next: u8, traffic_class: u8, payload: &[u8]) -> Vec<u8> {
    let word = 0x6000_0000u32 | (u32::from(traffic_class) << 20) | 0xbeef;
    let mut b = word.to_be_bytes().to_vec();
    b.extend(be16(payload.len() as u16));
    b.extend([next, 64]);
    b.extend(SRC6);
    b.extend(DST6);
    b.extend(payload);
    b
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_tc(next, 0, payload)
}

/// An options-style extension header (hop-by-hop, destination options, routing) of
/// `(units + 1) * 8` bytes in front of `rest`.
fn ext(next: u8, units: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![next, units];
    b.resize((usize::from(units) + 1) * 8, 0);
    b.extend(rest);
    b
}

fn frag6(next: u8, offset: u16, more: bool, id: u32, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![next, 0];
    b.extend(be16(offset << 3 | u16::from(more)));
    b.extend(id.to_be_bytes());
    b.extend(rest);
    b
}

fn tcp(sport: u16, dport: u16, flags: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(be16(sport));
    b.extend(be16(dport));
    b.extend([0; 8]);
    b.extend(be16(0x5000 | flags));
    b.extend([0xff, 0xff, 0, 0, 0, 0]);
    b
}

fn ports(sport: u16, dport: u16, body: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(be16(sport));
    b.extend(be16(dport));
    b.resize(8 + body, 0xaa);
    b
}

fn icmp(kind: u8, code: u8) -> Vec<u8> {
    vec![kind, code, 0, 0, 0, 1, 0, 1]
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    b.extend(be16(ethertype));
    b.extend(payload);
    b
}

/// A VLAN tag (TPID is the ethertype in front of it) followed by the inner ethertype.
fn tag(vid: u16, inner: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = be16(0x2000 | vid).to_vec();
    b.extend(be16(inner));
    b.extend(payload);
    b
}

fn sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    b.extend(be16(protocol));
    b.extend(payload);
    b
}

fn sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = be16(protocol).to_vec();
    b.extend([0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    b.extend(payload);
    b
}

fn family(bytes: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b.extend(payload);
    b
}

fn ok(link: LinkType, frame: &[u8]) -> Packet {
    decode(link, frame).expect("frame decodes")
}

fn v4_addr(a: [u8; 4]) -> u128 {
    u128::from(u32::from_be_bytes(a))
}

#[test]
fn link_type_numbers() {
    let cases = [
        (0, LinkType::Null),
        (1, LinkType::Ethernet),
        (12, LinkType::RawIp),
        (14, LinkType::RawIp),
        (101, LinkType::RawIp),
        (108, LinkType::Loop),
        (113, LinkType::LinuxSll),
        (228, LinkType::RawIpv4),
        (229, LinkType::RawIpv6),
        (276, LinkType::LinuxSll2),
    ];
    for (n, link) in cases {
        assert_eq!(LinkType::from_pcap(n), Some(link), "linktype {n}");
    }
    for n in [2, 105, 127, 147, 0xffff_ffff] {
        assert_eq!(LinkType::from_pcap(n), None, "linktype {n}");
    }
}

#[test]
fn ethernet_ipv4_tcp() {
    let mut v4 = V4::new(PROTO_TCP);
    v4.tos = 0xb8;
    let frame = eth(0x0800, &v4.build(&tcp(43210, 443, SYN | ACK)));
    let p = ok(LinkType::Ethernet, &frame);
    assert_eq!(
        p.key,
        FlowKey {
            src: v4_addr(SRC4),
            dst: v4_addr(DST4),
            src_port: 43210,
            dst_port: 443,
            vlan: 0,
            point: 0,
            proto: PROTO_TCP,
            ipv6: false,
        }
    );
    assert_eq!(p.octets, 40);
    assert_eq!(p.tcp_flags, SYN | ACK);
    assert_eq!(p.tos, 0xb8);
    assert_eq!(p.fragment, Fragment::Whole);
}

#[test]
fn tcp_flags_keep_nine_bits() {
    let frame = ipv4(PROTO_TCP, &tcp(1, 2, 0x1ff));
    assert_eq!(ok(LinkType::RawIpv4, &frame).tcp_flags, 0x1ff);
}

#[test]
fn ethernet_ipv6_udp() {
    let frame = eth(0x86dd, &ipv6_tc(PROTO_UDP, 0x2e, &ports(5353, 53, 12)));
    let p = ok(LinkType::Ethernet, &frame);
    assert!(p.key.ipv6);
    assert_eq!(p.key.src, u128::from_be_bytes(SRC6));
    assert_eq!(p.key.dst, u128::from_be_bytes(DST6));
    assert_eq!((p.key.src_port, p.key.dst_port), (5353, 53));
    assert_eq!(p.key.proto, PROTO_UDP);
    assert_eq!(p.octets, 40 + 20);
    assert_eq!(p.tos, 0x2e);
}

#[test]
fn cooked_and_raw_link_types() {
    let v4 = ipv4(PROTO_UDP, &ports(1000, 2000, 4));
    let v6 = ipv6(PROTO_UDP, &ports(1000, 2000, 4));
    let cases: Vec<(LinkType, Vec<u8>, bool)> = vec![
        (LinkType::LinuxSll, sll(0x0800, &v4), false),
        (LinkType::LinuxSll, sll(0x86dd, &v6), true),
        (LinkType::LinuxSll2, sll2(0x0800, &v4), false),
        (LinkType::LinuxSll2, sll2(0x86dd, &v6), true),
        (LinkType::RawIp, v4.clone(), false),
        (LinkType::RawIp, v6.clone(), true),
        (LinkType::RawIpv4, v4.clone(), false),
        (LinkType::RawIpv6, v6.clone(), true),
        (LinkType::Null, family(2u32.to_le_bytes(), &v4), false),
        (LinkType::Null, family(2u32.to_be_bytes(), &v4), false),
        (LinkType::Null, family(24u32.to_le_bytes(), &v6), true),
        (LinkType::Null, family(28u32.to_be_bytes(), &v6), true),
        (LinkType::Null, family(30u32.to_le_bytes(), &v6), true),
        (LinkType::Loop, family(2u32.to_be_bytes(), &v4), false),
        (LinkType::Loop, family(24u32.to_be_bytes(), &v6), true),
    ];
    for (link, frame, is_v6) in cases {
        let p = ok(link, &frame);
        assert_eq!(p.key.ipv6, is_v6, "{link:?}");
        assert_eq!(p.key.proto, PROTO_UDP, "{link:?}");
        assert_eq!((p.key.src_port, p.key.dst_port), (1000, 2000), "{link:?}");
        assert_eq!(p.octets, if is_v6 { 52 } else { 32 }, "{link:?}");
    }
}

#[test]
fn non_ip_frames() {
    let arp = vec![0u8; 28];
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x0806, &arp)),
        Err(Ignored::NotIp)
    );
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x88cc, &arp)),
        Err(Ignored::NotIp)
    );
    // 802.3 length field with LLC.
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x0030, &arp)),
        Err(Ignored::NotIp)
    );
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x8100, &tag(5, 0x0806, &arp))),
        Err(Ignored::NotIp)
    );
    assert_eq!(
        decode(LinkType::LinuxSll, &sll(0x0004, &arp)),
        Err(Ignored::NotIp)
    );
    assert_eq!(
        decode(LinkType::LinuxSll2, &sll2(0x0806, &arp)),
        Err(Ignored::NotIp)
    );
    assert_eq!(
        decode(LinkType::Null, &family(7u32.to_le_bytes(), &arp)),
        Err(Ignored::NotIp)
    );
    assert_eq!(
        decode(LinkType::Loop, &family(2u32.to_le_bytes(), &arp)),
        Err(Ignored::NotIp)
    );
}

#[test]
fn vlan_tags() {
    let ip = ipv4(PROTO_UDP, &ports(1, 2, 0));
    let single = eth(0x8100, &tag(100, 0x0800, &ip));
    assert_eq!(ok(LinkType::Ethernet, &single).key.vlan, 100);

    // QinQ: the service tag (outer) names the VLAN.
    let qinq = eth(0x88a8, &tag(300, 0x8100, &tag(42, 0x0800, &ip)));
    let p = ok(LinkType::Ethernet, &qinq);
    assert_eq!(p.key.vlan, 300);
    assert_eq!((p.key.src_port, p.key.dst_port), (1, 2));

    let triple = eth(
        0x9100,
        &tag(
            4095,
            0x88a8,
            &tag(7, 0x8100, &tag(8, 0x86dd, &ipv6(59, &[]))),
        ),
    );
    let p = ok(LinkType::Ethernet, &triple);
    assert_eq!(p.key.vlan, 4095);
    assert!(p.key.ipv6);

    // Priority bits are not part of the id.
    let mut prio = eth(0x8100, &tag(12, 0x0800, &ip));
    prio[14] |= 0xe0;
    assert_eq!(ok(LinkType::Ethernet, &prio).key.vlan, 12);

    assert_eq!(
        ok(LinkType::LinuxSll, &sll(0x8100, &tag(9, 0x0800, &ip)))
            .key
            .vlan,
        9
    );
    assert_eq!(
        ok(LinkType::LinuxSll2, &sll2(0x8100, &tag(10, 0x0800, &ip)))
            .key
            .vlan,
        10
    );
    assert_eq!(ok(LinkType::Ethernet, &eth(0x0800, &ip)).key.vlan, 0);
}

#[test]
fn ipv4_options_shift_the_transport_header() {
    for words in [1usize, 4, 10] {
        let mut v4 = V4::new(PROTO_TCP);
        v4.options = vec![1; words * 4];
        let frame = v4.build(&tcp(8080, 9090, SYN));
        let p = ok(LinkType::RawIpv4, &frame);
        assert_eq!(
            (p.key.src_port, p.key.dst_port),
            (8080, 9090),
            "{words} option words"
        );
        assert_eq!(p.tcp_flags, SYN);
        assert_eq!(p.octets as usize, frame.len());
    }
}

#[test]
fn ipv4_fragments() {
    let mut first = V4::new(PROTO_UDP);
    first.id = 0xabcd;
    first.frag = 0x2000;
    let p = ok(LinkType::RawIpv4, &first.build(&ports(4000, 4001, 1472)));
    assert_eq!(p.fragment, Fragment::First { id: 0xabcd });
    assert_eq!((p.key.src_port, p.key.dst_port), (4000, 4001));

    let mut later = V4::new(PROTO_UDP);
    later.id = 0xabcd;
    later.frag = 185;
    let p = ok(LinkType::RawIpv4, &later.build(&ports(0x1111, 0x2222, 100)));
    assert_eq!(p.fragment, Fragment::Later { id: 0xabcd });
    assert_eq!((p.key.src_port, p.key.dst_port), (0, 0));
    assert_eq!(p.key.proto, PROTO_UDP);
    assert_eq!(p.octets, 20 + 108);

    // A middle fragment (MF and an offset) is a later one.
    later.frag = 0x2000 | 185;
    let p = ok(LinkType::RawIpv4, &later.build(&[0; 16]));
    assert_eq!(p.fragment, Fragment::Later { id: 0xabcd });

    // DF alone is not fragmentation.
    let mut df = V4::new(PROTO_UDP);
    df.frag = 0x4000;
    assert_eq!(
        ok(LinkType::RawIpv4, &df.build(&ports(1, 2, 0))).fragment,
        Fragment::Whole
    );
}

#[test]
fn ipv6_extension_headers() {
    let udp = ports(547, 546, 30);
    let payload = ext(
        60,
        0,
        &ext(44, 2, &frag6(PROTO_UDP, 0, true, 0xdead_beef, &udp)),
    );
    let frame = eth(0x86dd, &ipv6(0, &payload));
    let p = ok(LinkType::Ethernet, &frame);
    assert_eq!(p.key.proto, PROTO_UDP);
    assert_eq!((p.key.src_port, p.key.dst_port), (547, 546));
    assert_eq!(p.fragment, Fragment::First { id: 0xdead_beef });
    assert_eq!(p.octets as usize, frame.len() - 14);

    let later = ipv6(
        0,
        &ext(44, 0, &frag6(PROTO_UDP, 181, false, 0xdead_beef, &[0; 64])),
    );
    let p = ok(LinkType::RawIpv6, &later);
    assert_eq!(p.fragment, Fragment::Later { id: 0xdead_beef });
    assert_eq!(p.key.proto, PROTO_UDP);
    assert_eq!((p.key.src_port, p.key.dst_port), (0, 0));

    // Offset 0 without M is an atomic fragment: whole.
    let atomic = ipv6(44, &frag6(PROTO_TCP, 0, false, 7, &tcp(1, 2, SYN)));
    let p = ok(LinkType::RawIpv6, &atomic);
    assert_eq!(p.fragment, Fragment::Whole);
    assert_eq!(
        (p.key.proto, p.key.dst_port, p.tcp_flags),
        (PROTO_TCP, 2, SYN)
    );

    // Routing header, then AH (length 4 => (4 + 2) * 4 = 24 bytes).
    let mut ah = vec![PROTO_TCP, 4];
    ah.resize(24, 0);
    ah.extend(tcp(22, 60000, ACK));
    let p = ok(LinkType::RawIpv6, &ipv6(43, &ext(51, 1, &ah)));
    assert_eq!(
        (p.key.proto, p.key.src_port, p.key.dst_port),
        (PROTO_TCP, 22, 60000)
    );

    // Mobility, HIP and shim6 use the options layout.
    let p = ok(
        LinkType::RawIpv6,
        &ipv6(135, &ext(139, 0, &ext(140, 1, &ext(PROTO_UDP, 0, &udp)))),
    );
    assert_eq!((p.key.proto, p.key.src_port), (PROTO_UDP, 547));
}

#[test]
fn ipv6_walk_stops() {
    // No next header and ESP are the protocol.
    let p = ok(LinkType::RawIpv6, &ipv6(0, &ext(59, 0, &[])));
    assert_eq!(p.key.proto, 59);
    let p = ok(LinkType::RawIpv6, &ipv6(60, &ext(50, 0, &[0; 16])));
    assert_eq!((p.key.proto, p.key.src_port, p.key.dst_port), (50, 0, 0));

    // A long chain of destination options is cut off, not followed.
    let mut chain = tcp(1, 2, SYN);
    chain = ext(PROTO_TCP, 0, &chain);
    for _ in 0..20 {
        chain = ext(60, 0, &chain);
    }
    let p = ok(LinkType::RawIpv6, &ipv6(60, &chain));
    assert_eq!((p.key.proto, p.key.src_port), (60, 0));
    assert_eq!(p.octets as usize, 40 + chain.len());

    // A chain cut by the snap length is still metered, with the full length.
    let full = ipv6(0, &ext(60, 2, &tcp(1, 2, SYN)));
    let p = ok(LinkType::RawIpv6, &full[..44]);
    assert_eq!((p.key.proto, p.octets as usize), (60, full.len()));
}

#[test]
fn icmp_type_and_code() {
    let p = ok(LinkType::RawIpv4, &ipv4(PROTO_ICMP, &icmp(8, 0)));
    assert_eq!((p.key.src_port, p.key.dst_port), (0, 0x0800));
    let p = ok(LinkType::RawIpv4, &ipv4(PROTO_ICMP, &icmp(3, 13)));
    assert_eq!(p.key.dst_port, 3 * 256 + 13);
    assert!(p.key.is_icmp());

    let p = ok(LinkType::RawIpv6, &ipv6(PROTO_ICMPV6, &icmp(128, 0)));
    assert_eq!((p.key.src_port, p.key.dst_port), (0, 128 * 256));
    let p = ok(
        LinkType::RawIpv6,
        &ipv6(0, &ext(PROTO_ICMPV6, 0, &icmp(135, 0))),
    );
    assert_eq!((p.key.proto, p.key.dst_port), (PROTO_ICMPV6, 135 * 256));

    // Each ICMP belongs to its own IP version.
    let p = ok(LinkType::RawIpv6, &ipv6(PROTO_ICMP, &icmp(8, 0)));
    assert_eq!((p.key.proto, p.key.dst_port), (PROTO_ICMP, 0));
    let p = ok(LinkType::RawIpv4, &ipv4(PROTO_ICMPV6, &icmp(128, 0)));
    assert_eq!((p.key.proto, p.key.dst_port), (PROTO_ICMPV6, 0));
}

#[test]
fn port_protocols_and_others() {
    for proto in [PROTO_SCTP, PROTO_UDPLITE, PROTO_DCCP] {
        let p = ok(LinkType::RawIpv4, &ipv4(proto, &ports(36412, 38412, 20)));
        assert_eq!(
            (p.key.proto, p.key.src_port, p.key.dst_port),
            (proto, 36412, 38412)
        );
        assert_eq!(p.tcp_flags, 0);
    }
    let p = ok(LinkType::RawIpv6, &ipv6(PROTO_SCTP, &ports(9, 10, 20)));
    assert_eq!((p.key.src_port, p.key.dst_port), (9, 10));

    // GRE, ESP, OSPF: no ports.
    for proto in [47, 50, 89] {
        let p = ok(LinkType::RawIpv4, &ipv4(proto, &ports(1, 2, 20)));
        assert_eq!((p.key.proto, p.key.src_port, p.key.dst_port), (proto, 0, 0));
    }
}

#[test]
fn truncated_transport_is_metered() {
    let frame = eth(0x0800, &ipv4(PROTO_TCP, &tcp(1234, 80, SYN)));
    // Ports but no flags.
    let p = ok(LinkType::Ethernet, &frame[..14 + 20 + 8]);
    assert_eq!((p.key.src_port, p.key.dst_port, p.tcp_flags), (1234, 80, 0));
    assert_eq!(p.octets, 40);
    // Not even the ports.
    let p = ok(LinkType::Ethernet, &frame[..14 + 20 + 3]);
    assert_eq!(
        (p.key.proto, p.key.src_port, p.key.dst_port),
        (PROTO_TCP, 0, 0)
    );
    assert_eq!(p.octets, 40);

    let big = ipv4(PROTO_UDP, &ports(53, 5353, 1400));
    let p = ok(LinkType::RawIpv4, &big[..68]);
    assert_eq!((p.octets, p.key.src_port), (1428, 53));

    let big6 = ipv6(PROTO_UDP, &ports(53, 5353, 1400));
    let p = ok(LinkType::RawIpv6, &big6[..41]);
    assert_eq!((p.octets, p.key.src_port), (1448, 0));
}

#[test]
fn lengths_come_from_the_ip_header() {
    // Ethernet padding after a short packet is not counted, nor read as transport.
    let mut frame = eth(0x0800, &ipv4(PROTO_UDP, &ports(7, 8, 0)));
    frame.resize(60, 0xee);
    let p = ok(LinkType::Ethernet, &frame);
    assert_eq!((p.octets, p.key.dst_port), (28, 8));

    // A total length that stops inside the transport header hides the ports.
    let mut short = V4::new(PROTO_UDP);
    short.total_len = Some(22);
    let p = ok(LinkType::RawIpv4, &short.build(&ports(7, 8, 0)));
    assert_eq!((p.octets, p.key.src_port), (22, 0));

    // Total length 0 (segmentation offload) and IPv6 jumbograms: the captured length.
    let mut offload = V4::new(PROTO_TCP);
    offload.total_len = Some(0);
    let frame = offload.build(&tcp(1, 2, ACK));
    let p = ok(LinkType::RawIpv4, &frame);
    assert_eq!((p.octets, p.tcp_flags), (40, ACK));
    let mut jumbo = ipv6(PROTO_TCP, &tcp(1, 2, ACK));
    jumbo[4..6].copy_from_slice(&[0, 0]);
    let p = ok(LinkType::RawIpv6, &jumbo);
    assert_eq!((p.octets, p.key.dst_port), (60, 2));
}

#[test]
fn malformed_frames() {
    let good4 = ipv4(PROTO_TCP, &tcp(1, 2, SYN));
    let good6 = ipv6(PROTO_TCP, &tcp(1, 2, SYN));

    let mut ihl4 = good4.clone();
    ihl4[0] = 0x44;
    assert_eq!(decode(LinkType::RawIpv4, &ihl4), Err(Ignored::Malformed));
    // IHL larger than the frame.
    let mut ihl15 = good4.clone();
    ihl15[0] = 0x4f;
    assert_eq!(decode(LinkType::RawIpv4, &ihl15), Err(Ignored::Malformed));
    // Total length shorter than the header.
    let mut tiny = good4.clone();
    tiny[2..4].copy_from_slice(&be16(19));
    assert_eq!(decode(LinkType::RawIpv4, &tiny), Err(Ignored::Malformed));

    // The version must match what the link layer announced.
    assert_eq!(decode(LinkType::RawIpv4, &good6), Err(Ignored::Malformed));
    assert_eq!(decode(LinkType::RawIpv6, &good4), Err(Ignored::Malformed));
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x0800, &good6)),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x86dd, &good4)),
        Err(Ignored::Malformed)
    );
    let mut v5 = good4.clone();
    v5[0] = 0x55;
    assert_eq!(decode(LinkType::RawIp, &v5), Err(Ignored::Malformed));

    // Short frames.
    assert_eq!(
        decode(LinkType::RawIpv4, &good4[..19]),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::RawIpv6, &good6[..39]),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::Ethernet, &[0; 13]),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::LinuxSll, &[0; 15]),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::LinuxSll2, &[0; 19]),
        Err(Ignored::Malformed)
    );
    assert_eq!(decode(LinkType::Null, &[2, 0, 0]), Err(Ignored::Malformed));
    assert_eq!(decode(LinkType::Loop, &[]), Err(Ignored::Malformed));
    assert_eq!(decode(LinkType::RawIp, &[]), Err(Ignored::Malformed));
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x8100, &[0, 5])),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x0800, &[])),
        Err(Ignored::Malformed)
    );
}

/// Xorshift: deterministic bytes without a dependency.
struct Noise(u64);

impl Noise {
    fn byte(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }
}

const ALL_LINKS: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
    LinkType::RawIpv4,
    LinkType::RawIpv6,
    LinkType::Null,
    LinkType::Loop,
];

#[test]
fn garbage_never_panics() {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut buf = [0u8; 200];
    for len in 0..200 {
        for round in 0..64 {
            for b in buf[..len].iter_mut() {
                *b = noise.byte();
            }
            // Steer some rounds past the link layer so the IP paths see garbage too.
            if len > 14 && round % 4 == 0 {
                buf[12..14].copy_from_slice(&be16(if round % 8 == 0 { 0x0800 } else { 0x86dd }));
            }
            if len > 14 && round % 4 == 1 {
                buf[0] = if round % 8 == 1 { 0x45 } else { 0x60 };
                buf[12] = 0x81;
                buf[13] = 0x00;
            }
            for link in ALL_LINKS {
                let _ = decode(link, &buf[..len]);
            }
        }
    }
}

#[test]
fn every_prefix_of_a_valid_frame_decodes_or_is_refused() {
    let udp = ports(547, 546, 30);
    let frames = [
        eth(
            0x88a8,
            &tag(
                1,
                0x8100,
                &tag(
                    2,
                    0x86dd,
                    &ipv6(
                        0,
                        &ext(60, 0, &ext(44, 0, &frag6(PROTO_UDP, 0, true, 1, &udp))),
                    ),
                ),
            ),
        ),
        eth(0x0800, &ipv4(PROTO_TCP, &tcp(1, 2, SYN))),
        sll2(0x8100, &tag(3, 0x0800, &ipv4(PROTO_ICMP, &icmp(8, 0)))),
    ];
    for frame in &frames {
        for len in 0..=frame.len() {
            if let Ok(p) = decode(LinkType::Ethernet, &frame[..len]) {
                assert!(p.octets > 0);
            }
            let _ = decode(LinkType::LinuxSll2, &frame[..len]);
        }
    }
}
