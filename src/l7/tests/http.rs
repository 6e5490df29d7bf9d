use super::{payload, payloads, HTTP, TLS};
use crate::l7::http::{is_request_start, is_response_start, parse_request, parse_status, Request};

/// tshark's http.request.method, http.request.uri and http.host of each request, from
/// `scripts/l7-testdata.py expect` (tshark 4.0.17). tshark keeps the spaces after the Host
/// value ("Api.Example.Test  "); RFC 9110 section 5.5 leaves them out of the value.
const REQUESTS: [(&str, &str, &str, &str); 4] = [
    ("get-request", "GET", "/index.html?q=1", "localhost:8080"),
    ("head-request", "HEAD", "/missing", "127.0.0.1:8080"),
    ("post-request", "POST", "/submit", "Api.Example.Test"),
    ("http10-request", "GET", "/", "127.0.0.1:8080"),
];

/// tshark's http.response.code of each response.
const RESPONSES: [(&str, u16); 4] = [
    ("get-response", 200),
    ("head-response", 404),
    ("post-response", 501),
    ("http10-response", 200),
];

#[test]
fn captured_requests_read_as_tshark_reads_them() {
    for (label, method, target, host) in REQUESTS {
        let p = payload(HTTP, label);
        assert!(is_request_start(&p), "{label}");
        assert!(!is_response_start(&p), "{label}");
        let r = parse_request(&p).unwrap_or_else(|| panic!("{label} not read"));
        assert_eq!(r.method, method.as_bytes(), "{label}");
        assert_eq!(r.target, target.as_bytes(), "{label}");
        assert_eq!(r.host, Some(host.as_bytes()), "{label}");
        assert_eq!(parse_status(&p), None, "{label}");
    }
}

#[test]
fn captured_responses_read_as_tshark_reads_them() {
    for (label, code) in RESPONSES {
        let p = payload(HTTP, label);
        assert!(is_response_start(&p), "{label}");
        assert!(!is_request_start(&p), "{label}");
        assert_eq!(parse_status(&p), Some(code), "{label}");
        assert_eq!(parse_request(&p), None, "{label}");
    }
}

#[test]
fn a_request_cut_anywhere_gives_what_it_holds() {
    for (label, _, _, _) in REQUESTS {
        let p = payload(HTTP, label);
        let whole = parse_request(&p).unwrap();
        let host_line = find(&p, b"\nHost:")
            .or_else(|| find(&p, b"\nHOST:"))
            .unwrap();
        let host_end = host_line + 1 + find(&p[host_line + 1..], b"\n").unwrap() + 1;
        for len in 0..p.len() {
            let Some(r) = parse_request(&p[..len]) else {
                // Nothing is read before the first byte of the target.
                assert!(len <= whole.method.len() + 1, "{label} cut to {len}");
                continue;
            };
            assert_eq!(r.method, whole.method, "{label} cut to {len}");
            assert!(whole.target.starts_with(r.target), "{label} cut to {len}");
            let host = if len >= host_end { whole.host } else { None };
            assert_eq!(r.host, host, "{label} cut to {len}");
        }
    }
}

#[test]
fn a_response_cut_before_its_code_ends_has_none() {
    for (label, code) in RESPONSES {
        let p = payload(HTTP, label);
        for len in 0..p.len() {
            let expected = (len >= "HTTP/1.x NNN".len()).then_some(code);
            assert_eq!(parse_status(&p[..len]), expected, "{label} cut to {len}");
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn other_payloads_are_neither_requests_nor_responses() {
    for (label, p) in payloads(TLS) {
        assert!(!is_request_start(&p) && !is_response_start(&p), "{label}");
        assert_eq!(parse_request(&p), None, "{label}");
        assert_eq!(parse_status(&p), None, "{label}");
    }
    for p in [
        &b"get / HTTP/1.1\r\n"[..],
        b"GETS / HTTP/1.1\r\n",
        b"GET",
        b"PRI * HTTP/2.0\r\n",
    ] {
        assert!(!is_request_start(p), "{p:?}");
    }
    // HTTP/0.9, HTTP/2 and something else where the version goes.
    for p in [
        &b"GET /\r\n"[..],
        b"GET / HTTP/2\r\n",
        b"GET / SIP/2.0\r\n",
        b"GET  / HTTP/1.1\r\n",
    ] {
        assert_eq!(parse_request(p), None, "{p:?}");
    }
}

fn request(p: &[u8]) -> Request<'_> {
    parse_request(p).unwrap_or_else(|| panic!("{:?} not read", String::from_utf8_lossy(p)))
}

#[test]
fn host_is_found_by_any_case_and_trimmed() {
    let r = request(b"GET /a HTTP/1.1\r\nAccept: */*\r\nhOsT:\t example.test:81 \t\r\n\r\n");
    assert_eq!(r.host, Some(&b"example.test:81"[..]));
    // Bare LF line ends.
    let r = request(b"PUT /b HTTP/1.0\nX: y\nHost: h\n\n");
    assert_eq!(
        (r.method, r.target, r.host),
        (&b"PUT"[..], &b"/b"[..], Some(&b"h"[..]))
    );
    // The first Host counts; an empty one is empty.
    assert_eq!(
        request(b"GET / HTTP/1.1\r\nHost:\r\nHost: b\r\n").host,
        Some(&b""[..])
    );
    // A space before the colon makes another field name.
    assert_eq!(request(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n").host, None);
    // Neither a field whose name only starts with "Host", nor one after the header section.
    assert_eq!(request(b"GET / HTTP/1.1\r\nHostname: a\r\n\r\n").host, None);
    assert_eq!(request(b"GET / HTTP/1.1\r\n\r\nHost: a\r\n").host, None);
    // A Host line not yet ended may be cut: not taken.
    assert_eq!(request(b"GET / HTTP/1.1\r\nHost: exam").host, None);
}

#[test]
fn targets_are_taken_as_sent() {
    let r = request(b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n");
    assert_eq!(r.target, b"example.test:443");
    let r = request(b"OPTIONS * HTTP/1.1\r\n");
    assert_eq!((r.method, r.target), (&b"OPTIONS"[..], &b"*"[..]));
    let r = request(b"GET http://a.test/\xff%20x HTTP/1.1\r\n");
    assert_eq!(r.target, b"http://a.test/\xff%20x");
    // A request line cut inside the target.
    let long = [b"GET /".as_slice(), &[b'x'; 3000]].concat();
    assert_eq!(request(&long).target.len(), 3001);
}

#[test]
fn status_codes_outside_100_to_599_or_malformed_are_none() {
    assert_eq!(parse_status(b"HTTP/1.1 204\r\n"), Some(204));
    assert_eq!(parse_status(b"HTTP/1.1 599 Odd"), Some(599));
    assert_eq!(parse_status(b"HTTP/1.1 100"), Some(100));
    for p in [
        &b"HTTP/1.1 099 Low"[..],
        b"HTTP/1.1 600 High",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 2x0 OK",
        b"HTTP/1.1  200 OK",
        b"HTTP/1.x 200 OK",
        b"HTTP/2 200 OK",
        b"http/1.1 200 OK",
    ] {
        assert_eq!(parse_status(p), None, "{:?}", String::from_utf8_lossy(p));
    }
}
