//! The pcap/pcapng reader over a whole capture file, each frame handed to the decoder as
//! the file source does. It must never panic, never stand still, and each frame's bytes
//! come from the file.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use podflow::capture::{decode, PcapError, PcapReader};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = PcapReader::from_reader("fuzz.pcap", Cursor::new(data.to_vec())) else {
        return;
    };
    let mut offset = reader.offset();
    loop {
        match reader.next_frame() {
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
