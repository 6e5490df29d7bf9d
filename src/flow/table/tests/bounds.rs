//! A full table, fragments, counters, threads, and ending the flows of given points.

use super::*;

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
fn records_ended_to_make_room_wait_in_the_backlog_until_taken() {
    let t = FlowTable::new(FlowTableConfig {
        max_flows: 8,
        ..cfg(true)
    });
    for port in 0..8u16 {
        t.update(&udp((A, port), (B, 9), 100), u64::from(port));
    }
    assert_eq!(t.backlog(), 0);
    // Every flow is idle by 20 s: the next new flow ends them all to make room.
    t.update(&udp((A, 100), (B, 9), 100), 20 * S);
    assert_eq!((t.backlog(), t.len()), (8, 1));
    let mut taken = Vec::new();
    t.take_ended(&mut taken);
    assert_eq!(taken.len(), 8);
    assert!(taken.iter().all(|r| r.end_reason == EndReason::IdleTimeout));
    assert_eq!(t.backlog(), 0);
    assert!(swept(&t, 20 * S).is_empty(), "taken once only");
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
