//! Reader for pcap and pcapng capture files.
//!
//! Reads through one large reusable buffer: a read syscall per few megabytes, no
//! allocation per frame, and each [`Frame`] borrows its bytes from the buffer. Classic pcap
//! (microsecond and nanosecond magics, either byte order) and pcapng (sections, interface
//! descriptions with their timestamp resolution and offset, enhanced, simple and obsolete
//! packet blocks; every other block is skipped) are recognised by their first four bytes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::decode::LinkType;
use crate::flow::{Nanos, NANOS_PER_SEC};

/// Largest captured frame in a classic pcap record; a larger length means a corrupt file.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

/// Largest pcapng block that is parsed (packets, interface descriptions). Blocks that are
/// skipped may be of any size.
const MAX_BLOCK_BYTES: usize = 1024 * 1024;

/// Bytes asked of the file per read. Small enough that what the kernel copies in is still
/// in the L2 cache when it is parsed: 256 KiB reads are measurably faster than 4 MiB ones.
const READ_BYTES: usize = 256 * 1024;

/// Read buffer: room for the largest parsed block and one read.
const BUFFER_BYTES: usize = MAX_BLOCK_BYTES + READ_BYTES;

const PCAP_RECORD_HEADER: usize = 16;
const PCAP_FILE_HEADER: usize = 24;

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const OBSOLETE_PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

pub type Result<T, E = PcapError> = std::result::Result<T, E>;

/// What went wrong reading a capture file; every message starts with the file's name.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("{file}: not a pcap or pcapng file (it starts with {magic})")]
    NotPcap { file: String, magic: String },
    /// The file's (classic pcap) or an interface's (pcapng) link type cannot be decoded.
    /// For pcapng it is returned when a frame of that interface is read, and the frame is
    /// consumed: the caller may skip it and read on.
    #[error("{file}: unsupported link type {linktype}")]
    UnsupportedLinkType { file: String, linktype: u32 },
    /// The file ends inside the record or block that starts at `offset`.
    #[error("{file}: truncated: the record at byte {offset} is cut off by the end of the file")]
    Truncated { file: String, offset: u64 },
    #[error("{file}: corrupt at byte {offset}: {what}")]
    Corrupt {
        file: String,
        offset: u64,
        what: String,
    },
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
}

/// One captured frame, borrowed from the reader's buffer until the next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts: Nanos,
    pub link: LinkType,
    /// The captured bytes (at most the snap length of the capture).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// pcapng interface id (0 for classic pcap).
    pub interface: u32,
}

/// Streams frames out of a pcap or pcapng file.
pub struct PcapReader {
    name: String,
    src: Box<dyn Read + Send>,
    buf: Box<[u8]>,
    /// First unconsumed byte in `buf`.
    start: usize,
    /// End of the bytes read into `buf`.
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    format: Format,
    /// pcapng state; unused for classic pcap.
    ng: Section,
}

#[derive(Clone, Copy)]
enum Format {
    Pcap {
        order: Order,
        nanos: bool,
        link: LinkType,
    },
    PcapNg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let bytes = b
            .get(at..)
            .and_then(|b| b.first_chunk::<2>())
            .copied()
            .unwrap_or_default();
        match self {
            Order::Little => u16::from_le_bytes(bytes),
            Order::Big => u16::from_be_bytes(bytes),
        }
    }

    fn u32(self, b: &[u8], at: usize) -> u32 {
        let bytes = b
            .get(at..)
            .and_then(|b| b.first_chunk::<4>())
            .copied()
            .unwrap_or_default();
        match self {
            Order::Little => u32::from_le_bytes(bytes),
            Order::Big => u32::from_be_bytes(bytes),
        }
    }

    fn u64(self, b: &[u8], at: usize) -> u64 {
        let bytes = b
            .get(at..)
            .and_then(|b| b.first_chunk::<8>())
            .copied()
            .unwrap_or_default();
        match self {
            Order::Little => u64::from_le_bytes(bytes),
            Order::Big => u64::from_be_bytes(bytes),
        }
    }
}

/// The current pcapng section: its byte order and interfaces.
struct Section {
    order: Order,
    interfaces: Vec<Interface>,
    /// Timestamp of the last timed packet, given to simple packet blocks.
    last_ts: Nanos,
}

struct Interface {
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
enum Resolution {
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
    /// Opens a capture file and reads its header.
    pub fn open(path: &Path) -> Result<PcapReader> {
        let name = path.display().to_string();
        match File::open(path) {
            Ok(file) => PcapReader::from_reader(name, file),
            Err(source) => Err(PcapError::Io { file: name, source }),
        }
    }

