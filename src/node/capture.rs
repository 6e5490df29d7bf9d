//! Node mode's capture thread (`node-capture`): asks the container runtime which pod
//! sandboxes run and where their network namespaces are, enters each in turn to list its
//! interfaces and open packet sockets on them (a socket belongs to the namespace it was
//! opened in, so the capture threads never need to enter it themselves), captures the
//! node's own interfaces, and ends the flows of namespaces that disappear. A namespace the
//! runtime does not know is never captured: it is counted and logged once.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use super::discover::{self, DirWatch, Nsfs};
use super::limits::cap_interfaces;
use super::runtime::{Runtime, RuntimeError, Sandbox};
use super::stats::NodeStats;
use super::veth::pod_veth_host_ends;
use super::{Config, Owner, SharedNamespaces};
use crate::capture::live::netlink::{self, LinkInfo};
use crate::capture::live::{addresses_on, CaptureSink, Link, NamespaceCapture, StoppableThread};
use crate::flow::GROUPS;
use crate::metadata::SharedIndex;

mod owners;
mod visit;

/// How long what is known of a vanished namespace (its interface names, its pod) is kept
/// for records still on their way to the collector (a TCP backlog, for instance).
const GONE_GRACE: Duration = Duration::from_secs(600);
/// How often the thread looks at its stop flag and at the inotify queue.
const POLL: Duration = Duration::from_millis(100);
/// How soon the runtime is asked again about a namespace it has not named yet.
const PENDING_RECHECK: Duration = Duration::from_millis(100);
/// After an inotify event, how long to wait for the bind mount that follows the new file;
/// a second look follows after [`SETTLE_AGAIN`] for a mount that took longer.
const SETTLE: Duration = Duration::from_millis(200);
const SETTLE_AGAIN: Duration = Duration::from_millis(1500);
/// Backoff of a namespace that cannot be entered or opened: from the rescan interval,
/// doubling up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Clears [`NodeStats::running`] when the node thread ends, by returning or by a panic.
struct Running(Arc<NodeStats>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Relaxed);
    }
}

/// Node mode's running capture. Dropping it stops it, as [`NodeCapture::stop`] does.
pub struct NodeCapture {
    stats: Arc<NodeStats>,
    thread: StoppableThread,
}

