//! Towards the collector: the sessions hand their batches over through a queue bounded in
//! records (a full queue drops and counts, so that no exporter ever waits on the
//! collector); one thread packs them into messages, sends each output template before its
//! first records on a transport session (all of them again on a new session, and over UDP
//! whenever the refresh is due), with the mediator's type records and statistics, and
//! sends. A stream collector that is away keeps up to `export.buffer_records` records for
//! the next connection. `stdout` prints JSON lines instead.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::export::{ExportStats, Link};
use crate::ipfix::{Counts, Encoded, Encoder, Ie, Session};

use super::session::{Batch, OutTemplates, Spare};

/// Batches on their way to the output, at most `capacity` records.
pub struct Queue {
    inner: Mutex<(VecDeque<Batch>, usize, bool)>,
    /// The buffers of batches sent, back to the sessions.
    pub spare: Spare,
    ready: Condvar,
    capacity: usize,
    stats: Arc<ExportStats>,
}

impl Queue {
    pub fn new(capacity: usize, stats: Arc<ExportStats>) -> Queue {
        Queue {
            inner: Mutex::new((VecDeque::new(), 0, false)),
            spare: Spare::default(),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            stats,
        }
    }

    /// Hands `batch` over, or drops it and counts its records when the queue is full.
    pub fn push(&self, batch: Batch) {
        let n = batch.ends.len();
        let mut q = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if q.1 + n > self.capacity {
            drop(q);
            self.stats.not_sent.fetch_add(n as u64, Relaxed);
            return;
        }
        q.1 += n;
        let was_empty = q.0.is_empty();
        q.0.push_back(batch);
        self.stats.queued.store(q.1 as u64, Relaxed);
        // The output waits only on an empty queue: a wake-up (a system call) per batch
        // would be spent on a thread already awake.
        if was_empty {
            self.ready.notify_one();
        }
    }

    /// Every batch queued, waiting up to `wait` for one; the flag says the queue is
    /// closed.
    fn take(&self, wait: Duration) -> (Vec<Batch>, bool) {
        let q = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut q, _) = self
            .ready
            .wait_timeout_while(q, wait, |q| q.0.is_empty() && !q.2)
            .unwrap_or_else(PoisonError::into_inner);
        q.1 = 0;
        self.stats.queued.store(0, Relaxed);
        (q.0.drain(..).collect(), q.2)
    }

    /// No more batches: the output sends what it has and ends.
    pub fn close(&self) {
        let mut q = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        q.2 = true;
        self.ready.notify_one();
    }
}

/// Where the output writes.
pub enum Target {
    /// IPFIX messages to a collector or a file.
    Link(Box<dyn Link>),
    /// JSON lines on stdout, each record as `podflow collect` prints it.
    Stdout,
}

/// What the mediator counts of its exporters, for its statistics record and totals.
#[derive(Debug, Default)]
pub struct Received {
    pub messages: AtomicU64,
    pub records: AtomicU64,
}

/// The output thread's state.
pub struct Output {
    pub target: Target,
    pub encoder: Encoder,
    pub templates: Arc<Mutex<OutTemplates>>,
    pub stats: Arc<ExportStats>,
    pub received: Arc<Received>,
    /// Records kept while a stream collector is away.
    pub buffer_records: usize,
    pub started: SystemTime,
}

/// How long the output waits for batches before it looks at its collector again.
const TICK: Duration = Duration::from_secs(1);

impl Output {
    /// Runs until `queue` is closed and empty, then sends the final statistics and, to a
    /// stream, the withdrawal of every template, and ends.
    pub fn run(mut self, queue: &Queue, stop_sending_by: &GiveUpAt) {
        let mut announced = HashSet::new();
        let mut pending: VecDeque<Batch> = VecDeque::new();
        let mut pending_records = 0usize;
        let mut json = JsonOut::default();
        loop {
            let (batches, closed) = queue.take(TICK);
            for b in batches {
                pending_records += b.ends.len();
                pending.push_back(b);
            }
            let deadline = *stop_sending_by
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let give_up = closed && deadline.is_some_and(|d| Instant::now() >= d);
            match &mut self.target {
                Target::Stdout => {
                    self.stats.ready.store(true, Relaxed);
                    let batches: Vec<Batch> = pending.drain(..).collect();
                    pending_records = 0;
                    json.print(&mut self.encoder, &batches, &self.stats);
                }
                Target::Link(link) => {
                    let ready = link.ready(&self.stats);
                    self.stats.ready.store(ready, Relaxed);
                    if ready {
                        if link.fresh() {
                            announced.clear();
                            if link.name() == "tcp" || link.name() == "tls" {
                                self.encoder.reset_session();
                            }
                            let counts = counts(&self.stats, &self.received, self.started);
                            let control = control(&mut self.encoder, &counts);
                            for msg in control {
                                if link.send(&msg, &self.stats).is_ok() {
                                    self.stats.sent(msg.len(), 0);
                                }
                            }
                        }
                        let batches: Vec<Batch> = pending.drain(..).collect();
                        pending_records = 0;
                        let messages = pack(&mut self.encoder, &batches, &mut announced);
                        for msg in messages {
                            match link.send(&msg.bytes, &self.stats) {
                                Ok(()) => self.stats.sent(msg.bytes.len(), msg.records.into()),
                                Err(_) => self.stats.lost(msg.records.into()),
                            }
                        }
                        for b in batches {
                            queue.spare.give_back(b);
                        }
                        link.flush(&self.stats);
                    }
                    // Away: keep the newest within the buffer, count what falls out.
                    while pending_records > self.buffer_records || (give_up && !pending.is_empty())
                    {
                        let Some(old) = pending.pop_front() else {
                            break;
                        };
                        pending_records -= old.ends.len();
                        self.stats
                            .not_sent
                            .fetch_add(old.ends.len() as u64, Relaxed);
                    }
                }
            }
            self.stats.buffered.store(pending_records as u64, Relaxed);
            if closed && pending.is_empty() {
                self.finish();
                return;
            }
        }
    }