    /// Reads a capture from any byte stream (a pipe, stdin); `name` is used in errors.
    pub fn from_reader(
        name: impl Into<String>,
        src: impl Read + Send + 'static,
    ) -> Result<PcapReader> {
        let mut reader = PcapReader {
            name: name.into(),
            src: Box::new(src),
            buf: vec![0; BUFFER_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            format: Format::PcapNg,
            ng: Section {
                order: Order::Little,
                interfaces: Vec::new(),
                last_ts: 0,
            },
        };
        reader.fill(PCAP_FILE_HEADER)?;
        let head = &reader.buf[reader.start..reader.end];
        let magic = head.first_chunk::<4>().copied();
        let (order, nanos) = match magic.map(u32::from_be_bytes) {
            Some(0xa1b2_c3d4) => (Order::Big, false),
            Some(0xd4c3_b2a1) => (Order::Little, false),
            Some(0xa1b2_3c4d) => (Order::Big, true),
            Some(0x4d3c_b2a1) => (Order::Little, true),
            Some(SHB) => {
                reader.section_header()?;
                return Ok(reader);
            }
            _ => {
                let shown = &head[..head.len().min(4)];
                let magic = if shown.is_empty() {
                    "nothing: it is empty".to_string()
                } else {
                    shown
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                return Err(PcapError::NotPcap {
                    file: reader.name,
                    magic,
                });
            }
        };
        if head.len() < PCAP_FILE_HEADER {
            return Err(reader.truncated(0));
        }
        // The top bits of the link type field carry FCS information.
        let linktype = order.u32(head, 20) & 0x03ff_ffff;
        let link = LinkType::from_pcap(linktype).ok_or_else(|| PcapError::UnsupportedLinkType {
            file: reader.name.clone(),
            linktype,
        })?;
        reader.start += PCAP_FILE_HEADER;
        reader.format = Format::Pcap { order, nanos, link };
        Ok(reader)
    }

    /// The next frame, or `None` at the end of the file. After an error other than
    /// [`PcapError::UnsupportedLinkType`] the rest of the file cannot be trusted.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>> {
        match self.format {
            Format::Pcap { order, nanos, link } => self.next_record(order, nanos, link),
            Format::PcapNg => self.next_block(),
        }
    }

    /// The file offset of the next record or block.
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// The name given to the file in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn next_record(
        &mut self,
        order: Order,
        nanos: bool,
        link: LinkType,
    ) -> Result<Option<Frame<'_>>> {
        if !self.fill(PCAP_RECORD_HEADER)? {
            return self.end_of_input();
        }
        let at = self.start;
        let rec = &self.buf[at..at + PCAP_RECORD_HEADER];
        let sec = order.u32(rec, 0);
        let frac = order.u32(rec, 4);
        let incl_len = order.u32(rec, 8);
        let orig_len = order.u32(rec, 12);
        if incl_len as usize > MAX_FRAME_BYTES {
            return Err(self.corrupt(
                self.offset(),
                format!("record of {incl_len} bytes, more than the {MAX_FRAME_BYTES}-byte limit"),
            ));
        }
        let len = PCAP_RECORD_HEADER + incl_len as usize;
        if !self.fill(len)? {
            return Err(self.truncated(self.offset()));
        }
        let at = self.start;
        self.start += len;
        let frac_ns = if nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1_000
        };
        Ok(Some(Frame {
            ts: u64::from(sec) * NANOS_PER_SEC + frac_ns,
            link,
            data: &self.buf[at + PCAP_RECORD_HEADER..at + len],
            orig_len,
            interface: 0,
        }))
    }

    fn next_block(&mut self) -> Result<Option<Frame<'_>>> {
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
    fn section_header(&mut self) -> Result<()> {
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

    /// Consumes `len` bytes, reading through the buffer without keeping them.
    fn skip(&mut self, offset: u64, mut len: usize) -> Result<()> {
        loop {
            let available = self.end - self.start;
            if available >= len {
                self.start += len;
                return Ok(());
            }
            len -= available;
            self.start = self.end;
            if !self.fill(1)? {
                return Err(self.truncated(offset));
            }
        }
    }

    /// Makes `need` bytes available from `start`; false if the input ends first.
    #[inline]
    fn fill(&mut self, need: usize) -> Result<bool> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        self.refill(need)
    }

    /// Moves the unconsumed bytes to the front and reads until `need` are there.
    #[cold]
    fn refill(&mut self, need: usize) -> Result<bool> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < need && !self.eof {
            let stop = self.buf.len().min(self.end.max(need) + READ_BYTES);
            match self.src.read(&mut self.buf[self.end..stop]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(PcapError::Io {
                        file: self.name.clone(),
                        source,
                    })
                }
            }
        }
        Ok(self.end >= need)
    }

    /// At a record boundary: the end if nothing is left, else a cut-off record.
    fn end_of_input<T>(&self) -> Result<Option<T>> {
        if self.start == self.end {
            Ok(None)
        } else {
            Err(self.truncated(self.offset()))
        }
    }

    fn truncated(&self, offset: u64) -> PcapError {
        PcapError::Truncated {
            file: self.name.clone(),
            offset,
        }
    }

    fn corrupt(&self, offset: u64, what: String) -> PcapError {
        PcapError::Corrupt {
            file: self.name.clone(),
            offset,
            what,
        }
    }
}

impl fmt::Debug for PcapReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcapReader")
            .field("name", &self.name)
            .field("offset", &self.offset())
            .finish_non_exhaustive()
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
mod tests;
