//! The compiler and the programs it makes, run on frames built here.

use super::*;

const MAC: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];

/// An Ethernet frame around `ip`, optionally VLAN-tagged.
fn eth(ethertype: u16, ip: &[u8]) -> Vec<u8> {
    let mut f = MAC.to_vec();
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

fn l4(sport: u16, dport: u16) -> Vec<u8> {
    let mut t = sport.to_be_bytes().to_vec();
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&[0; 16]);
    t
}

/// IPv4 with `options` bytes of options and the fragment field `frag`.
fn v4(proto: u8, src: [u8; 4], dst: [u8; 4], options: usize, frag: u16, body: &[u8]) -> Vec<u8> {
    let hl = 20 + options;
    let mut h = vec![0x40 | (hl / 4) as u8, 0];
    h.extend_from_slice(&((hl + body.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 1]);
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend(std::iter::repeat_n(1u8, options));
    h.extend_from_slice(body);
    h
}

fn v6(next: u8, src: &str, dst: &str, body: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src.parse::<std::net::Ipv6Addr>().unwrap().octets());
    h.extend_from_slice(&dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
    h.extend_from_slice(body);
    h
}

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 1, 2, 3];

fn udp4(sport: u16, dport: u16) -> Vec<u8> {
    eth(0x0800, &v4(17, A, B, 0, 0, &l4(sport, dport)))
}

fn keeps(expr: &str, frame: &[u8]) -> bool {
    let p = compile(expr, 96).unwrap();
    p.matches(LinkType::Ethernet, frame, frame.len() as u32)
}

#[test]
fn no_expression_keeps_everything_cut_to_the_snap_length() {
    let p = compile("  ", 128).unwrap();
    assert_eq!(p, Program::snap_only(128));
    assert_eq!(vm::run(p.instructions(LinkType::Ethernet), &[], 0), 128);
}

#[test]
fn a_kept_frame_is_cut_to_the_snap_length() {
    let p = compile("udp", 200).unwrap();
    let f = udp4(1, 2);
    assert_eq!(vm::run(p.instructions(LinkType::Ethernet), &f, 1500), 200);
    let arp = eth(0x0806, &[0; 28]);
    assert_eq!(vm::run(p.instructions(LinkType::Ethernet), &arp, 42), 0);
}

#[test]
fn protocols() {
    let tcp6 = eth(0x86dd, &v6(6, "fd00::1", "fd00::2", &l4(1, 2)));
    let icmp = eth(0x0800, &v4(1, A, B, 0, 0, &[8, 0, 0, 0]));
    let icmp6 = eth(0x86dd, &v6(58, "fd00::1", "fd00::2", &[128, 0, 0, 0]));
    let arp = eth(0x0806, &[0; 28]);
    let cases: [(&str, [bool; 5]); 8] = [
        // udp4, tcp6, icmp, icmp6, arp
        ("udp", [true, false, false, false, false]),
        ("tcp", [false, true, false, false, false]),
        ("ip", [true, false, true, false, false]),
        ("ip6", [false, true, false, true, false]),
        ("icmp or icmp6", [false, false, true, true, false]),
        ("arp", [false, false, false, false, true]),
        ("not ip and not ip6", [false, false, false, false, true]),
        ("proto 58 or ip proto 17", [true, false, false, true, false]),
    ];
    for (expr, want) in cases {
        let got = [&udp4(1, 2), &tcp6, &icmp, &icmp6, &arp].map(|f| keeps(expr, f));
        assert_eq!(got, want, "{expr}");
    }
}

#[test]
fn hosts_and_networks_with_directions() {
    let f = udp4(1000, 53);
    for (expr, want) in [
        ("host 10.0.0.1", true),
        ("src host 10.0.0.1", true),
        ("dst host 10.0.0.1", false),
        ("dst host 10.1.2.3", true),
        ("src and dst net 10.0.0.0/8", true),
        ("src and dst net 10.0.0.0/16", false),
        ("src or dst net 10.1.0.0/16", true),
        ("net 192.168.0.0 mask 255.255.0.0", false),
        ("net 0.0.0.0/0", true),
        ("ip6 host 10.0.0.1", false),
        ("host fd00::1", false),
    ] {
        assert_eq!(keeps(expr, &f), want, "{expr}");
    }
    let f6 = eth(0x86dd, &v6(17, "fd00:1::5", "2001:db8::9", &l4(5, 6)));
    for (expr, want) in [
        ("host fd00:1::5", true),
        ("dst host fd00:1::5", false),
        ("src net fd00::/16", true),
        ("src net fd00:2::/32", false),
        ("dst net 2001:db8::/32", true),
        ("net ::/0", true),
        ("host 10.0.0.1", false),
    ] {
        assert_eq!(keeps(expr, &f6), want, "{expr}");
    }
}

#[test]
fn ports_follow_ipv4_options_and_skip_later_fragments() {
    let with_options = eth(0x0800, &v4(6, A, B, 8, 0, &l4(443, 51000)));
    assert!(keeps("tcp port 443", &with_options));
    assert!(keeps("src port 443 and dst port 51000", &with_options));
    assert!(!keeps("dst port 443", &with_options));
    assert!(!keeps("udp port 443", &with_options));
    assert!(keeps("portrange 50000-52000", &with_options));
    assert!(!keeps("portrange 1-442", &with_options));
    // A later fragment carries payload where the ports would be.
    let later = eth(0x0800, &v4(17, A, B, 0, 185, &l4(443, 443)));
    assert!(!keeps("port 443", &later));
    assert!(keeps("udp", &later));
    let first = eth(0x0800, &v4(17, A, B, 0, 0x2000, &l4(443, 9)));
    assert!(keeps("port 443", &first));
    let sctp6 = eth(0x86dd, &v6(132, "fd00::1", "fd00::2", &l4(36412, 9)));
    assert!(keeps("sctp port 36412", &sctp6));
    assert!(keeps("ip6 port 36412", &sctp6));
    assert!(!keeps("ip port 36412", &sctp6));
    assert!(keeps("port 80 or 9", &sctp6));
}

