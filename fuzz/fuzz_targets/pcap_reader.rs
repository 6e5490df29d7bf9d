//! The pcap/pcapng reader over a whole capture file that comes as a stream does (a pipe
//! from tcpdump: a few bytes to a few pages per read), each frame handed to the decoder,
//! asking `next_is_buffered` before each frame as the file source does. It must never
//! panic, never stand still, and each frame's bytes come from the file; a classic pcap
//! record said to be buffered is read without waiting for the input.
#![no_main]

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use podflow::capture::{decode, PcapError, PcapReader};

/// The sizes of successive reads, in turn: odd ones, so that records and blocks are split
/// anywhere.
const READS: [usize; 6] = [1, 7, 64, 1500, 3, 65536];

/// Hands out its bytes as a pipe does, in pieces, and counts the reads asked of it.
struct Pipe {
    data: Vec<u8>,
    at: usize,
    reads: Arc<AtomicUsize>,
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let i = self.reads.fetch_add(1, Relaxed);
        let n = out
            .len()
            .min(self.data.len() - self.at)
            .min(READS[i % READS.len()]);
        out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Whether `data` starts with one of the classic pcap magics (either byte order, micro-
/// or nanoseconds).
fn classic(data: &[u8]) -> bool {
    let magic = data.first_chunk::<4>().map(|m| u32::from_le_bytes(*m));
    matches!(
        magic,
        Some(0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1)
    )
}

fuzz_target!(|data: &[u8]| {
    let reads = Arc::new(AtomicUsize::new(0));
    let pipe = Pipe {
        data: data.to_vec(),
        at: 0,
        reads: reads.clone(),
    };
    let Ok(mut reader) = PcapReader::from_reader("fuzz.pcap", pipe) else {
        return;
    };
    let classic = classic(data);
    let mut offset = reader.offset();
    loop {
        let buffered = reader.next_is_buffered();
        let before = reads.load(Relaxed);
        let result = reader.next_frame();
        // A pcapng block said to be buffered may be followed, in the same call, by blocks
        // that are not (an interface description, then a packet): only a classic record
        // is one read.
        if classic && buffered {
            assert_eq!(
                reads.load(Relaxed),
                before,
                "a buffered record waited for input"
            );
        }
        match result {
            Ok(Some(frame)) => {
                assert!(frame.data.len() <= data.len());
                let _ = decode(frame.link, frame.data);
            }
            Ok(None) => break,
            Err(PcapError::UnsupportedLinkType { .. }) => {}
            Err(_) => break,
        }
        // Every frame read, or skipped, moves the reader on.
        let next = reader.offset();
        assert!(
            next > offset && next <= data.len() as u64,
            "{offset} -> {next}"
        );
        offset = next;
    }
});
