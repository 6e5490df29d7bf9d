use super::{payload, payloads, DNS, HTTP, TLS};
use crate::l7::tls::{
    client_hello, is_handshake_start, server_hello, ClientHello, Hello, ServerHello, Transport,
    MAX_HELLO,
};

/// tshark's tls.handshake.extensions_server_name, the tls.handshake.extensions_alpn_str
/// joined, the highest tls.handshake.extensions.supported_version (else
/// tls.handshake.version) and tls.handshake.ja3 of each ClientHello, and JA4 computed from
/// tshark's dissected fields, from `scripts/l7-testdata.py expect` (tshark 4.0.17).
/// grease-client is curl13-client with GREASE values added: tshark's JA3 leaves them out.
const CLIENTS: [(&str, &str, &str, u16, &str, &str); 4] = [
    (
        "curl13-client",
        "localhost",
        "h2,http/1.1",
        0x0304,
        "0149f47eabf9a20d0893e2a44e5a6323",
        "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
    ),
    (
        "curl12-client",
        "",
        "h2,http/1.1",
        0x0303,
        "a800670a9e75f9768d052dd7f0be5728",
        "t12i2806h2_d943125447b4_a44c6288192a",
    ),
    (
        "sclient13-client",
        "Www.Example.Test",
        "http/1.1",
        0x0304,
        "9dffdb8b608a430b774a2ff7d36c1a0c",
        "t13d0411h1_16476d049b0b_78f1d400d464",
    ),
    (
        "grease-client",
        "localhost",
        "h2,http/1.1",
        0x0304,
        "0149f47eabf9a20d0893e2a44e5a6323",
        "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
    ),
];

/// tshark's supported_version (else tls.handshake.version) and tls.handshake.ciphersuite of
/// each ServerHello.
const SERVERS: [(&str, u16, u16); 3] = [
    ("curl13-server", 0x0304, 0x1302),
    ("curl12-server", 0x0303, 0xc02c),
    ("sclient13-server", 0x0304, 0x1302),
];

fn done<T: std::fmt::Debug>(h: Hello<T>) -> T {
    match h {
        Hello::Done(t) => t,
        other => panic!("not done: {other:?}"),
    }
}

fn client(stream: &[u8]) -> ClientHello {
    done(client_hello(stream, Transport::Tcp))
}

#[test]
fn captured_client_hellos_read_as_tshark_reads_them() {
    for (label, sni, alpn, version, ja3, ja4) in CLIENTS {
        let p = payload(TLS, label);
        assert!(is_handshake_start(&p), "{label}");
        let h = client(&p);
        assert_eq!(h.sni, sni, "{label}");
        assert_eq!(h.alpn, alpn, "{label}");
        assert_eq!(h.client_version, version, "{label}");
        assert_eq!(h.ja3_hex(), ja3, "{label}");
        assert_eq!(h.ja4, ja4, "{label}");
        assert_eq!(server_hello(&p), Hello::NotTls, "{label}");
    }
}

#[test]
fn captured_server_hellos_read_as_tshark_reads_them() {
    for (label, version, cipher) in SERVERS {
        let p = payload(TLS, label);
        assert!(is_handshake_start(&p), "{label}");
        assert_eq!(
            done(server_hello(&p)),
            ServerHello { version, cipher },
            "{label}"
        );
        assert_eq!(client_hello(&p, Transport::Tcp), Hello::NotTls, "{label}");
    }
}

#[test]
fn quic_changes_the_first_character_of_ja4_only() {
    let p = payload(TLS, "curl13-client");
    let tcp = client(&p);
    let quic = done(client_hello(&p, Transport::Quic));
    assert_eq!(quic.ja4.as_bytes()[0], b'q');
    assert_eq!(quic.ja4.as_bytes()[1..], tcp.ja4.as_bytes()[1..]);
}

#[test]
fn a_hello_cut_anywhere_asks_for_what_it_lacks() {
    for (label, p) in payloads(TLS) {
        let server = label.ends_with("-server");
        let parse = |s: &[u8]| {
            if server {
                server_hello(s).map(|_| ())
            } else {
                client_hello(s, Transport::Tcp).map(|_| ())
            }
        };
        // The hello's own length: a server's first record may hold more messages.
        let end = 9 + (usize::from(p[6]) << 16 | usize::from(p[7]) << 8 | usize::from(p[8]));
        for len in 0..end {
            match parse(&p[..len]) {
                Hello::Incomplete { need } => {
                    assert!(need > len && need <= end, "{label} cut to {len}: {need}");
                    // Exact once the lengths are known, the hello being in one record.
                    if len >= 9 {
                        assert_eq!(need, end, "{label} cut to {len}");
                    }
                }
                other => panic!("{label} cut to {len}: {other:?}"),
            }
        }
        assert_eq!(parse(&p[..end]), Hello::Done(()), "{label}");
    }
}