#[test]
fn lengths_are_the_wire_length() {
    let p = compile("greater 1000", 96).unwrap();
    let f = udp4(1, 2);
    assert!(p.matches(LinkType::Ethernet, &f, 1500));
    assert!(!p.matches(LinkType::Ethernet, &f, 999));
    let p = compile("less 100", 96).unwrap();
    assert!(p.matches(LinkType::Ethernet, &f, 100));
    assert!(!p.matches(LinkType::Ethernet, &f, 101));
}

#[test]
fn raw_ip_links_have_no_ethernet_header() {
    let p = compile("udp and dst port 53 and not arp", 96).unwrap();
    let ip = v4(17, A, B, 0, 0, &l4(1000, 53));
    assert!(p.matches(LinkType::RawIp, &ip, ip.len() as u32));
    let ip6 = v6(17, "fd00::1", "fd00::2", &l4(1000, 53));
    assert!(p.matches(LinkType::RawIpv6, &ip6, ip6.len() as u32));
    assert!(!p.matches(LinkType::RawIp, &v4(6, A, B, 0, 0, &l4(1000, 53)), 60));
    // Frames of links the program is not made for pass.
    assert!(p.matches(LinkType::LinuxSll, &[0; 10], 10));
}

#[test]
fn the_export_exclusion_keeps_everything_else() {
    let expr = "not (host 10.1.2.3 and udp port 4739)";
    assert!(!keeps(expr, &udp4(40000, 4739)));
    assert!(keeps(expr, &udp4(40000, 4740)));
    assert!(keeps(
        expr,
        &eth(0x0800, &v4(6, A, B, 0, 0, &l4(40000, 4739)))
    ));
    assert!(keeps(expr, &eth(0x0806, &[0; 28])));
    assert!(keeps(
        expr,
        &eth(0x86dd, &v6(17, "fd00::1", "fd00::2", &l4(1, 4739)))
    ));
}

#[test]
fn long_filters_jump_far_through_ja() {
    // 60 hosts: the first tests are far more than 255 instructions from the returns.
    let hosts: Vec<String> = (0..60).map(|i| format!("host 10.0.0.{i}")).collect();
    let p = compile(&hosts.join(" or "), 96).unwrap();
    let code = p.instructions(LinkType::Ethernet);
    assert!(code.len() > 255 && code.iter().any(|i| i.code == 0x05));
    for last in [0u8, 30, 59] {
        let f = eth(0x0800, &v4(17, A, [10, 0, 0, last], 0, 0, &l4(1, 2)));
        assert!(p.matches(LinkType::Ethernet, &f, 60), "10.0.0.{last}");
    }
    let f = eth(
        0x0800,
        &v4(17, [10, 0, 1, 1], [10, 0, 0, 60], 0, 0, &l4(1, 2)),
    );
    assert!(!p.matches(LinkType::Ethernet, &f, 60));
    // The kernel's limit of 4096 instructions stands.
    let many: Vec<String> = (0..400).map(|i| format!("net fd00:{i:x}::/32")).collect();
    let err = compile(&many.join(" or "), 96).unwrap_err();
    assert!(err.0.contains("too long"), "{err}");
}

/// A frame of `link` carrying IPv4 or IPv6 TCP with `payload`.
fn tcp_frame(ethernet: bool, ipv6: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    if ethernet {
        f.extend_from_slice(&[0; 12]);
        f.extend_from_slice(if ipv6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    }
    let tcp_len = 20 + payload.len();
    if ipv6 {
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(tcp_len as u16).to_be_bytes());
        f.extend_from_slice(&[6, 64]);
        f.extend_from_slice(&[0; 32]);
    } else {
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    }
    f.extend_from_slice(&[
        0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 1, 0, 0, 0, 0, 0,
    ]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn tls_handshake_records_keep_the_handshake_snap_and_the_rest_the_snap() {
    let hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01];
    let data = [0x17, 0x03, 0x03, 0x00, 0x10];
    for expr in ["", "tcp port 443", "not udp"] {
        let program = compile(expr, 512).unwrap().keep_handshakes(512, 4096);
        for ipv6 in [false, true] {
            for (ethernet, link) in [(true, LinkType::Ethernet), (false, LinkType::RawIp)] {
                let run = |payload: &[u8]| {
                    let f = tcp_frame(ethernet, ipv6, payload);
                    vm::run(program.instructions(link), &f, f.len() as u32)
                };
                let case = format!("{expr:?} ipv6 {ipv6} ethernet {ethernet}");
                assert_eq!(run(&hello), 4096, "{case}");
                assert_eq!(run(&data), 512, "{case}");
                assert_eq!(run(&[]), 512, "no payload: {case}");
            }
        }
    }
    // Without a larger handshake snap the program is what it was.
    assert_eq!(
        compile("tcp", 512).unwrap().keep_handshakes(512, 512),
        compile("tcp", 512).unwrap()
    );
}
