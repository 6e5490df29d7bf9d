//! Live capture that never gives up, for the sidecar: a sidecar that cannot capture must not
//! harm its pod, so instead of failing it keeps trying and says why it is not capturing.
//! [`SupervisedCapture`] runs a [`LiveCapture`] from a thread of its own
//! (`capture-supervise`): it starts one, retrying with a doubling [`Backoff`] while that
//! fails (no NET_RAW, no packet sockets), looks every second whether it captures anything,
//! and publishes what it finds in a [`CaptureState`] that readiness and metrics read. Its
//! [`Reporter`] logs one error per distinct cause and one line when capture starts.
//! Nothing here touches the packet path: capture threads never see the state.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{
    addresses_of, netlink, select, sleep_unless_stopped, CaptureSink, Link, LiveCapture,
    StoppableThread,
};
use crate::capture::Config;
use crate::telemetry::Work;

/// First wait after a failed start; it doubles after each failure.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between two attempts: a fixed cause (a pod spec without NET_RAW) costs
/// one socket call every 30 s, and a cleared one is noticed within 30 s.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// How often a running capture is looked at (atomics and a short lock: cheap).
const LOOK: Duration = Duration::from_secs(1);

/// Whether capture runs, as the supervisor last saw it: what `/readyz`, `/startupz` and
/// `podflow_capture_up` read.
#[derive(Debug, Default)]
pub struct CaptureState {
    up: AtomicBool,
    interfaces: AtomicUsize,
    /// Why capture is not running; `None` while it runs and before the first look.
    problem: Mutex<Option<Arc<str>>>,
}

impl CaptureState {
    /// Capture threads run.
    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    /// Interfaces captured now.
    pub fn interfaces(&self) -> usize {
        self.interfaces.load(Relaxed)
    }

    /// Why capture is not running, with the fix where there is one.
    pub fn problem(&self) -> Option<Arc<str>> {
        self.problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Capture runs on `interfaces` interfaces (the supervisor's to say; public for tests).
    pub fn set_up(&self, interfaces: usize) {
        *self.problem.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.interfaces.store(interfaces, Relaxed);
        self.up.store(true, Relaxed);
    }

    /// Capture does not run, because of `cause`.
    pub fn set_down(&self, cause: &str) {
        self.up.store(false, Relaxed);
        self.interfaces.store(0, Relaxed);
        let mut problem = self.problem.lock().unwrap_or_else(PoisonError::into_inner);
        if problem.as_deref() != Some(cause) {
            *problem = Some(cause.into());
        }
    }
}

impl Work for CaptureState {
    fn running(&self) -> bool {
        self.is_up()
    }

    fn problem(&self) -> Option<Arc<str>> {
        CaptureState::problem(self)
    }

    fn interfaces(&self) -> usize {
        CaptureState::interfaces(self)
    }
}

/// A doubling wait between attempts, from `first` up to `max`. Pure.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The wait before the next attempt; the one after is twice as long, up to `max`.
    fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// Back to `first`, after a success.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// What to log about one look at the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Report {
    /// Capture runs, and did not at the previous look: log that it started.
    Started,
    /// Capture does not run, for a cause not reported just before: log an error.
    Failed,
    /// Capture still does not run, for the same cause: debug at most.
    Unchanged,
    /// Capture still runs: nothing to say.
    Running,
}

/// Remembers what was last reported, so that each change is logged once. Pure.
#[derive(Debug, Default)]
struct Reporter {
    /// `None` before the first look; `Some(None)` while up; `Some(Some(cause))` while down.
    last: Option<Option<String>>,
}

impl Reporter {
    /// Capture runs.
    pub fn up(&mut self) -> Report {
        match self.last.replace(None) {
            Some(None) => Report::Running,
            _ => Report::Started,
        }
    }

    /// Capture does not run, because of `cause`.
    pub fn down(&mut self, cause: &str) -> Report {
        match &self.last {
            Some(Some(last)) if last == cause => Report::Unchanged,
            _ => {
                self.last = Some(Some(cause.to_owned()));
                Report::Failed
            }
        }
    }
}

/// Live capture under a supervisor thread; stopped when dropped.
pub struct SupervisedCapture {
    state: Arc<CaptureState>,
    thread: StoppableThread,
}

impl SupervisedCapture {
    /// Tries to start capturing `cfg.interfaces` into `sink` at once (so that the state is
    /// known when this returns), then keeps trying from its own thread. Fails only when
    /// that thread cannot be started.
    pub fn start(cfg: &Config, sink: CaptureSink) -> std::io::Result<SupervisedCapture> {
        let state = Arc::new(CaptureState::default());
        let mut supervisor = Supervisor {
            cfg: cfg.clone(),
            sink,
            live: None,
            state: state.clone(),
            reporter: Reporter::default(),
            backoff: Backoff::new(FIRST_RETRY, MAX_RETRY),
        };
        let first_wait = supervisor.look();
        let thread = StoppableThread::spawn("capture-supervise".into(), move |stop| {
            supervisor.run(&stop, first_wait)
        })?;
        Ok(SupervisedCapture { state, thread })
    }

