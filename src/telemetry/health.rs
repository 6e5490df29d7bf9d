//! Liveness, readiness and startup: what `/readyz` and `/startupz` answer, shared by the
//! actors of a mode.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::{collector, encode_gauges, Registry};

/// An exporter as readiness sees it.
pub trait Sending: Send + Sync + fmt::Debug {
    /// It can hand records to its collector now.
    fn can_send(&self) -> bool;
}

/// A mode's main work as readiness sees it, read at each request: capture threads (a
/// supervised capture, node mode's namespaces) or a server.
pub trait Work: Send + Sync + fmt::Debug {
    /// It runs now.
    fn running(&self) -> bool;

    /// Why it does not run, where that is known.
    fn problem(&self) -> Option<Arc<str>> {
        None
    }

    /// Interfaces captured now.
    fn interfaces(&self) -> usize {
        0
    }
}

/// What a mode's work relies on but can do without for a while (the mediator's view of
/// the cluster), as readiness sees it, read at each request.
pub trait Dependency: Send + Sync + fmt::Debug {
    fn state(&self) -> DependencyState;
}

/// How a [`Dependency`] is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DependencyState {
    /// Fine.
    Fine,
    /// Not usable yet, and the mode is better not ready until it is (a first sync).
    Starting(Arc<str>),
    /// Not what it should be; the mode works on without it, ready, and says why.
    Degraded(Arc<str>),
}

/// Whether a mode can do its job: its main work running (capture threads, or the HTTPS
/// listener of the webhook) and, where there is one, an exporter able to send.
#[derive(Debug)]
pub struct Health {
    /// Set once the mode's main work runs, cleared when it stops. Unused when the work is
    /// attached ([`Health::watching`], [`Health::supervised`]), which is read instead.
    pub running: AtomicBool,
    /// What `running` is about, for the `/readyz` body ("capture", "the HTTPS listener").
    what: &'static str,
    /// The exporter, where the mode exports.
    export: Option<Arc<dyn Sending>>,
    /// The capture: whether it runs, and why not.
    capture: Option<Arc<dyn Work>>,
    /// When the mode started, for the startup grace.
    since: Instant,
    /// After this long `/startupz` answers 200 whether the main work runs or not; `None`:
    /// only once it runs.
    grace: Option<Duration>,
    /// The main work has been seen running at least once.
    started: AtomicBool,
    /// What the work relies on, where it says so.
    dependency: Option<Arc<dyn Dependency>>,
}

impl Health {
    /// A probe: ready when capture runs and the exporter can send.
    pub fn capture(export: Arc<dyn Sending>) -> Health {
        Health::new("capture", Some(export))
    }

    /// A server without an exporter (the webhook): ready while `what` runs.
    pub fn server(what: &'static str) -> Health {
        Health::new(what, None)
    }

    /// A server that exports (the mediator): ready while `what` runs and the exporter
    /// can send.
    pub fn serving(what: &'static str, export: Arc<dyn Sending>) -> Health {
        Health::new(what, Some(export))
    }

    fn new(what: &'static str, export: Option<Arc<dyn Sending>>) -> Health {
        Health {
            running: AtomicBool::new(false),
            what,
            export,
            capture: None,
            since: Instant::now(),
            grace: None,
            started: AtomicBool::new(false),
            dependency: None,
        }
    }

    /// Reads how `dependency` is doing at each request: not ready while it starts, ready
    /// with a caveat while it is degraded.
    pub fn relying_on(mut self, dependency: Arc<dyn Dependency>) -> Health {
        self.dependency = Some(dependency);
        self
    }

    /// Reads whether capture runs (and why not) from `work` at each request.
    pub fn watching(mut self, work: Arc<dyn Work>) -> Health {
        self.capture = Some(work);
        self
    }

    /// Reads whether capture runs (and why not) from `work` at each request, and lets
    /// `/startupz` answer 200 once `grace` has passed `since` the mode started, even while
    /// capture does not run.
    pub fn supervised(mut self, work: Arc<dyn Work>, since: Instant, grace: Duration) -> Health {
        self.since = since;
        self.grace = Some(grace);
        self.watching(work)
    }

    /// Whether the main work runs now.
    fn is_running(&self) -> bool {
        let running = match &self.capture {
            Some(work) => work.running(),
            None => self.running.load(Relaxed),
        };
        if running {
            self.started.store(true, Relaxed);
        }
        running
    }

