//! Flow keys and the per-packet summary that capture hands to the flow table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Nanoseconds since the Unix epoch: packet time in pcap mode, wall time live.
pub type Nanos = u64;

/// One nanosecond-clock second.
pub const NANOS_PER_SEC: Nanos = 1_000_000_000;

/// The identity of a unidirectional flow as seen on the wire.
///
/// Addresses are kept as `u128` so that hashing and comparing a key is a handful of
/// integer operations: an IPv4 address occupies the low 32 bits and `ipv6` is false.
/// For ICMP and ICMPv6 `src_port` is 0 and `dst_port` is `type * 256 + code`
/// (the NetFlow convention softflowd and nfdump follow).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub src: u128,
    pub dst: u128,
    pub src_port: u16,
    pub dst_port: u16,
    /// Outer 802.1Q VLAN id, 0 when untagged.
    pub vlan: u16,
    /// Index of the capture interface (observation point) the packet was seen on; in node
    /// mode it also tells the network namespaces apart.
    pub point: u32,
    pub proto: u8,
    pub ipv6: bool,
}

impl FlowKey {
    /// The same flow seen from the other side: addresses and ports swapped.
    #[inline]
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }

    /// ICMP messages never pair into biflows (a request and its reply are two flows).
    #[inline]
    pub fn is_icmp(&self) -> bool {
        (!self.ipv6 && self.proto == PROTO_ICMP) || (self.ipv6 && self.proto == PROTO_ICMPV6)
    }

    pub fn src_addr(&self) -> IpAddr {
        to_addr(self.src, self.ipv6)
    }

    pub fn dst_addr(&self) -> IpAddr {
        to_addr(self.dst, self.ipv6)
    }
}

/// Packs an address into the `u128` form used by [`FlowKey`].
pub fn from_addr(addr: IpAddr) -> (u128, bool) {
    match addr {
        IpAddr::V4(a) => (u32::from(a) as u128, false),
        IpAddr::V6(a) => (u128::from(a), true),
    }
}

fn to_addr(raw: u128, ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::from(raw))
    } else {
        IpAddr::V4(Ipv4Addr::from(raw as u32))
    }
}

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_SCTP: u8 = 132;

/// TCP flag bits as in the TCP header (and in IPFIX tcpControlBits, RFC 7125).
pub mod tcp_flags {
    pub const FIN: u16 = 0x01;
    pub const SYN: u16 = 0x02;
    pub const RST: u16 = 0x04;
    pub const PSH: u16 = 0x08;
    pub const ACK: u16 = 0x10;
}

/// Where an IP packet stands in a fragmented datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fragment {
    /// Not fragmented.
    #[default]
    Whole,
    /// Offset 0 with more fragments to come: carries the transport header.
    First { id: u32 },
    /// Offset > 0: no transport header, ports must come from the first fragment.
    Later { id: u32 },
}

/// What the flow table needs to know about one IP packet. Small and `Copy`: decode
/// produces it from a frame without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Packet {
    /// Directional key as on the wire (`point` is set by the capture source).
    pub key: FlowKey,
    /// IP bytes (header + payload) from the IP length field, not the captured length.
    pub octets: u32,
    /// TCP flags (low 9 bits of the TCP header's flag field), 0 for other protocols.
    pub tcp_flags: u16,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    pub fragment: Fragment,
    /// Sequence and acknowledgement numbers and window of a TCP segment (zero otherwise).
    pub tcp: TcpSegment,
    /// Length of the transport payload on the wire (TCP or UDP), from the IP length, even
    /// when the capture cut the frame: what sequence numbers count.
    pub payload_len: u16,
    /// Where the transport payload starts in the captured frame (0 when there is none, or
    /// none was captured): [`Packet::payload`] gives the captured part.
    pub payload_at: u16,
}

/// What the TCP header says besides ports and flags: what network performance needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpSegment {
    pub seq: u32,
    pub ack: u32,
    /// The advertised window, unscaled.
    pub window: u16,
}

impl Packet {
    /// The captured part of the transport payload of `frame`, the frame this packet was
    /// decoded from; empty when none was captured.
    #[inline]
    pub fn payload<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        if self.payload_at == 0 {
            return &[];
        }
        // Never the padding of a short Ethernet frame: no more than the IP length says.
        let payload = frame
            .get(usize::from(self.payload_at)..)
            .unwrap_or_default();
        &payload[..payload.len().min(usize::from(self.payload_len))]
    }
}
