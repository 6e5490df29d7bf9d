use super::*;
use crate::ipfix::{Session, DEFAULT_ENTERPRISE_NUMBER as PEN};

fn field(pen: u32, id: u16, length: u16) -> TemplateField {
    TemplateField {
        spec: FieldSpec { pen, id },
        length,
    }
}

/// Addresses, then a string of the pod's name (variable length) before the ports, an
/// element of another enterprise, a reverse counter, the protocol and the times.
fn template() -> Template {
    Template {
        id: 300,
        scope_fields: 0,
        fields: vec![
            field(0, 8, 4),
            field(0, 12, 4),
            field(PEN, 4, VARLEN),
            field(0, 7, 2),
            field(0, 11, 2),
            field(55555, 7, 4),
            field(29305, 1, 8),
            field(0, 4, 1),
            field(0, 152, 8),
            field(0, 153, 8),
        ],
    }
}

fn record(name: &[u8], long_form: bool, sport: u16, end_ms: u64) -> Vec<u8> {
    let mut r = vec![10, 1, 0, 7, 93, 184, 216, 34];
    if long_form {
        r.push(255);
        r.extend_from_slice(&(name.len() as u16).to_be_bytes());
    } else {
        r.push(name.len() as u8);
    }
    r.extend_from_slice(name);
    r.extend_from_slice(&sport.to_be_bytes());
    r.extend_from_slice(&443u16.to_be_bytes());
    r.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    r.extend_from_slice(&12345u64.to_be_bytes());
    r.push(6);
    r.extend_from_slice(&(end_ms - 500).to_be_bytes());
    r.extend_from_slice(&end_ms.to_be_bytes());
    r
}

#[test]
fn each_record_comes_with_its_exact_bytes_and_its_keys() {
    let layout = Layout::new(template(), PEN);
    assert!(!layout.enriched && !layout.is_options());
    let first = record(b"web-7c9d8f6b5-x2x9k", false, 40000, 1_700_000_001_000);
    // The same name in the three-byte length form: kept as sent.
    let second = record(b"db-0", true, 40001, 1_700_000_002_000);
    let mut body = [first.clone(), second.clone()].concat();
    body.extend_from_slice(&[0, 0, 0]); // padding
    let records: Vec<Record> = layout.records(&body).map(Result::unwrap).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].bytes, &first[..]);
    assert_eq!(records[1].bytes, &second[..]);
    let k = records[1].keys;
    assert_eq!(k.source, Some("10.1.0.7".parse().unwrap()));
    assert_eq!(k.destination, Some("93.184.216.34".parse().unwrap()));
    assert_eq!(
        (k.source_port, k.destination_port, k.protocol),
        (40001, 443, 6)
    );
    assert_eq!(
        (k.start_ms, k.end_ms),
        (Some(1_700_000_001_500), Some(1_700_000_002_000))
    );
}

#[test]
fn a_record_cut_short_is_an_error_and_ends_the_set() {
    let layout = Layout::new(template(), PEN);
    let whole = record(b"web", false, 1, 1_000);
    let mut body = whole.clone();
    body.extend_from_slice(&whole[..whole.len() - 3]);
    let mut records = layout.records(&body);
    assert!(records.next().unwrap().is_ok());
    assert!(records.next().unwrap().is_err());
    assert!(records.next().is_none());
}

#[test]
fn times_in_seconds_and_ntp_and_ipv6_ends() {
    let t = Template {
        id: 301,
        scope_fields: 0,
        fields: vec![
            field(0, 27, 16),
            field(0, 28, 16),
            field(0, 150, 4),
            field(0, 155, 8),
        ],
    };
    let layout = Layout::new(t, PEN);
    let mut r = Vec::new();
    r.extend_from_slice(&"fd00::7".parse::<Ipv6Addr>().unwrap().octets());
    r.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    r.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    // 1,700,000,001.5 s since 1970 in NTP format.
    r.extend_from_slice(&(1_700_000_001u32 + 2_208_988_800).to_be_bytes());
    r.extend_from_slice(&(1u32 << 31).to_be_bytes());
    let rec = layout.records(&r).next().unwrap().unwrap();
    assert_eq!(rec.keys.source, Some("fd00::7".parse().unwrap()));
    assert_eq!(rec.keys.start_ms, Some(1_700_000_000_000));
    assert_eq!(rec.keys.end_ms, Some(1_700_000_001_500));
}

#[test]
fn an_output_template_is_the_input_s_fields_then_the_appended_ones() {
    let t = template();
    let appended = [
        field(0, Ie::OriginalExporterIPv4Address.element().id, 4),
        field(PEN, Ie::K8sSourcePodName.element().id, VARLEN),
        field(PEN, Ie::K8sTrafficClass.element().id, 1),
    ];
    let mut rec = Vec::new();
    template_record(999, 0, &t.fields, &appended, &mut rec);
    // A message holding that template set, read by the decoder.
    let mut set = vec![0, 2];
    set.extend_from_slice(&((rec.len() + 4) as u16).to_be_bytes());
    set.extend_from_slice(&rec);
    let mut msg = vec![0, 10];
    msg.extend_from_slice(&((set.len() + 16) as u16).to_be_bytes());
    msg.extend_from_slice(&[0; 12]);
    msg.extend_from_slice(&set);
    let mut session = Session::new(PEN);
    let decoded = session.decode(&msg).unwrap();
    let got = &decoded.templates[0];
    assert_eq!(got.id, 999);
    assert_eq!(got.fields[..t.fields.len()], t.fields[..]);
    assert_eq!(got.fields[t.fields.len()..], appended[..]);
    // An input that already carries the class went through a mediator.
    let enriched = Template {
        fields: got.fields.clone(),
        ..t
    };
    assert!(Layout::new(enriched, PEN).enriched);
}
