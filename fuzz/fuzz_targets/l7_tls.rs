//! The TLS hello parsers: a client's or a server's first bytes. The first two bytes pick
//! where the stream is cut in two segments (and a third whether the first is resent); the
//! rest is the stream. They must never panic; `Incomplete` asks for more than the stream
//! holds and no more than MAX_HELLO; what is done fits its bounds; and the stream
//! gathered from two segments reads as the whole stream does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podflow::l7::tls::{client_hello, server_hello, Gather, Hello, Transport, MAX_HELLO};

fn check_need<T>(h: &Hello<T>, len: usize) {
    if let Hello::Incomplete { need } = *h {
        assert!(need > len && need <= MAX_HELLO, "need {need} of {len}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(([a, b, resend], stream)) = data.split_first_chunk::<3>() else {
        return;
    };
    let whole = client_hello(stream, Transport::Tcp);
    check_need(&whole, stream.len());
    if let Hello::Done(h) = &whole {
        let ja4 = h.ja4.as_bytes();
        assert_eq!(ja4.len(), 36);
        assert!(ja4[0] == b't' && matches!(ja4[3], b'd' | b'i'));
        assert!(ja4[10] == b'_' && ja4[23] == b'_');
        assert!(ja4[11..]
            .iter()
            .all(|c| c.is_ascii_hexdigit() || *c == b'_'));
        assert!(h.sni.len() <= 255 && h.alpn.len() <= 128);
        assert_eq!(h.ja3_hex().len(), 32);
    }
    let server = server_hello(stream);
    check_need(&server, stream.len());

    let cut = usize::from(u16::from_be_bytes([*a, *b])) % (stream.len() + 1);
    let seq = 0xffff_ff00u32;
    let mut g = Gather::new(seq, &stream[..cut]);
    if resend & 1 == 1 {
        g.push(seq, &stream[..cut]);
    }
    g.push(seq.wrapping_add(cut as u32), &stream[cut..]);
    assert!(g.usable());
    assert_eq!(g.bytes(), &stream[..stream.len().min(MAX_HELLO)]);
    assert_eq!(client_hello(g.bytes(), Transport::Tcp), whole);
});