/// Why node capture cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot read podflow's own network namespace (/proc/self/ns/net): {0}")]
    OwnNamespace(io::Error),
    #[error("cannot start the node capture thread: {0}")]
    Thread(io::Error),
    #[error(transparent)]
    Capture(#[from] crate::capture::LiveError),
    #[error("cannot enter network namespaces ({0}): node mode needs the SYS_ADMIN capability for setns; add it to the container's securityContext.capabilities")]
    Setns(io::Error),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl NodeCapture {
    /// Starts the node thread, which meters into `sink` (registering the observation
    /// points of every namespace's interfaces there) and describes the namespaces in
    /// `namespaces`. `on_gone` hears the points of every namespace that disappears (their
    /// flows are to be ended and exported).
    pub fn start(
        cfg: &Config,
        sink: CaptureSink,
        index: SharedIndex,
        namespaces: SharedNamespaces,
        on_gone: impl Fn(Vec<u32>) + Send + 'static,
    ) -> Result<NodeCapture, NodeError> {
        crate::capture::live::can_capture()?;
        let nsfs = Nsfs::detect().map_err(NodeError::OwnNamespace)?;
        let home = File::open("/proc/thread-self/ns/net").map_err(NodeError::OwnNamespace)?;
        // Entering one's own namespace checks the same permission as entering a pod's.
        move_into_link_name_space(home.as_fd(), Some(LinkNameSpaceType::Network))
            .map_err(|e| NodeError::Setns(e.into()))?;
        let host_id = nsfs.own_inode().map_err(NodeError::OwnNamespace)?;
        let stats = Arc::new(NodeStats::default());
        let share = cfg.flow_share(sink.table.config().max_flows);
        sink.table.groups().set_share(share);
        let runtime = match cfg.runtime_endpoint.as_str() {
            "" => {
                tracing::warn!("node.runtime_endpoint is empty: no container runtime says which pod owns which network namespace, so no pod namespace is captured (only the node's own interfaces)");
                None
            }
            endpoint => Some(Runtime::new(endpoint)?),
        };
        let host = cfg.capture_host.then(|| {
            NamespaceCapture::new(
                host_id,
                "host".into(),
                cfg.host_interfaces.clone(),
                sink.clone(),
            )
        });
        let watch = match DirWatch::new(&cfg.netns_dirs) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(dirs = ?cfg.netns_dirs, error = %e, "cannot watch the netns directories; new namespaces are found by the rescan only");
                None
            }
        };
        let mut node = NodeThread {
            cfg: cfg.clone(),
            nsfs,
            home,
            host_id,
            host,
            sink,
            index,
            views: namespaces,
            stats: stats.clone(),
            pods: HashMap::new(),
            failing: HashMap::new(),
            retired: VecDeque::new(),
            on_gone: Box::new(on_gone),
            watch,
            trouble: Default::default(),
            runtime,
            sandboxes: Vec::new(),
            unknown: HashMap::new(),
            free_groups: (0..GROUPS as u32 - 1).rev().collect(),
        };
        stats.running.store(true, Relaxed);
        let running = Running(stats.clone());
        let thread = StoppableThread::spawn("node-capture".into(), move |stop| {
            let _running = running;
            node.run(&stop)
        })
        .map_err(NodeError::Thread)?;
        Ok(NodeCapture { stats, thread })
    }

    /// Its counters, and whether it runs: what metrics and readiness read.
    pub fn stats(&self) -> Arc<NodeStats> {
        self.stats.clone()
    }

    /// Stops every capture thread and waits for them.
    pub fn stop(mut self) {
        self.thread.stop();
    }
}

/// One pod namespace being captured.
struct PodNamespace {
    path: PathBuf,
    file: File,
    capture: NamespaceCapture,
    /// Its interfaces at the last visit (to tell the host ends of its veth pairs).
    links: Vec<LinkInfo>,
    /// `node.max_interfaces_per_namespace` was hit (logged once).
    capped: bool,
    /// Its group of the flow table (its share of the live flows); `None` when every
    /// group is taken.
    group: Option<u32>,
    /// It reached its share (logged once).
    flooded: bool,
}

/// A namespace that could not be opened or entered: when to try again.
struct Failing {
    next: Instant,
    backoff: Duration,
}

struct NodeThread {
    cfg: Config,
    nsfs: Nsfs,
    /// podflow's own (the host's) namespace, to come back to after each visit.
    home: File,
    host_id: u64,
    host: Option<NamespaceCapture>,
    sink: CaptureSink,
    index: SharedIndex,
    views: SharedNamespaces,
    stats: Arc<NodeStats>,
    pods: HashMap<u64, PodNamespace>,
    failing: HashMap<u64, Failing>,
    /// Namespaces gone: when, their points and group, to forget after [`GONE_GRACE`].
    retired: VecDeque<(Instant, u64, Vec<u32>, Option<u32>)>,
    on_gone: Box<dyn Fn(Vec<u32>) + Send>,
    watch: Option<DirWatch>,
    /// The scan trouble last logged, so that it is logged once.
    trouble: discover::ScanTrouble,
    /// The container runtime; `None` when `node.runtime_endpoint` is empty.
    runtime: Option<Runtime>,
    /// The runtime's pod sandboxes at its last answer (kept while it does not answer).
    sandboxes: Vec<Sandbox>,
    /// Namespaces found that no sandbox owns: since when, and whether they have been
    /// called unowned (after `node.unowned_after_secs`; logged once while they exist).
    unknown: HashMap<u64, (Instant, bool)>,
    /// Groups of the flow table no namespace holds.
    free_groups: Vec<u32>,
}

