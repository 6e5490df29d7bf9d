//! Pure frame decoding: bytes of one captured frame in, a [`Packet`] summary out.

use crate::flow::Packet;

/// Link-layer header type of a capture (pcap LINKTYPE_* values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    LinuxSll,
    LinuxSll2,
    RawIp,
    RawIpv4,
    RawIpv6,
    Null,
    Loop,
}

impl LinkType {
    /// Maps a pcap/pcapng link type number; `None` for types podflow cannot decode.
    pub fn from_pcap(linktype: u32) -> Option<LinkType> {
        let _ = linktype;
        todo!()
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

/// Decodes one frame. Never panics, never allocates.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet, Ignored> {
    let _ = (link, frame);
    todo!()
}
