//! The DNS parser: one UDP payload. It must never panic, and what it reads must be what the
//! header says: ID and counts from their places, a question count within its bound, a
//! name of at most 253 bytes (255 octets on the wire) that is never empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podflow::l7::dns::{parse, MAX_QUESTIONS};

fuzz_target!(|data: &[u8]| {
    let Some(d) = parse(data) else {
        return;
    };
    let word = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
    assert_eq!(d.id, word(0));
    assert_eq!(d.flags, word(2));
    assert_eq!((d.questions, d.answers), (word(4), word(6)));
    assert!((1..=MAX_QUESTIONS).contains(&d.questions));
    assert_eq!(d.response, d.flags & 0x8000 != 0);
    assert_eq!(u16::from(d.rcode), d.flags & 0xf);
    assert!(matches!((d.flags >> 11) & 0xf, 0 | 1 | 2 | 4 | 5));
    assert!(!d.name.is_empty() && d.name.len() <= 253);
    // Header, a name of one octet at least, type and class.
    assert!(data.len() >= 12 + 1 + 4);
});
