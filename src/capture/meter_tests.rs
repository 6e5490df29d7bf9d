//! A real TLS handshake (curl to `openssl s_server` on loopback, it/fixtures) through the
//! meter and the table, its ClientHello whole and split over two segments.

use std::path::Path;
use std::sync::Arc;

use crate::capture::decode::decode_frame;
use crate::capture::pcap::PcapReader;
use crate::flow::app::App;
use crate::flow::{FlowRecord, FlowTable, FlowTableConfig, Meter, Nanos, NANOS_PER_SEC};

/// The frames of the HTTPS conversation of the fixture, with their times.
fn tls_frames() -> Vec<(Vec<u8>, Nanos)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("it/fixtures/app-loopback.pcap");
    let mut reader = PcapReader::open(&path).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame().unwrap() {
        let pkt = decode_frame(f.link, f.data, f.orig_len).unwrap();
        if pkt.key.src_port == 18443 || pkt.key.dst_port == 18443 {
            frames.push((f.data.to_vec(), f.ts));
        }
    }
    frames
}

/// `frame` (Ethernet, IPv4, TCP) cut into two segments at `at` bytes of its payload.
fn split(frame: &[u8], at: usize) -> (Vec<u8>, Vec<u8>) {
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let thl = usize::from(frame[14 + ihl + 12] >> 4) * 4;
    let headers = 14 + ihl + thl;
    let seq = u32::from_be_bytes(frame[14 + ihl + 4..14 + ihl + 8].try_into().unwrap());
    let segment = |seq: u32, payload: &[u8]| {
        let mut f = frame[..headers].to_vec();
        f.extend_from_slice(payload);
        let total = (f.len() - 14) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[14 + ihl + 4..14 + ihl + 8].copy_from_slice(&seq.to_be_bytes());
        f
    };
    let payload = &frame[headers..];
    (
        segment(seq, &payload[..at]),
        segment(seq.wrapping_add(at as u32), &payload[at..]),
    )
}

fn meter_all(frames: &[(Vec<u8>, Nanos)]) -> Vec<FlowRecord> {
    let table = Arc::new(FlowTable::new(FlowTableConfig {
        idle_timeout: 15 * NANOS_PER_SEC,
        active_timeout: 60 * NANOS_PER_SEC,
        tcp_end_linger: NANOS_PER_SEC,
        max_flows: 16,
        max_backlog: usize::MAX,
        biflow: true,
        npm: true,
        l7: true,
    }));
    let mut meter = Meter::new(table.clone(), 0);
    for (frame, ts) in frames {
        let pkt = decode_frame(
            crate::capture::LinkType::Ethernet,
            frame,
            frame.len() as u32,
        )
        .unwrap();
        meter.push(pkt, *ts, frame);
    }
    meter.flush();
    let mut out = Vec::new();
    table.flush(u64::MAX / 2, &mut out);
    out
}

fn server_name(records: &[FlowRecord]) -> Option<String> {
    assert_eq!(records.len(), 1);
    match records[0].ext.as_deref()?.app()? {
        App::Tls(t) => t.hello.as_ref().map(|h| h.sni.to_string_lossy()),
        _ => None,
    }
}

#[test]
fn a_client_hello_is_read_whole_or_split_over_two_segments() {
    let frames = tls_frames();
    let hello = frames
        .iter()
        .position(|(f, _)| f.len() > 66 && f[66] == 0x16)
        .expect("the ClientHello");
    assert_eq!(
        server_name(&meter_all(&frames)).as_deref(),
        Some("shop.test")
    );

    for at in [1, 5, 100, frames[hello].0.len() - 67] {
        let (first, second) = split(&frames[hello].0, at);
        let ts = frames[hello].1;
        let mut parts = frames.clone();
        parts.splice(hello..=hello, [(first.clone(), ts), (second, ts + 1)]);
        let records = meter_all(&parts);
        assert_eq!(
            server_name(&records).as_deref(),
            Some("shop.test"),
            "split at {at}"
        );

        // Without its second segment the ClientHello says nothing.
        let mut cut = frames.clone();
        cut.splice(hello..=hello, [(first, ts)]);
        assert_eq!(
            server_name(&meter_all(&cut)),
            None,
            "split at {at}, second lost"
        );
    }
}