/// The handshake message of a single-record stream, as records cut at `cuts` (offsets into
/// the message).
pub(super) fn records(stream: &[u8], cuts: &[usize]) -> Vec<u8> {
    let message = &stream[5..];
    let mut out = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain([&message.len()]) {
        out.extend_from_slice(&[0x16, 0x03, 0x03]);
        out.extend_from_slice(&((to - from) as u16).to_be_bytes());
        out.extend_from_slice(&message[from..to]);
        from = to;
    }
    out
}

#[test]
fn a_hello_split_over_records_reads_as_in_one() {
    for (label, p) in payloads(TLS)
        .into_iter()
        .filter(|(l, _)| l.ends_with("-client"))
    {
        let whole = client(&p);
        let message = p.len() - 5;
        for cut in 1..message {
            let split = records(&p, &[cut]);
            assert_eq!(client(&split), whole, "{label} cut at {cut}");
            // Every prefix of the two records asks for more, never for more than all.
            for len in (0..split.len()).step_by(7) {
                match client_hello(&split[..len], Transport::Tcp) {
                    Hello::Incomplete { need } => {
                        assert!(
                            need > len && need <= split.len(),
                            "{label} {cut} {len} {need}"
                        )
                    }
                    other => panic!("{label} cut at {cut}, to {len}: {other:?}"),
                }
            }
        }
        // And over many: a record for each byte of the message's first 150.
        let tiny: Vec<usize> = (1..150).collect();
        assert_eq!(client(&records(&p, &tiny)), whole, "{label} in bytes");
    }
}

#[test]
fn other_protocols_are_not_tls() {
    for (label, p) in payloads(HTTP).into_iter().chain(payloads(DNS)) {
        assert!(!is_handshake_start(&p), "{label}");
        assert_eq!(client_hello(&p, Transport::Tcp), Hello::NotTls, "{label}");
        assert_eq!(server_hello(&p), Hello::NotTls, "{label}");
    }
    let p = payload(TLS, "curl13-client");
    let with = |at: usize, b: u8| {
        let mut q = p.clone();
        q[at] = b;
        client_hello(&q, Transport::Tcp)
    };
    // Application data, SSL 2 and a record version past TLS 1.3, a zero-length record.
    assert_eq!(with(0, 0x17), Hello::NotTls);
    assert_eq!(with(1, 0x02), Hello::NotTls);
    assert_eq!(with(2, 0x05), Hello::NotTls);
    assert_eq!(
        client_hello(&[0x16, 3, 1, 0, 0], Transport::Tcp),
        Hello::NotTls
    );
    assert_eq!(
        client_hello(&[0x80, 0x2e, 1, 3, 1], Transport::Tcp),
        Hello::NotTls
    );
    // One byte says enough.
    assert_eq!(client_hello(&[0x17], Transport::Tcp), Hello::NotTls);
    assert_eq!(
        client_hello(&[0x16], Transport::Tcp),
        Hello::Incomplete { need: 9 }
    );
}

// --- hellos built for the cases captures do not show ---------------------------------

fn vec8(b: &[u8]) -> Vec<u8> {
    [&[b.len() as u8][..], b].concat()
}

fn vec16(b: &[u8]) -> Vec<u8> {
    [&(b.len() as u16).to_be_bytes()[..], b].concat()
}

fn list16(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn sni(name: &[u8]) -> (u16, Vec<u8>) {
    (0, vec16(&[&[0u8][..], &vec16(name)].concat()))
}

fn alpn(protocols: &[&[u8]]) -> (u16, Vec<u8>) {
    let list: Vec<u8> = protocols.iter().flat_map(|p| vec8(p)).collect();
    (16, vec16(&list))
}

fn versions(v: &[u16]) -> (u16, Vec<u8>) {
    (43, vec8(&list16(v)))
}

fn sigalgs(v: &[u16]) -> (u16, Vec<u8>) {
    (13, vec16(&list16(v)))
}

/// A ClientHello record: legacy version TLS 1.2, an empty session ID, `ciphers`, null
/// compression and `extensions` (none at all when `None`).
pub(super) fn build(ciphers: &[u16], extensions: Option<&[(u16, Vec<u8>)]>) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0);
    body.extend(vec16(&list16(ciphers)));
    body.extend_from_slice(&[1, 0]);
    if let Some(exts) = extensions {
        let block: Vec<u8> = exts
            .iter()
            .flat_map(|(t, d)| [&t.to_be_bytes()[..], &vec16(d)].concat())
            .collect();
        body.extend(vec16(&block));
    }
    let mut message = vec![1];
    message.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    message.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(message.len() as u16).to_be_bytes());
    record.extend(message);
    record
}

