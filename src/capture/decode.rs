//! Pure frame decoding: bytes of one captured frame in, a [`Packet`] summary out.
//!
//! Runs once per packet, so it never allocates and never panics: every read is a
//! bounds-checked `get`/`first_chunk`, and a short or inconsistent frame becomes
//! [`Ignored::Malformed`]. A transport header cut short by the snap length still yields
//! a packet (with the ports that could be read) so that its bytes are metered.

use crate::flow::{
    FlowKey, Fragment, Packet, TcpSegment, PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP,
    PROTO_UDP,
};

/// Link-layer header type of a capture (pcap `LINKTYPE_*` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1), with any number of 802.1Q/802.1ad tags.
    Ethernet,
    /// `LINKTYPE_LINUX_SLL` (113): 16-byte Linux cooked header.
    LinuxSll,
    /// `LINKTYPE_LINUX_SLL2` (276): 20-byte Linux cooked header.
    LinuxSll2,
    /// `LINKTYPE_RAW` (101, and `DLT_RAW` 12/14): IPv4 or IPv6 by the version nibble.
    RawIp,
    /// `LINKTYPE_IPV4` (228).
    RawIpv4,
    /// `LINKTYPE_IPV6` (229).
    RawIpv6,
    /// `LINKTYPE_NULL` (0): BSD loopback, 4-byte address family in the writer's byte order.
    Null,
    /// `LINKTYPE_LOOP` (108): OpenBSD loopback, address family in network byte order.
    Loop,
}

