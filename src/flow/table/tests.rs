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
        max_backlog: usize::MAX,
        biflow,
        npm: false,
        l7: false,
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

mod batch;
mod bounds;
mod directions;
mod tcp_end;
mod timeouts;