/// The hello of the example in FoxIO's technical_details/JA4.md: its ciphers, its
/// extensions in their order, its signature algorithms, ALPN h2.
fn ja4_example(sigalg_list: &[u16]) -> Vec<u8> {
    let ciphers = [
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
        0x009c, 0x009d, 0x002f, 0x0035,
    ];
    let empty = |t: u16| (t, Vec::new());
    let exts = [
        empty(0x001b),
        sni(b"example.test"),
        empty(0x0033),
        alpn(&[b"h2", b"http/1.1"]),
        empty(0x4469),
        empty(0x0017),
        empty(0x002d),
        sigalgs(sigalg_list),
        empty(0x0005),
        empty(0x0023),
        empty(0x0012),
        versions(&[0x0304, 0x0303]),
        empty(0xff01),
        empty(0x000b),
        empty(0x000a),
        empty(0x0015),
    ];
    build(&ciphers, Some(&exts))
}

#[test]
fn the_example_of_the_ja4_specification_gives_its_fingerprint() {
    let sig = [
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ];
    assert_eq!(
        client(&ja4_example(&sig)).ja4,
        "t13d1516h2_8daaf6152771_e5627efa2ab1"
    );
    // "If there are no signature algorithms in the hello packet, then the string ends
    // without an underscore": the specification's hash of that string.
    assert_eq!(
        client(&ja4_example(&[])).ja4,
        "t13d1516h2_8daaf6152771_6d807ffa2a79"
    );
}

#[test]
fn grease_is_left_out_of_every_list() {
    let plain = build(
        &[0x1301, 0x1302],
        Some(&[
            sni(b"a.test"),
            versions(&[0x0304]),
            sigalgs(&[0x0403]),
            alpn(&[b"h2"]),
        ]),
    );
    let greased = build(
        &[0x0a0a, 0x1301, 0xfafa, 0x1302],
        Some(&[
            (0x1a1a, vec![]),
            sni(b"a.test"),
            versions(&[0x7a7a, 0x0304]),
            sigalgs(&[0x0403, 0x3a3a]),
            (0x2a2a, vec![0]),
            alpn(&[b"h2"]),
            (0xeaea, vec![]),
        ]),
    );
    let (a, b) = (client(&plain), client(&greased));
    assert_eq!(a.ja4, b.ja4);
    assert_eq!(a.ja3, b.ja3);
    assert_eq!(b.client_version, 0x0304);
    assert!(b.ja4.as_bytes().starts_with(b"t13d0204h2_"), "{:?}", b.ja4);
    // Values that only look alike are not GREASE.
    let near = build(&[0x0a1a, 0x1301, 0x1302], Some(&[sni(b"a.test")]));
    assert!(client(&near).ja4.as_bytes().starts_with(b"t12d0301"));
}

#[test]
fn counts_stop_at_99_and_empty_lists_hash_to_zeros() {
    let ciphers: Vec<u16> = (1..=150).collect();
    let exts: Vec<(u16, Vec<u8>)> = (100..220).map(|t| (t, vec![])).collect();
    let h = client(&build(&ciphers, Some(&exts)));
    assert!(h.ja4.as_bytes().starts_with(b"t12i999900_"), "{:?}", h.ja4);

    let bare = client(&build(&[], None));
    assert_eq!(bare.ja4, "t12i000000_000000000000_000000000000");
    // Only SNI and ALPN: nothing left to hash in section c.
    let h = client(&build(&[0x1301], Some(&[sni(b"a"), alpn(&[b"h2"])])));
    assert!(h.ja4.as_bytes().ends_with(b"_000000000000"), "{:?}", h.ja4);
}

#[test]
fn versions_map_to_their_ja4_codes() {
    for (offered, code) in [
        (&[0x0304, 0x0303][..], "13"),
        (&[0x0303, 0x0304], "13"),
        (&[0x0302], "11"),
        (&[0x0301], "10"),
        (&[0x0300], "s3"),
        (&[0x0002], "s2"),
        (&[0xfefd], "d2"),
        (&[0x7f1c], "00"),
        // Only GREASE: the legacy version.
        (&[0x5a5a], "12"),
    ] {
        let h = client(&build(&[0x1301], Some(&[versions(offered)])));
        assert_eq!(&h.ja4.as_bytes()[1..3], code.as_bytes(), "{offered:x?}");
    }
}

