//! The decoder: stream framing, template management, malformed and random input.

use super::*;

#[test]
fn stream_splits_into_messages() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let p = pod();
    let mut enc = Encoder::new(opts(true, true, 1400));
    let mut stream = templates(&mut enc, 0);
    let recs = vec![record(&f, &p); 20];
    for m in bytes(enc.records(&recs, 0)) {
        stream.extend(m);
    }
    stream.extend(enc.options(&Counts::default(), 0));
    let msgs: Vec<&[u8]> = split_messages(&stream).map(Result::unwrap).collect();
    assert!(msgs.len() >= 4);
    let mut session = Session::default();
    let mut data = 0;
    let mut options = 0;
    for m in &msgs {
        let m = session.decode(m).unwrap();
        data += m.records.iter().filter(|r| !r.is_options()).count();
        options += m.records.iter().filter(|r| r.is_options()).count();
    }
    assert_eq!((data, options), (20, 1));

    let cut = &stream[..stream.len() - 3];
    let results: Vec<_> = split_messages(cut).collect();
    assert!(results[..results.len() - 1].iter().all(Result::is_ok));
    assert!(matches!(
        results.last(),
        Some(Err(DecodeError::Truncated { .. }))
    ));
    assert!(matches!(
        split_messages(&[0, 9, 0, 16]).next(),
        Some(Err(DecodeError::Truncated { .. }))
    ));
}

#[test]
fn data_before_templates_is_skipped_and_withdrawal_forgets() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let p = pod();
    let mut enc = Encoder::new(opts(false, false, 1400));
    let data = bytes(enc.records(&[record(&f, &p)], 0)).remove(0);
    let mut session = Session::default();
    let m = session.decode(&data).unwrap();
    assert_eq!((m.records.len(), m.unknown_sets.clone()), (0, vec![256]));

    session.decode(&templates(&mut enc, 0)).unwrap();
    assert_eq!(session.decode(&data).unwrap().records.len(), 1);
    assert!(session.template(7, 258).is_some());

    // Withdraw all data templates of domain 7 (template id 2, field count 0).
    let mut withdraw = header(24, 0, 0, 7);
    withdraw.extend_from_slice(&[0, 2, 0, 8, 0, 2, 0, 0]);
    assert!(session.decode(&withdraw).unwrap().templates.is_empty());
    assert!(session.template(7, 256).is_none());
    assert!(session.template(7, 258).is_some(), "options templates stay");
    assert_eq!(session.decode(&data).unwrap().unknown_sets, vec![256]);
}

#[test]
fn malformed_messages_are_errors() {
    let mut session = Session::default();
    let good = templates(&mut Encoder::new(opts(true, true, 1400)), 0);
    assert!(session.decode(&good).is_ok());

    let mut bad_version = good.clone();
    bad_version[1] = 9;
    assert_eq!(session.decode(&bad_version), Err(DecodeError::Version(9)));
    assert!(matches!(
        session.decode(&good[..good.len() - 1]),
        Err(DecodeError::LengthMismatch { .. })
    ));
    let mut set_too_long = good.clone();
    set_too_long[18..20].copy_from_slice(&[0xff, 0xf0]);
    assert!(matches!(
        session.decode(&set_too_long),
        Err(DecodeError::SetLength { .. })
    ));
    let mut low_id = good.clone();
    low_id[20..22].copy_from_slice(&[0, 17]);
    assert!(matches!(
        session.decode(&low_id),
        Err(DecodeError::TemplateId {
            template_id: 17,
            ..
        })
    ));
    let mut netflow_set = header(20, 0, 0, 0);
    netflow_set.extend_from_slice(&[0, 0, 0, 4]);
    assert!(matches!(
        session.decode(&netflow_set),
        Err(DecodeError::ReservedSet { .. })
    ));
    assert!(matches!(
        session.decode(&[0, 10, 0, 3]),
        Err(DecodeError::Truncated { .. })
    ));
    let short = header(12, 0, 0, 0);
    assert!(matches!(
        session.decode(&short),
        Err(DecodeError::ShortLength { length: 12 })
    ));
    // A record whose varlen prefix claims more than the set holds.
    let mut truncated_string = header(16 + 12, 0, 0, 0);
    truncated_string.extend_from_slice(&[0, 2, 0, 12, 1, 0, 0, 1]);
    truncated_string.extend_from_slice(&[0, 82, 0xff, 0xff]);
    session.decode(&truncated_string).unwrap();
    let mut rec = header(16 + 4 + 4, 0, 0, 0);
    rec.extend_from_slice(&[1, 0, 0, 8, 255, 0, 9, b'a']);
    let err = session.decode(&rec).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { .. }));
    assert!(err.to_string().contains("variable-length field"), "{err}");
}

