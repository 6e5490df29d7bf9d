//! IP headers: IPv4 options and fragments, IPv6 extension headers and where their walk
//! stops.

use super::*;

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