    /// Interfaces being captured now.
    pub fn captured_interfaces(&self) -> usize {
        self.capture.as_ref().map_or(0, |work| work.interfaces())
    }

    /// Reads the flags now.
    pub fn readiness(&self) -> Readiness {
        let running = self.is_running();
        Readiness {
            what: self.what,
            running,
            problem: (!running)
                .then(|| self.capture.as_ref()?.problem())
                .flatten(),
            export_ready: self.export.as_ref().is_none_or(|e| e.can_send()),
            dependency: self
                .dependency
                .as_ref()
                .map_or(DependencyState::Fine, |d| d.state()),
        }
    }

    /// What `/startupz` answers now.
    pub fn startup(&self) -> Startup {
        let readiness = self.readiness();
        let phase = startup_phase(self.started.load(Relaxed), self.since.elapsed(), self.grace);
        Startup { phase, readiness }
    }

    /// Registers `podflow_capture_up` and `podflow_capture_interfaces` for a probe (a
    /// health made by [`Health::capture`]); nothing for a server.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        if self.export.is_none() {
            return;
        }
        let health = self.clone();
        registry.register_collector(collector(move |out| {
            let gauges = [
                (
                    "capture_interfaces",
                    "Interfaces being captured now; fewer than expected when a configured one is missing.",
                    health.captured_interfaces() as u64,
                ),
                (
                    "capture_up",
                    "1 while capture runs, 0 while it does not (/readyz says why).",
                    u64::from(health.is_running()),
                ),
            ];
            encode_gauges(out, gauges)
        }));
    }
}

/// One reading of [`Health`]; its `Display` is the `/readyz` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    what: &'static str,
    /// The mode's main work runs.
    pub running: bool,
    /// Why it does not, where the mode knows.
    pub problem: Option<Arc<str>>,
    /// The exporter can hand records to its collector (true where there is none).
    pub export_ready: bool,
    /// What the work relies on.
    pub dependency: DependencyState,
}

impl Readiness {
    /// Everything ready.
    pub fn is_ready(&self) -> bool {
        self.running
            && self.export_ready
            && !matches!(self.dependency, DependencyState::Starting(_))
    }

    /// What is wrong, without the "not ready: " head; empty when ready.
    fn reasons(&self) -> String {
        let mut out = Vec::new();
        if !self.running {
            out.push(match &self.problem {
                Some(p) => format!("{} is not running: {p}", self.what),
                None => format!("{} is not running", self.what),
            });
        }
        if !self.export_ready {
            out.push("the exporter cannot send to the collector".to_owned());
        }
        if let DependencyState::Starting(why) | DependencyState::Degraded(why) = &self.dependency {
            out.push(why.to_string());
        }
        out.join("; ")
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ready() {
            match &self.dependency {
                DependencyState::Degraded(why) => write!(f, "ready, but {why}"),
                _ => f.write_str("ready"),
            }
        } else {
            write!(f, "not ready: {}", self.reasons())
        }
    }
}

/// Where a mode is in its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupPhase {
    /// The main work has run: started.
    Started,
    /// It has not run yet, but the grace has passed: started all the same, so that the
    /// kubelet starts the pod's other containers and never restarts this one for it.
    GraceOver,
    /// Neither yet: still starting.
    Starting,
}

/// The phase for a mode whose main work has run (`started`) or not, `elapsed` after its
/// start, with a startup `grace` (`None`: none, wait for the main work). Pure.
pub fn startup_phase(started: bool, elapsed: Duration, grace: Option<Duration>) -> StartupPhase {
    if started {
        StartupPhase::Started
    } else if grace.is_some_and(|g| elapsed >= g) {
        StartupPhase::GraceOver
    } else {
        StartupPhase::Starting
    }
}

/// What `/startupz` answers: 200 unless still starting. Its `Display` is the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Startup {
    pub phase: StartupPhase,
    readiness: Readiness,
}

impl Startup {
    /// 200 rather than 503.
    pub fn is_started(&self) -> bool {
        self.phase != StartupPhase::Starting
    }
}

impl fmt::Display for Startup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.readiness.what;
        let why = || match &self.readiness.problem {
            Some(p) => format!(": {p}"),
            None => String::new(),
        };
        match self.phase {
            StartupPhase::Started => f.write_str("started"),
            StartupPhase::GraceOver => write!(
                f,
                "started after the startup grace, but {what} is not running{}",
                why()
            ),
            StartupPhase::Starting => write!(f, "starting: {what} is not running yet{}", why()),
        }
    }
}

#[cfg(test)]
mod tests;
