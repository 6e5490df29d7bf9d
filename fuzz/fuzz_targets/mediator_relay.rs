//! The mediator's path from bytes in to bytes out: an exporter's stream (an IPFIX file,
//! or what a TCP session brings) split into messages, each passed through the mediator's
//! session (templates learnt, records walked, both ends named, appended) and packed into
//! the mediator's own messages. It must never panic; a message the relay takes, the
//! decoder takes too and the other way round (one that neither takes ends the stream, as
//! it ends a TCP session); the mediator's messages always decode; and
//! every record comes out with every field the exporter sent, as the decoder read it in
//! the input, followed by what the mediator appends.
#![no_main]

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use podflow::cluster::{ClusterView, PodFacts, PodUpdate};
use podflow::ipfix::{split_messages, Encoder, EncoderOptions, Session, DEFAULT_ENTERPRISE_NUMBER};
use podflow::mediator::session::{ExporterSession, OutTemplates, Spare};

const PEN: u32 = DEFAULT_ENTERPRISE_NUMBER;

fn view() -> ClusterView {
    let mut view = ClusterView::default();
    for (name, ip) in [("web", "10.244.0.15"), ("db", "10.244.1.209")] {
        view.pods.apply(
            PodUpdate {
                facts: PodFacts {
                    name: name.into(),
                    namespace: "shop".into(),
                    uid: name.into(),
                    ..PodFacts::default()
                },
                ips: vec![ip.parse().unwrap()],
                since: Some(0),
            },
            0,
        );
    }
    view
}

fuzz_target!(|data: &[u8]| {
    let view = view();
    let templates = Mutex::new(OutTemplates::new(PEN));
    let exporter: IpAddr = "10.1.2.3".parse().unwrap();
    let mut relay = ExporterSession::new(exporter, PEN, usize::MAX);
    let (mut input, mut output) = (Session::new(PEN), Session::new(PEN));
    let mut encoder = Encoder::new(EncoderOptions {
        max_message_bytes: 65535,
        enterprise_number: PEN,
        ..EncoderOptions::default()
    });
    let mut announced = HashSet::new();
    // Buffers go back after each message, as the output gives them back.
    let spare = Spare::default();
    for msg in split_messages(data) {
        let Ok(msg) = msg else {
            break;
        };
        let (relayed, decoded) = (
            relay.message(msg, &view, &templates, &spare),
            input.decode(msg),
        );
        let (relayed, decoded) = match (relayed, decoded) {
            (Ok(r), Ok(d)) => (r, d),
            // A message that does not parse ends the session, as it does over TCP (the
            // decoder may have learnt templates from its sets before the bad one).
            (Err(_), Err(_)) => break,
            (r, d) => panic!("the relay says {:?}, the decoder {:?}", r.err(), d.err()),
        };
        let mut records: Vec<(u16, &[u8], bool)> = Vec::new();
        for b in &relayed.batches {
            let t = &b.template;
            if announced.insert(t.id) {
                records.push((if t.options { 3 } else { 2 }, &t.record, false));
            }
            records.extend(b.records().map(|r| (t.id, r, true)));
        }
        let mut out = Vec::new();
        for m in encoder.pack(records, 0) {
            let m = output
                .decode(&m.bytes)
                .expect("the mediator's own messages decode");
            out.extend(m.records);
        }
        assert_eq!(out.len(), decoded.records.len());
        assert_eq!(relayed.records as usize, out.len());
        for (sent, came) in decoded.records.iter().zip(&out) {
            let n = sent.fields.len();
            assert!(came.fields.len() > n, "something appended");
            assert_eq!(came.fields[..n], sent.fields[..], "the exporter's fields");
        }
        for b in relayed.batches {
            spare.give_back(b);
        }
    }
});
