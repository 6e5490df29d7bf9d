//! The transports against a collector that is down, comes up, and fails writes.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::capture::CaptureStats;
use crate::export::encoding::StatsSources;
use crate::export::PodAttribution;
use crate::flow::{from_addr, Counters, EndReason, FlowKey, FlowTable};
use crate::ipfix::{EncoderOptions, Session};

/// A collector that refuses connections until `up`, and fails writes while `failing`.
#[derive(Clone, Default)]
struct Collector {
    up: Arc<AtomicBool>,
    failing: Arc<AtomicBool>,
    connects: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Connect for Collector {
    type Stream = Collector;

    fn addr(&self) -> &str {
        "collector:4739"
    }

    fn connect(&mut self) -> io::Result<Collector> {
        self.connects.fetch_add(1, Relaxed);
        if self.up.load(Relaxed) {
            Ok(self.clone())
        } else {
            Err(io::ErrorKind::ConnectionRefused.into())
        }
    }

    fn peer(_: &mut Collector) -> Peer {
        Peer::Open
    }
}

impl MessageSink for Collector {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        if self.failing.load(Relaxed) {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.received.lock().unwrap().push(msg.to_vec());
        Ok(())
    }
}

impl Collector {
    /// Data records, options records and the sequence numbers of the data messages
    /// received so far.
    fn decoded(&self) -> (usize, usize, Vec<u32>) {
        let mut session = Session::default();
        let (mut data, mut options, mut sequences) = (0, 0, Vec::new());
        for msg in self.received.lock().unwrap().iter() {
            let m = session.decode(msg).unwrap();
            let n = m.records.iter().filter(|r| !r.is_options()).count();
            if n > 0 {
                sequences.push(m.header.sequence);
            }
            data += n;
            options += m.records.len() - n;
        }
        (data, options, sequences)
    }
}

fn encoding() -> Encoding {
    let sources = StatsSources {
        table: Arc::new(FlowTable::new(crate::flow::Config::default().table())),
        capture: Arc::new(CaptureStats::default()),
    };
    let attribution = PodAttribution::new(Arc::default(), &[], Default::default());
    Encoding::new(EncoderOptions::default(), Box::new(attribution), sources)
}

fn flows(n: u16) -> Vec<FlowRecord> {
    let (src, ipv6) = from_addr("10.0.0.1".parse().unwrap());
    let (dst, _) = from_addr("10.0.0.2".parse().unwrap());
    (0..n)
        .map(|i| FlowRecord {
            key: FlowKey {
                src,
                dst,
                ipv6,
                proto: 17,
                src_port: 1000 + i,
                dst_port: 53,
                ..FlowKey::default()
            },
            start: 0,
            end: 0,
            forward: Counters::default(),
            reverse: Counters::default(),
            tos: 0,
            end_reason: EndReason::IdleTimeout,
            ext: None,
        })
        .collect()
}

#[test]
fn records_wait_for_the_collector_and_overflow_is_counted() {
    let collector = Collector::default();
    let mut stream = Stream::new(Dialer::new(collector.clone(), Duration::from_secs(30)), 3);
    let mut enc = encoding();
    assert!(!stream.ready_when_open());
    stream.open(&mut enc);
    assert_eq!(collector.connects.load(Relaxed), 1);
    stream.send(flows(5), &mut enc);
    // The backoff holds the next try back: no connect per batch.
    assert_eq!(collector.connects.load(Relaxed), 1);
    assert!(!enc.stats().ready.load(Relaxed));
    assert_eq!(
        enc.stats().not_sent.load(Relaxed),
        2,
        "the two oldest are dropped"
    );

    collector.up.store(true, Relaxed);
    stream.drain(&mut enc, None);
    // Templates, 45 type records and an options record, the three records left, the final
    // options record, the withdrawal of every template; then the session is closed.
    assert_eq!(collector.decoded(), (3, 47, vec![46]));
    assert_eq!(enc.stats().records.load(Relaxed), 3);
    assert_eq!(enc.stats().messages.load(Relaxed), 6);
    assert!(!enc.stats().ready.load(Relaxed));
    let last = collector.received.lock().unwrap().last().unwrap().clone();
    let mut session = Session::default();
    for msg in collector.received.lock().unwrap().iter() {
        session.decode(msg).unwrap();
    }
    assert!(session.template(0, 256).is_none(), "withdrawn");
    assert_eq!(
        &last[16..20],
        [0, 2, 0, 12],
        "a withdrawal of the data templates"
    );
    assert_eq!(
        u32::from_be_bytes(last[8..12].try_into().unwrap()),
        50,
        "46 control records, 3 flows and the final options record came before"
    );
}

#[test]
fn a_failed_write_keeps_the_records_for_the_next_connection() {
    let collector = Collector::default();
    collector.up.store(true, Relaxed);
    let mut stream = Stream::new(Dialer::new(collector.clone(), Duration::from_secs(30)), 100);
    let mut enc = encoding();
    stream.open(&mut enc);
    assert!(enc.stats().ready.load(Relaxed));

    collector.failing.store(true, Relaxed);
    stream.send(flows(4), &mut enc);
    assert!(!enc.stats().ready.load(Relaxed));
    assert_eq!(enc.stats().errors.load(Relaxed), 1);
    assert_eq!(enc.stats().not_sent.load(Relaxed), 0);

    collector.failing.store(false, Relaxed);
    stream.drain(&mut enc, None);
    // A new connection: templates again, sequence numbers from 0 again (the 45 type
    // records and the options record that follow the templates are numbers 0 to 45).
    let (data, _, sequences) = collector.decoded();
    assert_eq!((data, sequences), (4, vec![46]));
    assert_eq!(collector.connects.load(Relaxed), 2);
    assert_eq!(enc.stats().records.load(Relaxed), 4);
}

#[test]
fn the_dialer_backs_off_doubling_up_to_its_cap() {
    let collector = Collector::default();
    let mut dialer = Dialer::new(collector.clone(), Duration::from_secs(3));
    let stats = crate::export::ExportStats::default();
    let mut waits = Vec::new();
    for _ in 0..4 {
        dialer.retry_now();
        assert!(dialer.dial(&stats).is_none());
        waits.push(dialer.backoff.as_secs());
    }
    assert_eq!(waits, [2, 3, 3, 3]);
    assert!(dialer.dial(&stats).is_none());
    assert_eq!(
        collector.connects.load(Relaxed),
        4,
        "not due yet: no connect"
    );
    collector.up.store(true, Relaxed);
    dialer.retry_now();
    assert!(dialer.dial(&stats).is_some());
    assert_eq!(dialer.backoff, Duration::from_secs(1));
}
