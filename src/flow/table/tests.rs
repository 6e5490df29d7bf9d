//! Flow table behaviour: pairing, every end reason, exactness without sweeps, the bound.

use std::sync::Arc;

use super::*;
use crate::flow::key::{tcp_flags::*, Fragment, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
use crate::flow::meter::Meter;
use crate::flow::record::Counters;

const S: Nanos = 1_000_000_000;
const A: u128 = 0x0a00_0001;
const B: u128 = 0x0a00_0002;

fn cfg(biflow: bool) -> FlowTableConfig {
    FlowTableConfig {
        idle_timeout: 15 * S,
        active_timeout: 60 * S,
        tcp_end_linger: S,
        max_flows: 1000,
        biflow,
    }
}

fn pkt(proto: u8, src: (u128, u16), dst: (u128, u16), octets: u32, flags: u16) -> Packet {
    Packet {
        key: FlowKey {
            src: src.0,
            dst: dst.0,
            src_port: src.1,
            dst_port: dst.1,
            proto,
            ..FlowKey::default()
        },
        octets,
        tcp_flags: flags,
        ..Packet::default()
    }
}

/// TCP from the client (B:40000) to the server (A:80): B sorts after A, so the client's
/// packets are the swapped ones.
fn c2s(octets: u32, flags: u16) -> Packet {
    pkt(PROTO_TCP, (B, 40000), (A, 80), octets, flags)
}

fn s2c(octets: u32, flags: u16) -> Packet {
    pkt(PROTO_TCP, (A, 80), (B, 40000), octets, flags)
}

fn udp(src: (u128, u16), dst: (u128, u16), octets: u32) -> Packet {
    pkt(PROTO_UDP, src, dst, octets, 0)
}

fn swept(t: &FlowTable, now: Nanos) -> Vec<FlowRecord> {
    let mut out = Vec::new();
    t.sweep(now, &mut out);
    out
}

fn flushed(t: &FlowTable, now: Nanos) -> Vec<FlowRecord> {
    let mut out = Vec::new();
    t.flush(now, &mut out);
    out
}

fn counters(packets: u64, octets: u64, tcp_flags: u16) -> Counters {
    Counters {
        packets,
        octets,
        tcp_flags,
    }
}

/// A complete TCP conversation starting at `t0`: handshake, one request and answer, FINs
/// from both sides and the last ACK.
fn tcp_conversation(t: &FlowTable, t0: Nanos) {
    t.update(&c2s(60, SYN), t0);
    t.update(&s2c(60, SYN | ACK), t0 + 1000);
    t.update(&c2s(52, ACK), t0 + 2000);
    t.update(&c2s(200, PSH | ACK), t0 + 3000);
    t.update(&s2c(1500, ACK), t0 + 4000);
    t.update(&c2s(52, FIN | ACK), t0 + 5000);
    t.update(&s2c(52, FIN | ACK), t0 + 6000);
    t.update(&c2s(52, ACK), t0 + 7000);
}

#[test]
fn biflow_pairs_directions_with_the_initiator_as_source() {
    let t = FlowTable::new(cfg(true));
    tcp_conversation(&t, 10 * S);
    assert_eq!(t.len(), 1);
    let recs = swept(&t, 10 * S + 7000 + S);
    assert_eq!(recs.len(), 1);
    let r = recs[0];
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

#[test]
fn the_last_ack_after_both_fins_is_counted_and_lingers() {
    let t = FlowTable::new(cfg(true));
    tcp_conversation(&t, 0);
    assert!(swept(&t, 7000 + S - 1).is_empty(), "linger not over");
    let r = swept(&t, 7000 + S);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].end_reason, EndReason::EndOfFlow);
    assert_eq!(r[0].forward.packets + r[0].reverse.packets, 8);
}

#[test]
fn one_fin_is_not_the_end_in_biflow() {
    let t = FlowTable::new(cfg(true));
    t.update(&c2s(60, SYN), 0);
    t.update(&c2s(52, FIN | ACK), 1000);
    assert!(swept(&t, 10 * S).is_empty());
    assert_eq!(
        swept(&t, 1000 + 15 * S)[0].end_reason,
        EndReason::IdleTimeout
    );
}

#[test]
fn rst_ends_the_flow_after_the_linger() {
    let t = FlowTable::new(cfg(true));
    t.update(&c2s(60, SYN), 0);
    t.update(&s2c(40, RST | ACK), 1000);
    assert!(swept(&t, 1000 + S / 2).is_empty());
    let r = swept(&t, 1000 + S);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].end_reason, EndReason::EndOfFlow);
    assert_eq!(r[0].reverse, counters(1, 40, RST | ACK));
}

