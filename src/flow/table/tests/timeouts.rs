//! Idle and active timeouts, sweeps and flushes.

use super::*;

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
