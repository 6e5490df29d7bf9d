//! The capture threads of the ring backend: a few named OS threads (`capture-<n>`), each
//! polling (epoll) the rings given to it and metering every frame of each block handed
//! over. An interface is [`RingPool::attach`]ed to the thread with the fewest rings, and
//! let go when its [`Attached`] handle is dropped, which waits until that thread has
//! published the ring's last counters (its kernel drops included) and closed it.
//!
//! Per frame the threads neither allocate, lock, log nor touch an atomic: counters are
//! published every [`PUBLISH_EVERY`] frames or [`TICK`], and each ring's kernel drop
//! counter is read every [`DROPS_EVERY`].

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::sys::{Epoll, Waker};
use super::{Ring, BLOCK_TIMEOUT_MS};
use crate::capture::live::StoppableThread;
use crate::capture::{decode_frame, CaptureStats, LocalStats};
use crate::flow::{wall_now, FlowTable, Meter, Nanos};

/// How long a thread waits for a block before it looks at its stop flag and commands.
const WAIT_MS: i32 = 100;
/// Publish counters at least this often while frames flow or not.
const TICK: Nanos = 100_000_000;
/// Publish counters after this many frames even within a tick.
const PUBLISH_EVERY: u64 = 4096;
/// Read the kernel's drop counters this often.
const DROPS_EVERY: Nanos = 1_000_000_000;
/// The epoll token of a thread's waker; rings are numbered from 0.
const WAKE: u64 = u64::MAX;
/// How long letting go of a ring may wait for its thread.
const DETACH_WAIT: Duration = Duration::from_secs(5);
/// How long a ring is still read after it is let go or its thread is stopped: frames
/// received before then may wait in the block the kernel is filling, which it hands over
/// once the block's retire timeout has passed.
const LINGER: Nanos = (BLOCK_TIMEOUT_MS as Nanos + 20) * 1_000_000;

/// What a capture thread is told to do.
enum Command {
    Add {
        id: u64,
        ring: Ring,
        point: u32,
        label: String,
    },
    Remove {
        id: u64,
        done: SyncSender<()>,
    },
}

/// What a capture thread shares with the pool.
struct Shared {
    commands: Mutex<Vec<Command>>,
    waker: Waker,
    /// Rings attached to the thread.
    rings: AtomicUsize,
    /// The thread has ended (stopped or panicked).
    ended: AtomicBool,
}

impl Shared {
    fn send(&self, command: Command) {
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(command);
        self.waker.wake();
    }
}

/// The capture threads; stopped and joined when dropped.
pub struct RingPool {
    threads: Vec<(Arc<Shared>, StoppableThread)>,
    next_id: std::sync::atomic::AtomicU64,
}

/// A ring being read by a pool thread; let go (and its last counters published) when
/// dropped.
pub struct Attached {
    shared: Arc<Shared>,
    id: u64,
    /// Told when the thread has closed the ring, once it was asked to let it go.
    leaving: Mutex<Option<Receiver<()>>>,
}

impl Attached {
    /// The thread reading the ring has ended (it only does when the pool stops, or by a
    /// panic).
    pub fn is_finished(&self) -> bool {
        self.shared.ended.load(Ordering::Relaxed)
    }
}