#[test]
fn a_packet_after_the_linger_starts_a_new_flow_inline() {
    let t = FlowTable::new(cfg(true));
    tcp_conversation(&t, 0);
    t.update(&s2c(60, SYN), 7000 + S);
    let r = swept(&t, 7000 + S);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].end_reason, EndReason::EndOfFlow);
    assert_eq!(r[0].key.src, B);
    let r = flushed(&t, 8 * S);
    assert_eq!(
        (r[0].key.src, r[0].key.src_port),
        (A, 80),
        "the new flow's initiator"
    );
    assert_eq!(t.stats().flows, 2);
}

#[test]
fn idle_timeout() {
    let t = FlowTable::new(cfg(true));
    t.update(&udp((A, 1), (B, 2), 100), 0);
    t.update(&udp((B, 2), (A, 1), 100), S);
    assert!(swept(&t, 16 * S - 1).is_empty());
    let r = swept(&t, 16 * S);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].end_reason, EndReason::IdleTimeout);
    assert_eq!((r[0].start, r[0].end), (0, S));
    assert_eq!(t.len(), 0);
}

#[test]
fn a_packet_after_idle_expiry_starts_a_new_flow_before_any_sweep() {
    let t = FlowTable::new(cfg(true));
    t.update(&udp((A, 1), (B, 2), 100), 0);
    t.update(&udp((B, 2), (A, 1), 100), 20 * S);
    assert_eq!(t.len(), 1);
    let recs = swept(&t, 20 * S);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].end_reason, EndReason::IdleTimeout);
    assert_eq!((recs[0].key.src, recs[0].end), (A, 0));
    let recs = flushed(&t, 21 * S);
    assert_eq!(
        (recs[0].key.src, recs[0].start),
        (B, 20 * S),
        "B initiated the new flow"
    );
    assert_eq!(t.stats().flows, 2);
}

/// A packet every 10 s for 200 s: with a 60 s active timeout, pieces of 6 packets.
fn long_flow(t: &FlowTable, sweep_every: Option<Nanos>) -> Vec<FlowRecord> {
    let mut recs = Vec::new();
    let mut next_sweep = sweep_every.unwrap_or(Nanos::MAX);
    for i in 0..=20u64 {
        let now = i * 10 * S;
        while next_sweep <= now {
            t.sweep(next_sweep, &mut recs);
            next_sweep += sweep_every.unwrap_or(0);
        }
        let p = if i % 2 == 0 {
            udp((A, 1), (B, 2), 100)
        } else {
            udp((B, 2), (A, 1), 10)
        };
        t.update(&p, now);
    }
    t.flush(200 * S, &mut recs);
    recs
}

#[test]
fn active_timeout_pieces_sum_to_the_totals() {
    let t = FlowTable::new(cfg(true));
    let recs = long_flow(&t, None);
    let reasons: Vec<_> = recs.iter().map(|r| r.end_reason).collect();
    use EndReason::*;
    assert_eq!(
        reasons,
        [ActiveTimeout, ActiveTimeout, ActiveTimeout, ForcedEnd]
    );
    let starts: Vec<_> = recs.iter().map(|r| r.start / S).collect();
    assert_eq!(starts, [0, 60, 120, 180]);
    let ends: Vec<_> = recs.iter().map(|r| r.end / S).collect();
    assert_eq!(ends, [50, 110, 170, 200]);
    let fwd: u64 = recs.iter().map(|r| r.forward.octets).sum();
    let rev: u64 = recs.iter().map(|r| r.reverse.octets).sum();
    let packets: u64 = recs
        .iter()
        .map(|r| r.forward.packets + r.reverse.packets)
        .sum();
    assert_eq!((packets, fwd, rev), (21, 1100, 100));
    assert!(recs.iter().all(|r| r.key.src == A));
    assert_eq!(t.stats().ended(ActiveTimeout), 3);
}

#[test]
fn records_do_not_depend_on_when_sweeps_run() {
    let expected = long_flow(&FlowTable::new(cfg(true)), None);
    for every in [S, 7 * S, 60 * S, 61 * S, 150 * S] {
        let got = long_flow(&FlowTable::new(cfg(true)), Some(every));
        assert_eq!(got, expected, "sweeping every {} s", every / S);
    }
}