#[test]
fn alpn_characters_follow_the_specification() {
    for (first, code) in [
        (&b"h2"[..], "h2"),
        (b"http/1.1", "h1"),
        (b"a", "aa"),
        (b"\xab", "ab"),
        (b"\x20", "20"),
        (b"\xab\xcd", "ad"),
        (b"\x20\x61", "21"),
        (b"\x30\xab", "3b"),
        (b"\x61\x20", "60"),
        (b"\x30\x31\xab\xcd", "3d"),
        (b"\x30\xab\xcd\x31", "01"),
        (b"", "00"),
    ] {
        let h = client(&build(&[0x1301], Some(&[alpn(&[first, b"h2"])])));
        assert_eq!(&h.ja4.as_bytes()[8..10], code.as_bytes(), "{first:x?}");
    }
    let none = client(&build(&[0x1301], Some(&[sni(b"x")])));
    assert_eq!(&none.ja4.as_bytes()[8..10], b"00");
}

#[test]
fn a_long_server_name_is_cut_to_255_bytes() {
    let name = [b'n'; 300];
    let h = client(&build(&[0x1301], Some(&[sni(&name)])));
    assert_eq!(h.sni.as_bytes(), &name[..255]);
    assert_eq!(h.ja4.as_bytes()[3], b'd');
    // An SNI extension without a host name still makes the destination a domain.
    let h = client(&build(&[0x1301], Some(&[(0, vec16(&[1, 0, 1, b'x']))])));
    assert!(h.sni.is_empty());
    assert_eq!(h.ja4.as_bytes()[3], b'd');
}

#[test]
fn alpn_lists_too_long_or_cut_keep_what_is_whole() {
    let many: Vec<&[u8]> = vec![b"protocol-with-a-long-name"; 10];
    let h = client(&build(&[0x1301], Some(&[alpn(&many)])));
    assert_eq!(h.alpn.len(), 128);
    assert!(h
        .alpn
        .as_bytes()
        .starts_with(b"protocol-with-a-long-name,protocol"));
    assert_eq!(&h.ja4.as_bytes()[8..10], b"pe");
    // The list says 255 bytes and its last protocol 5, but the extension ends before.
    let mut data = vec![0x00, 0xff];
    data.extend(vec8(b"h2"));
    data.extend(vec8(b"http/1.1"));
    data.extend_from_slice(&[5, b's', b'p']);
    let h = client(&build(&[0x1301], Some(&[(16, data)])));
    assert_eq!(h.alpn, "h2,http/1.1");
}

#[test]
fn lengths_past_their_container_are_not_tls() {
    let p = build(&[0x1301, 0x1302], Some(&[sni(b"a.test")]));
    // The cipher list's length (at 5 + 4 + 2 + 32 + 1) says 0xffff.
    let mut q = p.clone();
    q[44..46].copy_from_slice(&[0xff, 0xff]);
    assert_eq!(client_hello(&q, Transport::Tcp), Hello::NotTls);
    // An extension longer than the block.
    let mut q = p.clone();
    let last = q.len() - 1;
    q[last - 11] = 0xff;
    assert_eq!(client_hello(&q, Transport::Tcp), Hello::NotTls);
    // A handshake length over MAX_HELLO is refused at once, before its bytes arrive.
    let mut q = p[..9].to_vec();
    q[6..9].copy_from_slice(&[0xff, 0xff, 0xff]);
    assert_eq!(client_hello(&q, Transport::Tcp), Hello::NotTls);
    // A record longer than TLS allows.
    let mut q = p.clone();
    q[3..5].copy_from_slice(&0x4001u16.to_be_bytes());
    assert_eq!(client_hello(&q, Transport::Tcp), Hello::NotTls);
}

#[test]
fn the_largest_hello_fits_in_max_hello_and_one_byte_more_does_not() {
    let with_padding = |n: usize| build(&[0x1301], Some(&[sni(b"a.test"), (21, vec![0; n])]));
    let base = with_padding(0).len();
    let fits = with_padding(MAX_HELLO - base);
    assert_eq!(fits.len(), MAX_HELLO);
    assert!(matches!(
        client_hello(&fits, Transport::Tcp),
        Hello::Done(_)
    ));
    let over = with_padding(MAX_HELLO - base + 1);
    assert_eq!(client_hello(&over, Transport::Tcp), Hello::NotTls);
    // Known too big from its header alone.
    assert_eq!(client_hello(&over[..9], Transport::Tcp), Hello::NotTls);
    // Spread over records, the headers count too.
    let spread = records(&fits, &[100]);
    assert_eq!(client_hello(&spread, Transport::Tcp), Hello::NotTls);
    let spread = records(&with_padding(MAX_HELLO - base - 5), &[100]);
    assert_eq!(spread.len(), MAX_HELLO);
    assert!(matches!(
        client_hello(&spread, Transport::Tcp),
        Hello::Done(_)
    ));
}
