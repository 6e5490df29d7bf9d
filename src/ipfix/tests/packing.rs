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
    session.decode(&enc.templates(1)).unwrap();

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
    assert_eq!(seq_of(&enc.templates(5)), 33);

    enc.reset_session();
    assert_eq!(enc.sequence(), 0);
    assert_eq!(seq_of(&enc.templates(6)), 0);
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
        session.decode(&enc.templates(0)).unwrap();
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
fn oversized_record_goes_alone_and_huge_strings_are_cut() {
    let f = flow(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), PROTO_TCP, 1, 2);
    let mut big = pod();
    big.annotations_json = "a".repeat(3000);
    let small = pod();
    let mut enc = Encoder::new(opts(false, false, 1400));
    let mut session = Session::new(PEN);
    session.decode(&enc.templates(0)).unwrap();
    let recs = [record(&f, &small), record(&f, &big), record(&f, &small)];
    let msgs = bytes(enc.records(&recs, 0));
    let sizes: Vec<usize> = msgs
        .iter()
        .map(|m| session.decode(m).unwrap().records.len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 3);
    assert!(msgs.iter().any(|m| m.len() > 1400 && m.len() < 3400));

    let mut huge = pod();
    huge.annotations_json = "é".repeat(40_000); // 80 000 bytes
    huge.labels_json = "b".repeat(30_000);
    let msgs = bytes(enc.records(&[record(&f, &huge)], 0));
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].len() <= MAX_MESSAGE_LEN);
    assert!(msgs[0].len() > 60_000, "cut no more than needed");
    let m = session.decode(&msgs[0]).unwrap();
    let ann = m.records[0].get_str("k8sPodAnnotations").unwrap();
    let labels = m.records[0].get_str("k8sPodLabels").unwrap();
    assert!(ann.len() < 80_000 && ann.chars().all(|c| c == 'é'));
    assert!(labels.len() <= 30_000 && labels.len() > 20_000);
    assert_eq!(m.records[0].get_str("k8sPodName"), Some("shop-7d9f"));
}
