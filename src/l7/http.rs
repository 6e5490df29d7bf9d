//! HTTP/1.0 and HTTP/1.1 (RFC 9112): the request line and Host header of the client's first
//! payload, and the status code of the server's.
//!
//! Only what the first segment holds is read: a request line cut by the snap length still
//! gives its method and as much of the target as was captured, and a Host header counts
//! only once its line is whole. Lines end with CRLF or a bare LF (RFC 9112 section 2.2).

/// The request methods recognised at the start of a client payload (RFC 9110 section 9, and
/// PATCH of RFC 5789), each with the space that follows it.
const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// The start of an HTTP/1.x version, in a request line or a status line.
const VERSION: &[u8] = b"HTTP/1.";

/// Whether `payload` starts with a known method token and a space: cheap, for telling an
/// HTTP client's first payload from others.
pub fn is_request_start(payload: &[u8]) -> bool {
    method_len(payload).is_some()
}

/// Whether `payload` starts like an HTTP/1.x status line.
pub fn is_response_start(payload: &[u8]) -> bool {
    payload.starts_with(VERSION)
}

/// The request line and Host header of an HTTP/1.x request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method token, e.g. `GET`.
    pub method: &'a [u8],
    /// The request target as sent (origin form `/path?query`, absolute form, authority form
    /// of CONNECT, or `*`); cut where the payload ends if the line is.
    pub target: &'a [u8],
    /// The first Host header's value without surrounding spaces and tabs; `None` when there
    /// is none in the headers captured, or the request line was cut.
    pub host: Option<&'a [u8]>,
}

/// Request line and the Host header (case-insensitive name, value trimmed) from the start of
/// the first client segment; headers may be cut by the snap length: `host` is `None` then.
/// `None` if the payload does not start with a known method, a space and a target, or the
/// request line goes on in a way HTTP/1.x does not (no `HTTP/1.x` version after the target).
pub fn parse_request(payload: &[u8]) -> Option<Request<'_>> {
    let m = method_len(payload)?;
    let method = &payload[..m];
    let rest = &payload[m + 1..];
    let end = rest.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n'));
    let Some(end) = end else {
        // The line is cut inside the target.
        return (!rest.is_empty()).then_some(Request {
            method,
            target: rest,
            host: None,
        });
    };
    if end == 0 || rest[end] != b' ' {
        return None;
    }
    let target = &rest[..end];
    let line = &rest[end + 1..];
    let cut = Request {
        method,
        target,
        host: None,
    };
    // "HTTP/1." and a digit.
    let version = line.get(..VERSION.len() + 1).unwrap_or(line);
    let known = version.len().min(VERSION.len());
    if version[..known] != VERSION[..known] {
        return None;
    }
    match version.get(VERSION.len()) {
        None => return Some(cut),
        Some(d) if !d.is_ascii_digit() => return None,
        Some(_) => {}
    }
    let headers = match &line[VERSION.len() + 1..] {
        [] | [b'\r'] => return Some(cut),
        [b'\r', b'\n', headers @ ..] | [b'\n', headers @ ..] => headers,
        _ => return None,
    };
    Some(Request {
        host: host(headers),
        ..cut
    })
}

/// The status code of `HTTP/1.x NNN ...` at the start of the payload: three digits, 100 to
/// 599 (RFC 9110 section 15), then a space, the end of the line or of the payload.
pub fn parse_status(payload: &[u8]) -> Option<u16> {
    let rest = payload.strip_prefix(VERSION)?;
    let [v, b' ', a, b, c, tail @ ..] = rest else {
        return None;
    };
    if !v.is_ascii_digit() || !matches!(tail.first(), None | Some(b' ' | b'\r' | b'\n')) {
        return None;
    }
    let mut code = 0u16;
    for d in [a, b, c] {
        if !d.is_ascii_digit() {
            return None;
        }
        code = code * 10 + u16::from(d - b'0');
    }
    (100..=599).contains(&code).then_some(code)
}

/// The length of the known method at the start of `payload`, if there is one and a space
/// follows it.
fn method_len(payload: &[u8]) -> Option<usize> {
    METHODS
        .iter()
        .find(|m| payload.starts_with(m))
        .map(|m| m.len() - 1)
}

/// The value of the first Host field among the whole header lines of `headers`, trimmed.
fn host(mut headers: &[u8]) -> Option<&[u8]> {
    while let Some(nl) = headers.iter().position(|&b| b == b'\n') {
        let line = &headers[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // The end of the header section.
            return None;
        }
        if let Some(value) = field_value(line, b"host") {
            return Some(value);
        }
        headers = &headers[nl + 1..];
    }
    None
}

/// The value of `line` if it is a field named `name` (compared ignoring ASCII case; no
/// space may come before the colon, RFC 9112 section 5.1), without its surrounding
/// spaces and tabs.
fn field_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let (field, rest) = line.split_at_checked(name.len())?;
    if !field.eq_ignore_ascii_case(name) {
        return None;
    }
    let value = rest.strip_prefix(b":")?;
    let blank = |b: &u8| matches!(b, b' ' | b'\t');
    let start = value.iter().position(|b| !blank(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    Some(&value[start..end])
}