#[test]
fn an_active_cut_then_silence_ends_without_an_empty_record() {
    let t = FlowTable::new(cfg(true));
    for i in 0..=5 {
        t.update(&udp((A, 1), (B, 2), 100), i * 10 * S);
    }
    let r = swept(&t, 60 * S);
    assert_eq!((r.len(), r[0].end_reason), (1, EndReason::ActiveTimeout));
    assert_eq!(t.len(), 1);
    assert!(swept(&t, 65 * S).is_empty());
    assert_eq!(t.len(), 0);
    assert!(flushed(&t, 70 * S).is_empty());
}

#[test]
fn flush_keeps_natural_reasons_of_due_flows() {
    let t = FlowTable::new(cfg(true));
    t.update(&udp((A, 1), (B, 2), 100), 0);
    t.update(&udp((A, 3), (B, 4), 100), 10 * S);
    let mut recs = flushed(&t, 16 * S);
    recs.sort_by_key(|r| r.start);
    let reasons: Vec<_> = recs.iter().map(|r| r.end_reason).collect();
    assert_eq!(reasons, [EndReason::IdleTimeout, EndReason::ForcedEnd]);
    assert_eq!(t.len(), 0);
}

#[test]
fn full_table_ends_due_flows_first_then_the_oldest() {
    let t = FlowTable::new(FlowTableConfig {
        max_flows: 32,
        ..cfg(true)
    });
    // 32 flows; the first 4 get no more packets and are idle at 19 s.
    for port in 0..32u16 {
        t.update(&udp((A, port), (B, 9), 100), u64::from(port) * S / 100);
    }
    for port in 4..32u16 {
        t.update(&udp((A, port), (B, 9), 100), 10 * S);
    }
    assert_eq!(t.len(), 32);
    t.update(&udp((A, 1000), (B, 9), 100), 19 * S);
    assert_eq!(t.len(), 29, "the 4 idle flows went, one slot taken");
    assert_eq!(t.stats().evictions, 0);
    for port in 1001..1100u16 {
        t.update(&udp((A, port), (B, 9), 100), 19 * S + u64::from(port));
        assert!(t.len() <= 32);
    }
    let recs = flushed(&t, 19 * S + 2000);
    let stats = t.stats();
    let evicted = recs
        .iter()
        .filter(|r| r.end_reason == EndReason::LackOfResources)
        .count() as u64;
    assert!(evicted > 0);
    assert_eq!(stats.evictions, evicted);
    assert_eq!(stats.ended(EndReason::LackOfResources), evicted);
    assert_eq!(stats.ended(EndReason::IdleTimeout), 4);
    let packets: u64 = recs.iter().map(|r| r.forward.packets).sum();
    assert_eq!(packets, stats.packets, "no packet lost by eviction");
    // The oldest go first: every evicted flow was last seen before every survivor.
    let last_evicted = recs
        .iter()
        .filter(|r| r.end_reason == EndReason::LackOfResources)
        .map(|r| r.end)
        .max()
        .unwrap();
    let first_forced = recs
        .iter()
        .filter(|r| r.end_reason == EndReason::ForcedEnd)
        .map(|r| r.end)
        .min()
        .unwrap();
    assert!(last_evicted <= first_forced);
}

#[test]
fn a_table_of_one_flow() {
    let t = FlowTable::new(FlowTableConfig {
        max_flows: 1,
        ..cfg(true)
    });
    t.update(&udp((A, 1), (B, 2), 100), 0);
    t.update(&udp((A, 3), (B, 4), 100), 1);
    t.update(&udp((B, 4), (A, 3), 100), 2);
    assert_eq!(t.len(), 1);
    let recs = flushed(&t, 3);
    assert_eq!(recs[0].end_reason, EndReason::LackOfResources);
    assert_eq!(recs[1].reverse.packets, 1);
    assert_eq!(t.stats().evictions, 1);
}

#[test]
fn fragments_are_counted_in_the_first_fragments_flow() {
    let t = Arc::new(FlowTable::new(cfg(true)));
    let mut meter = Meter::new(Arc::clone(&t), 3);
    let mut first = udp((A, 5353), (B, 53), 1500);
    first.fragment = Fragment::First { id: 42 };
    let mut later = udp((A, 0), (B, 0), 1500);
    later.fragment = Fragment::Later { id: 42 };
    let mut unknown = udp((A, 0), (B, 0), 700);
    unknown.fragment = Fragment::Later { id: 43 };
    meter.observe(first, 0);
    meter.observe(later, 1);
    meter.observe(later, 2);
    meter.observe(unknown, 3);
    let mut recs = flushed(&t, 4);
    recs.sort_by_key(|r| r.start);
    assert_eq!(recs.len(), 2);
    assert_eq!((recs[0].key.src_port, recs[0].key.point), (5353, 3));
    assert_eq!(recs[0].forward, counters(3, 4500, 0));
    assert_eq!(
        (recs[1].key.src_port, recs[1].forward),
        (0, counters(1, 700, 0))
    );
}

