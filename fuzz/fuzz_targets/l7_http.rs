//! The HTTP/1.x parsers: the start of a client's or a server's payload. They must never
//! panic; a request read starts with its method, its target and Host value are bytes of the
//! payload, the Host value without surrounding blanks or line ends; a status read is a
//! three-digit code from 100 to 599 of a payload that starts like a response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podflow::l7::http::{is_request_start, is_response_start, parse_request, parse_status};

/// Whether `part` lies inside `whole`.
fn within(part: &[u8], whole: &[u8]) -> bool {
    let (start, end) = (
        whole.as_ptr() as usize,
        whole.as_ptr() as usize + whole.len(),
    );
    let p = part.as_ptr() as usize;
    p >= start && p + part.len() <= end
}

fuzz_target!(|data: &[u8]| {
    if let Some(r) = parse_request(data) {
        assert!(is_request_start(data));
        assert!(data.starts_with(r.method));
        assert_eq!(data.get(r.method.len()), Some(&b' '));
        assert!(!r.target.is_empty() && within(r.target, data));
        assert!(!r.target.iter().any(|b| matches!(b, b' ' | b'\r' | b'\n')));
        if let Some(host) = r.host {
            assert!(within(host, data));
            assert!(!host.contains(&b'\n'));
            let blank = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
            assert!(!blank(host.first()) && !blank(host.last()));
        }
    }
    if let Some(code) = parse_status(data) {
        assert!(is_response_start(data));
        assert!((100..=599).contains(&code));
        assert_eq!(data[9..12], *code.to_string().as_bytes());
    }
    assert!(!(is_request_start(data) && is_response_start(data)));
});
