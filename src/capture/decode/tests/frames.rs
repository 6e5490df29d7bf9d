//! Link layers (Ethernet, VLAN tags, cooked and raw captures, frames that are not IP)
//! and plain IPv4 and IPv6 frames.

use super::*;

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