#[test]
fn stats_are_cumulative() {
    let t = FlowTable::new(cfg(true));
    tcp_conversation(&t, 0);
    t.update(&udp((A, 1), (B, 2), 100), 0);
    t.update(&udp((A, 1), (B, 2), 100), 70 * S);
    let mut recs = swept(&t, 70 * S);
    recs.extend(flushed(&t, 71 * S));
    let s = t.stats();
    assert_eq!((s.packets, s.octets, s.flows), (10, 2028 + 200, 3));
    assert_eq!(s.ended(EndReason::EndOfFlow), 1);
    assert_eq!(s.ended(EndReason::IdleTimeout), 1);
    assert_eq!(s.ended(EndReason::ForcedEnd), 1);
    assert_eq!(s.ended.iter().sum::<u64>(), recs.len() as u64);
    assert_eq!(s.evictions, 0);
}

#[test]
fn two_threads_count_exactly() {
    let t = Arc::new(FlowTable::new(FlowTableConfig {
        max_flows: 100_000,
        ..cfg(true)
    }));
    let threads: Vec<_> = (0..2u16)
        .map(|side| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for i in 0..50_000u32 {
                    let port = (i % 512) as u16;
                    // Both threads send into the same 512 conversations, from opposite ends.
                    let p = if side == 0 {
                        udp((A, port), (B, 53), 100)
                    } else {
                        udp((B, 53), (A, port), 10)
                    };
                    t.update(&p, u64::from(i));
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    assert_eq!(t.len(), 512);
    let recs = flushed(&t, 60_000);
    assert_eq!(recs.len(), 512);
    let packets: u64 = recs
        .iter()
        .map(|r| r.forward.packets + r.reverse.packets)
        .sum();
    let octets: u64 = recs
        .iter()
        .map(|r| r.forward.octets + r.reverse.octets)
        .sum();
    assert_eq!((packets, octets), (100_000, 50_000 * 110));
    let s = t.stats();
    assert_eq!((s.packets, s.octets, s.flows), (100_000, 50_000 * 110, 512));
}

#[test]
fn two_threads_on_a_full_table_keep_the_bound() {
    let t = Arc::new(FlowTable::new(FlowTableConfig {
        max_flows: 64,
        ..cfg(false)
    }));
    let threads: Vec<_> = (0..2u128)
        .map(|side| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for i in 0..20_000u32 {
                    t.update(&udp((A + side, i as u16), (B, 53), 100), u64::from(i));
                    assert!(t.len() <= 64);
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let recs = flushed(&t, 30_000);
    let s = t.stats();
    let packets: u64 = recs.iter().map(|r| r.forward.packets).sum();
    assert_eq!((packets, s.packets), (40_000, 40_000));
    assert_eq!(s.flows, recs.len() as u64);
    assert_eq!(s.evictions, s.ended(EndReason::LackOfResources));
}

#[test]
fn flushing_points_ends_only_their_flows() {
    let t = Arc::new(FlowTable::new(cfg(true)));
    let mut gone = Meter::new(Arc::clone(&t), 7);
    let mut stays = Meter::new(Arc::clone(&t), 8);
    gone.observe(udp((A, 1), (B, 2), 100), 0);
    gone.observe(udp((B, 2), (A, 1), 50), 1);
    gone.observe(udp((A, 3), (B, 4), 10), 1);
    stays.observe(udp((A, 1), (B, 2), 100), 2);
    assert_eq!(t.len(), 3);
    let mut out = Vec::new();
    t.flush_points(&[7], 3, &mut out);
    out.sort_by_key(|r| r.key.src_port);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|r| r.key.point == 7));
    assert!(out.iter().all(|r| r.end_reason == EndReason::ForcedEnd));
    assert_eq!((out[0].forward.packets, out[0].reverse.packets), (1, 1));
    assert_eq!(t.len(), 1);
    // A flow already due at the flush keeps its own reason.
    let mut out = Vec::new();
    t.flush_points(&[8], 100 * crate::flow::NANOS_PER_SEC, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].end_reason, EndReason::IdleTimeout);
    assert!(t.is_empty());
}
