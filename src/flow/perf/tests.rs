//! The TCP analysis against hand-made conversations whose figures are known, each in
//! the terms of Wireshark's analysis flags.

use super::*;
use crate::flow::key::{FlowKey, TcpSegment, PROTO_TCP};

const MS: Nanos = 1_000_000;
const SYN: u16 = tcp_flags::SYN;
const ACK: u16 = tcp_flags::ACK;
const SYN_ACK: u16 = tcp_flags::SYN | tcp_flags::ACK;
const PSH_ACK: u16 = tcp_flags::PSH | tcp_flags::ACK;

fn seg(flags: u16, seq: u32, ack: u32, len: u16) -> Packet {
    Packet {
        key: FlowKey {
            proto: PROTO_TCP,
            ..FlowKey::default()
        },
        octets: 52 + u32::from(len),
        tcp_flags: flags,
        tcp: TcpSegment {
            seq,
            ack,
            window: 512,
        },
        payload_len: len,
        ..Packet::default()
    }
}

/// Client ISN 1000, server ISN 5000; the handshake at 0, 30 and 31 ms: a TcpPerf made
/// at the second packet, as the flow table makes it.
fn handshake() -> TcpPerf {
    let mut p = TcpPerf::new(true, 0);
    p.add(&seg(SYN_ACK, 5000, 1001, 0), false, 30 * MS);
    p.add(&seg(ACK, 1001, 5001, 0), true, 31 * MS);
    p
}

#[test]
fn the_handshake_splits_at_the_probe() {
    let f = handshake().figures();
    assert_eq!(f.handshake, Some((1_000, 30_000)));
    assert_eq!(f.retransmitted, [0, 0]);
    assert_eq!(f.out_of_order, 0);
}

#[test]
fn a_flow_seen_from_its_middle_has_no_handshake() {
    let mut p = TcpPerf::new(false, 0);
    p.add(&seg(PSH_ACK, 5000, 1001, 100), false, MS);
    p.add(&seg(ACK, 1001, 5100, 0), true, 2 * MS);
    assert_eq!(p.figures().handshake, None);
}

#[test]
fn the_response_time_runs_from_the_request_to_the_first_answer() {
    let mut p = handshake();
    p.add(&seg(PSH_ACK, 1001, 5001, 80), true, 40 * MS);
    p.add(&seg(ACK, 5001, 1081, 0), false, 70 * MS);
    p.add(&seg(PSH_ACK, 5001, 1081, 500), false, 95 * MS);
    assert_eq!(p.figures().response_time, 55_000);
}

#[test]
fn a_segment_sent_again_after_the_round_trip_is_a_retransmission() {
    let mut p = handshake();
    p.add(&seg(PSH_ACK, 1001, 5001, 100), true, 40 * MS);
    p.add(&seg(PSH_ACK, 1101, 5001, 100), true, 41 * MS);
    // No ACK for 1101..1201 came: it is sent again 200 ms later.
    p.add(&seg(ACK, 5001, 1101, 0), false, 71 * MS);
    p.add(&seg(PSH_ACK, 1101, 5001, 100), true, 241 * MS);
    let f = p.figures();
    assert_eq!(f.retransmitted, [1, 0]);
    assert_eq!(f.retransmitted_octets, [152, 0]);
    assert_eq!(f.out_of_order, 0);
}

#[test]
fn a_hole_filled_within_the_round_trip_is_out_of_order() {
    let mut p = handshake();
    p.add(&seg(PSH_ACK, 5001, 1001, 100), false, 40 * MS);
    p.add(&seg(PSH_ACK, 5201, 1001, 100), false, 41 * MS);
    // 5101..5201 arrives 2 ms later, within the 31 ms round trip.
    p.add(&seg(PSH_ACK, 5101, 1001, 100), false, 43 * MS);
    let f = p.figures();
    assert_eq!(f.out_of_order, 1);
    assert_eq!(f.retransmitted, [0, 0]);
}

#[test]
fn data_already_acknowledged_is_a_spurious_retransmission() {
    let mut p = handshake();
    p.add(&seg(PSH_ACK, 5001, 1001, 100), false, 40 * MS);
    p.add(&seg(ACK, 1001, 5101, 0), true, 41 * MS);
    p.add(&seg(PSH_ACK, 5001, 1001, 100), false, 42 * MS);
    assert_eq!(p.figures().retransmitted, [0, 1]);
}

#[test]
fn keep_alives_are_not_retransmissions_and_zero_windows_count() {
    let mut p = handshake();
    p.add(&seg(PSH_ACK, 1001, 5001, 10), true, 40 * MS);
    p.add(&seg(ACK, 5001, 1011, 0), false, 41 * MS);
    p.add(&seg(ACK, 1010, 5001, 1), true, 10_000 * MS);
    let mut zero = seg(ACK, 5001, 1011, 0);
    zero.tcp.window = 0;
    p.add(&zero, false, 10_001 * MS);
    let f = p.figures();
    assert_eq!(f.retransmitted, [0, 0]);
    assert_eq!(f.zero_window, 1);
}

#[test]
fn a_syn_sent_again_is_a_retransmission_and_the_last_syn_times_the_handshake() {
    let mut p = TcpPerf::new(true, 0);
    p.add(&seg(SYN, 1000, 0, 0), true, 1_000 * MS);
    p.add(&seg(SYN_ACK, 5000, 1001, 0), false, 1_030 * MS);
    p.add(&seg(ACK, 1001, 5001, 0), true, 1_031 * MS);
    let f = p.figures();
    assert_eq!(f.retransmitted, [1, 0]);
    assert_eq!(f.handshake, Some((1_000, 30_000)));
}

#[test]
fn fast_retransmissions_follow_duplicate_acks() {
    let mut p = handshake();
    for (i, at) in [(0u32, 40), (1, 41), (2, 42), (3, 43)] {
        p.add(&seg(PSH_ACK, 1001 + i * 100, 5001, 100), true, at * MS);
    }
    // 1101 was lost downstream: three ACKs of 1101, then 1101 again at once.
    for at in [72, 73, 74] {
        p.add(&seg(ACK, 5001, 1101, 0), false, at * MS);
    }
    p.add(&seg(PSH_ACK, 1101, 5001, 100), true, 75 * MS);
    assert_eq!(p.figures().retransmitted, [1, 0]);
}

#[test]
fn a_cut_starts_the_counters_again() {
    let mut p = handshake();
    p.add(&seg(PSH_ACK, 1001, 5001, 100), true, 40 * MS);
    p.add(&seg(PSH_ACK, 1001, 5001, 100), true, 400 * MS);
    assert_eq!(p.figures().retransmitted, [1, 0]);
    p.cut();
    let f = p.figures();
    assert_eq!(f.retransmitted, [0, 0]);
    assert_eq!(f.handshake, Some((1_000, 30_000)));
}
