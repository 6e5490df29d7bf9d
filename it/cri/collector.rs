//! An IPFIX collector on the node: a UDP socket in the node's network namespace, read by a
//! thread that keeps each datagram with the moment it arrived, so that a test can tell when
//! the first record of a flow reached it. The thread ends when the collector is finished or
//! dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use podflow::ipfix::{DataRecord, Session};

use super::node::Node;
use crate::common::PEN;

/// One datagram and when it arrived.
#[derive(Clone)]
pub struct Arrival {
    pub at: Instant,
    pub bytes: Vec<u8>,
}

pub struct Collector {
    /// Where exporters send to: the node's address.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Arrival>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    /// Listens on the node's address at `port`.
    pub fn start(node: &Node, port: u16) -> Collector {
        let socket = node.in_netns(|| UdpSocket::bind((node.address, port)).unwrap());
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = socket.recv(&mut buf) {
                        let arrival = Arrival {
                            at: Instant::now(),
                            bytes: buf[..n].to_vec(),
                        };
                        received.lock().unwrap().push(arrival);
                    }
                }
            })
        };
        Collector {
            addr: SocketAddr::new(node.address.into(), port),
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// What arrived so far, in order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until nothing has arrived for `quiet` (at most `limit`); what arrived.
    pub fn wait_quiet(&self, quiet: Duration, limit: Duration) -> Vec<Arrival> {
        let start = Instant::now();
        loop {
            let received = self.arrivals();
            let last = received.last().map_or(start, |a| a.at.max(start));
            if last.elapsed() >= quiet || start.elapsed() >= limit {
                return received;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The flow records that arrived so far, each with the time of its datagram.
    pub fn records(&self) -> Vec<(Instant, DataRecord)> {
        decode(&self.arrivals())
    }

    /// Waits until the records received so far satisfy `done`.
    pub fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&[DataRecord]) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let records: Vec<DataRecord> = self.records().into_iter().map(|(_, r)| r).collect();
            if done(&records) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no records of {what} after {limit:?}: {records:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops listening once nothing has arrived for 300 ms (the sender has exited); every
    /// flow record received, with its arrival time.
    pub fn finish(&mut self) -> Vec<(Instant, DataRecord)> {
        let mut seen = usize::MAX;
        while self.received.lock().unwrap().len() != seen {
            seen = self.received.lock().unwrap().len();
            std::thread::sleep(Duration::from_millis(300));
        }
        self.halt();
        self.records()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The flow records of IPFIX datagrams received in order, each with its arrival time.
pub fn decode(arrivals: &[Arrival]) -> Vec<(Instant, DataRecord)> {
    let mut session = Session::new(PEN);
    arrivals
        .iter()
        .flat_map(|a| {
            let message = session.decode(&a.bytes).expect("an IPFIX message");
            message
                .records
                .into_iter()
                .filter(|r| !r.is_options())
                .map(move |r| (a.at, r))
        })
        .collect()
}
