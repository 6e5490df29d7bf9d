//! Live capture: every interface, in and out, is read into the shared flow table by the
//! probe's [`Readers`]: memory-mapped rings polled by a few capture threads
//! (`capture-<n>`), or one pnet thread per interface (`capture-<ifname>`).
//! [`NamespaceCapture`] keeps the interfaces read in line with those of one network
//! namespace; [`LiveCapture`] runs it for podflow's own namespace on a watcher
//! thread (`capture-watch`) that re-reads the interfaces every few seconds, and
//! [`SupervisedCapture`] keeps a [`LiveCapture`] going whatever happens (no permission yet,
//! nothing to capture), retrying with backoff and publishing its [`CaptureState`]. Node mode
//! runs one [`NamespaceCapture`] per pod namespace from its own thread.

mod namespace;
pub mod netlink;
mod reader;
mod readers;
mod select;
mod supervisor;
pub(crate) mod sys;

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use namespace::{idle_reason, NamespaceCapture};
pub use reader::OpenError;
pub(crate) use reader::{link_type, packet_socket_on};
pub use readers::{filter_expression, ExportPeer, Readers, ReadersError, Reading};
use select::select;
pub use select::Link;
pub use select::{Interfaces, PointInfo};
pub use supervisor::{selected_addresses, CaptureState, SupervisedCapture};
pub(crate) use sys::take_error;

use super::{CaptureStats, Config};
use crate::capabilities::Denied;
use crate::flow::FlowTable;

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
    #[error(transparent)]
    Readers(#[from] ReadersError),
}

/// Where the capture threads of a probe meter and what they count: one per probe, shared
/// by all the namespaces it captures.
#[derive(Clone)]
pub struct CaptureSink {
    pub table: Arc<FlowTable>,
    pub stats: Arc<CaptureStats>,
    /// The observation points of every captured interface.
    pub registry: Interfaces,
    /// Interfaces being read.
    pub running: Arc<AtomicUsize>,
    /// How interfaces are opened and read.
    pub readers: Readers,
}

impl CaptureSink {
    /// A sink whose interfaces are read by pnet threads, whole frames, no filter; a live
    /// source gives it the readers of its configuration ([`CaptureSink::with_readers`]).
    pub fn new(table: Arc<FlowTable>, stats: Arc<CaptureStats>) -> CaptureSink {
        CaptureSink {
            table,
            stats,
            registry: Interfaces::default(),
            running: Arc::default(),
            readers: Readers::Pnet {
                program: Arc::new(crate::capture::ring::Program::snap_only(u32::MAX)),
            },
        }
    }

    /// The same sink, its interfaces read by `readers`.
    pub fn with_readers(mut self, readers: Readers) -> CaptureSink {
        self.readers = readers;
        self
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
    /// up, loopback aside) into `table` with the readers `cfg` describes, counting frames
    /// in `stats`. See [`LiveCapture::start_in`].
    pub fn start(
        cfg: &Config,
        table: Arc<FlowTable>,
        stats: Arc<CaptureStats>,
    ) -> Result<LiveCapture, LiveError> {
        let sink = CaptureSink::new(table, stats);
        let readers = Readers::start(cfg, cfg.threads, None, &sink)?;
        LiveCapture::start_in(cfg, sink.with_readers(readers))
    }

    /// Starts capturing into `sink`. Fails only when no packet socket can be opened at all
    /// (no permission, no packet socket support) or no thread started. Interfaces that do
    /// not exist, are down or fail to open are warned about and looked at again every few
    /// seconds; meanwhile [`LiveCapture::idle`] says why nothing is captured.
    pub fn start_in(cfg: &Config, sink: CaptureSink) -> Result<LiveCapture, LiveError> {
        can_capture()?;
        let watched = Arc::new(Mutex::new(Watched::default()));
        // Whoever runs this capture reports idleness (the supervisor does, with the cause).
        let capture = NamespaceCapture::new(0, String::new(), cfg.interfaces.clone(), sink.clone())
            .quiet_when_idle();
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
                (self.capture.count() == 0).then(|| idle_reason(self.capture.configured(), &errors))
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
