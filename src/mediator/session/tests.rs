use super::*;
use crate::cluster::{PodFacts, PodUpdate};
use crate::ipfix::{Session, Value, DEFAULT_ENTERPRISE_NUMBER as PEN};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn spec(out: &mut Vec<u8>, pen: u32, id: u16, len: u16) {
    let raw = if pen == 0 { id } else { 0x8000 | id };
    out.extend_from_slice(&raw.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    if pen != 0 {
        out.extend_from_slice(&pen.to_be_bytes());
    }
}

fn message(domain: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut msg = vec![0, 10, 0, 0];
    msg.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg.extend_from_slice(&domain.to_be_bytes());
    for (id, body) in sets {
        msg.extend_from_slice(&id.to_be_bytes());
        msg.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        msg.extend_from_slice(body);
    }
    let len = msg.len() as u16;
    msg[2..4].copy_from_slice(&len.to_be_bytes());
    msg
}

/// Template 300: addresses, ports, protocol, an element of enterprise 55555 (a string);
/// options template 301: scope observationDomainId, then exportedMessageTotalCount.
fn templates() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&300u16.to_be_bytes());
    t.extend_from_slice(&6u16.to_be_bytes());
    for (id, len) in [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1)] {
        spec(&mut t, 0, id, len);
    }
    spec(&mut t, 55555, 9, 65535);
    message(5, &[(2, t)])
}

fn options_template() -> Vec<u8> {
    let mut o = Vec::new();
    o.extend_from_slice(&301u16.to_be_bytes());
    o.extend_from_slice(&2u16.to_be_bytes());
    o.extend_from_slice(&1u16.to_be_bytes());
    spec(&mut o, 0, 149, 4);
    spec(&mut o, 0, 41, 8);
    o
}

fn flow(src: [u8; 4], dst: [u8; 4], note: &str) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&src);
    r.extend_from_slice(&dst);
    r.extend_from_slice(&40000u16.to_be_bytes());
    r.extend_from_slice(&80u16.to_be_bytes());
    r.push(6);
    r.push(note.len() as u8);
    r.extend_from_slice(note.as_bytes());
    r
}

fn view() -> ClusterView {
    let mut v = ClusterView::default();
    v.pods.apply(
        PodUpdate {
            facts: PodFacts {
                name: "web-1".into(),
                namespace: "shop".into(),
                uid: "u1".into(),
                ..PodFacts::default()
            },
            ips: vec![ip("10.1.0.5")],
            since: Some(0),
        },
        0,
    );
    v
}

#[test]
fn records_come_out_whole_with_the_exporter_and_their_ends_and_options_records_too() {
    let out = Mutex::new(OutTemplates::new(PEN));
    let mut s = ExporterSession::new(ip("10.1.0.5"), PEN, 16);
    let first = s
        .message(&templates(), &view(), &out, &Spare::default())
        .unwrap();
    assert_eq!((first.records, first.batches.len()), (0, 0));
    let options = options_template();
    let data = [
        flow([10, 1, 0, 5], [93, 184, 216, 34], "keep me"),
        flow([10, 1, 0, 5], [10, 1, 0, 5], ""),
    ]
    .concat();
    let mut stats = 5u32.to_be_bytes().to_vec();
    stats.extend_from_slice(&42u64.to_be_bytes());
    let msg = message(
        5,
        &[
            (3, options),
            (300, data.clone()),
            (301, stats),
            (999, vec![1, 2, 3, 4]),
        ],
    );
    let got = s.message(&msg, &view(), &out, &Spare::default()).unwrap();
    assert_eq!((got.records, got.named, got.unknown_sets), (3, 2, 1));
    assert_eq!(s.templates(), 2);
    // What a collector gets: the output templates, then the batches, decoded.
    let mut sets: Vec<(u16, Vec<u8>)> = Vec::new();
    for t in out.lock().unwrap().all() {
        sets.push((if t.options { 3 } else { 2 }, t.record.clone()));
    }
    for b in &got.batches {
        sets.push((b.template.id, b.bytes.clone()));
    }
    let mut collector = Session::new(PEN);
    let decoded = collector.decode(&message(1, &sets)).unwrap();
    assert_eq!(decoded.records.len(), 3);
    let value = |r: &crate::ipfix::DataRecord, name: &str| {
        r.fields
            .iter()
            .find(|(spec, _)| collector.element_name(1, *spec) == Some(name))
            .map(|(_, v)| v.clone())
    };
    let r = &decoded.records[0];
    assert_eq!(
        value(r, "originalExporterIPv4Address"),
        Some(Value::Ip(ip("10.1.0.5")))
    );
    assert_eq!(
        value(r, "originalObservationDomainId"),
        Some(Value::Unsigned(5))
    );
    assert_eq!(
        value(r, "k8sSourcePodName"),
        Some(Value::String("web-1".into()))
    );
    assert_eq!(
        value(r, "k8sDestinationPodName"),
        Some(Value::String(String::new()))
    );
    assert_eq!(
        value(r, "k8sTrafficClass"),
        Some(Value::Unsigned(6)),
        "egress"
    );
    // The other enterprise's field, exactly as sent.
    let theirs = r.fields.iter().find(|(spec, _)| spec.pen == 55555).unwrap();
    assert_eq!(theirs.1, Value::Bytes(b"keep me".to_vec()));
    assert_eq!(
        value(&decoded.records[1], "k8sTrafficClass"),
        Some(Value::Unsigned(1))
    );
    // The options record: its fields, and the exporter only.
    let o = &decoded.records[2];
    assert!(o.is_options());
    assert_eq!(
        value(o, "exportedMessageTotalCount"),
        Some(Value::Unsigned(42))
    );
    assert_eq!(
        value(o, "originalObservationDomainId"),
        Some(Value::Unsigned(5))
    );
    assert_eq!(value(o, "k8sSourcePodName"), None);
    // Batches keep record boundaries.
    let b = &got.batches[0];
    assert_eq!(b.records().count(), 2);
    assert!(b.records().next().unwrap().starts_with(&data[..15]));
}

