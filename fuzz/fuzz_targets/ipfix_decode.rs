//! The IPFIX decoder, as a collector reads: the input is a stream (an IPFIX file, RFC
//! 5655, or what a TCP collector receives), split into messages and decoded in one
//! session, and also one datagram, as a UDP collector receives it. It must never panic,
//! and what it decodes must be what the message holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podflow::ipfix::{split_messages, Message, Session};

fn check(msg: &[u8], m: &Message) {
    assert_eq!(usize::from(m.header.length), msg.len());
    // Every set header, template and record takes at least one byte of the message, and
    // so does every value decoded: a message cannot decode into more than it holds.
    assert!(m.records.len() + m.templates.len() + m.unknown_sets.len() <= msg.len());
    let values: usize = m.records.iter().map(|r| r.fields.len()).sum();
    assert!(
        values <= msg.len(),
        "{values} values from {} bytes",
        msg.len()
    );
}

fuzz_target!(|data: &[u8]| {
    let mut session = Session::default();
    for msg in split_messages(data) {
        let Ok(msg) = msg else {
            break;
        };
        if let Ok(m) = session.decode(msg) {
            check(msg, &m);
        }
    }
    if let Ok(m) = Session::default().decode(data) {
        check(data, &m);
    }
});
