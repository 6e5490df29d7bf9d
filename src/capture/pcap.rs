//! Reader for pcap and pcapng capture files.
//!
//! Reads through large reusable buffers: a read syscall per few hundred kilobytes (for a
//! regular file, on a read-ahead thread of its own), no allocation per frame, and each
//! [`Frame`] borrows its bytes from the buffer. Classic pcap
//! (microsecond and nanosecond magics, either byte order; its records are read here) and
//! pcapng (its blocks are read in `ng`) are recognised by their first four bytes.

mod ng;
mod readahead;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::decode::LinkType;
use crate::flow::{Nanos, NANOS_PER_SEC};
use ng::{Section, SHB};
use readahead::{Readahead, HEADROOM};

/// Largest captured frame in a classic pcap record; a larger length means a corrupt file.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

/// Largest pcapng block that is parsed (packets, interface descriptions). Blocks that are
/// skipped may be of any size.
pub(super) const MAX_BLOCK_BYTES: usize = 1024 * 1024;

/// Bytes asked of the file per read. Small enough that what the kernel copies in is still
/// in the L2 cache when it is parsed: 256 KiB reads are measurably faster than 4 MiB ones.
const READ_BYTES: usize = 256 * 1024;

/// Read buffer: room for the largest parsed block and one read.
const BUFFER_BYTES: usize = MAX_BLOCK_BYTES + READ_BYTES;

const PCAP_RECORD_HEADER: usize = 16;
const PCAP_FILE_HEADER: usize = 24;

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
    #[error("{file}: {error}")]
    Io { file: String, error: io::Error },
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
    /// The read-ahead thread of a regular file; `src` is not read then.
    ahead: Option<Readahead>,
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

/// Byte order of a file or a pcapng section.
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

impl PcapReader {
    /// Opens a capture file and reads its header. A regular file is read ahead on a
    /// thread of its own; anything else (a FIFO) as a stream.
    pub fn open(path: &Path) -> Result<PcapReader> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|error| PcapError::Io {
            file: name.clone(),
            error,
        })?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return PcapReader::from_reader(name, file);
        }
        match Readahead::start(file) {
            Ok(ahead) => PcapReader::new(name, Box::new(io::empty()), Some(ahead)),
            Err(file) => PcapReader::from_reader(name, file),
        }
    }

    /// Reads a capture from any byte stream (a pipe, stdin); `name` is used in errors.
    pub fn from_reader(
        name: impl Into<String>,
        src: impl Read + Send + 'static,
    ) -> Result<PcapReader> {
        PcapReader::new(name.into(), Box::new(src), None)
    }

    fn new(
        name: String,
        src: Box<dyn Read + Send>,
        ahead: Option<Readahead>,
    ) -> Result<PcapReader> {
        let mut reader = PcapReader {
            name,
            src,
            buf: vec![0; BUFFER_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            ahead,
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

    /// Whether the next record (or pcapng block) is whole in memory, so that reading it
    /// cannot wait for the input. A reader of a stream (a FIFO, a pipe from tcpdump)
    /// meters what it holds before it waits for more.
    pub fn next_is_buffered(&self) -> bool {
        let rest = &self.buf[self.start..self.end];
        let (header, length_at, order) = match self.format {
            Format::Pcap { order, .. } => (PCAP_RECORD_HEADER, 8, order),
            Format::PcapNg => (8, 4, self.ng.order),
        };
        if rest.len() < header {
            return false;
        }
        let length = order.u32(rest, length_at) as usize;
        let whole = match self.format {
            Format::Pcap { .. } => header.saturating_add(length),
            Format::PcapNg => length,
        };
        rest.len() >= whole
    }

    /// The file offset of the next record or block.
    pub fn offset(&self) -> u64 {
        self.base.wrapping_add(self.start as u64)
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
        if self.ahead.is_some() {
            return self.next_chunk(need);
        }
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
                Err(error) => {
                    return Err(PcapError::Io {
                        file: self.name.clone(),
                        error,
                    })
                }
            }
        }
        Ok(self.end >= need)
    }

    /// Takes chunks from the read-ahead thread until `need` bytes are there from `start`,
    /// the unparsed end of the buffer put in the head room of the next. What is carried
    /// is shorter than `need`, which is never more than the head room.
    fn next_chunk(&mut self, need: usize) -> Result<bool> {
        while self.end - self.start < need && !self.eof {
            let Some(ahead) = &self.ahead else {
                return Ok(false);
            };
            match ahead.next() {
                None => self.eof = true,
                Some(Err(error)) => {
                    return Err(PcapError::Io {
                        file: self.name.clone(),
                        error,
                    })
                }
                Some(Ok(mut chunk)) => {
                    let carried = self.end - self.start;
                    let at = HEADROOM - carried;
                    chunk.buf[at..HEADROOM].copy_from_slice(&self.buf[self.start..self.end]);
                    let old = std::mem::replace(&mut self.buf, chunk.buf);
                    ahead.recycle(old);
                    // buf[HEADROOM] is at file offset chunk.offset; buf[0] may be "before"
                    // the file, which only `offset` (base + start) ever adds up.
                    self.base = chunk.offset.wrapping_sub(HEADROOM as u64);
                    self.start = at;
                    self.end = HEADROOM + chunk.len;
                }
            }
        }
        Ok(self.end - self.start >= need)
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

#[cfg(test)]
mod tests;
