use super::tls::{build, records};
use super::{payload, TLS};
use crate::l7::tls::{client_hello, Gather, Hello, Transport, MAX_HELLO};

fn read(stream: &[u8]) -> Hello<crate::l7::tls::ClientHello> {
    client_hello(stream, Transport::Tcp)
}

#[test]
fn a_hello_over_two_segments_gathers_to_the_whole() {
    let p = payload(TLS, "curl13-client");
    let whole = read(&p);
    // Sequence numbers that wrap inside the hello.
    let seq = u32::MAX - 40;
    for cut in 1..p.len() {
        let mut g = Gather::new(seq, &p[..cut]);
        assert!(
            matches!(read(g.bytes()), Hello::Incomplete { .. }),
            "cut at {cut}"
        );
        g.push(seq.wrapping_add(cut as u32), &p[cut..]);
        assert!(g.usable());
        assert_eq!(g.bytes(), p, "cut at {cut}");
        assert_eq!(read(g.bytes()), whole, "cut at {cut}");
    }
}

#[test]
fn records_and_segments_split_at_different_places_gather_to_the_whole() {
    let p = payload(TLS, "sclient13-client");
    let whole = read(&p);
    let split = records(&p, &[50, 51, 200]);
    for cut in (1..split.len()).step_by(3) {
        let mut g = Gather::new(7, &split[..cut]);
        g.push(7 + cut as u32, &split[cut..]);
        assert_eq!(read(g.bytes()), whole, "cut at {cut}");
    }
}

#[test]
fn retransmissions_and_overlaps_add_only_what_is_new() {
    let p = payload(TLS, "curl12-client");
    let mut g = Gather::new(1000, &p[..60]);
    // The first segment again, and a part of it.
    g.push(1000, &p[..60]);
    g.push(1010, &p[10..30]);
    assert_eq!(g.bytes(), &p[..60]);
    // A segment resent with more data than first: only its new bytes count.
    g.push(1040, &p[40..100]);
    assert_eq!(g.bytes(), &p[..100]);
    g.push(1100, &p[100..]);
    g.push(1100, &p[100..]);
    assert!(g.usable());
    assert_eq!(g.bytes(), p);
    assert_eq!(read(g.bytes()), read(&p));
    // Empty segments (pure ACKs) change nothing.
    g.push(1000 + p.len() as u32, &[]);
    assert_eq!(g.bytes(), p);
}

#[test]
fn a_segment_past_a_gap_makes_the_gather_unusable() {
    let p = payload(TLS, "curl13-client");
    let mut g = Gather::new(5, &p[..100]);
    g.push(5 + 101, &p[101..]);
    assert!(!g.usable());
    // What comes after the gap is not taken, even the missing byte.
    g.push(5 + 100, &p[100..]);
    assert!(!g.usable());
    assert_eq!(g.bytes(), &p[..100]);
}

#[test]
fn gathering_stops_at_max_hello() {
    let big = build(&[0x1301], Some(&[(21, vec![0; MAX_HELLO])]));
    let mut g = Gather::new(0, &big[..1000]);
    let mut at = 1000;
    while at < big.len() {
        let end = (at + 1400).min(big.len());
        g.push(at as u32, &big[at..end]);
        at = end;
    }
    assert_eq!(g.bytes().len(), MAX_HELLO);
    assert_eq!(g.bytes(), &big[..MAX_HELLO]);
    assert_eq!(read(g.bytes()), Hello::NotTls);
    assert_eq!(read(&big), Hello::NotTls);
}
