//! Messages compared with bytes built by hand from RFC 7011: templates, a data record, an
//! options record.

use super::*;

/// An IANA field specifier: id, length.
fn iana(out: &mut Vec<u8>, id: u16, len: u16) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
}

/// An enterprise field specifier: id with bit 15 set, length, PEN.
fn ent(out: &mut Vec<u8>, pen: u32, id: u16, len: u16) {
    out.extend_from_slice(&(0x8000 | id).to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&pen.to_be_bytes());
}

fn data_template_by_hand(id: u16, ipv6: bool, biflow: bool) -> Vec<u8> {
    let mut t = Vec::new();
    let count: u16 = 13 + if biflow { 3 } else { 0 } + 3 + 12;
    t.extend_from_slice(&id.to_be_bytes());
    t.extend_from_slice(&count.to_be_bytes());
    iana(&mut t, 152, 8);
    iana(&mut t, 153, 8);
    if ipv6 {
        iana(&mut t, 27, 16);
        iana(&mut t, 28, 16);
    } else {
        iana(&mut t, 8, 4);
        iana(&mut t, 12, 4);
    }
    iana(&mut t, 7, 2);
    iana(&mut t, 11, 2);
    iana(&mut t, 4, 1);
    iana(&mut t, 5, 1);
    iana(&mut t, 58, 2);
    iana(&mut t, if ipv6 { 139 } else { 32 }, 2);
    iana(&mut t, 6, 2);
    iana(&mut t, 1, 8);
    iana(&mut t, 2, 8);
    if biflow {
        ent(&mut t, 29305, 1, 8);
        ent(&mut t, 29305, 2, 8);
        ent(&mut t, 29305, 6, 2);
    }
    iana(&mut t, 136, 1);
    iana(&mut t, 61, 1);
    iana(&mut t, 82, 65535);
    ent(&mut t, PEN, 1, 65535);
    ent(&mut t, PEN, 2, 4);
    ent(&mut t, PEN, 3, 16);
    for id in 4..=11 {
        ent(&mut t, PEN, id, 65535);
    }
    ent(&mut t, PEN, 12, 1);
    t
}

#[test]
fn templates_message_matches_hand_built_bytes() {
    let mut templates = Vec::new();
    templates.extend(data_template_by_hand(256, false, true));
    templates.extend(data_template_by_hand(257, true, true));
    let mut set2 = vec![0x00, 0x02];
    set2.extend_from_slice(&((templates.len() + 4) as u16).to_be_bytes());
    set2.extend(templates);

    let mut set3 = vec![0x00, 0x03, 0x00, 4 + 6 + 9 * 4];
    set3.extend_from_slice(&[0x01, 0x02, 0x00, 0x09, 0x00, 0x01]); // 258, 9 fields, 1 scope
    iana(&mut set3, 149, 4);
    for id in [41, 42, 40, 163, 164, 166] {
        iana(&mut set3, id, 8);
    }
    iana(&mut set3, 152, 8);
    iana(&mut set3, 153, 8);
    // 259, the type records: 5 fields, 2 of them scope (RFC 5610 §3.9).
    set3.extend_from_slice(&[0x01, 0x03, 0x00, 0x05, 0x00, 0x02]);
    for (id, len) in [(346, 4), (303, 2), (339, 1), (344, 1), (341, 0xffff)] {
        iana(&mut set3, id, len);
    }
    set3[3] = set3.len() as u8;

    let len = 16 + set2.len() + set3.len();
    let mut want = header(len as u16, 1_700_000_000, 0, 7);
    want.extend(set2);
    want.extend(set3);

    let mut enc = Encoder::new(opts(true, false, 1400));
    assert_eq!(enc.templates(1_700_000_000), vec![want]);
    assert_eq!(enc.sequence(), 0, "templates are not data records");
}

#[test]
fn data_record_matches_hand_built_bytes() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 40000, 443);
    let p = pod();
    let mut enc = Encoder::new(opts(false, false, 1400));
    let msgs = bytes(enc.records(&[record(&f, &p)], 1_700_000_006));
    assert_eq!(msgs.len(), 1);

    let mut r = Vec::new();
    r.extend_from_slice(&1_700_000_000_123u64.to_be_bytes()); // start, ms
    r.extend_from_slice(&1_700_000_005_987u64.to_be_bytes()); // end, ms
    r.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    r.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb]); // 40000, 443
    r.extend_from_slice(&[6, 0x28, 0x00, 42]); // proto, tos, vlan
    r.extend_from_slice(&[0x00, 0x00, 0x00, 0x1b]); // icmp type code 0, flags
    r.extend_from_slice(&1500u64.to_be_bytes());
    r.extend_from_slice(&10u64.to_be_bytes());
    r.extend_from_slice(&[3, 1]); // end of flow, egress
    r.extend_from_slice(b"\x04eth0");
    r.extend_from_slice(b"\x06node-a");
    r.extend_from_slice(&[192, 168, 1, 5]);
    r.extend_from_slice(&[0; 16]); // no IPv6 node address
    r.extend_from_slice(b"\x09shop-7d9f\x04prod\x04shop\x0aDeployment");
    r.extend_from_slice(b"\x0e{\"app\":\"shop\"}");
    let annotations = pod().annotations_json;
    assert_eq!(annotations.len(), 301);
    r.extend_from_slice(&[255, 0x01, 0x2d]); // long form: 255 then 301
    r.extend_from_slice(annotations.as_bytes());
    r.extend_from_slice(b"\x040f3c");
    r.push(0); // empty cluster name
    r.push(1); // sidecar

    let mut want = header((16 + 4 + r.len()) as u16, 1_700_000_006, 0, 7);
    want.extend_from_slice(&[0x01, 0x00]);
    want.extend_from_slice(&((4 + r.len()) as u16).to_be_bytes());
    want.extend(r);
    assert_eq!(msgs[0], want);
    assert_eq!(enc.sequence(), 1);
}

#[test]
fn options_record_matches_hand_built_bytes() {
    let counts = Counts {
        exported_messages: 3,
        exported_records: 40,
        exported_octets: 5000,
        observed_flows: 41,
        ignored_packets: 2,
        not_sent_records: 1,
        period_start: 1_000_000_000,
        period_end: 61_500_000_000,
    };
    let mut enc = Encoder::new(opts(false, false, 1400));
    let got = enc.options(&counts, 99);
    let mut want = header(16 + 4 + 68, 99, 0, 7);
    want.extend_from_slice(&[0x01, 0x02, 0x00, 72]);
    want.extend_from_slice(&7u32.to_be_bytes());
    for n in [3u64, 40, 5000, 41, 2, 1, 1000, 61_500] {
        want.extend_from_slice(&n.to_be_bytes());
    }
    assert_eq!(got, want);
    assert_eq!(enc.sequence(), 1);
}