impl NodeThread {
    fn run(&mut self, stop: &AtomicBool) {
        let rescan = Duration::from_secs(self.cfg.rescan_secs);
        let mut next = Instant::now();
        let mut again = false;
        while !stop.load(Relaxed) {
            let now = Instant::now();
            if self.watch.as_mut().is_some_and(DirWatch::changed) {
                next = next.min(now + SETTLE);
                again = true;
            }
            if now >= next {
                match self.visit_all() {
                    // A namespace went: the kernel tears down its veth pairs shortly after,
                    // and the node's interfaces are looked at again once it has.
                    Ok(removed) => again |= removed,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot return to podflow's own network namespace; node capture stops");
                        break;
                    }
                }
                next = Instant::now()
                    + if std::mem::take(&mut again) {
                        SETTLE_AGAIN.min(rescan)
                    } else {
                        rescan
                    };
                // A namespace the runtime may name any moment: ask again soon.
                if self.unknown.values().any(|(_, unowned)| !unowned) {
                    next = next.min(Instant::now() + PENDING_RECHECK);
                }
            }
            std::thread::park_timeout(POLL);
        }
        for ns in self.pods.values() {
            ns.capture.signal();
        }
        for (_, mut ns) in self.pods.drain() {
            ns.capture.stop();
        }
        if let Some(host) = &mut self.host {
            host.stop();
        }
    }

    /// One round: find the namespaces, end the vanished ones, visit the others, then the
    /// host. Fails only when the thread cannot come back to its own namespace.
    /// Whether a namespace went.
    fn visit_all(&mut self) -> io::Result<bool> {
        let proc_dir = self.cfg.scan_processes.then(|| self.cfg.proc_dir.clone());
        let proc_dir = proc_dir.as_deref();
        let (mut found, trouble) = discover::scan(self.nsfs, &self.cfg.netns_dirs, proc_dir);
        self.log_trouble(trouble);
        found.remove(&self.host_id);
        self.ask_runtime();
        let mut owned: BTreeMap<u64, (PathBuf, Sandbox)> =
            discover::resolve(self.nsfs, &self.sandboxes, &self.cfg.netns_dirs, proc_dir)
                .into_iter()
                .map(|(id, (path, sandbox))| (id, (path, sandbox.clone())))
                .collect();
        owned.remove(&self.host_id);
        self.note_unknown(&found, &owned);
        let found = owned;

        let gone: Vec<u64> = self
            .pods
            .keys()
            .filter(|id| !found.contains_key(id))
            .copied()
            .collect();
        for id in &gone {
            if let Some(ns) = self.pods.get(id) {
                ns.capture.signal();
            }
        }
        let removed = !gone.is_empty();
        for id in gone {
            self.remove(id);
        }
        self.failing.retain(|id, _| found.contains_key(id));

        for (id, (path, sandbox)) in found {
            self.visit(id, path, &sandbox)?;
        }
        self.visit_host();
        self.purge();
        self.publish();
        Ok(removed)
    }

    /// The node's own interfaces, the host ends of pod veth pairs aside unless configured.
    fn visit_host(&mut self) {
        let Some(host) = &mut self.host else {
            return;
        };
        let all = match netlink::links() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the node's interfaces; trying again at the next rescan");
                return;
            }
        };
        let skip = if self.cfg.host_pod_veths {
            HashSet::new()
        } else {
            pod_veth_host_ends(self.pods.values().flat_map(|ns| &ns.links), &all)
        };
        let links: Vec<Link> = all
            .iter()
            .map(|l| Link {
                skip: skip.contains(&l.index),
                ..Link::from(l)
            })
            .collect();
        // The node's own interfaces share the last group: a flood seen there (a pod's, on the
        // uplink) cannot fill the table either.
        for link in links.iter().filter(|l| l.up && !l.loopback && !l.skip) {
            if let Some(point) = self.sink.registry.point_in(self.host_id, &link.name) {
                let group = Some(GROUPS as u32 - 1);
                self.sink.table.groups().assign(point, group);
            }
        }
        host.reconcile(&links);
        let addrs = netlink::addresses().unwrap_or_default();
        let addrs = addresses_on(&all, &host.captured(), addrs);
        let mut views = self.views.write().unwrap_or_else(PoisonError::into_inner);
        let view = views.entry(self.host_id).or_default();
        view.host = true;
        view.path = PathBuf::from("host");
        view.addrs = addrs;
    }

    /// Namespace `id` is gone: stop its capture and have its flows ended.
    fn remove(&mut self, id: u64) {
        let Some(mut ns) = self.pods.remove(&id) else {
            return;
        };
        ns.capture.stop();
        let points = self.sink.registry.forget(id);
        let pod = self
            .views
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .and_then(|v| v.pod.as_ref())
            .map(|p| format!("{}/{}", p.pod.namespace, p.pod.name));
        tracing::info!(netns = %ns.path.display(), pod = pod.as_deref().unwrap_or(""), "namespace gone: capture stopped, its flows ended");
        if !points.is_empty() {
            (self.on_gone)(points.clone());
        }
        self.retired
            .push_back((Instant::now(), id, points, ns.group));
        self.stats.namespaces_removed.fetch_add(1, Relaxed);
    }

    /// Forgets namespaces gone for longer than [`GONE_GRACE`].
    fn purge(&mut self) {
        while let Some((at, id, _, _)) = self.retired.front() {
            if at.elapsed() < GONE_GRACE {
                break;
            }
            let id = *id;
            if let Some((_, _, points, group)) = self.retired.pop_front() {
                self.sink.registry.drop_points(&points);
                // Its flows were ended when it went: the group is free for another.
                if let Some(group) = group {
                    self.sink.table.groups().reset(group);
                    self.free_groups.push(group);
                }
            }
            if !self.pods.contains_key(&id) {
                self.views
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            }
        }
    }

    /// A namespace could not be opened, entered or read: logged when it starts failing,
    /// counted every time, tried again with a doubling backoff.
    fn failed(&mut self, id: u64, path: &std::path::Path, what: &str, e: &io::Error) {
        self.stats.namespace_errors.fetch_add(1, Relaxed);
        let first = Duration::from_secs(self.cfg.rescan_secs);
        let entry = self.failing.entry(id).or_insert(Failing {
            next: Instant::now(),
            backoff: Duration::ZERO,
        });
        if entry.backoff.is_zero() {
            tracing::warn!(netns = %path.display(), error = %e, "{what}; trying again with backoff");
            entry.backoff = first;
        } else {
            entry.backoff = (entry.backoff * 2).min(MAX_BACKOFF);
        }
        entry.next = Instant::now() + entry.backoff;
    }

    fn log_trouble(&mut self, trouble: discover::ScanTrouble) {
        if trouble == self.trouble {
            return;
        }
        for (dir, error) in &trouble.dirs {
            if !self.trouble.dirs.iter().any(|(d, _)| d == dir) {
                tracing::warn!(dir = %dir.display(), %error, "cannot list namespaces here; looking again at every rescan");
            }
        }
        if trouble.denied > 0 && self.trouble.denied == 0 {
            tracing::warn!(
                processes = trouble.denied,
                "cannot read the network namespace of some processes (reading /proc/<pid>/ns/net needs CAP_SYS_PTRACE)"
            );
        }
        self.trouble = trouble;
    }

    fn publish(&self) {
        let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
        let with_pod = self
            .pods
            .keys()
            .filter(|id| views.get(id).is_some_and(|v| v.pod.is_some()))
            .count();
        let interfaces = self
            .pods
            .values()
            .map(|ns| ns.capture.count())
            .sum::<usize>()
            + self.host.as_ref().map_or(0, NamespaceCapture::count);
        self.stats.namespaces.store(self.pods.len(), Relaxed);
        let refused = self.sink.table.groups().refused_total();
        self.stats.flows_refused.store(refused, Relaxed);
        self.stats.namespaces_with_pod.store(with_pod, Relaxed);
        self.stats.interfaces.store(interfaces, Relaxed);
    }
}
