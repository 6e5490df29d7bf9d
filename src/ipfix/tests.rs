//! Encoder bytes checked against hand-built messages, sequence numbers, packing, round
//! trips through the decoder and decoder robustness.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::flow::{from_addr, Counters, EndReason, FlowKey, FlowRecord, PROTO_ICMP, PROTO_TCP};
use crate::identity::{PeerIdentity, PodIdentity};

const PEN: u32 = 32473;

fn flow(src: IpAddr, dst: IpAddr, proto: u8, src_port: u16, dst_port: u16) -> FlowRecord {
    let (src, ipv6) = from_addr(src);
    let (dst, _) = from_addr(dst);
    FlowRecord {
        key: FlowKey {
            src,
            dst,
            src_port,
            dst_port,
            vlan: 42,
            point: 0,
            proto,
            ipv6,
        },
        start: 1_700_000_000_123_456_789,
        end: 1_700_000_005_987_000_000,
        forward: Counters {
            packets: 10,
            octets: 1500,
            tcp_flags: 0x1b,
        },
        reverse: Counters {
            packets: 8,
            octets: 9000,
            tcp_flags: 0x12,
        },
        tos: 0x28,
        end_reason: EndReason::EndOfFlow,
        ext: None,
    }
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pod() -> PodIdentity {
    PodIdentity {
        node_name: "node-a".into(),
        node_ip: Some(v4([192, 168, 1, 5])),
        pod_name: "shop-7d9f".into(),
        pod_namespace: "prod".into(),
        pod_uid: "0f3c".into(),
        workload_name: "shop".into(),
        workload_kind: "Deployment".into(),
        cluster_name: "".into(),
        labels_json: r#"{"app":"shop"}"#.into(),
        annotations_json: format!(r#"{{"note":"{}"}}"#, "x".repeat(290)),
    }
}

fn record<'a>(flow: &'a FlowRecord, pod: &'a PodIdentity) -> ExportRecord<'a> {
    ExportRecord {
        flow,
        direction: 1,
        interface: "eth0",
        observation_point: 1,
        pod,
        peer: None,
    }
}

fn opts(biflow: bool, with_peer: bool, max_message_bytes: usize) -> EncoderOptions {
    EncoderOptions {
        observation_domain_id: 7,
        enterprise_number: PEN,
        biflow,
        with_peer,
        max_message_bytes,
        ..EncoderOptions::default()
    }
}

/// The templates of `enc`, which fit one message with the budgets of these tests.
fn templates(enc: &mut Encoder, time: u32) -> Vec<u8> {
    let mut msgs = enc.templates(time);
    assert_eq!(msgs.len(), 1, "the templates fit one message");
    msgs.remove(0)
}

/// The bytes of encoded messages.
fn bytes(msgs: Vec<Encoded>) -> Vec<Vec<u8>> {
    msgs.into_iter().map(|m| m.bytes).collect()
}

/// A message header with these fields.
fn header(len: u16, time: u32, seq: u32, domain: u32) -> Vec<u8> {
    let mut h = vec![0x00, 0x0a];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&time.to_be_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&domain.to_be_bytes());
    h
}

mod decoder;
mod groups;
mod hand_built;
mod packing;
mod round_trip;
