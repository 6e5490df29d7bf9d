//! pcapng (draft-ietf-opsawg-pcapng): sections and their byte order, interface
//! descriptions with their timestamp resolution and offset, enhanced, simple and obsolete
//! packet blocks; every other block is skipped.

use super::{Frame, Order, PcapError, PcapReader, Result, MAX_BLOCK_BYTES};
use crate::capture::decode::LinkType;
use crate::flow::{Nanos, NANOS_PER_SEC};

pub(super) const SHB: u32 = 0x0a0d_0d0a;
pub(super) const IDB: u32 = 1;
pub(super) const OBSOLETE_PB: u32 = 2;
pub(super) const SPB: u32 = 3;
pub(super) const EPB: u32 = 6;

pub(super) const OPT_END: u16 = 0;
pub(super) const OPT_IF_TSRESOL: u16 = 9;
pub(super) const OPT_IF_TSOFFSET: u16 = 14;

/// The current pcapng section: its byte order and interfaces.
pub(super) struct Section {
    pub(super) order: Order,
    pub(super) interfaces: Vec<Interface>,
    /// Timestamp of the last timed packet, given to simple packet blocks.
    pub(super) last_ts: Nanos,
}

pub(super) struct Interface {
    linktype: u32,
    link: Option<LinkType>,
    snaplen: u32,
    resolution: Resolution,
    /// `if_tsoffset`: seconds to add to every timestamp, in nanoseconds.
    offset_ns: i64,
}

impl Interface {
    /// The decodable link type, or the number that is not.
    fn link(&self) -> Result<LinkType, u32> {
        self.link.ok_or(self.linktype)
    }
}

/// Converts interface timestamp units to nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resolution {
    Multiply(u64),
    Divide(u64),
    /// Units of 2^-n seconds.
    Binary(u32),
}

impl Resolution {
    /// From the `if_tsresol` option byte: 10^-n, or 2^-n when the top bit is set.
    fn from_option(byte: u8) -> Resolution {
        let exp = u32::from(byte & 0x7f);
        if byte & 0x80 != 0 {
            Resolution::Binary(exp)
        } else if exp <= 9 {
            Resolution::Multiply(10u64.pow(9 - exp))
        } else {
            Resolution::Divide(10u64.checked_pow(exp - 9).unwrap_or(u64::MAX))
        }
    }

    fn to_nanos(self, units: u64) -> Nanos {
        match self {
            Resolution::Multiply(m) => units.saturating_mul(m),
            Resolution::Divide(d) => units / d,
            Resolution::Binary(n) => {
                let ns = (u128::from(units) * u128::from(NANOS_PER_SEC)) >> n;
                u64::try_from(ns).unwrap_or(u64::MAX)
            }
        }
    }
}

/// The default pcapng resolution: microseconds.
const MICROSECONDS: Resolution = Resolution::Multiply(1_000);

