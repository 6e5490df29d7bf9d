//! Sequence numbers, and records packed into messages within the size budget.

use super::*;

fn seq_of(msg: &[u8]) -> u32 {
    u32::from_be_bytes([msg[8], msg[9], msg[10], msg[11]])
}

#[test]
fn sequence_counts_data_and_options_records_and_resets() {
    let p = pod();
    let flows: Vec<FlowRecord> = (0..30)
        .map(|i| {
            flow(
                v4([10, 0, 0, i]),
                v4([10, 0, 1, 1]),
                PROTO_TCP,
                1000 + i as u16,
                80,
            )
        })
        .collect();
    let recs: Vec<ExportRecord> = flows.iter().map(|f| record(f, &p)).collect();
    let mut enc = Encoder::new(opts(false, false, 1400));
    let mut session = Session::new(PEN);
    session.decode(&templates(&mut enc, 1)).unwrap();

    let mut expected = 0u32;
    for msg in enc.records(&recs, 2) {
        assert_eq!(seq_of(&msg.bytes), expected);
        let decoded = session.decode(&msg.bytes).unwrap().records.len() as u32;
        assert_eq!(msg.records, decoded, "the encoder counts what it packed");
        expected += decoded;
    }
    assert_eq!(expected, 30);
    let opt = enc.options(&Counts::default(), 3);
    assert_eq!(seq_of(&opt), 30);
    assert_eq!(enc.sequence(), 31);
    let more = bytes(enc.records(&recs[..2], 4));
    assert_eq!(seq_of(&more[0]), 31);
    assert_eq!(seq_of(&templates(&mut enc, 5)), 33);

    enc.reset_session();
    assert_eq!(enc.sequence(), 0);
    assert_eq!(seq_of(&templates(&mut enc, 6)), 0);
    assert_eq!(seq_of(&bytes(enc.records(&recs[..1], 7))[0]), 0);
    assert_eq!(enc.sequence(), 1);
}

#[test]
fn sequence_wraps_modulo_2_pow_32() {
    let mut enc = Encoder::new(opts(false, false, 1400));
    enc.sequence = u32::MAX;
    let msg = enc.options(&Counts::default(), 0);
    assert_eq!(seq_of(&msg), u32::MAX);
    assert_eq!(enc.sequence(), 0);
}

#[test]
fn records_are_packed_within_the_budget() {
    let p = PodIdentity {
        annotations_json: "{}".into(),
        ..pod()
    };
    let mut flows = Vec::new();
    for i in 0..100u8 {
        if i % 3 == 0 {
            let src = v6(&format!("2001:db8::{i:x}"));
            flows.push(flow(src, v6("2001:db8::ffff"), PROTO_TCP, 5000, 443));
        } else {
            flows.push(flow(v4([10, 1, 0, i]), v4([10, 2, 0, 1]), 17, 53, 5353));
        }
    }
    let recs: Vec<ExportRecord> = flows.iter().map(|f| record(f, &p)).collect();
    for (budget, biflow) in [(1400, false), (1400, true), (65000, true), (4000, false)] {
        let mut enc = Encoder::new(opts(biflow, false, budget));
        // Every record of a family has the same length here: measure one of each.
        let shortest = [&recs[0], &recs[1]]
            .map(|r| bytes(enc.records(std::slice::from_ref(r), 0))[0].len() - 20)
            .into_iter()
            .min()
            .unwrap();
        let mut session = Session::new(PEN);
        session.decode(&templates(&mut enc, 0)).unwrap();
        let msgs = bytes(enc.records(&recs, 0));
        let mut total = 0;
        let (mut n4, mut n6) = (0, 0);
        for (i, msg) in msgs.iter().enumerate() {
            assert!(msg.len() <= budget, "{} > {budget}", msg.len());
            if i + 1 < msgs.len() {
                assert!(msg.len() + shortest > budget, "message {i} had room left");
            }
            let m = session.decode(msg).unwrap();
            assert!(m.unknown_sets.is_empty());
            assert!(
                m.records.len() > 1 || i + 1 == msgs.len(),
                "one record per message"
            );
            total += m.records.len();
            n4 += m.records.iter().filter(|r| r.template_id == 256).count();
            n6 += m.records.iter().filter(|r| r.template_id == 257).count();
        }
        assert_eq!((total, n4, n6), (100, 66, 34));
        if budget == 65000 {
            assert_eq!(msgs.len(), 1, "v4 and v6 sets share one message");
        }
    }
}

