//! Live capture: one named OS thread per interface (`capture-<ifname>`) reads an
//! `AF_PACKET` socket through pnet and meters every frame, in and out, into the shared
//! flow table. [`NamespaceCapture`] keeps those threads in line with the interfaces of one
//! network namespace; [`LiveCapture`] runs it for podflow's own namespace on a watcher
//! thread (`capture-watch`) that re-reads the interfaces every few seconds, and
//! [`SupervisedCapture`] keeps a [`LiveCapture`] going whatever happens (no permission yet,
//! nothing to capture), retrying with backoff and publishing its [`CaptureState`]. Node mode
//! runs one [`NamespaceCapture`] per pod namespace from its own thread.

pub mod netlink;
mod reader;
mod select;
mod supervisor;
mod sys;

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use reader::OpenError;
use reader::Source;
use select::select;
pub use select::Link;
pub use select::{Interfaces, PointInfo};
pub use supervisor::{CaptureState, SupervisedCapture};

use super::{CaptureStats, Config};
use crate::capabilities::Denied;
use crate::flow::{FlowTable, Meter};

/// How often the set of interfaces is read again.
const RECHECK: Duration = Duration::from_secs(3);

/// Why live capture could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// No permission (EPERM, EACCES): what the process lacks and the fix.
    #[error("cannot open a packet socket: {0}")]
    Permission(#[from] Denied),
    /// Any other failure to open one (no packet socket support, no descriptor left, ...).
    #[error("cannot open a packet socket: {0}")]
    Socket(io::Error),
    #[error("cannot start a capture thread: {0}")]
    Thread(io::Error),
}

/// Where the capture threads of a probe meter and what they count: one per probe, shared
/// by all the namespaces it captures.
#[derive(Clone)]
pub struct CaptureSink {
    pub table: Arc<FlowTable>,
    pub stats: Arc<CaptureStats>,
    /// The observation points of every captured interface.
    pub registry: Interfaces,
    /// Capture threads alive.
    pub running: Arc<AtomicUsize>,
}

impl CaptureSink {
    pub fn new(table: Arc<FlowTable>, stats: Arc<CaptureStats>) -> CaptureSink {
        CaptureSink {
            table,
            stats,
            registry: Interfaces::default(),
            running: Arc::default(),
        }
    }
}

/// A named background thread that runs until its stop flag is set; stopped and joined
/// when dropped.
pub struct StoppableThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl StoppableThread {
    /// Starts `run` on a thread named `name`; `run` gets the flag to watch.
    pub fn spawn(
        name: String,
        run: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
    ) -> io::Result<StoppableThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(flag))?;
        Ok(StoppableThread {
            stop,
            handle: Some(handle),
        })
    }

    /// Asks the thread to stop, without waiting.
    pub fn signal(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
    }

    /// Asks the thread to stop and waits for it.
    pub fn stop(&mut self) {
        self.signal();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }

    /// The thread has ended (returned or panicked).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for StoppableThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits `d` or until `stop` is set (the waiting thread is unparked then); false once asked
/// to stop.
pub fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::park_timeout(until - now);
    }
}

/// A running live capture. Dropping it stops it, as [`LiveCapture::stop`] does.
pub struct LiveCapture {
    sink: CaptureSink,
    /// What the watcher saw at its last look.
    watched: Arc<Mutex<Watched>>,
    watcher: StoppableThread,
}

/// What the watcher publishes after each look at the interfaces.
#[derive(Debug, Default)]
struct Watched {
    /// Names of the interfaces being captured.
    captured: Vec<String>,
    /// Why nothing is captured, when nothing is.
    idle: Option<String>,
}

impl LiveCapture {
    /// Starts capturing the interfaces of `cfg.interfaces` (empty: every interface that is
    /// up, loopback aside) into `table`, counting frames in `stats`. See
    /// [`LiveCapture::start_in`].
    pub fn start(
        cfg: &Config,
        table: Arc<FlowTable>,
        stats: Arc<CaptureStats>,
    ) -> Result<LiveCapture, LiveError> {
        LiveCapture::start_in(cfg, CaptureSink::new(table, stats))
    }

    /// Starts capturing into `sink`. Fails only when no packet socket can be opened at all
    /// (no permission, no packet socket support) or no thread started. Interfaces that do
    /// not exist, are down or fail to open are warned about and looked at again every few
    /// seconds; meanwhile [`LiveCapture::idle`] says why nothing is captured.
    pub fn start_in(cfg: &Config, sink: CaptureSink) -> Result<LiveCapture, LiveError> {
        can_capture()?;
        let watched = Arc::new(Mutex::new(Watched::default()));
        let mut capture =
            NamespaceCapture::new(0, String::new(), cfg.interfaces.clone(), sink.clone());
        // Whoever runs this capture reports idleness (the supervisor does, with the cause).
        capture.warn_idle = false;
        let mut watcher = Watcher {
            capture,
            watched: watched.clone(),
        };
        watcher.reconcile();
        let watcher =
            StoppableThread::spawn("capture-watch".into(), move |stop| watcher.run(&stop))
                .map_err(LiveError::Thread)?;
        Ok(LiveCapture {
            sink,
            watched,
            watcher,
        })
    }

