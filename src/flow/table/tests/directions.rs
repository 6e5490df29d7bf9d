//! Directions: paired into biflows with the initiator as source, or one record each.

use super::*;

#[test]
fn biflow_pairs_directions_with_the_initiator_as_source() {
    let t = FlowTable::new(cfg(true));
    tcp_conversation(&t, 10 * S);
    assert_eq!(t.len(), 1);
    let recs = swept(&t, 10 * S + 7000 + S);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(
        (r.key.src, r.key.src_port, r.key.dst, r.key.dst_port),
        (B, 40000, A, 80)
    );
    assert_eq!(r.forward, counters(5, 416, SYN | ACK | PSH | FIN));
    assert_eq!(r.reverse, counters(3, 1612, SYN | ACK | FIN));
    assert_eq!((r.start, r.end), (10 * S, 10 * S + 7000));
    assert_eq!(r.end_reason, EndReason::EndOfFlow);
    assert_eq!(t.len(), 0);
}

#[test]
fn initiator_is_source_whichever_way_the_endpoints_sort() {
    let t = FlowTable::new(cfg(true));
    t.update(&udp((A, 5000), (B, 53), 70), 0);
    t.update(&udp((B, 53), (A, 5000), 120), 10);
    let r = flushed(&t, 20);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].key.src, r[0].key.src_port), (A, 5000));
    assert_eq!(r[0].forward, counters(1, 70, 0));
    assert_eq!(r[0].reverse, counters(1, 120, 0));
    assert_eq!(r[0].end_reason, EndReason::ForcedEnd);
}

#[test]
fn tos_is_the_first_packets() {
    let t = FlowTable::new(cfg(true));
    let mut first = udp((A, 1), (B, 2), 100);
    first.tos = 0xb8;
    t.update(&first, 0);
    t.update(&udp((B, 2), (A, 1), 100), 1);
    assert_eq!(flushed(&t, 2)[0].tos, 0xb8);
}

#[test]
fn uniflow_gives_one_record_per_direction() {
    let t = FlowTable::new(cfg(false));
    t.update(&udp((A, 5000), (B, 53), 70), 0);
    t.update(&udp((B, 53), (A, 5000), 120), 10);
    assert_eq!(t.len(), 2);
    let mut recs = flushed(&t, 20);
    recs.sort_by_key(|r| r.start);
    assert_eq!(recs.len(), 2);
    assert_eq!((recs[0].key.src, recs[0].forward), (A, counters(1, 70, 0)));
    assert_eq!((recs[1].key.src, recs[1].forward), (B, counters(1, 120, 0)));
    assert!(recs.iter().all(|r| r.reverse == Counters::default()));
}

#[test]
fn uniflow_direction_ends_after_its_fin_and_the_linger() {
    let t = FlowTable::new(cfg(false));
    t.update(&c2s(60, SYN), 0);
    t.update(&c2s(52, FIN | ACK), 1000);
    t.update(&s2c(52, ACK), 2000);
    assert!(swept(&t, 1000 + S - 1).is_empty());
    let recs = swept(&t, 1000 + S);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].key.src, B);
    assert_eq!(recs[0].end_reason, EndReason::EndOfFlow);
    assert_eq!(t.len(), 1); // the server's direction saw no FIN
}

#[test]
fn icmp_never_pairs() {
    for (proto, ipv6) in [(PROTO_ICMP, false), (PROTO_ICMPV6, true)] {
        let t = FlowTable::new(cfg(true));
        let mut request = pkt(proto, (A, 0), (B, 8 * 256), 84, 0);
        let mut reply = pkt(proto, (B, 0), (A, 0), 84, 0);
        // Same type and code both ways: still two flows.
        let mut unreachable = pkt(proto, (B, 0), (A, 3 * 256 + 3), 84, 0);
        let mut unreachable_back = pkt(proto, (A, 0), (B, 3 * 256 + 3), 84, 0);
        for p in [
            &mut request,
            &mut reply,
            &mut unreachable,
            &mut unreachable_back,
        ] {
            p.key.ipv6 = ipv6;
            t.update(p, 0);
        }
        let recs = flushed(&t, 1);
        assert_eq!(recs.len(), 4);
        assert!(recs.iter().all(|r| r.reverse == Counters::default()));
    }
}