#[test]
fn no_message_exceeds_the_budget_metadata_is_cut_and_counted() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let six = flow(v6("2001:db8::1"), v6("2001:db8::2"), PROTO_TCP, 1, 2);
    let entries = |n: usize, width: usize| {
        let map: serde_json::Map<String, serde_json::Value> = (0..n)
            .map(|i| (format!("key-{i:03}"), "v".repeat(width).into()))
            .collect();
        serde_json::Value::Object(map).to_string()
    };
    let mut big = pod();
    big.annotations_json = entries(40, 90); // about 4 KiB, as k8s.max_metadata_bytes allows
    big.labels_json = entries(10, 30);
    let peer = PeerIdentity {
        labels_json: entries(30, 60),
        ..PeerIdentity::default()
    };
    let small = pod();
    for budget in [512, 1400] {
        let mut enc = Encoder::new(opts(true, true, budget));
        let mut session = Session::new(PEN);
        for t in enc.templates(0) {
            assert!(t.len() <= budget, "templates {} > {budget}", t.len());
            session.decode(&t).unwrap();
        }
        let mut with_peer = record(&six, &big);
        with_peer.peer = Some(&peer);
        let recs = [
            record(&f, &small),
            record(&f, &big),
            with_peer,
            record(&f, &small),
        ];
        let msgs = enc.records(&recs, 0);
        let mut decoded = Vec::new();
        for m in &msgs {
            assert!(m.bytes.len() <= budget, "{} > {budget}", m.bytes.len());
            decoded.extend(session.decode(&m.bytes).unwrap().records);
        }
        assert_eq!(decoded.len(), 4);
        let cut: u32 = msgs.iter().map(|m| m.cut).sum();
        assert_eq!(cut, 2, "the two big records are cut, and counted");
        for r in &decoded {
            // What is left of the metadata is still JSON, with whole entries.
            for name in ["k8sPodAnnotations", "k8sPodLabels", "k8sPeerPodLabels"] {
                let text = r.get_str(name).unwrap();
                if text.is_empty() {
                    continue; // no peer
                }
                let v: serde_json::Value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("{name} is not JSON after the cut ({e}): {text}"));
                for (_, value) in v.as_object().unwrap() {
                    let value = value.as_str().unwrap();
                    if value.starts_with('v') {
                        assert!([30, 60, 90].contains(&value.len()), "an entry cut: {value}");
                    }
                }
            }
            assert_eq!(r.get_str("k8sPodName"), Some("shop-7d9f"));
        }
        // Annotations go first: with 1400 bytes the labels of the IPv4 record survive.
        if budget == 1400 {
            assert_eq!(
                decoded[1].get_str("k8sPodLabels"),
                Some(big.labels_json.as_str())
            );
        }
    }

    let mut enc = Encoder::new(opts(false, false, 65000));
    let mut session = Session::new(PEN);
    session.decode(&templates(&mut enc, 0)).unwrap();
    let mut huge = pod();
    huge.annotations_json = "é".repeat(40_000); // 80 000 bytes, not JSON
    huge.labels_json = "b".repeat(30_000);
    huge.pod_name = "p".repeat(70_000);
    let msgs = enc.records(&[record(&f, &huge)], 0);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].cut, 1);
    assert!(msgs[0].bytes.len() <= 65000);
    assert!(msgs[0].bytes.len() > 60_000, "cut no more than needed");
    let m = session.decode(&msgs[0].bytes).unwrap();
    let ann = m.records[0].get_str("k8sPodAnnotations").unwrap();
    assert!(ann.chars().all(|c| c == 'é'));
    assert!(!m.records[0].get_str("k8sPodName").unwrap().is_empty());
}

#[test]
fn templates_split_within_the_smallest_budget() {
    let mut enc = Encoder::new(opts(true, true, 512));
    let msgs = enc.templates(0);
    assert!(msgs.len() > 1);
    let mut session = Session::new(PEN);
    let mut ids = Vec::new();
    for m in &msgs {
        assert!(m.len() <= 512, "{}", m.len());
        ids.extend(session.decode(m).unwrap().templates.iter().map(|t| t.id));
    }
    assert_eq!(ids, [256, 257, 258, 259]);
    assert_eq!(enc.sequence(), 0);
}

#[test]
fn metadata_longer_than_a_string_field_is_cut_to_whole_entries() {
    // Annotations of 120 KB, more than the 65535 bytes a variable-length field can say:
    // the cut is measured from what the field can hold, so that whole entries of the
    // annotations are kept and the labels, which fit beside them, are left alone.
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let map: serde_json::Map<String, serde_json::Value> = (0..10_000)
        .map(|i| (format!("key-{i:05}"), "0".into()))
        .collect();
    let mut big = pod();
    big.annotations_json = serde_json::Value::Object(map).to_string();
    assert!(big.annotations_json.len() > 100_000);
    let peer = PeerIdentity {
        labels_json: "{}".into(),
        ..PeerIdentity::default()
    };
    let mut enc = Encoder::new(opts(false, true, 65535));
    let mut session = Session::new(PEN);
    session.decode(&templates(&mut enc, 0)).unwrap();
    let mut rec = record(&f, &big);
    rec.peer = Some(&peer);
    let msgs = enc.records(&[rec], 0);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].cut, 1);
    assert!(msgs[0].bytes.len() <= 65535);
    let m = session.decode(&msgs[0].bytes).unwrap();
    let r = &m.records[0];
    let ann = r.get_str("k8sPodAnnotations").unwrap();
    let kept: serde_json::Map<String, serde_json::Value> = serde_json::from_str(ann)
        .unwrap_or_else(|e| panic!("the annotations are not JSON after the cut ({e})"));
    // Entries of 16 bytes fill the room left by the rest of the record (some 300 bytes).
    assert!(ann.len() > 65_000, "cut to {} bytes", ann.len());
    assert!(kept
        .keys()
        .enumerate()
        .all(|(i, k)| *k == format!("key-{i:05}")));
    assert_eq!(r.get_str("k8sPeerPodLabels"), Some("{}"));
    assert_eq!(r.get_str("k8sPodLabels"), Some(big.labels_json.as_str()));
    assert_eq!(r.get_str("k8sPodName"), Some("shop-7d9f"));
}