impl Attached {
    /// Asks the thread to let the ring go, without waiting: the ring is read for its
    /// linger first, so rings let go together linger together. The drop waits.
    pub fn signal(&self) {
        let mut leaving = self.leaving.lock().unwrap_or_else(PoisonError::into_inner);
        if leaving.is_none() && !self.is_finished() {
            let (done, wait) = sync_channel(1);
            self.shared.send(Command::Remove { id: self.id, done });
            *leaving = Some(wait);
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.signal();
        let leaving = self
            .leaving
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(wait) = leaving.take() {
            let _ = wait.recv_timeout(DETACH_WAIT);
        }
    }
}

impl RingPool {
    /// Starts `threads` capture threads (at least one) metering into `table` and counting
    /// into `stats`.
    pub fn start(
        threads: usize,
        table: Arc<FlowTable>,
        stats: Arc<CaptureStats>,
    ) -> io::Result<RingPool> {
        let mut pool = RingPool {
            threads: Vec::new(),
            next_id: Default::default(),
        };
        for n in 0..threads.max(1) {
            let shared = Arc::new(Shared {
                commands: Mutex::default(),
                waker: Waker::new()?,
                rings: AtomicUsize::new(0),
                ended: AtomicBool::new(false),
            });
            let mut worker = Worker {
                shared: shared.clone(),
                meter: Meter::new(table.clone(), 0),
                stats: stats.clone(),
                rings: Vec::new(),
            };
            let thread = StoppableThread::spawn(format!("capture-{n}"), move |stop| {
                let _ended = Ended(worker.shared.clone());
                if let Err(e) = worker.run(&stop) {
                    tracing::error!(error = %e, "a capture thread cannot poll its rings and stops");
                }
            })?;
            pool.threads.push((shared, thread));
        }
        Ok(pool)
    }

    /// How many capture threads run.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Gives `ring` (of observation point `point`, named `label` in logs) to the thread
    /// reading the fewest rings.
    pub fn attach(&self, ring: Ring, point: u32, label: String) -> Attached {
        let (shared, _) = self
            .threads
            .iter()
            .filter(|(s, _)| !s.ended.load(Ordering::Relaxed))
            .min_by_key(|(s, _)| s.rings.load(Ordering::Relaxed))
            .unwrap_or(&self.threads[0]);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        shared.rings.fetch_add(1, Ordering::Relaxed);
        shared.send(Command::Add {
            id,
            ring,
            point,
            label,
        });
        Attached {
            shared: shared.clone(),
            id,
            leaving: Mutex::default(),
        }
    }
}

impl Drop for RingPool {
    fn drop(&mut self) {
        for (_, t) in &self.threads {
            t.signal();
        }
        for (_, mut t) in self.threads.drain(..) {
            t.stop();
        }
    }
}

/// Marks a thread's end, however it ends.
struct Ended(Arc<Shared>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Relaxed);
    }
}

/// One ring as its thread holds it.
struct Slot {
    id: u64,
    ring: Ring,
    point: u32,
    label: String,
    /// The socket reported an error and it was logged; cleared by the next frame.
    failing: bool,
    /// Let go: read on until this time, then closed and the sender told.
    closing: Option<(Nanos, SyncSender<()>)>,
}

/// A capture thread's own state.
struct Worker {
    shared: Arc<Shared>,
    meter: Meter,
    stats: Arc<CaptureStats>,
    /// Indexed by epoll token; `None` where a ring was let go.
    rings: Vec<Option<Slot>>,
}