impl PcapReader {
    pub(super) fn next_block(&mut self) -> Result<Option<Frame<'_>>> {
        loop {
            if !self.fill(8)? {
                return self.end_of_input();
            }
            let offset = self.offset();
            let head = &self.buf[self.start..self.start + 8];
            if head[..4] == SHB.to_be_bytes() {
                self.section_header()?;
                continue;
            }
            let order = self.ng.order;
            let kind = order.u32(head, 0);
            let len = order.u32(head, 4) as usize;
            self.check_block_len(offset, len)?;
            if !matches!(kind, IDB | EPB | SPB | OBSOLETE_PB) {
                self.skip(offset, len)?;
                continue;
            }
            if len > MAX_BLOCK_BYTES {
                return Err(self.corrupt(
                    offset,
                    format!("block of {len} bytes, more than the {MAX_BLOCK_BYTES}-byte limit"),
                ));
            }
            if !self.fill(len)? {
                return Err(self.truncated(offset));
            }
            let at = self.start;
            self.start += len;
            let block = &self.buf[at..at + len];
            if order.u32(block, len - 4) as usize != len {
                return Err(self.corrupt(offset, "block lengths at start and end differ".into()));
            }
            let body = &block[8..len - 4];
            let (interface, link, ts, data, orig_len) = match kind {
                IDB => {
                    let interface = parse_interface(order, body).ok_or_else(|| {
                        self.corrupt(offset, "interface description too short".into())
                    })?;
                    self.ng.interfaces.push(interface);
                    continue;
                }
                EPB | OBSOLETE_PB => {
                    if body.len() < 20 {
                        return Err(self.corrupt(offset, "packet block too short".into()));
                    }
                    let interface = if kind == EPB {
                        order.u32(body, 0)
                    } else {
                        u32::from(order.u16(body, 0))
                    };
                    let units = u64::from(order.u32(body, 4)) << 32 | u64::from(order.u32(body, 8));
                    let captured = order.u32(body, 12) as usize;
                    if captured > body.len() - 20 {
                        return Err(self.corrupt(
                            offset,
                            format!("captured length {captured} runs past the end of the block"),
                        ));
                    }
                    let iface = self.interface(offset, interface)?;
                    let link = iface.link();
                    let ts = iface
                        .resolution
                        .to_nanos(units)
                        .saturating_add_signed(iface.offset_ns);
                    self.ng.last_ts = ts;
                    (interface, link, ts, 20..20 + captured, order.u32(body, 16))
                }
                _ => {
                    if body.len() < 4 {
                        return Err(self.corrupt(offset, "simple packet block too short".into()));
                    }
                    let orig_len = order.u32(body, 0);
                    let iface = self.interface(offset, 0)?;
                    let snaplen = match iface.snaplen {
                        0 => u32::MAX,
                        n => n,
                    };
                    let captured = (body.len() - 4).min(orig_len.min(snaplen) as usize);
                    (0, iface.link(), self.ng.last_ts, 4..4 + captured, orig_len)
                }
            };
            let link = link.map_err(|linktype| PcapError::UnsupportedLinkType {
                file: self.name.clone(),
                linktype,
            })?;
            let body = &self.buf[at + 8..at + len - 4];
            return Ok(Some(Frame {
                ts,
                link,
                data: &body[data],
                orig_len,
                interface,
            }));
        }
    }

    /// Reads a section header block at `start`: byte order, version; forgets interfaces.
    pub(super) fn section_header(&mut self) -> Result<()> {
        let offset = self.offset();
        if !self.fill(16)? {
            return Err(self.truncated(offset));
        }
        let head = &self.buf[self.start..self.start + 16];
        let order = match head[8..12] {
            [0x4d, 0x3c, 0x2b, 0x1a] => Order::Little,
            [0x1a, 0x2b, 0x3c, 0x4d] => Order::Big,
            _ => return Err(self.corrupt(offset, "bad byte-order magic in section header".into())),
        };
        let len = order.u32(head, 4) as usize;
        let major = order.u16(head, 12);
        if major != 1 {
            return Err(self.corrupt(offset, format!("unsupported pcapng version {major}")));
        }
        if len < 28 {
            return Err(self.corrupt(offset, format!("section header of {len} bytes")));
        }
        self.check_block_len(offset, len)?;
        self.ng.order = order;
        self.ng.interfaces.clear();
        self.skip(offset, len)
    }

    fn interface(&self, offset: u64, id: u32) -> Result<&Interface> {
        self.ng.interfaces.get(id as usize).ok_or_else(|| {
            self.corrupt(
                offset,
                format!(
                    "packet of interface {id}, but the section describes {}",
                    self.ng.interfaces.len()
                ),
            )
        })
    }

    fn check_block_len(&self, offset: u64, len: usize) -> Result<()> {
        if len < 12 || !len.is_multiple_of(4) {
            return Err(self.corrupt(offset, format!("invalid block length {len}")));
        }
        Ok(())
    }
}

/// An interface description block's body: link type, snap length and the options that
/// set the timestamp resolution and offset. `None` if too short for the fixed fields.
fn parse_interface(order: Order, body: &[u8]) -> Option<Interface> {
    let fixed = body.get(..8)?;
    let linktype = u32::from(order.u16(fixed, 0));
    let mut interface = Interface {
        linktype,
        link: LinkType::from_pcap(linktype),
        snaplen: order.u32(fixed, 4),
        resolution: MICROSECONDS,
        offset_ns: 0,
    };
    let mut options = &body[8..];
    while let Some((head, rest)) = options.split_first_chunk::<4>() {
        let code = order.u16(head, 0);
        let len = usize::from(order.u16(head, 2));
        let Some(value) = rest.get(..len) else { break };
        match code {
            OPT_END => break,
            OPT_IF_TSRESOL => {
                if let Some(&byte) = value.first() {
                    interface.resolution = Resolution::from_option(byte);
                }
            }
            OPT_IF_TSOFFSET if len >= 8 => {
                let secs = order.u64(value, 0) as i64;
                interface.offset_ns = secs.saturating_mul(NANOS_PER_SEC as i64);
            }
            _ => {}
        }
        options = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    Some(interface)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_conversions() {
        assert_eq!(Resolution::from_option(6), MICROSECONDS);
        assert_eq!(Resolution::from_option(9), Resolution::Multiply(1));
        assert_eq!(
            Resolution::from_option(0),
            Resolution::Multiply(NANOS_PER_SEC)
        );
        assert_eq!(Resolution::from_option(12), Resolution::Divide(1_000));
        assert_eq!(Resolution::from_option(0x80 | 10), Resolution::Binary(10));
        assert_eq!(Resolution::Binary(10).to_nanos(1024), NANOS_PER_SEC);
        assert_eq!(Resolution::Binary(0).to_nanos(3), 3 * NANOS_PER_SEC);
        assert_eq!(Resolution::from_option(127).to_nanos(1_000), 0);
        assert_eq!(
            Resolution::Multiply(NANOS_PER_SEC).to_nanos(u64::MAX),
            u64::MAX
        );
    }
}
