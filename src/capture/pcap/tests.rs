//! Reader tests on capture files built in memory, and on the fixtures.

use std::io::Cursor;
use std::path::PathBuf;

use super::ng::*;
use super::*;
use crate::capture::decode::{decode, Ignored};

/// A frame as read, owned so that a whole file can be collected.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owned {
    ts: Nanos,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
    interface: u32,
}

fn reader(bytes: Vec<u8>) -> Result<PcapReader> {
    PcapReader::from_reader("test.pcap", Cursor::new(bytes))
}

fn read_all_from(mut r: PcapReader) -> Result<Vec<Owned>> {
    let mut frames = Vec::new();
    while let Some(f) = r.next_frame()? {
        frames.push(Owned {
            ts: f.ts,
            link: f.link,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
            interface: f.interface,
        });
    }
    Ok(frames)
}

fn read_all(bytes: Vec<u8>) -> Result<Vec<Owned>> {
    read_all_from(reader(bytes)?)
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("it/fixtures")
        .join(name)
}

/// Writes integers in one byte order.
#[derive(Clone, Copy)]
struct Endian {
    big: bool,
}

impl Endian {
    fn u16(self, out: &mut Vec<u8>, v: u16) {
        out.extend(if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    fn u32(self, out: &mut Vec<u8>, v: u32) {
        out.extend(if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    fn u64(self, out: &mut Vec<u8>, v: u64) {
        out.extend(if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
}

const LE: Endian = Endian { big: false };
const BE: Endian = Endian { big: true };

fn pcap_header(e: Endian, nanos: bool, linktype: u32) -> Vec<u8> {
    let mut b = Vec::new();
    e.u32(&mut b, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
    e.u16(&mut b, 2);
    e.u16(&mut b, 4);
    e.u32(&mut b, 0);
    e.u32(&mut b, 0);
    e.u32(&mut b, 65535);
    e.u32(&mut b, linktype);
    b
}

fn pcap_record(e: Endian, out: &mut Vec<u8>, sec: u32, frac: u32, data: &[u8], orig_len: u32) {
    e.u32(out, sec);
    e.u32(out, frac);
    e.u32(out, data.len() as u32);
    e.u32(out, orig_len);
    out.extend(data);
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A pcapng file under construction, in one byte order.
struct Ng {
    e: Endian,
    bytes: Vec<u8>,
}

impl Ng {
    fn new(e: Endian) -> Ng {
        let mut ng = Ng {
            e,
            bytes: Vec::new(),
        };
        ng.section();
        ng
    }

    fn block(&mut self, kind: u32, body: &[u8]) -> &mut Ng {
        let padded = body.len().next_multiple_of(4);
        let len = (12 + padded) as u32;
        let e = self.e;
        e.u32(&mut self.bytes, kind);
        e.u32(&mut self.bytes, len);
        self.bytes.extend(body);
        self.bytes.resize(self.bytes.len() + padded - body.len(), 0);
        e.u32(&mut self.bytes, len);
        self
    }

    fn section(&mut self) -> &mut Ng {
        let mut body = Vec::new();
        self.e.u32(&mut body, 0x1a2b_3c4d);
        self.e.u16(&mut body, 1);
        self.e.u16(&mut body, 0);
        self.e.u64(&mut body, u64::MAX);
        self.option(&mut body, 4, b"podflow tests");
        self.option(&mut body, 0, &[]);
        self.block(SHB, &body)
    }

    fn option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
        self.e.u16(body, code);
        self.e.u16(body, value.len() as u16);
        body.extend(value);
        body.resize(body.len().next_multiple_of(4), 0);
    }

    /// An interface; `tsresol` and `tsoffset` options when given.
    fn interface(
        &mut self,
        linktype: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) -> &mut Ng {
        let mut body = Vec::new();
        self.e.u16(&mut body, linktype);
        self.e.u16(&mut body, 0);
        self.e.u32(&mut body, snaplen);
        self.option(&mut body, 2, b"eth0");
        if let Some(r) = tsresol {
            self.option(&mut body, OPT_IF_TSRESOL, &[r]);
        }
        if let Some(secs) = tsoffset {
            let mut v = Vec::new();
            self.e.u64(&mut v, secs as u64);
            self.option(&mut body, OPT_IF_TSOFFSET, &v);
        }
        self.option(&mut body, 0, &[]);
        self.block(IDB, &body)
    }

    fn enhanced(&mut self, interface: u32, units: u64, data: &[u8], orig_len: u32) -> &mut Ng {
        let mut body = Vec::new();
        self.e.u32(&mut body, interface);
        self.e.u32(&mut body, (units >> 32) as u32);
        self.e.u32(&mut body, units as u32);
        self.e.u32(&mut body, data.len() as u32);
        self.e.u32(&mut body, orig_len);
        body.extend(data);
        body.resize(body.len().next_multiple_of(4), 0);
        self.option(&mut body, 1, b"a comment");
        self.option(&mut body, 0, &[]);
        self.block(EPB, &body)
    }

    fn simple(&mut self, data: &[u8], orig_len: u32) -> &mut Ng {
        let mut body = Vec::new();
        self.e.u32(&mut body, orig_len);
        body.extend(data);
        self.block(SPB, &body)
    }

    fn obsolete(&mut self, interface: u16, units: u64, data: &[u8]) -> &mut Ng {
        let mut body = Vec::new();
        self.e.u16(&mut body, interface);
        self.e.u16(&mut body, 0);
        self.e.u32(&mut body, (units >> 32) as u32);
        self.e.u32(&mut body, units as u32);
        self.e.u32(&mut body, data.len() as u32);
        self.e.u32(&mut body, data.len() as u32);
        body.extend(data);
        self.block(OBSOLETE_PB, &body)
    }

    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

mod classic;
mod files;
mod pcapng;
mod readahead;
