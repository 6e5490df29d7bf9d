//! Classic pcap: every magic, link types, files that are not captures, cut-off and
//! corrupt records.

use super::*;

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

/// Hands out its bytes in the pieces given, one piece per read, as a pipe does.
struct Pieces(Vec<Vec<u8>>);

impl std::io::Read for Pieces {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let Some(piece) = self.0.first_mut() else {
            return Ok(0);
        };
        let n = piece.len().min(out.len());
        out[..n].copy_from_slice(&piece[..n]);
        piece.drain(..n);
        if piece.is_empty() {
            self.0.remove(0);
        }
        Ok(n)
    }
}

#[test]
fn a_stream_says_when_the_next_record_must_wait_for_input() {
    let mut file = pcap_header(LE, false, 1);
    for sec in 1..=3 {
        pcap_record(LE, &mut file, sec, 0, &payload(60, sec as u8), 60);
    }
    // Header and the first two records come in one write; the third is split in two.
    let third = 24 + 2 * 76;
    let pieces = vec![
        file[..third].to_vec(),
        file[third..third + 30].to_vec(),
        file[third + 30..].to_vec(),
    ];
    let mut r = PcapReader::from_reader("pipe", Pieces(pieces)).unwrap();
    assert!(
        r.next_is_buffered(),
        "the first record came with the header"
    );
    r.next_frame().unwrap().unwrap();
    assert!(
        r.next_is_buffered(),
        "the second record came in the same write"
    );
    r.next_frame().unwrap().unwrap();
    assert!(
        !r.next_is_buffered(),
        "nothing of the third record is here yet"
    );
    assert_eq!(r.next_frame().unwrap().unwrap().ts, 3 * NANOS_PER_SEC);
    assert!(
        !r.next_is_buffered(),
        "the end of the stream is not buffered either"
    );
    assert!(r.next_frame().unwrap().is_none());
}
