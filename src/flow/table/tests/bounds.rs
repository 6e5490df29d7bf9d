//! A full table, fragments, counters, threads, and ending the flows of given points.

use super::*;

#[test]
fn full_table_ends_due_flows_first_then_the_oldest() {
    let t = FlowTable::new(FlowTableConfig {
        max_flows: 32,
        max_backlog: usize::MAX,
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
    // The flows of one unanswered packet go first, the older conversations stay.
    let evicted: Vec<_> = recs
        .iter()
        .filter(|r| r.end_reason == EndReason::LackOfResources)
        .collect();
    assert!(
        evicted.iter().all(|r| r.forward.packets == 1),
        "{evicted:?}"
    );
    assert_eq!(stats.evicted_noise, stats.evictions);
    let kept = recs
        .iter()
        .filter(|r| r.end_reason == EndReason::ForcedEnd && r.forward.packets == 2)
        .count();
    assert_eq!(kept, 28, "every two-packet flow survived");
    // Within the noise, the oldest go first.
    let last_evicted = evicted.iter().map(|r| r.end).max().unwrap();
    let first_forced_noise = recs
        .iter()
        .filter(|r| r.end_reason == EndReason::ForcedEnd && r.forward.packets == 1)
        .map(|r| r.end)
        .min()
        .unwrap();
    assert!(last_evicted <= first_forced_noise);
}

#[test]
fn a_conversation_outlives_a_flood_of_unanswered_syns_older_or_not() {
    let t = FlowTable::new(FlowTableConfig {
        max_flows: 64,
        max_backlog: usize::MAX,
        ..cfg(true)
    });
    // A handshake, then 640 SYNs from as many sources, ten tables' worth, each newer
    // than the conversation's last packet; then the conversation goes on.
    t.update(&c2s(60, SYN), 0);
    t.update(&s2c(60, SYN | ACK), 1);
    for i in 0..640u16 {
        let mut syn = udp((A + 1 + u128::from(i), 1024), (B, 80), 40);
        syn.key.proto = PROTO_TCP;
        syn.tcp_flags = SYN;
        t.update(&syn, 10 + u64::from(i));
        assert!(t.len() <= 64);
    }
    t.update(&c2s(100, ACK), 1000);
    let recs = flushed(&t, 1001);
    let conversation: Vec<_> = recs.iter().filter(|r| r.reverse.packets > 0).collect();
    assert_eq!(conversation.len(), 1, "one record: {conversation:?}");
    assert_eq!(conversation[0].forward.packets, 2);
    assert_eq!(conversation[0].end_reason, EndReason::ForcedEnd);
    let stats = t.stats();
    assert!(stats.evictions >= 640 - 64, "{stats:?}");
    assert_eq!(stats.evicted_noise, stats.evictions);
    let packets: u64 = recs
        .iter()
        .map(|r| r.forward.packets + r.reverse.packets)
        .sum();
    assert_eq!(packets, stats.packets);
}

#[test]
fn ended_records_past_the_backlog_bound_go_to_the_spill_at_once() {
    let t = FlowTable::new(FlowTableConfig {
        max_flows: 256,
        max_backlog: 64,
        ..cfg(true)
    });
    let spilled = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = spilled.clone();
    t.spill_to(Box::new(move |batch| sink.lock().unwrap().push(batch)));
    for i in 0..10_000u32 {
        t.update(&udp((A + u128::from(i), 1), (B, 9), 100), u64::from(i));
        assert!(t.backlog() <= 64 + 256 / 16, "{}", t.backlog());
    }
    let batches = std::mem::take(&mut *spilled.lock().unwrap());
    assert!(!batches.is_empty());
    let mut recs: Vec<FlowRecord> = batches.into_iter().flatten().collect();
    let spilled_n = recs.len();
    recs.extend(flushed(&t, 20_000));
    assert_eq!(recs.len(), 10_000, "{spilled_n} spilled, none lost");
    assert_eq!(
        t.stats().ended(EndReason::LackOfResources),
        t.stats().evictions
    );
}

#[test]
fn a_table_of_one_flow() {
    let t = FlowTable::new(FlowTableConfig {
        max_flows: 1,
        max_backlog: usize::MAX,
        ..cfg(true)
    });
    t.update(&udp((A, 1), (B, 2), 100), 0);
    t.update(&udp((A, 3), (B, 4), 100), 1);
    t.update(&udp((B, 4), (A, 3), 100), 2);
    assert_eq!(t.len(), 1);
    // A flush gives each shard's records in turn: the evicted flow and the forced one
    // come in either order.
    let recs = flushed(&t, 3);
    assert_eq!(recs.len(), 2);
    let evicted: Vec<_> = recs
        .iter()
        .filter(|r| r.end_reason == EndReason::LackOfResources)
        .collect();
    assert_eq!(evicted.len(), 1);
    assert_eq!(evicted[0].key.src_port, 1);
    let forced = recs
        .iter()
        .find(|r| r.end_reason == EndReason::ForcedEnd)
        .expect("the live flow is ended by the flush");
    assert_eq!(forced.reverse.packets, 1);
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
    meter.observe(first, 0, &[]);
    meter.observe(later, 1, &[]);
    meter.observe(later, 2, &[]);
    meter.observe(unknown, 3, &[]);
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
        max_backlog: usize::MAX,
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
        max_backlog: usize::MAX,
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
    gone.observe(udp((A, 1), (B, 2), 100), 0, &[]);
    gone.observe(udp((B, 2), (A, 1), 50), 1, &[]);
    gone.observe(udp((A, 3), (B, 4), 10), 1, &[]);
    stays.observe(udp((A, 1), (B, 2), 100), 2, &[]);
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