    /// What readiness and metrics read.
    pub fn state(&self) -> Arc<CaptureState> {
        self.state.clone()
    }

    /// Stops the supervisor and the capture threads, and waits for them.
    pub fn stop(mut self) {
        self.thread.stop();
    }
}

/// The addresses of the interfaces `configured` selects now (every one that is up but
/// loopback when empty), captured yet or not: for flowDirection when the pod's IPs are
/// not configured.
pub fn selected_addresses(configured: &[String]) -> Vec<IpAddr> {
    let links = netlink::links().unwrap_or_default();
    let links: Vec<Link> = links.iter().map(Link::from).collect();
    let names: Vec<String> = select(configured, &links)
        .capture
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    addresses_of(&names)
}

/// The supervisor thread's own state.
struct Supervisor {
    cfg: Config,
    sink: CaptureSink,
    live: Option<LiveCapture>,
    state: Arc<CaptureState>,
    reporter: Reporter,
    backoff: Backoff,
}

impl Supervisor {
    fn run(mut self, stop: &AtomicBool, first_wait: Duration) {
        let mut wait = first_wait;
        while sleep_unless_stopped(stop, wait) {
            wait = self.look();
        }
        if let Some(live) = self.live.take() {
            live.stop();
        }
        self.state.set_down("podflow is stopping");
    }

    /// Starts capture if it is not running, publishes what it finds and logs what changed;
    /// returns how long to wait before the next look.
    fn look(&mut self) -> Duration {
        if self.live.as_ref().is_some_and(LiveCapture::watcher_ended) {
            self.live = None;
            self.down(
                "the interface watcher thread ended unexpectedly; restarting capture",
                true,
            );
            return self.backoff.next_wait();
        }
        let live = match self.live.take() {
            Some(live) => live,
            None => match LiveCapture::start_in(&self.cfg, self.sink.clone()) {
                Ok(live) => live,
                Err(e) => {
                    self.down(&e.to_string(), true);
                    return self.backoff.next_wait();
                }
            },
        };
        // The watcher starts a capture thread before it publishes the interface's name: up
        // only once both say so, so that `podflow_capture_interfaces` is never 0 while up.
        let captured = live.captured();
        if live.running() && !captured.is_empty() {
            self.backoff.reset();
            self.state.set_up(captured.len());
            if self.reporter.up() == Report::Started {
                tracing::info!(interfaces = ?captured, "capture started");
            }
        } else {
            let cause = live
                .idle()
                .unwrap_or_else(|| "no capture thread runs".to_owned());
            self.down(&cause, false);
        }
        self.live = Some(live);
        LOOK
    }

    /// Publishes that capture is not running and logs it once per distinct cause; a
    /// `retry` (a start attempt) that failed the same way is logged at debug level.
    fn down(&mut self, cause: &str, retry: bool) {
        self.state.set_down(cause);
        match self.reporter.down(cause) {
            Report::Failed => tracing::error!(
                cause,
                "capture is not running; podflow stays up and keeps trying"
            ),
            _ if retry => tracing::debug!(cause, "capture is still not running"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(FIRST_RETRY, MAX_RETRY);
        let waits: Vec<u64> = (0..8).map(|_| b.next_wait().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_secs(1));
        assert_eq!(b.next_wait(), Duration::from_secs(2));
    }

    #[test]
    fn each_cause_is_reported_once_and_a_start_once() {
        let mut r = Reporter::default();
        assert_eq!(r.down("no NET_RAW"), Report::Failed);
        assert_eq!(r.down("no NET_RAW"), Report::Unchanged);
        assert_eq!(r.down("no NET_RAW"), Report::Unchanged);
        assert_eq!(r.down("no interface"), Report::Failed);
        assert_eq!(r.up(), Report::Started);
        assert_eq!(r.up(), Report::Running);
        // Down again for a cause seen before: a new event, reported again.
        assert_eq!(r.down("no interface"), Report::Failed);
        assert_eq!(r.up(), Report::Started);
    }

    #[test]
    fn capture_up_at_the_first_look_is_a_start() {
        let mut r = Reporter::default();
        assert_eq!(r.up(), Report::Started);
    }

    #[test]
    fn state_holds_the_cause_only_while_down() {
        let s = CaptureState::default();
        assert!(!s.is_up());
        assert_eq!(s.problem(), None);
        s.set_down("no NET_RAW");
        assert_eq!(s.problem().as_deref(), Some("no NET_RAW"));
        s.set_up(2);
        assert!(s.is_up());
        assert_eq!((s.interfaces(), s.problem()), (2, None));
        s.set_down("gone");
        assert_eq!((s.is_up(), s.interfaces()), (false, 0));
    }
}
