//! Whole files: reads in pieces and across buffer refills, garbage, large records, and the
//! fixtures against their truth and against editcap's pcapng.

use super::*;

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
