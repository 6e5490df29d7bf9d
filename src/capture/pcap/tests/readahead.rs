//! Regular files read ahead on a thread: the same frames as the stream reader, across
//! chunk edges, with blocks longer than a chunk, and a file cut inside its last record.

use super::*;

fn write(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// Every frame of `bytes`, read from a file (ahead) and as a stream: both must agree.
fn both_ways(bytes: Vec<u8>) -> Vec<Owned> {
    let (_dir, path) = write(&bytes);
    let ahead = read_all_from(PcapReader::open(&path).unwrap()).unwrap();
    assert_eq!(ahead, read_all(bytes).unwrap());
    ahead
}

#[test]
fn a_file_read_ahead_gives_every_frame_across_chunk_edges() {
    // Several chunks of records of every length, so that edges cut headers and data.
    let count = 4 * READ_BYTES / 700 + 13;
    let mut pcap = pcap_header(LE, false, 1);
    let mut ng = Ng::new(LE);
    ng.interface(1, 0, Some(6), None);
    for i in 0..count {
        let data = payload(1 + (i * 37) % 1499, i as u8);
        pcap_record(LE, &mut pcap, i as u32, 0, &data, 9000);
        ng.enhanced(0, i as u64 * 1_000_000, &data, 9000);
        if i == count / 2 {
            // A block longer than a chunk, in the middle.
            ng.enhanced(0, 0, &payload(READ_BYTES + 4321, 9), 70_000);
        }
    }
    let frames = both_ways(pcap);
    assert_eq!(frames.len(), count);
    assert!(frames
        .iter()
        .enumerate()
        .all(|(i, f)| f.data == payload(1 + (i * 37) % 1499, i as u8)));
    let ng_frames = both_ways(ng.done());
    assert_eq!(ng_frames.len(), count + 1);
    assert_eq!(ng_frames[count / 2 + 1].data.len(), READ_BYTES + 4321);
}

#[test]
fn a_file_read_ahead_reports_a_record_cut_by_its_end_at_its_offset() {
    let mut pcap = pcap_header(LE, false, 1);
    for i in 0..(2 * READ_BYTES / 1000) {
        pcap_record(LE, &mut pcap, i as u32, 0, &payload(1000, 1), 1000);
    }
    let last = pcap.len();
    pcap_record(LE, &mut pcap, 7, 0, &payload(1000, 2), 1000);
    pcap.truncate(pcap.len() - 10);
    let (_dir, path) = write(&pcap);
    let mut r = PcapReader::open(&path).unwrap();
    let mut n = 0;
    let err = loop {
        match r.next_frame() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("the cut record was not noticed"),
            Err(e) => break e,
        }
    };
    assert_eq!(n, 2 * READ_BYTES / 1000);
    match err {
        PcapError::Truncated { offset, .. } => assert_eq!(offset, last as u64),
        other => panic!("{other}"),
    }
}
