//! Reader tests on capture files built in memory, and on the fixtures.

use std::io::Cursor;
use std::path::PathBuf;

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

#[test]
fn classic_pcap_all_magics() {
    for e in [LE, BE] {
        for nanos in [false, true] {
            let a = payload(60, 1);
            let b = payload(1514, 2);
            let mut file = pcap_header(e, nanos, 1);
            pcap_record(e, &mut file, 1_700_000_000, 123_456, &a, 60);
            pcap_record(e, &mut file, 1_700_000_001, 999_999, &b, 9000);
            pcap_record(e, &mut file, 0, 0, &[], 0);
            let frames = read_all(file).unwrap();
            let unit = if nanos { 1 } else { 1_000 };
            assert_eq!(frames.len(), 3, "big endian {} nanos {nanos}", e.big);
            assert_eq!(frames[0].ts, 1_700_000_000 * NANOS_PER_SEC + 123_456 * unit);
            assert_eq!(frames[0].data, a);
            assert_eq!(frames[0].link, LinkType::Ethernet);
            assert_eq!(frames[1].ts, 1_700_000_001 * NANOS_PER_SEC + 999_999 * unit);
            assert_eq!((frames[1].data.len(), frames[1].orig_len), (1514, 9000));
            assert_eq!(frames[2].data, Vec::<u8>::new());
        }
    }
}

#[test]
fn classic_pcap_link_types() {
    for (linktype, link) in [
        (113, LinkType::LinuxSll),
        (276, LinkType::LinuxSll2),
        (101, LinkType::RawIp),
    ] {
        let mut file = pcap_header(LE, false, linktype);
        pcap_record(LE, &mut file, 1, 2, &[0x45], 1);
        assert_eq!(read_all(file).unwrap()[0].link, link);
    }
    // FCS bits above the link type are not part of it.
    let file = pcap_header(BE, false, 0x1000_0000 | 1);
    assert!(read_all(file).unwrap().is_empty());

    let err = reader(pcap_header(LE, true, 147)).unwrap_err();
    assert!(
        matches!(err, PcapError::UnsupportedLinkType { linktype: 147, .. }),
        "{err}"
    );
    assert_eq!(err.to_string(), "test.pcap: unsupported link type 147");
}

#[test]
fn not_a_capture_file() {
    let err = reader(b"<!DOCTYPE html>".to_vec()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "test.pcap: not a pcap or pcapng file (it starts with 3c 21 44 4f)"
    );
    let err = reader(vec![0xa1, 0xb2]).unwrap_err();
    assert!(err.to_string().contains("a1 b2"), "{err}");
    let err = reader(Vec::new()).unwrap_err();
    assert!(matches!(err, PcapError::NotPcap { .. }), "{err}");
    assert!(err.to_string().contains("empty"), "{err}");

    let err = PcapReader::open(Path::new("/nonexistent/capture.pcap")).unwrap_err();
    assert!(matches!(err, PcapError::Io { .. }), "{err}");
    assert!(
        err.to_string().starts_with("/nonexistent/capture.pcap: "),
        "{err}"
    );
}

