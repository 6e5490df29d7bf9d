//! The rtnetlink parser: one datagram of the kernel's answer to a link or address dump.
//! The first four bytes are the sequence number of the request, the rest the datagram.
//! It must never panic, and every interface it reports has a name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podflow::capture::live::netlink::parse_answer;

fuzz_target!(|data: &[u8]| {
    let Some((seq, datagram)) = data.split_first_chunk::<4>() else {
        return;
    };
    let part = parse_answer(datagram, u32::from_ne_bytes(*seq));
    assert!(part.links.iter().all(|l| !l.name.is_empty()));
    // Each message holds at least its 16-byte header.
    assert!(16 * (part.links.len() + part.addresses.len()) <= datagram.len());
});
