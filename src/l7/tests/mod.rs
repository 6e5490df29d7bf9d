//! The parsers on payloads captured on loopback (`src/l7/testdata`, written by
//! `scripts/l7-testdata.py capture`), against what tshark 4.0 reads in the same payloads
//! (printed by `scripts/l7-testdata.py expect`), and on hostile variations of them.

mod dns;
mod gather;
mod http;
mod tls;

pub(super) const DNS: &str = include_str!("../testdata/dns.txt");
pub(super) const HTTP: &str = include_str!("../testdata/http.txt");
pub(super) const TLS: &str = include_str!("../testdata/tls.txt");

/// The payload labelled `label` in the test data `file`.
pub(super) fn payload(file: &str, label: &str) -> Vec<u8> {
    payloads(file)
        .into_iter()
        .find_map(|(name, bytes)| (name == label).then_some(bytes))
        .unwrap_or_else(|| panic!("no payload {label} in the test data"))
}

/// Every payload of the test data `file`, with its label.
pub(super) fn payloads(file: &str) -> Vec<(&str, Vec<u8>)> {
    file.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (label, hex) = l.split_once(' ').expect("a line is `label hex`");
            (label, unhex(hex.trim()))
        })
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