impl Worker {
    fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut epoll = Epoll::new()?;
        epoll.add(self.shared.waker.fd(), WAKE)?;
        let mut local = LocalStats::default();
        let mut next_tick = wall_now() + TICK;
        let mut next_drops = wall_now() + DROPS_EVERY;
        let mut stopping: Option<Nanos> = None;
        loop {
            let now = wall_now();
            match stopping {
                None if stop.load(Ordering::Relaxed) => stopping = Some(now + LINGER),
                Some(until) if now >= until => break,
                _ => {}
            }
            let mut commands = false;
            // Stopping, the thread wakes often to end soon after its linger.
            let wait = if stopping.is_some() { 10 } else { WAIT_MS };
            for (token, failed) in epoll.wait(wait)? {
                if token == WAKE {
                    commands = true;
                    continue;
                }
                let Some(Some(slot)) = self.rings.get_mut(token as usize) else {
                    continue;
                };
                if failed {
                    report_error(slot);
                }
                drain(slot, &mut self.meter, &mut local);
                if local.frames >= PUBLISH_EVERY {
                    local.publish(&self.stats);
                }
            }
            if commands {
                self.shared.waker.clear();
                self.commands(&epoll);
            }
            let now = wall_now();
            if now >= next_tick {
                local.publish(&self.stats);
                next_tick = now + TICK;
            }
            if now >= next_drops {
                for slot in self.rings.iter().flatten() {
                    publish_drops(slot, &self.stats);
                }
                next_drops = now + DROPS_EVERY;
            }
            self.close_due(&epoll, &mut local, now);
        }
        for mut slot in self.rings.drain(..).flatten() {
            drain(&mut slot, &mut self.meter, &mut local);
            publish_drops(&slot, &self.stats);
            if let Some((_, done)) = slot.closing.take() {
                let _ = done.send(());
            }
        }
        local.publish(&self.stats);
        Ok(())
    }

    /// Closes the rings let go whose linger is over, each read to its end first.
    fn close_due(&mut self, epoll: &Epoll, local: &mut LocalStats, now: Nanos) {
        for entry in &mut self.rings {
            if entry
                .as_ref()
                .and_then(|s| s.closing.as_ref())
                .is_none_or(|(until, _)| now < *until)
            {
                continue;
            }
            let Some(mut slot) = entry.take() else {
                continue;
            };
            drain(&mut slot, &mut self.meter, local);
            local.publish(&self.stats);
            publish_drops(&slot, &self.stats);
            let _ = epoll.remove(slot.ring.fd());
            self.shared.rings.fetch_sub(1, Ordering::Relaxed);
            if let Some((_, done)) = slot.closing.take() {
                let _ = done.send(());
            }
        }
    }

    /// Adds and removes rings as told.
    fn commands(&mut self, epoll: &Epoll) {
        let commands = std::mem::take(
            &mut *self
                .shared
                .commands
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for command in commands {
            match command {
                Command::Add {
                    id,
                    ring,
                    point,
                    label,
                } => {
                    let token = self
                        .rings
                        .iter()
                        .position(Option::is_none)
                        .unwrap_or(self.rings.len());
                    if let Err(e) = epoll.add(ring.fd(), token as u64) {
                        tracing::warn!(interface = %label, error = %e, "cannot poll the ring of this interface");
                    }
                    let slot = Slot {
                        id,
                        ring,
                        point,
                        label,
                        failing: false,
                        closing: None,
                    };
                    if token == self.rings.len() {
                        self.rings.push(Some(slot));
                    } else {
                        self.rings[token] = Some(slot);
                    }
                }
                Command::Remove { id, done } => {
                    let found = self
                        .rings
                        .iter_mut()
                        .find(|s| s.as_ref().is_some_and(|s| s.id == id));
                    match found.and_then(|entry| entry.as_mut()) {
                        // What the ring received is metered before it closes.
                        Some(slot) => slot.closing = Some((wall_now() + LINGER, done)),
                        None => {
                            let _ = done.send(());
                        }
                    }
                }
            }
        }
    }
}

/// Meters every frame of every block the kernel has handed over.
#[inline]
fn drain(slot: &mut Slot, meter: &mut Meter, local: &mut LocalStats) {
    meter.set_point(slot.point);
    let link = slot.ring.link();
    while let Some(block) = slot.ring.next_block() {
        for frame in block {
            local.frames += 1;
            match decode_frame(link, frame.data, frame.wire_len) {
                Ok(mut pkt) => {
                    if pkt.key.vlan == 0 {
                        pkt.key.vlan = frame.vlan.unwrap_or(0);
                    }
                    local.metered += 1;
                    meter.push(pkt, frame.ts, frame.data);
                }
                Err(_) => local.ignored += 1,
            }
        }
        meter.flush();
        slot.failing = false;
    }
}

/// A socket error (the interface went down or away): logged once per run of errors,
/// then cleared so that polling does not spin on it.
fn report_error(slot: &mut Slot) {
    let pending = crate::capture::live::take_error(slot.ring.fd());
    if let Ok(Some(e)) = pending {
        if !slot.failing {
            tracing::warn!(interface = %slot.label, error = %e, "receive failed; still trying");
            slot.failing = true;
        }
    }
}

fn publish_drops(slot: &Slot, stats: &CaptureStats) {
    if let Ok(drops) = slot.ring.take_drops() {
        if drops > 0 {
            stats.kernel_drops.fetch_add(drops, Ordering::Relaxed);
        }
    }
}
