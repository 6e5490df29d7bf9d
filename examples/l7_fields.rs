//! The fields podflow's application-layer parsers read from payloads, for comparing them with
//! another dissector (scripts/l7-testdata.py check), and their cost per call.
//!
//!     l7_fields < PAYLOADS          one line of tab-separated fields per payload
//!     l7_fields bench < PAYLOADS    nanoseconds per call of each payload's parser
//!
//! PAYLOADS are lines `KIND HEX`, KIND one of dns, http-request, http-response, tls-client,
//! tls-server.

use std::hint::black_box;
use std::io::{self, BufRead, Write};
use std::time::Instant;

use podflow::l7::{dns, http, tls};

fn main() -> io::Result<()> {
    let bench = std::env::args().nth(1).as_deref() == Some("bench");
    let mut out = io::stdout().lock();
    for line in io::stdin().lock().lines() {
        let line = line?;
        let Some((kind, hex)) = line.split_once(' ') else {
            continue;
        };
        let Some(payload) = unhex(hex.trim()) else {
            writeln!(out, "bad hex")?;
            continue;
        };
        if bench {
            writeln!(
                out,
                "{kind}\t{} bytes\t{:.0} ns",
                payload.len(),
                per_call(kind, &payload)
            )?;
        } else {
            writeln!(out, "{}", fields(kind, &payload))?;
        }
    }
    Ok(())
}

/// The fields of one payload, tab-separated.
fn fields(kind: &str, p: &[u8]) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match kind_of(kind) {
        Kind::Dns => match dns::parse(p) {
            Some(d) => format!(
                "dns\t{:#06x}\t{:#06x}\t{}\t{}\t{}\t{}\t{}\t{}",
                d.id,
                d.flags,
                d.rcode,
                d.name.to_string_lossy(),
                d.qtype,
                d.qclass,
                d.questions,
                d.answers
            ),
            None => "none".into(),
        },
        Kind::Request => match http::parse_request(p) {
            Some(r) => format!(
                "request\t{}\t{}\t{}",
                text(r.method),
                text(r.target),
                r.host.map(text).unwrap_or_default()
            ),
            None => "none".into(),
        },
        Kind::Response => match http::parse_status(p) {
            Some(code) => format!("response\t{code}"),
            None => "none".into(),
        },
        Kind::Client => match tls::client_hello(p, tls::Transport::Tcp) {
            tls::Hello::Done(h) => format!(
                "done\t{}\t{}\t{:#06x}\t{}\t{}",
                h.sni.to_string_lossy(),
                h.alpn.to_string_lossy(),
                h.client_version,
                h.ja4.to_string_lossy(),
                h.ja3_hex().to_string_lossy()
            ),
            other => format!("{other:?}"),
        },
        Kind::Server => match tls::server_hello(p) {
            tls::Hello::Done(h) => format!("done\t{:#06x}\t{:#06x}", h.version, h.cipher),
            other => format!("{other:?}"),
        },
        Kind::Unknown => "unknown kind".into(),
    }
}

/// Nanoseconds per call of the payload's parser, over about 0.2 s.
fn per_call(kind: &str, p: &[u8]) -> f64 {
    let kind = kind_of(kind);
    let once = |p: &[u8]| match kind {
        Kind::Dns => drop(black_box(dns::parse(p))),
        Kind::Request => drop(black_box(http::parse_request(p))),
        Kind::Response => drop(black_box(http::parse_status(p))),
        Kind::Client => drop(black_box(tls::client_hello(p, tls::Transport::Tcp))),
        Kind::Server => drop(black_box(tls::server_hello(p))),
        Kind::Unknown => {}
    };
    let mut calls = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..calls {
            once(black_box(p));
        }
        let took = start.elapsed();
        if took.as_millis() >= 200 {
            return took.as_nanos() as f64 / calls as f64;
        }
        calls *= 2;
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Dns,
    Request,
    Response,
    Client,
    Server,
    Unknown,
}

fn kind_of(kind: &str) -> Kind {
    match kind {
        "dns" => Kind::Dns,
        "http-request" => Kind::Request,
        "http-response" => Kind::Response,
        "tls-client" => Kind::Client,
        "tls-server" => Kind::Server,
        _ => Kind::Unknown,
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