    /// The last statistics record, the withdrawal of every template on a stream, and the
    /// end of the session.
    fn finish(&mut self) {
        let Target::Link(link) = &mut self.target else {
            return;
        };
        if link.ready(&self.stats) {
            let counts = counts(&self.stats, &self.received, self.started);
            let mut last = vec![self.encoder.options(&counts, now_secs())];
            if matches!(link.name(), "tcp" | "tls") {
                last.push(self.encoder.withdrawal(now_secs()));
            }
            for msg in last {
                let _ = link.send(&msg, &self.stats);
            }
            link.flush(&self.stats);
        }
        link.close();
    }
}

/// The mediator's own options templates, the type records of the elements it adds and
/// its statistics: what a new session starts with (the output templates follow with the
/// records that use them).
fn control(encoder: &mut Encoder, counts: &Counts) -> Vec<Vec<u8>> {
    let now = now_secs();
    let mut out = encoder.options_templates(now);
    out.extend(encoder.type_info_of(added(), now));
    out.push(encoder.options(counts, now));
    out
}

/// The mediator's statistics: what it sent, and the records it received.
fn counts(stats: &ExportStats, received: &Received, started: SystemTime) -> Counts {
    let nanos = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    Counts {
        exported_messages: stats.messages.load(Relaxed),
        exported_records: stats.records.load(Relaxed),
        exported_octets: stats.octets.load(Relaxed),
        observed_flows: received.records.load(Relaxed),
        ignored_packets: 0,
        not_sent_records: stats.not_sent.load(Relaxed),
        period_start: nanos(started),
        period_end: nanos(SystemTime::now()),
    }
}

/// The Kubernetes elements only the mediator writes: its type records describe them.
fn added() -> impl Iterator<Item = Ie> {
    Ie::ALL.into_iter().filter(|ie| {
        ie.added_by_mediator() && ie.element().registry == crate::ipfix::Registry::Kubernetes
    })
}

fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// The batches as messages: each output template not yet announced on this session
/// before its first records.
fn pack(encoder: &mut Encoder, batches: &[Batch], announced: &mut HashSet<u16>) -> Vec<Encoded> {
    let mut records: Vec<(u16, &[u8], bool)> = Vec::new();
    for b in batches {
        let t = &b.template;
        if announced.insert(t.id) {
            records.push((if t.options { 3 } else { 2 }, &t.record, false));
        }
        records.extend(b.records().map(|r| (t.id, r, true)));
    }
    encoder.pack(records, now_secs())
}

/// JSON lines: the mediator's own messages decoded as a collector would, printed as
/// `podflow collect` prints records.
#[derive(Default)]
struct JsonOut {
    session: Session,
    announced: HashSet<u16>,
}

impl JsonOut {
    fn print(&mut self, encoder: &mut Encoder, batches: &[Batch], stats: &ExportStats) {
        if batches.is_empty() {
            return;
        }
        let messages = pack(encoder, batches, &mut self.announced);
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for msg in messages {
            let Ok(m) = self.session.decode(&msg.bytes) else {
                stats.not_sent.fetch_add(u64::from(msg.records), Relaxed);
                continue;
            };
            for r in &m.records {
                let line = crate::collect::to_json("mediator", &m.header, r, &self.session);
                let _ = serde_json::to_writer(&mut out, &line);
                let _ = out.write_all(b"\n");
            }
            stats.messages.fetch_add(1, Relaxed);
            stats.records.fetch_add(u64::from(msg.records), Relaxed);
        }
        let _ = out.flush();
    }
}

/// Set when the output should stop waiting for a stream collector: a SIGTERM's drain
/// timeout.
pub type GiveUpAt = Mutex<Option<Instant>>;
