//! The hand-off from the sweeper to the exporter: a queue of batches bounded in records.
//!
//! The sweeper must never wait on the exporter, which does blocking I/O (a slow collector,
//! a blocked stdout), and the exporter must never hold more than it can send. So the
//! queue holds at most `export.queue_records` records. What a live probe cannot queue is
//! dropped at once and counted as not sent. A capture file is a batch job instead: nothing
//! is dropped, and the reader waits ([`Handoff::wait_for_room`]) while the queue is full,
//! so that memory stays bounded and every record is written in the end.
//!
//! The exporter is woken by one message when the queue goes from empty to not empty, and
//! takes batches until it is empty again: its mailbox never holds more than one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::events::QueueFull;
use super::stats::ExportStats;
use crate::flow::FlowRecord;

/// How a full queue is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Live capture: what does not fit is dropped and counted.
    Drop,
    /// A capture file: everything is kept, the reader waits for room.
    Wait,
}

/// Batches of finished flows on their way to the exporter.
pub struct Handoff {
    inner: Mutex<Inner>,
    room: Condvar,
    capacity: usize,
    overflow: Overflow,
    stats: Arc<ExportStats>,
}

#[derive(Default)]
struct Inner {
    batches: VecDeque<Vec<FlowRecord>>,
    records: usize,
    /// A wake-up is on its way to the exporter, or the exporter is taking batches.
    waking: bool,
}

impl Handoff {
    /// A queue of at most `capacity` records (at least 1), counting drops into `stats`.
    pub fn new(capacity: usize, overflow: Overflow, stats: Arc<ExportStats>) -> Handoff {
        Handoff {
            inner: Mutex::default(),
            room: Condvar::new(),
            capacity: capacity.max(1),
            overflow,
            stats,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `batch` (or, when dropping, what fits of it). True when the exporter must be
    /// woken: the caller then sends it one message.
    pub fn push(&self, mut batch: Vec<FlowRecord>) -> bool {
        let mut inner = self.lock();
        if self.overflow == Overflow::Drop {
            let room = self.capacity.saturating_sub(inner.records);
            if batch.len() > room {
                let dropped = (batch.len() - room) as u64;
                batch.truncate(room);
                self.stats.lost(dropped);
                QueueFull {
                    dropped,
                    capacity: self.capacity,
                }
                .emit();
            }
        }
        if batch.is_empty() {
            return false;
        }
        inner.records += batch.len();
        inner.batches.push_back(batch);
        self.stats.set_queued(inner.records);
        !std::mem::replace(&mut inner.waking, true)
    }

    /// The next batch for the exporter, and whether more wait after it. When the queue is
    /// empty the next push wakes the exporter again.
    pub fn pop(&self) -> Option<(Vec<FlowRecord>, bool)> {
        let mut inner = self.lock();
        let Some(batch) = inner.batches.pop_front() else {
            inner.waking = false;
            return None;
        };
        inner.records -= batch.len();
        let more = !inner.batches.is_empty();
        if !more {
            inner.waking = false;
        }
        self.stats.set_queued(inner.records);
        self.room.notify_all();
        Some((batch, more))
    }

    /// The most records it queues.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records queued now.
    pub fn len(&self) -> usize {
        self.lock().records
    }

    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits while the queue is full, until `stop` is set (checked every 100 ms).
    pub fn wait_for_room(&self, stop: &AtomicBool) {
        let mut inner = self.lock();
        while inner.records >= self.capacity && !stop.load(Relaxed) {
            inner = self
                .room
                .wait_timeout(inner, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Drops everything queued (the exporter did not finish in time) and counts it as not
    /// sent; returns how many records that was.
    pub fn abandon(&self) -> u64 {
        let mut inner = self.lock();
        let n = inner.records as u64;
        inner.batches.clear();
        inner.records = 0;
        self.stats.lost(n);
        self.stats.set_queued(0);
        self.room.notify_all();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::attribution::test_flow;

    fn batch(n: usize) -> Vec<FlowRecord> {
        vec![test_flow(0, "10.0.0.1", "10.0.0.2"); n]
    }

    #[test]
    fn a_live_queue_drops_what_does_not_fit_and_counts_it() {
        let stats = Arc::new(ExportStats::default());
        let q = Handoff::new(10, Overflow::Drop, stats.clone());
        assert!(q.push(batch(4)), "the first batch wakes the exporter");
        assert!(!q.push(batch(4)), "one wake-up is enough");
        assert!(!q.push(batch(4)));
        assert_eq!((q.len(), stats.not_sent.load(Relaxed)), (10, 2));
        assert!(!q.push(batch(1)));
        assert_eq!(stats.not_sent.load(Relaxed), 3);
        assert_eq!(stats.queued.load(Relaxed), 10);

        let (first, more) = q.pop().unwrap();
        assert_eq!((first.len(), more), (4, true));
        let (_, more) = q.pop().unwrap();
        let (last, more_after) = q.pop().unwrap();
        assert!(more);
        assert_eq!((last.len(), more_after), (2, false));
        assert!(q.pop().is_none());
        assert!(
            q.push(batch(1)),
            "empty again: the next push wakes the exporter"
        );
        assert_eq!(q.abandon(), 1);
        assert_eq!(stats.not_sent.load(Relaxed), 4);
        assert_eq!(stats.queued.load(Relaxed), 0);
    }

    #[test]
    fn a_batch_queue_keeps_everything_and_holds_the_reader_back() {
        let stats = Arc::new(ExportStats::default());
        let q = Arc::new(Handoff::new(5, Overflow::Wait, stats.clone()));
        q.push(batch(8));
        assert_eq!((q.len(), stats.not_sent.load(Relaxed)), (8, 0));
        let stop = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (q, stop) = (q.clone(), stop.clone());
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                q.wait_for_room(&stop);
                started.elapsed()
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        q.pop().unwrap();
        let waited = waiter.join().unwrap();
        assert!(waited >= Duration::from_millis(250), "{waited:?}");

        q.push(batch(8));
        let waiter = {
            let (q, stop) = (q.clone(), stop.clone());
            std::thread::spawn(move || q.wait_for_room(&stop))
        };
        stop.store(true, Relaxed);
        waiter.join().unwrap();
    }
}