/// xorshift64*: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn garbage_never_panics() {
    let f = flow(v6("2001:db8::1"), v6("2001:db8::2"), PROTO_TCP, 1, 2);
    let p = pod();
    let mut enc = Encoder::new(opts(true, true, 1400));
    let templates = templates(&mut enc, 0);
    let data = bytes(enc.records(&[record(&f, &p); 3], 0)).remove(0);
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);

    // Every prefix of valid messages, with the header length patched to match.
    for msg in [&templates, &data] {
        for cut in 0..msg.len() {
            let mut m = msg[..cut].to_vec();
            if m.len() >= 4 {
                m[2..4].copy_from_slice(&(cut as u16).to_be_bytes());
            }
            let mut session = Session::default();
            let _ = session.decode(&templates);
            let _ = session.decode(&m);
            let _ = split_messages(&m).count();
        }
    }
    // Random byte flips in valid messages.
    for _ in 0..3000 {
        let mut session = Session::default();
        let mut t = templates.clone();
        let mut d = data.clone();
        for _ in 0..1 + noise.next() % 4 {
            let i = noise.next() as usize % t.len();
            t[i] = noise.next() as u8;
            let i = noise.next() as usize % d.len();
            d[i] = noise.next() as u8;
        }
        let _ = session.decode(&t);
        let _ = session.decode(&d);
    }
    // Pure noise behind a plausible header.
    for _ in 0..3000 {
        let len = 16 + noise.next() as usize % 300;
        let mut m = header(len as u16, 0, 0, 0);
        m.extend((16..len).map(|_| noise.next() as u8));
        if noise.next().is_multiple_of(2) && len >= 24 {
            m[16..18].copy_from_slice(&[0, 2 + (noise.next() % 2) as u8]);
        }
        let mut session = Session::default();
        let _ = session.decode(&m);
        let _ = session.decode(&m);
        let _ = split_messages(&m).count();
    }
}

#[test]
fn fields_of_length_zero_are_refused() {
    // Template 300 with one field of length 0, then a message with 8 bytes of its data:
    // records of no bytes each were read from them without end.
    let mut template = header(16 + 12, 0, 0, 0);
    template.extend_from_slice(&[0, 2, 0, 12, 0x01, 0x2c, 0, 1, 0, 1, 0, 0]);
    let mut data = header(16 + 12, 0, 0, 0);
    data.extend_from_slice(&[0x01, 0x2c, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8]);
    let mut session = Session::default();
    assert_eq!(
        session.decode(&template),
        Err(DecodeError::EmptyField {
            template_id: 300,
            offset: 20
        })
    );
    assert!(session.template(0, 300).is_none());
    assert_eq!(session.decode(&data).unwrap().unknown_sets, [300]);

    // The message the fuzzer found: the same, among other templates.
    const FOUND: [u8; 133] = [
        0x00, 0x0a, 0x00, 0x85, 0x3a, 0x3a, 0x00, 0x10, 0x06, 0x01, 0x03, 0x10, 0x10, 0x00, 0x00,
        0xc9, 0x00, 0x02, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x06,
        0x00, 0x01, 0x00, 0x10, 0x00, 0xa7, 0xc9, 0x25, 0x00, 0x02, 0x00, 0x00, 0x15, 0x00, 0x00,
        0x00, 0x00, 0x10, 0x08, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x00, 0xcc, 0x06, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x33, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x3b, 0x06, 0x00,
        0x01, 0x00, 0x10, 0x00, 0x00, 0xc9, 0x7b, 0x00, 0x02, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00,
        0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0xcc, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x32,
        0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x3b, 0x06, 0x00, 0x0c, 0x00, 0x10, 0x00, 0xa7,
        0x00, 0x00, 0x00, 0x00, 0x2b, 0x20, 0xff, 0xff, 0x11, 0x41, 0x00, 0x00, 0x00,
    ];
    let err = Session::default().decode(&FOUND).unwrap_err();
    assert!(matches!(err, DecodeError::EmptyField { .. }), "{err}");
}
