//! TCP teardown: both FINs or a RST end a flow once the linger has passed.

use super::*;

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