impl LinkType {
    /// Maps a pcap/pcapng link type number; `None` for types podflow cannot decode.
    pub fn from_pcap(linktype: u32) -> Option<LinkType> {
        Some(match linktype {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::RawIp,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::RawIpv4,
            229 => LinkType::RawIpv6,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }
}

/// Why a frame was not metered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// Not IP (ARP, LLDP, ...).
    NotIp,
    /// Too short or inconsistent to decode.
    Malformed,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_8021Q: u16 = 0x8100;
const ETHERTYPE_8021AD: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

const PROTO_DCCP: u8 = 33;
const PROTO_UDPLITE: u8 = 136;

/// IPv6 extension headers walked before giving up on finding the transport header.
const MAX_IPV6_EXTENSIONS: usize = 8;

/// The network layer found under the link-layer header(s).
#[derive(Clone, Copy)]
enum Net {
    V4,
    V6,
}

/// Decodes one frame captured whole. Never panics, never allocates.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet, Ignored> {
    decode_frame(link, frame, u32::try_from(frame.len()).unwrap_or(u32::MAX))
}

/// Decodes one frame of which `frame` was captured and `wire_len` bytes were on the wire
/// (the ring's or the pcap record's original length). Octets come from the IP length
/// field; where that is 0 (segmentation offload, BIG TCP, jumbograms), from `wire_len`
/// less the link-layer header, never from what was captured. Never panics, never
/// allocates.
pub fn decode_frame(link: LinkType, frame: &[u8], wire_len: u32) -> Result<Packet, Ignored> {
    let (net, vlan, ip) = link_layer(link, frame)?;
    // The link-layer header is what precedes `ip` in `frame`.
    let link_len = u32::try_from(frame.len() - ip.len()).unwrap_or(u32::MAX);
    let ip_wire_len = wire_len.saturating_sub(link_len).max(captured_len(ip));
    let mut packet = match net {
        Net::V4 => ipv4(ip, ip_wire_len)?,
        Net::V6 => ipv6(ip, ip_wire_len)?,
    };
    packet.key.vlan = vlan;
    if packet.payload_at != 0 {
        // `ipv4`/`ipv6` count from the IP header; the frame starts `link_len` earlier.
        packet.payload_at = u16::try_from(u32::from(packet.payload_at) + link_len).unwrap_or(0);
    }
    Ok(packet)
}

/// Strips the link-layer header: which IP version follows, the outer VLAN id and the
/// bytes from the IP header on.
fn link_layer(link: LinkType, frame: &[u8]) -> Result<(Net, u16, &[u8]), Ignored> {
    match link {
        LinkType::Ethernet => {
            let (hdr, rest) = frame.split_first_chunk::<14>().ok_or(Ignored::Malformed)?;
            ethertype_chain(u16::from_be_bytes([hdr[12], hdr[13]]), rest)
        }
        LinkType::LinuxSll => {
            let (hdr, rest) = frame.split_first_chunk::<16>().ok_or(Ignored::Malformed)?;
            ethertype_chain(u16::from_be_bytes([hdr[14], hdr[15]]), rest)
        }
        LinkType::LinuxSll2 => {
            let (hdr, rest) = frame.split_first_chunk::<20>().ok_or(Ignored::Malformed)?;
            ethertype_chain(u16::from_be_bytes([hdr[0], hdr[1]]), rest)
        }
        LinkType::RawIp => match frame.first().map(|b| b >> 4) {
            Some(4) => Ok((Net::V4, 0, frame)),
            Some(6) => Ok((Net::V6, 0, frame)),
            _ => Err(Ignored::Malformed),
        },
        LinkType::RawIpv4 => Ok((Net::V4, 0, frame)),
        LinkType::RawIpv6 => Ok((Net::V6, 0, frame)),
        LinkType::Null => {
            let (family, rest) = frame.split_first_chunk::<4>().ok_or(Ignored::Malformed)?;
            // Written in the capturing host's byte order, which the file does not record:
            // families are small numbers, so the reading that fits in 16 bits is the right one.
            let le = u32::from_le_bytes(*family);
            let family = if le > 0xffff {
                u32::from_be_bytes(*family)
            } else {
                le
            };
            Ok((bsd_family(family)?, 0, rest))
        }
        LinkType::Loop => {
            let (family, rest) = frame.split_first_chunk::<4>().ok_or(Ignored::Malformed)?;
            Ok((bsd_family(u32::from_be_bytes(*family))?, 0, rest))
        }
    }
}

/// BSD address family values: `AF_INET` is 2 everywhere; `AF_INET6` is 24 (NetBSD, OpenBSD),
/// 28 (FreeBSD) or 30 (macOS).
fn bsd_family(family: u32) -> Result<Net, Ignored> {
    match family {
        2 => Ok(Net::V4),
        24 | 28 | 30 => Ok(Net::V6),
        _ => Err(Ignored::NotIp),
    }
}

/// Follows VLAN tags (any depth) to the IP ethertype; the outermost tag gives the VLAN id.
fn ethertype_chain(mut ethertype: u16, mut rest: &[u8]) -> Result<(Net, u16, &[u8]), Ignored> {
    let mut vlan = None;
    while matches!(
        ethertype,
        ETHERTYPE_8021Q | ETHERTYPE_8021AD | ETHERTYPE_QINQ_OLD
    ) {
        let (tag, inner) = rest.split_first_chunk::<4>().ok_or(Ignored::Malformed)?;
        vlan.get_or_insert(u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff);
        ethertype = u16::from_be_bytes([tag[2], tag[3]]);
        rest = inner;
    }
    let net = match ethertype {
        ETHERTYPE_IPV4 => Net::V4,
        ETHERTYPE_IPV6 => Net::V6,
        _ => return Err(Ignored::NotIp),
    };
    Ok((net, vlan.unwrap_or(0), rest))
}

/// `wire_len`: the IP packet's length on the wire (at least what was captured of it).
fn ipv4(ip: &[u8], wire_len: u32) -> Result<Packet, Ignored> {
    let h = ip.first_chunk::<20>().ok_or(Ignored::Malformed)?;
    if h[0] >> 4 != 4 {
        return Err(Ignored::Malformed);
    }
    let header_len = usize::from(h[0] & 0x0f) * 4;
    if header_len < 20 || header_len > ip.len() {
        return Err(Ignored::Malformed);
    }
    let total_len = u16::from_be_bytes([h[2], h[3]]);
    // A total length of 0 comes from segmentation offload (IPv4 BIG TCP): the packet is
    // as long as it was on the wire.
    let (octets, end) = if total_len == 0 {
        (wire_len, ip.len())
    } else if usize::from(total_len) < header_len {
        return Err(Ignored::Malformed);
    } else {
        (u32::from(total_len), ip.len().min(usize::from(total_len)))
    };

    let id = u32::from(u16::from_be_bytes([h[4], h[5]]));
    let frag = u16::from_be_bytes([h[6], h[7]]);
    let more_fragments = frag & 0x2000 != 0;
    let fragment = match frag & 0x1fff {
        0 if more_fragments => Fragment::First { id },
        0 => Fragment::Whole,
        _ => Fragment::Later { id },
    };

    let mut packet = Packet {
        key: FlowKey {
            src: u128::from(u32::from_be_bytes([h[12], h[13], h[14], h[15]])),
            dst: u128::from(u32::from_be_bytes([h[16], h[17], h[18], h[19]])),
            proto: h[9],
            ipv6: false,
            ..FlowKey::default()
        },
        octets,
        tcp_flags: 0,
        tos: h[1],
        fragment,
        ..Packet::default()
    };
    if !matches!(fragment, Fragment::Later { .. }) {
        let l4 = ip.get(header_len..end).unwrap_or_default();
        let l4_wire_len = octets.saturating_sub(header_len as u32);
        transport(&mut packet, l4, header_len, l4_wire_len);
    }
    Ok(packet)
}

fn ipv6(ip: &[u8], wire_len: u32) -> Result<Packet, Ignored> {
    let h = ip.first_chunk::<40>().ok_or(Ignored::Malformed)?;
    if h[0] >> 4 != 6 {
        return Err(Ignored::Malformed);
    }
    let payload_len = u16::from_be_bytes([h[4], h[5]]);
    // Payload length 0 is a jumbogram (or offloaded BIG TCP): count what was on the wire.
    let (octets, end) = if payload_len == 0 {
        (wire_len, ip.len())
    } else {
        let total = 40 + usize::from(payload_len);
        (40 + u32::from(payload_len), ip.len().min(total))
    };

    let mut packet = Packet {
        key: FlowKey {
            src: addr6(h, 8),
            dst: addr6(h, 24),
            ipv6: true,
            ..FlowKey::default()
        },
        octets,
        tcp_flags: 0,
        tos: ((u16::from_be_bytes([h[0], h[1]]) >> 4) & 0xff) as u8,
        fragment: Fragment::Whole,
        ..Packet::default()
    };

    let body = ip.get(..end).unwrap_or_default();
    let mut next = h[6];
    let mut at = 40;
    // Up to MAX_IPV6_EXTENSIONS extension headers, then the transport header.
    for _ in 0..=MAX_IPV6_EXTENSIONS {
        let ext_len = match next {
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
            0 | 43 | 60 | 135 | 139 | 140 => {
                body.get(at + 1).map(|&len| (usize::from(len) + 1) * 8)
            }
            // Authentication header: length in 4-byte units, not counting the first two.
            51 => body.get(at + 1).map(|&len| (usize::from(len) + 2) * 4),
            44 => match body.get(at..).and_then(|b| b.first_chunk::<8>()) {
                Some(f) => {
                    let offset = u16::from_be_bytes([f[2], f[3]]) >> 3;
                    let id = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
                    if offset > 0 {
                        packet.key.proto = f[0];
                        packet.fragment = Fragment::Later { id };
                        return Ok(packet);
                    }
                    if f[3] & 1 != 0 {
                        packet.fragment = Fragment::First { id };
                    }
                    Some(8)
                }
                None => None,
            },
            _ => {
                packet.key.proto = next;
                let l4_wire_len = octets.saturating_sub(at as u32);
                transport(
                    &mut packet,
                    body.get(at..).unwrap_or_default(),
                    at,
                    l4_wire_len,
                );
                return Ok(packet);
            }
        };
        // A chain cut short by the snap length: meter the bytes under the header reached.
        let Some(ext_len) = ext_len else { break };
        let Some(&following) = body.get(at) else {
            break;
        };
        next = following;
        at += ext_len;
    }
    packet.key.proto = next;
    Ok(packet)
}

/// Reads ports, TCP flags or ICMP type/code from what was captured of the transport
/// header, which starts `l4_at` bytes into the IP packet and is `l4_wire_len` bytes long
/// on the wire; for TCP and UDP also where the payload starts and how long it is.
fn transport(packet: &mut Packet, l4: &[u8], l4_at: usize, l4_wire_len: u32) {
    let key = &mut packet.key;
    match key.proto {
        PROTO_TCP | PROTO_UDP | PROTO_SCTP | PROTO_UDPLITE | PROTO_DCCP => {
            if let Some(p) = l4.first_chunk::<4>() {
                key.src_port = u16::from_be_bytes([p[0], p[1]]);
                key.dst_port = u16::from_be_bytes([p[2], p[3]]);
            }
            let header_len = match key.proto {
                PROTO_TCP => match l4.first_chunk::<20>() {
                    Some(t) => {
                        packet.tcp_flags = u16::from_be_bytes([t[12], t[13]]) & 0x01ff;
                        packet.tcp = TcpSegment {
                            seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
                            ack: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
                            window: u16::from_be_bytes([t[14], t[15]]),
                        };
                        match usize::from(t[12] >> 4) * 4 {
                            len if len < 20 => return, // no valid data offset
                            len => len,
                        }
                    }
                    None => {
                        if let Some(t) = l4.first_chunk::<14>() {
                            packet.tcp_flags = u16::from_be_bytes([t[12], t[13]]) & 0x01ff;
                        }
                        return;
                    }
                },
                PROTO_UDP if l4.len() >= 8 => 8,
                _ => return,
            };
            packet.payload_len =
                u16::try_from(l4_wire_len.saturating_sub(header_len as u32)).unwrap_or(u16::MAX);
            if packet.payload_len > 0 && header_len < l4.len() {
                packet.payload_at = u16::try_from(l4_at + header_len).unwrap_or(0);
            }
        }
        PROTO_ICMP if !key.ipv6 => icmp(key, l4),
        PROTO_ICMPV6 if key.ipv6 => icmp(key, l4),
        _ => {}
    }
}

fn icmp(key: &mut FlowKey, l4: &[u8]) {
    if let Some(t) = l4.first_chunk::<2>() {
        key.dst_port = u16::from_be_bytes(*t);
    }
}

fn addr6(header: &[u8; 40], at: usize) -> u128 {
    header
        .get(at..)
        .and_then(|b| b.first_chunk::<16>())
        .map_or(0, |a| u128::from_be_bytes(*a))
}

fn captured_len(ip: &[u8]) -> u32 {
    u32::try_from(ip.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
