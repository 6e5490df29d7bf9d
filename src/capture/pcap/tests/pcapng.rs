//! pcapng: byte orders, interfaces and timestamp resolutions, every packet block, sections,
//! undecodable interfaces and malformed blocks.

use super::*;

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