    /// The registry of observation points: interface name of each flow key `point`.
    pub fn interfaces(&self) -> Interfaces {
        self.sink.registry.clone()
    }

    fn watched(&self) -> std::sync::MutexGuard<'_, Watched> {
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The names of the interfaces being captured now.
    pub fn captured(&self) -> Vec<String> {
        self.watched().captured.clone()
    }

    /// Why nothing is captured, as of the watcher's last look; `None` while something is.
    pub fn idle(&self) -> Option<String> {
        self.watched().idle.clone()
    }

    /// The addresses of the interfaces being captured now (for flowDirection when the
    /// pod's IPs are not configured).
    pub fn addresses(&self) -> Vec<IpAddr> {
        addresses_of(&self.captured())
    }

    /// True while at least one capture thread runs.
    pub fn running(&self) -> bool {
        self.sink.running.load(Ordering::Relaxed) > 0
    }

    /// The watcher thread has ended (it only does when stopped, or by a panic).
    fn watcher_ended(&self) -> bool {
        self.watcher.is_finished()
    }

    /// Stops every capture thread and waits for them; each publishes its last counters
    /// (kernel drops included) before it ends.
    pub fn stop(mut self) {
        self.watcher.stop();
    }
}

/// Whether this process may open packet sockets (CAP_NET_RAW); when it may not, the error
/// says what the process lacks and how to grant it.
pub fn can_capture() -> Result<(), LiveError> {
    match sys::packet_socket() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(Denied::now(e).into()),
        Err(e) => Err(LiveError::Socket(e)),
    }
}

/// Why a namespace capture has no interface, given the configured interfaces and the
/// errors of those that failed to open. Pure.
pub fn idle_reason(configured: &[String], errors: &[OpenError]) -> String {
    if !errors.is_empty() {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "no interface could be opened: {}; trying again every few seconds",
            errors.join("; ")
        )
    } else if configured.is_empty() {
        "no interface is up but loopback; capture starts on each as it comes up".into()
    } else {
        format!(
            "none of the interfaces in capture.interfaces ({}) exists; each is captured once it \
             appears, or leave capture.interfaces empty to capture every interface that is up",
            configured.join(", ")
        )
    }
}

/// The addresses of the interfaces named in `names`, loopback addresses aside, as netlink
/// lists them now.
fn addresses_of(names: &[String]) -> Vec<IpAddr> {
    let links = netlink::links().unwrap_or_default();
    let addrs = netlink::addresses().unwrap_or_default();
    addresses_on(&links, names, addrs)
}

/// Of `addrs` (interface index and address, as [`netlink::addresses`] lists them), those
/// of the interfaces of `links` named in `names`, loopback addresses aside.
pub fn addresses_on(
    links: &[netlink::LinkInfo],
    names: &[String],
    addrs: Vec<(u32, IpAddr)>,
) -> Vec<IpAddr> {
    let indexes: Vec<u32> = links
        .iter()
        .filter(|l| names.contains(&l.name))
        .map(|l| l.index)
        .collect();
    addrs
        .into_iter()
        .filter(|(i, a)| indexes.contains(i) && !a.is_loopback())
        .map(|(_, a)| a)
        .collect()
}

impl From<&netlink::LinkInfo> for Link {
    fn from(l: &netlink::LinkInfo) -> Link {
        Link {
            name: l.name.clone(),
            index: l.index,
            up: l.up,
            loopback: l.loopback,
            skip: false,
        }
    }
}

/// One capture thread.
struct Worker {
    name: String,
    index: u32,
    thread: StoppableThread,
}

/// The capture threads of one network namespace: one per selected interface.
pub struct NamespaceCapture {
    /// Inode of the namespace; 0 for podflow's own.
    netns: u64,
    /// What logs call the namespace (its path); empty for podflow's own.
    label: String,
    configured: Vec<String>,
    sink: CaptureSink,
    workers: Vec<Worker>,
    /// Configured interfaces already warned about as missing.
    missing: BTreeSet<String>,
    /// Interfaces that failed to open, with the error last logged for each.
    failed: HashMap<String, String>,
    /// Nothing captured at the last reconcile.
    idle: bool,
    /// Warn when nothing is left to capture (off where the owner reports it itself).
    warn_idle: bool,
}

impl NamespaceCapture {
    /// Capture of the `configured` interfaces (empty: every one that is up, loopback and
    /// skipped links aside) of namespace `netns`, named `label` in logs.
    pub fn new(
        netns: u64,
        label: String,
        configured: Vec<String>,
        sink: CaptureSink,
    ) -> NamespaceCapture {
        NamespaceCapture {
            netns,
            label,
            configured,
            sink,
            workers: Vec::new(),
            missing: BTreeSet::new(),
            failed: HashMap::new(),
            idle: false,
            warn_idle: true,
        }
    }