#[test]
fn classic_pcap_truncated_and_corrupt() {
    let mut file = pcap_header(LE, false, 1);
    pcap_record(LE, &mut file, 1, 0, &payload(100, 0), 100);
    pcap_record(LE, &mut file, 2, 0, &payload(100, 0), 100);
    let full = file.len();

    // Cut in the file header.
    let err = reader(file[..20].to_vec()).unwrap_err();
    assert!(
        matches!(err, PcapError::Truncated { offset: 0, .. }),
        "{err}"
    );

    // Cut in the second record's header, then in its data.
    for cut in [full - 110, full - 1] {
        let mut r = reader(file[..cut].to_vec()).unwrap();
        assert_eq!(r.next_frame().unwrap().unwrap().ts, NANOS_PER_SEC);
        let err = r.next_frame().unwrap_err();
        assert!(
            matches!(err, PcapError::Truncated { offset: 140, .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "test.pcap: truncated: the record at byte 140 is cut off by the end of the file"
        );
    }

    let mut huge = pcap_header(BE, false, 1);
    BE.u32(&mut huge, 1);
    BE.u32(&mut huge, 0);
    BE.u32(&mut huge, 0x7fff_ffff);
    BE.u32(&mut huge, 0x7fff_ffff);
    huge.extend([0; 64]);
    let err = read_all(huge).unwrap_err();
    assert!(
        matches!(err, PcapError::Corrupt { offset: 24, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("2147483647"), "{err}");
}

#[test]
fn pcapng_both_byte_orders() {
    for e in [LE, BE] {
        let a = payload(98, 3);
        let b = payload(61, 4);
        let file = Ng::new(e)
            .interface(1, 65535, None, None)
            .enhanced(0, 1_700_000_000_123_456, &a, 98)
            .enhanced(0, 1_700_000_001_000_001, &b, 1500)
            .done();
        let frames = read_all(file).unwrap();
        assert_eq!(
            frames,
            vec![
                Owned {
                    ts: 1_700_000_000_123_456_000,
                    link: LinkType::Ethernet,
                    data: a,
                    orig_len: 98,
                    interface: 0,
                },
                Owned {
                    ts: 1_700_000_001_000_001_000,
                    link: LinkType::Ethernet,
                    data: b,
                    orig_len: 1500,
                    interface: 0,
                },
            ],
            "big endian {}",
            e.big
        );
    }
}

#[test]
fn pcapng_interfaces_and_resolutions() {
    let data = payload(40, 9);
    let file = Ng::new(BE)
        .interface(1, 0, None, None)
        .interface(101, 0, Some(9), None)
        .interface(113, 0, Some(0x80 | 20), Some(-100))
        .interface(229, 0, Some(3), Some(1_000))
        .interface(0, 0, Some(12), None)
        .enhanced(1, 1_700_000_000_000_000_001, &data, 40)
        .enhanced(2, 5 << 20 | 1 << 19, &data, 40)
        .enhanced(3, 1_500, &data, 40)
        .enhanced(4, 170_000_000_000_000_999, &data, 40)
        .enhanced(0, 7, &data, 40)
        .done();
    let frames = read_all(file).unwrap();
    let got: Vec<(u32, LinkType, Nanos)> =
        frames.iter().map(|f| (f.interface, f.link, f.ts)).collect();
    assert_eq!(
        got,
        vec![
            (1, LinkType::RawIp, 1_700_000_000_000_000_001),
            // 2^-20 s units: 5.5 s, less the 100 s offset, saturates at 0.
            (2, LinkType::LinuxSll, 0),
            // Milliseconds, 1000 s later.
            (3, LinkType::RawIpv6, 1_001_500_000_000),
            // Picoseconds are truncated to nanoseconds.
            (4, LinkType::Null, 170_000_000_000_000),
            (0, LinkType::Ethernet, 7_000),
        ]
    );

    let binary = Ng::new(LE)
        .interface(1, 0, Some(0x80 | 20), Some(10))
        .enhanced(0, 5 << 20 | 1 << 19, &data, 40)
        .done();
    assert_eq!(read_all(binary).unwrap()[0].ts, 15_500_000_000);
}

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

#[test]
fn pcapng_simple_and_obsolete_packets_and_skipped_blocks() {
    let data = payload(200, 5);
    let file = Ng::new(LE)
        // A name resolution block before any interface.
        .block(
            4,
            &[1, 0, 8, 0, 10, 0, 0, 1, b'h', b'o', b's', b't', 0, 0, 0, 0],
        )
        .interface(1, 128, None, None)
        .enhanced(0, 2_000_000, &data, 200)
        .simple(&data[..128], 200)
        .simple(&data[..50], 50)
        // Interface statistics, decryption secrets, custom blocks.
        .block(5, &[0; 20])
        .block(10, &[1, 2, 3, 4, 5, 6, 7, 8])
        .block(0x0000_0bad, &[9; 33])
        .obsolete(0, 3_000_000, &data[..64])
        .done();
    let frames = read_all(file).unwrap();
    let got: Vec<(Nanos, usize, u32)> = frames
        .iter()
        .map(|f| (f.ts, f.data.len(), f.orig_len))
        .collect();
    assert_eq!(
        got,
        vec![
            (2 * NANOS_PER_SEC, 200, 200),
            (2 * NANOS_PER_SEC, 128, 200),
            (2 * NANOS_PER_SEC, 50, 50),
            (3 * NANOS_PER_SEC, 64, 64),
        ]
    );
    assert_eq!(frames[1].data, data[..128]);
}

#[test]
fn pcapng_sections_reset_interfaces() {
    let data = payload(30, 1);
    let mut ng = Ng::new(LE);
    ng.interface(1, 0, None, None)
        .interface(113, 0, None, None)
        .enhanced(1, 1, &data, 30);
    // A new section, in the other byte order, with one interface.
    let mut second = Ng::new(BE);
    second
        .interface(276, 0, Some(9), None)
        .enhanced(0, 5, &data, 30);
    let mut file = ng.done();
    file.extend(second.done());
    let frames = read_all(file.clone()).unwrap();
    let got: Vec<(LinkType, Nanos)> = frames.iter().map(|f| (f.link, f.ts)).collect();
    assert_eq!(
        got,
        vec![(LinkType::LinuxSll, 1_000), (LinkType::LinuxSll2, 5)]
    );

    let mut third = Ng::new(BE);
    third.enhanced(0, 5, &data, 30);
    file.extend(third.done());
    let err = read_all(file).unwrap_err();
    assert!(matches!(err, PcapError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("interface 0"), "{err}");
}

#[test]
fn pcapng_unsupported_interface_is_skippable() {
    let data = payload(30, 1);
    let file = Ng::new(LE)
        .interface(1, 0, None, None)
        .interface(189, 0, None, None)
        .enhanced(1, 1, &data, 30)
        .enhanced(0, 2, &data, 30)
        .done();
    let mut r = reader(file).unwrap();
    let err = r.next_frame().unwrap_err();
    assert!(
        matches!(err, PcapError::UnsupportedLinkType { linktype: 189, .. }),
        "{err}"
    );
    assert_eq!(r.next_frame().unwrap().unwrap().ts, 2_000);
    assert!(r.next_frame().unwrap().is_none());
}

#[test]
fn pcapng_errors() {
    let data = payload(30, 1);
    let good = Ng::new(LE)
        .interface(1, 0, None, None)
        .enhanced(0, 1, &data, 30)
        .done();
    let shb_len = 52;

    // Unknown interface.
    let file = Ng::new(LE)
        .interface(1, 0, None, None)
        .enhanced(3, 1, &data, 30)
        .done();
    let err = read_all(file).unwrap_err();
    assert!(err.to_string().contains("interface 3"), "{err}");

    // A simple packet block needs interface 0.
    let err = read_all(Ng::new(BE).simple(&data, 30).done()).unwrap_err();
    assert!(matches!(err, PcapError::Corrupt { .. }), "{err}");

    // Block lengths that are too small or not a multiple of 4, on parsed and skipped blocks.
    for (at, len) in [(shb_len + 4, 13u32), (shb_len + 4, 8), (shb_len + 4, 0)] {
        let mut file = good.clone();
        file[at..at + 4].copy_from_slice(&len.to_le_bytes());
        let err = read_all(file).unwrap_err();
        assert!(
            matches!(err, PcapError::Corrupt { offset: 52, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("invalid block length {len}")),
            "{err}"
        );
    }
    let mut file = Ng::new(LE).block(4, &[0; 8]).done();
    file[shb_len + 4..shb_len + 8].copy_from_slice(&14u32.to_le_bytes());
    assert!(matches!(read_all(file), Err(PcapError::Corrupt { .. })));

    // Trailing length differs from the leading one.
    let mut file = good.clone();
    let n = file.len();
    file[n - 4] ^= 4;
    assert!(matches!(read_all(file), Err(PcapError::Corrupt { .. })));

    // Captured length beyond the block.
    let mut file = good.clone();
    let epb = shb_len + 32;
    file[epb + 20..epb + 24].copy_from_slice(&1000u32.to_le_bytes());
    let err = read_all(file).unwrap_err();
    assert!(err.to_string().contains("captured length 1000"), "{err}");

    // Bad byte-order magic or version.
    let mut file = good.clone();
    file[8] = 0;
    let err = reader(file).unwrap_err();
    assert!(err.to_string().contains("byte-order magic"), "{err}");
    let mut file = good.clone();
    file[12] = 2;
    assert!(matches!(
        reader(file),
        Err(PcapError::Corrupt { offset: 0, .. })
    ));

    // Every cut of the file: frames up to the cut, then the end or a truncation error.
    for cut in 0..=good.len() {
        match reader(good[..cut].to_vec()) {
            Ok(r) => match read_all_from(r) {
                // Block boundaries: after the section header, the interface, the packet.
                Ok(frames) => match cut {
                    52 | 84 => assert!(frames.is_empty()),
                    _ => assert_eq!((cut, frames.len()), (good.len(), 1)),
                },
                Err(e) => assert!(matches!(e, PcapError::Truncated { .. }), "cut {cut}: {e}"),
            },
            Err(e) => assert!(
                matches!(e, PcapError::Truncated { .. } | PcapError::NotPcap { .. }),
                "cut {cut}: {e}"
            ),
        }
    }
}

/// Hands out at most `step` bytes per read, like a pipe.
struct Trickle {
    inner: Cursor<Vec<u8>>,
    step: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step);
        self.inner.read(&mut buf[..n])
    }
}

#[test]
fn frames_across_buffer_refills() {
    let count = 3 * BUFFER_BYTES / 1500 + 7;
    let mut pcap = pcap_header(LE, true, 1);
    let mut ng = Ng::new(BE);
    ng.interface(1, 0, Some(9), None);
    for i in 0..count {
        let data = payload(1 + i % 1499, i as u8);
        pcap_record(LE, &mut pcap, i as u32, 0, &data, data.len() as u32);
        ng.enhanced(0, i as u64 * NANOS_PER_SEC, &data, data.len() as u32);
    }
    let from_pcap = read_all(pcap.clone()).unwrap();
    assert_eq!(from_pcap.len(), count);
    for (i, f) in from_pcap.iter().enumerate() {
        assert_eq!(
            (f.ts, &f.data),
            (i as u64 * NANOS_PER_SEC, &payload(1 + i % 1499, i as u8))
        );
    }
    let from_ng = read_all(ng.done()).unwrap();
    assert_eq!(from_ng, from_pcap);

    let trickle = Trickle {
        inner: Cursor::new(pcap[..200_000].to_vec()),
        step: 7,
    };
    let r = PcapReader::from_reader("pipe", trickle).unwrap();
    let err = read_all_from(r).unwrap_err();
    assert!(matches!(err, PcapError::Truncated { .. }), "{err}");
}

#[test]
fn garbage_files_give_errors() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 32) as u8
    };
    let mut valid_ng = Ng::new(LE);
    valid_ng
        .interface(1, 0, None, None)
        .enhanced(0, 1, &payload(60, 0), 60);
    let valid_ng = valid_ng.done();
    let mut valid_pcap = pcap_header(BE, false, 1);
    pcap_record(BE, &mut valid_pcap, 1, 1, &payload(60, 0), 60);
    for len in 0..300 {
        for round in 0..20 {
            let mut file: Vec<u8> = (0..len).map(|_| noise()).collect();
            // Keep a valid start on most rounds so that the block and record paths see garbage.
            let prefix = match round % 4 {
                0 => &valid_ng[..valid_ng.len().min(len)],
                1 => &valid_ng[..48.min(len)],
                2 => &valid_pcap[..24.min(len)],
                _ => &[][..],
            };
            file[..prefix.len()].copy_from_slice(prefix);
            if let Ok(mut r) = reader(file) {
                for _ in 0..100 {
                    match r.next_frame() {
                        Ok(Some(_)) | Err(PcapError::UnsupportedLinkType { .. }) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
    }
}

/// Counts in `it/fixtures/sample-1k.pcap.truth.json`.
#[test]
fn sample_fixture_matches_its_truth() {
    let mut r = PcapReader::open(&fixture("sample-1k.pcap")).unwrap();
    let (mut frames, mut ip, mut not_ip, mut octets, mut v6) = (0, 0, 0, 0u64, 0);
    let mut by_proto = [0u32; 256];
    let (mut syn, mut fin, mut rst) = (0, 0, 0);
    let mut first_ts = None;
    while let Some(f) = r.next_frame().unwrap() {
        frames += 1;
        first_ts.get_or_insert(f.ts);
        match decode(f.link, f.data) {
            Ok(p) => {
                ip += 1;
                octets += u64::from(p.octets);
                v6 += u32::from(p.key.ipv6);
                by_proto[usize::from(p.key.proto)] += 1;
                syn += u32::from(p.tcp_flags & 0x02 != 0);
                fin += u32::from(p.tcp_flags & 0x01 != 0);
                rst += u32::from(p.tcp_flags & 0x04 != 0);
            }
            Err(Ignored::NotIp) => not_ip += 1,
            Err(Ignored::Malformed) => panic!("malformed frame {frames}"),
        }
    }
    assert_eq!((frames, ip, not_ip), (1112, 1110, 2));
    assert_eq!(octets, 735_719);
    assert_eq!(v6, 126);
    assert_eq!(
        (by_proto[1], by_proto[6], by_proto[17], by_proto[58]),
        (9, 949, 144, 8)
    );
    assert_eq!((syn, fin, rst), (78, 68, 9));
    assert_eq!(first_ts, Some(1_700_000_000_420_971_000));
}

fn read_path(path: &Path) -> Vec<Owned> {
    read_all_from(PcapReader::open(path).unwrap()).unwrap()
}

/// `sample-20.pcapng` is the first 20 frames of `sample-1k.pcap` as written by editcap.
#[test]
fn pcapng_fixture_matches_pcap() {
    let pcap = read_path(&fixture("sample-1k.pcap"));
    let ng = read_path(&fixture("sample-20.pcapng"));
    assert_eq!(ng.len(), 20);
    assert_eq!(ng[..], pcap[..20]);
}

/// The whole fixture through editcap, when it is installed.
#[test]
fn editcap_pcapng_gives_identical_frames() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sample-1k.pcapng");
    let status = std::process::Command::new("editcap")
        .args(["-F", "pcapng"])
        .arg(fixture("sample-1k.pcap"))
        .arg(&out)
        .output();
    match status {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!("editcap not available, skipping");
            return;
        }
    }
    let pcap = read_path(&fixture("sample-1k.pcap"));
    let ng = read_path(&out);
    assert_eq!(pcap.len(), 1112);
    assert_eq!(ng, pcap);
}

#[test]
fn large_records_and_blocks() {
    let big = payload(MAX_FRAME_BYTES, 7);
    let mut file = pcap_header(LE, false, 1);
    pcap_record(LE, &mut file, 1, 0, &payload(100, 1), 100);
    pcap_record(LE, &mut file, 2, 0, &big, 100_000_000);
    pcap_record(LE, &mut file, 3, 0, &payload(100, 2), 100);
    let frames = read_all(file).unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[1].data, big);

    let huge = payload(900_000, 3);
    let file = Ng::new(BE)
        .interface(1, 0, None, None)
        .block(0x0000_0bad, &payload(3 * BUFFER_BYTES, 4))
        .enhanced(0, 1, &huge, 900_000)
        .enhanced(0, 2, &big, 1)
        .done();
    let frames = read_all(file).unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(
        (frames[0].data == huge, frames[1].data == big),
        (true, true)
    );

    let too_big = payload(MAX_BLOCK_BYTES, 5);
    let file = Ng::new(LE)
        .interface(1, 0, None, None)
        .enhanced(0, 1, &too_big, 1)
        .done();
    let err = read_all(file).unwrap_err();
    assert!(matches!(err, PcapError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("1048576-byte limit"), "{err}");
}

/// A file is read in pieces: records that straddle the pieces, up to the largest allowed,
/// come out exactly as from memory, and a cut names the offset of the cut record.
#[test]
fn files_read_in_pieces_give_the_same_frames() {
    let e = Endian { big: false };
    let mut bytes = pcap_header(e, false, 1);
    let mut sizes = vec![MAX_FRAME_BYTES, 1, 60];
    sizes.extend((0..3000).map(|i| (i * 7919) % 1600 + 14));
    sizes.push(MAX_FRAME_BYTES);
    for (i, len) in sizes.iter().enumerate() {
        pcap_record(
            e,
            &mut bytes,
            1_700_000_000 + i as u32,
            0,
            &payload(*len, i as u8),
            *len as u32,
        );
    }
    assert!(bytes.len() > 8 * super::READ_BYTES);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.pcap");
    std::fs::write(&path, &bytes).unwrap();
    let from_file = read_all_from(PcapReader::open(&path).unwrap()).unwrap();
    let from_memory = read_all(bytes.clone()).unwrap();
    assert_eq!(from_file.len(), sizes.len());
    assert!(from_file == from_memory);

    // Cut in the last record: the error names the offset where that record starts.
    let last_start = bytes.len() - MAX_FRAME_BYTES - 16;
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let mut r = PcapReader::open(&path).unwrap();
    let err = loop {
        match r.next_frame() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("a cut file must not end cleanly"),
            Err(e) => break e,
        }
    };
    match err {
        PcapError::Truncated { offset, .. } => assert_eq!(offset, last_start as u64),
        other => panic!("unexpected {other}"),
    }
}
