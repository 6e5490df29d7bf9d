use super::{payload, payloads, DNS, HTTP};
use crate::l7::dns::{parse, MAX_QUESTIONS, ROOT};

/// A payload's label and what tshark dissected of it.
type Dissected = (&'static str, u16, u16, u8, &'static str, u16, u16, u16, u16);

/// tshark's dns.id, dns.flags, dns.flags.rcode (0 where a query has none), dns.qry.name,
/// dns.qry.type, dns.qry.class, dns.count.queries and dns.count.answers of each payload, from
/// `scripts/l7-testdata.py expect` (tshark 4.0.17).
const TSHARK: [Dissected; 12] = [
    ("a-query", 0xe941, 0x0120, 0, "www.Example.test", 1, 1, 1, 0),
    (
        "a-response",
        0xe941,
        0x8580,
        0,
        "www.Example.test",
        1,
        1,
        1,
        1,
    ),
    ("aaaa-query", 0x11f6, 0x0120, 0, "example.test", 28, 1, 1, 0),
    (
        "aaaa-response",
        0x11f6,
        0x8580,
        0,
        "example.test",
        28,
        1,
        1,
        1,
    ),
    (
        "refused-query",
        0x7b52,
        0x0120,
        0,
        "nothere.invalid",
        1,
        1,
        1,
        0,
    ),
    (
        "refused-response",
        0x7b52,
        0x8185,
        5,
        "nothere.invalid",
        1,
        1,
        1,
        0,
    ),
    ("root-query", 0x8ab0, 0x0120, 0, "<Root>", 2, 1, 1, 0),
    ("root-response", 0x8ab0, 0x8185, 5, "<Root>", 2, 1, 1, 0),
    (
        "odd-query",
        0x5ffb,
        0x0120,
        0,
        "odd name.example.test",
        16,
        1,
        1,
        0,
    ),
    (
        "odd-response",
        0x5ffb,
        0x8185,
        5,
        "odd name.example.test",
        16,
        1,
        1,
        0,
    ),
    (
        "ptr-query",
        0xe9d8,
        0x0120,
        0,
        "1.0.0.127.in-addr.arpa",
        12,
        1,
        1,
        0,
    ),
    (
        "ptr-response",
        0xe9d8,
        0x8185,
        5,
        "1.0.0.127.in-addr.arpa",
        12,
        1,
        1,
        0,
    ),
];

#[test]
fn captured_messages_read_as_tshark_reads_them() {
    assert_eq!(payloads(DNS).len(), TSHARK.len());
    for (label, id, flags, rcode, name, qtype, qclass, questions, answers) in TSHARK {
        let d = parse(&payload(DNS, label)).unwrap_or_else(|| panic!("{label} not read"));
        assert_eq!(d.id, id, "{label}");
        assert_eq!(d.flags, flags, "{label}");
        assert_eq!(d.response, label.ends_with("response"), "{label}");
        assert_eq!(d.rcode, rcode, "{label}");
        assert_eq!(d.name, name, "{label}");
        assert_eq!((d.qtype, d.qclass), (qtype, qclass), "{label}");
        assert_eq!((d.questions, d.answers), (questions, answers), "{label}");
    }
}

/// The length of the header and first question of a message whose name has no pointer.
fn question_end(m: &[u8]) -> usize {
    let mut at = 12;
    while m[at] != 0 {
        at += 1 + usize::from(m[at]);
    }
    at + 1 + 4
}

#[test]
fn a_message_cut_anywhere_before_its_question_ends_is_not_read() {
    for (label, m) in payloads(DNS) {
        let whole = parse(&m).unwrap();
        let end = question_end(&m);
        for len in 0..m.len() {
            let cut = parse(&m[..len]);
            if len < end {
                assert_eq!(cut, None, "{label} cut to {len}");
            } else {
                assert_eq!(cut, Some(whole), "{label} cut to {len}");
            }
        }
    }
}

#[test]
fn other_protocols_on_the_port_are_not_dns() {
    for (label, m) in payloads(HTTP) {
        assert_eq!(parse(&m), None, "{label}");
    }
    assert_eq!(parse(b""), None);
    assert_eq!(parse(&[0; 11]), None);
}

/// A message of ID 0xabcd with `flags`, `qdcount`, every other count 65535 and `question`.
fn message(flags: u16, qdcount: u16, question: &[u8]) -> Vec<u8> {
    let mut m = vec![0xab, 0xcd];
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&qdcount.to_be_bytes());
    m.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    m.extend_from_slice(question);
    m
}

/// A question for `labels`, type A, class IN.
fn question(labels: &[&[u8]]) -> Vec<u8> {
    let mut q = Vec::new();
    for l in labels {
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn counts_and_opcodes_outside_dns_are_refused() {
    let q = question(&[b"example", b"test"]);
    assert_eq!(parse(&message(0x0100, 0, &q)), None);
    assert_eq!(parse(&message(0x0100, MAX_QUESTIONS + 1, &q)), None);
    assert_eq!(parse(&message(0x0100, u16::MAX, &q)), None);
    let most = parse(&message(0x0100, MAX_QUESTIONS, &q)).unwrap();
    // Counts of the other sections are taken as they are, never walked.
    assert_eq!((most.questions, most.answers), (MAX_QUESTIONS, u16::MAX));
    for opcode in 0..16u16 {
        let read = parse(&message(opcode << 11, 1, &q)).is_some();
        assert_eq!(read, matches!(opcode, 0 | 1 | 2 | 4 | 5), "opcode {opcode}");
    }
}

#[test]
fn names_keep_their_bytes_and_stay_within_255_octets() {
    // Case, a dot and bytes outside ASCII inside labels are kept as sent.
    let q = question(&[b"A.b", &[0xff, b' '], b"Test"]);
    let d = parse(&message(0, 1, &q)).unwrap();
    assert_eq!(d.name.as_bytes(), b"A.b.\xff .Test");

    // Four labels of 63 and one of 61: 4 * 64 + 62 + 1 = 255 octets, the most allowed.
    let long = [b'x'; 63];
    let fits = question(&[&long, &long, &long, &long[..61]]);
    let d = parse(&message(0, 1, &fits)).unwrap();
    // 63 * 3 + 61 bytes and three dots.
    assert_eq!(d.name.len(), 253);
    let over = question(&[&long, &long, &long, &long[..62]]);
    assert_eq!(parse(&message(0, 1, &over)), None);
}

#[test]
fn the_root_is_named_as_tshark_names_it() {
    let d = parse(&message(0, 1, &[0, 0, 2, 0, 1])).unwrap();
    assert_eq!(d.name.as_bytes(), ROOT);
    assert_eq!(d.qtype, 2);
}

#[test]
fn reserved_label_types_are_malformed() {
    for kind in [0x40u8, 0x80] {
        let q = [kind | 1, b'a', 0, 0, 1, 0, 1];
        assert_eq!(parse(&message(0, 1, &q)), None, "label type {kind:#x}");
    }
    // A label longer than the message.
    assert_eq!(parse(&message(0, 1, &[63, b'a', 0, 0, 1, 0, 1])), None);
}