    /// How many interfaces are being captured.
    pub fn count(&self) -> usize {
        self.workers.len()
    }

    /// The names of the interfaces being captured.
    pub fn captured(&self) -> Vec<String> {
        self.workers.iter().map(|w| w.name.clone()).collect()
    }

    /// Stops every capture thread and waits for them.
    pub fn stop(&mut self) {
        for w in &self.workers {
            w.thread.signal();
        }
        for mut w in self.workers.drain(..) {
            w.thread.stop();
        }
    }

    /// Brings the capture threads in line with `links`, the interfaces present now; returns
    /// the errors of the interfaces that could not be opened. Must run in the namespace:
    /// a packet socket belongs to the namespace of the thread that opens it.
    pub fn reconcile(&mut self, links: &[Link]) -> Vec<OpenError> {
        let selection = select(&self.configured, links);
        let ns = self.label.as_str();
        for name in &selection.missing {
            if self.missing.insert(name.clone()) {
                tracing::warn!(
                    interface = %name,
                    netns = ns,
                    "a configured interface does not exist; it will be captured once it appears"
                );
            }
        }
        self.missing.retain(|n| selection.missing.contains(n));
        self.failed
            .retain(|n, _| selection.capture.iter().any(|(c, _)| c == n));

        let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.workers)
            .into_iter()
            .partition(|w| {
                !w.thread.is_finished()
                    && selection
                        .capture
                        .iter()
                        .any(|(n, i)| *n == w.name && *i == w.index)
            });
        self.workers = keep;
        for w in &gone {
            w.thread.signal();
        }
        for mut w in gone {
            w.thread.stop();
            tracing::info!(interface = %w.name, netns = ns, "stopped capturing: the interface is gone, down or re-created");
        }

        let mut errors = Vec::new();
        for (name, index) in selection.capture {
            if self.workers.iter().any(|w| w.name == name) {
                continue;
            }
            match self.spawn(&name, index) {
                Ok(w) => {
                    self.failed.remove(&name);
                    self.workers.push(w);
                }
                Err(e) => {
                    let text = e.to_string();
                    if self.failed.get(&name) != Some(&text) {
                        tracing::warn!(interface = %name, netns = ns, error = %text, "cannot capture on this interface; trying again in a few seconds");
                        self.failed.insert(name, text);
                    }
                    errors.push(e);
                }
            }
        }

        if self.workers.is_empty() != self.idle {
            self.idle = self.workers.is_empty();
            if self.idle && self.warn_idle {
                tracing::warn!(
                    configured = ?self.configured,
                    netns = ns,
                    "no interface to capture now; checking again every few seconds"
                );
            }
        }
        errors
    }

    fn spawn(&self, name: &str, index: u32) -> Result<Worker, OpenError> {
        let point = self
            .sink
            .registry
            .point_in(self.netns, name)
            .ok_or_else(|| OpenError::NoPoint {
                name: name.to_owned(),
            })?;
        let source = Source::open(name, index)?;
        tracing::info!(
            interface = %name,
            index,
            point,
            netns = self.label.as_str(),
            receive_buffer_bytes = source.receive_buffer,
            "capturing"
        );
        let mut meter = Meter::new(self.sink.table.clone(), point);
        let stats = self.sink.stats.clone();
        let alive = Alive::new(self.sink.running.clone());
        let label = name.to_owned();
        let thread = StoppableThread::spawn(format!("capture-{name}"), move |stop| {
            let _alive = alive;
            source.run(&mut meter, &stats, &stop, |e| {
                tracing::warn!(interface = %label, error = %e, "receive failed; still trying");
            });
        })
        .map_err(|source| OpenError::Thread {
            name: name.to_owned(),
            source,
        })?;
        Ok(Worker {
            name: name.to_owned(),
            index,
            thread,
        })
    }
}

impl Drop for NamespaceCapture {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs the capture of podflow's own namespace, re-reading its interfaces every [`RECHECK`].
struct Watcher {
    capture: NamespaceCapture,
    watched: Arc<Mutex<Watched>>,
}

impl Watcher {
    fn run(mut self, stop: &AtomicBool) {
        while sleep_unless_stopped(stop, RECHECK) {
            self.reconcile();
        }
        self.capture.stop();
    }

    fn reconcile(&mut self) {
        let idle = match netlink::links() {
            Ok(links) => {
                let links: Vec<Link> = links.iter().map(Link::from).collect();
                let errors = self.capture.reconcile(&links);
                (self.capture.count() == 0).then(|| idle_reason(&self.capture.configured, &errors))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the interfaces; trying again in a few seconds");
                (self.capture.count() == 0).then(|| format!("cannot list the interfaces: {e}"))
            }
        };
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        watched.captured = self.capture.captured();
        watched.idle = idle;
    }
}

/// Counts a capture thread as running from its creation until it ends, panic or not.
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(running: Arc<AtomicUsize>) -> Alive {
        running.fetch_add(1, Ordering::Relaxed);
        Alive(running)
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