#[test]
fn sessions_share_output_templates_and_a_template_flood_is_refused_past_the_bound() {
    let out = Mutex::new(OutTemplates::new(PEN));
    let mut a = ExporterSession::new(ip("10.1.0.5"), PEN, 1);
    let mut b = ExporterSession::new(ip("10.1.0.6"), PEN, 1);
    a.message(&templates(), &view(), &out, &Spare::default())
        .unwrap();
    b.message(&templates(), &view(), &out, &Spare::default())
        .unwrap();
    assert_eq!(
        out.lock().unwrap().all().len(),
        1,
        "one shape, one output template"
    );
    let got = a
        .message(
            &message(5, &[(3, options_template())]),
            &view(),
            &out,
            &Spare::default(),
        )
        .unwrap();
    assert_eq!(got.refused_templates, 1);
    assert_eq!(a.templates(), 1);
    // Withdrawing every data template frees the room.
    let withdraw = message(5, &[(2, vec![0, 2, 0, 0])]);
    a.message(&withdraw, &view(), &out, &Spare::default())
        .unwrap();
    assert_eq!(a.templates(), 0);
    // An IPv6 exporter's records need a template of their own.
    let mut c = ExporterSession::new(ip("fd00::6"), PEN, 4);
    c.message(&templates(), &view(), &out, &Spare::default())
        .unwrap();
    assert_eq!(out.lock().unwrap().all().len(), 2);
}

#[test]
fn garbage_is_an_error_and_changes_nothing() {
    let out = Mutex::new(OutTemplates::new(PEN));
    let mut s = ExporterSession::new(ip("10.1.0.5"), PEN, 16);
    for bad in [
        vec![0u8; 3],
        vec![0, 9, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        {
            let mut m = templates();
            m.truncate(m.len() - 2);
            m
        },
        message(5, &[(2, vec![0, 5, 0, 1, 0, 8, 0, 4])]),
    ] {
        assert!(
            s.message(&bad, &view(), &out, &Spare::default()).is_err(),
            "{bad:?}"
        );
    }
    assert_eq!(s.templates(), 0);
}

#[test]
fn ends_nothing_held_and_records_named_from_a_view_not_current_are_counted() {
    let out = Mutex::new(OutTemplates::new(PEN));
    let mut s = ExporterSession::new(ip("10.1.0.5"), PEN, 16);
    let mut v = view();
    v.cluster_ranges = vec!["10.1.0.0/16".parse().unwrap()];
    s.message(&templates(), &v, &out, &Spare::default())
        .unwrap();
    let data = [
        // An address of the cluster no pod holds, to the world.
        flow([10, 1, 0, 9], [93, 184, 216, 34], ""),
        // A known pod to the address no pod holds.
        flow([10, 1, 0, 5], [10, 1, 0, 9], ""),
        // A known pod to the world.
        flow([10, 1, 0, 5], [93, 184, 216, 34], ""),
    ]
    .concat();
    let msg = message(5, &[(300, data)]);
    let got = s.message(&msg, &v, &out, &Spare::default()).unwrap();
    assert_eq!(
        (got.records, got.named, got.unowned_ends, got.not_current),
        (3, 2, 2, 3)
    );
    v.current = true;
    let got = s.message(&msg, &v, &out, &Spare::default()).unwrap();
    assert_eq!((got.unowned_ends, got.not_current), (2, 0));
}

/// Buffers given back come out empty for the next message, which then gives the same
/// bytes as with new ones.
#[test]
fn buffers_given_back_are_filled_again_from_empty() {
    let out = Mutex::new(OutTemplates::new(PEN));
    let mut s = ExporterSession::new(ip("10.1.0.5"), PEN, 16);
    let spare = Spare::default();
    s.message(&templates(), &view(), &out, &spare).unwrap();
    let msg = message(
        5,
        &[(300, flow([10, 1, 0, 5], [93, 184, 216, 34], "keep me"))],
    );
    let first = s.message(&msg, &view(), &out, &spare).unwrap();
    let (bytes, ends) = (
        first.batches[0].bytes.clone(),
        first.batches[0].ends.clone(),
    );
    let room = first.batches[0].bytes.capacity();
    for b in first.batches {
        spare.give_back(b);
    }
    let again = s.message(&msg, &view(), &out, &spare).unwrap();
    assert_eq!(again.batches[0].bytes, bytes);
    assert_eq!(again.batches[0].ends, ends);
    assert!(
        again.batches[0].bytes.capacity() >= room,
        "the buffer given back was used"
    );
    // Taken out again: nothing is left over for a batch after it.
    assert_eq!(spare.take(), (Vec::new(), Vec::new()));
}
