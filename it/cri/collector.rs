//! A UDP collector on the node: a socket opened in the node's network namespace and a
//! thread that keeps every datagram with the moment it arrived, until the value is dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::node::Node;

/// One datagram and when it arrived.
pub type Datagram = (Instant, Vec<u8>);

pub struct UdpCollector {
    /// Where exporters send to: the node's address.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Datagram>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpCollector {
    /// Listens on the node's address, port `port`.
    pub fn start(node: &Node, port: u16) -> UdpCollector {
        let addr = SocketAddr::from((node.address, port));
        let socket = node.in_netns(|| UdpSocket::bind(addr).expect("the collector's port"));
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
                        let datagram = (Instant::now(), buf[..n].to_vec());
                        received.lock().unwrap().push(datagram);
                    }
                }
            })
        };
        UdpCollector {
            addr,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// What arrived so far, in order.
    pub fn received(&self) -> Vec<Datagram> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until nothing has arrived for `quiet` (at most `limit`); what arrived.
    pub fn wait_quiet(&self, quiet: Duration, limit: Duration) -> Vec<Datagram> {
        let start = Instant::now();
        loop {
            let received = self.received();
            let last = received.last().map_or(start, |(at, _)| *at.max(&start));
            if last.elapsed() >= quiet || start.elapsed() >= limit {
                return received;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for UdpCollector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
