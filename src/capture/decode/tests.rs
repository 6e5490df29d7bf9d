//! Decoder tests on frames built field by field.

use super::*;
use crate::flow::tcp_flags::{ACK, SYN};

const SRC4: [u8; 4] = [10, 0, 0, 1];
const DST4: [u8; 4] = [192, 168, 1, 2];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

/// An IPv4 header field by field; `build` fills in the lengths.
struct V4 {
    tos: u8,
    id: u16,
    /// Flags and fragment offset (in 8-byte units) as in the header.
    frag: u16,
    proto: u8,
    options: Vec<u8>,
    /// Overrides the computed total length.
    total_len: Option<u16>,
}

impl V4 {
    fn new(proto: u8) -> V4 {
        V4 {
            tos: 0,
            id: 0x1234,
            frag: 0,
            proto,
            options: Vec::new(),
            total_len: None,
        }
    }

    fn build(&self, payload: &[u8]) -> Vec<u8> {
        let header_len = 20 + self.options.len();
        assert_eq!(header_len % 4, 0);
        let total = self
            .total_len
            .unwrap_or((header_len + payload.len()) as u16);
        let mut b = vec![0x40 | (header_len / 4) as u8, self.tos];
        b.extend(be16(total));
        b.extend(be16(self.id));
        b.extend(be16(self.frag));
        b.extend([64, self.proto, 0, 0]);
        b.extend(SRC4);
        b.extend(DST4);
        b.extend(&self.options);
        b.extend(payload);
        b
    }
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    V4::new(proto).build(payload)
}

fn ipv6_tc(next: u8, traffic_class: u8, payload: &[u8]) -> Vec<u8> {
    let word = 0x6000_0000u32 | (u32::from(traffic_class) << 20) | 0xbeef;
    let mut b = word.to_be_bytes().to_vec();
    b.extend(be16(payload.len() as u16));
    b.extend([next, 64]);
    b.extend(SRC6);
    b.extend(DST6);
    b.extend(payload);
    b
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_tc(next, 0, payload)
}

/// An options-style extension header (hop-by-hop, destination options, routing) of
/// `(units + 1) * 8` bytes in front of `rest`.
fn ext(next: u8, units: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![next, units];
    b.resize((usize::from(units) + 1) * 8, 0);
    b.extend(rest);
    b
}

fn frag6(next: u8, offset: u16, more: bool, id: u32, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![next, 0];
    b.extend(be16(offset << 3 | u16::from(more)));
    b.extend(id.to_be_bytes());
    b.extend(rest);
    b
}

fn tcp(sport: u16, dport: u16, flags: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(be16(sport));
    b.extend(be16(dport));
    b.extend([0; 8]);
    b.extend(be16(0x5000 | flags));
    b.extend([0xff, 0xff, 0, 0, 0, 0]);
    b
}

fn ports(sport: u16, dport: u16, body: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(be16(sport));
    b.extend(be16(dport));
    b.resize(8 + body, 0xaa);
    b
}

fn icmp(kind: u8, code: u8) -> Vec<u8> {
    vec![kind, code, 0, 0, 0, 1, 0, 1]
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    b.extend(be16(ethertype));
    b.extend(payload);
    b
}

/// A VLAN tag (TPID is the ethertype in front of it) followed by the inner ethertype.
fn tag(vid: u16, inner: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = be16(0x2000 | vid).to_vec();
    b.extend(be16(inner));
    b.extend(payload);
    b
}

fn sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    b.extend(be16(protocol));
    b.extend(payload);
    b
}

fn sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = be16(protocol).to_vec();
    b.extend([0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    b.extend(payload);
    b
}

fn family(bytes: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b.extend(payload);
    b
}

fn ok(link: LinkType, frame: &[u8]) -> Packet {
    decode(link, frame).expect("frame decodes")
}

fn v4_addr(a: [u8; 4]) -> u128 {
    u128::from(u32::from_be_bytes(a))
}

mod frames;
mod ip;
mod malformed;
mod transport;
mod truncation;
