//! Liveness and readiness: what `/readyz` answers, shared by the actors of a mode.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use crate::export::ExportStats;

/// Whether a mode can do its job: its main work running (capture threads, or the HTTPS
/// listener of the webhook) and, where there is one, an exporter able to send.
#[derive(Debug)]
pub struct Health {
    /// Set once the mode's main work runs, cleared when it stops.
    pub running: AtomicBool,
    /// What `running` is about, for the `/readyz` body ("capture", "the HTTPS listener").
    what: &'static str,
    /// Interfaces being captured now (live capture).
    pub interfaces: AtomicUsize,
    /// The exporter's counters, where the mode exports; [`ExportStats::ready`] says whether
    /// it can send.
    pub export: Option<Arc<ExportStats>>,
}

impl Health {
    /// A probe: ready when capture runs and the exporter can send.
    pub fn capture(export: Arc<ExportStats>) -> Health {
        Health::new("capture", Some(export))
    }

    /// A server without an exporter (the webhook): ready while `what` runs.
    pub fn server(what: &'static str) -> Health {
        Health::new(what, None)
    }

    fn new(what: &'static str, export: Option<Arc<ExportStats>>) -> Health {
        Health {
            running: AtomicBool::new(false),
            what,
            interfaces: AtomicUsize::new(0),
            export,
        }
    }

    /// Reads the flags now.
    pub fn readiness(&self) -> Readiness {
        Readiness {
            what: self.what,
            running: self.running.load(Relaxed),
            export_ready: self.export.as_ref().is_none_or(|e| e.ready.load(Relaxed)),
        }
    }
}

/// One reading of [`Health`]; its `Display` is the `/readyz` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    what: &'static str,
    /// The mode's main work runs.
    pub running: bool,
    /// The exporter can hand records to its collector (true where there is none).
    pub export_ready: bool,
}

impl Readiness {
    /// Everything ready.
    pub fn is_ready(&self) -> bool {
        self.running && self.export_ready
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ready() {
            return f.write_str("ready");
        }
        f.write_str("not ready: ")?;
        let mut sep = "";
        if !self.running {
            write!(f, "{} is not running", self.what)?;
            sep = ", ";
        }
        if !self.export_ready {
            write!(f, "{sep}the exporter cannot send to the collector")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(capture: bool, export: bool) -> Readiness {
        let stats = Arc::new(ExportStats::default());
        stats.ready.store(export, Relaxed);
        let h = Health::capture(stats);
        h.running.store(capture, Relaxed);
        h.readiness()
    }

    #[test]
    fn ready_only_when_both_sides_are() {
        assert!(health(true, true).is_ready());
        assert!(!health(false, true).is_ready());
        assert!(!health(true, false).is_ready());
        assert!(!health(false, false).is_ready());
    }

    #[test]
    fn body_names_what_is_not_ready() {
        assert_eq!(health(true, true).to_string(), "ready");
        assert_eq!(
            health(false, true).to_string(),
            "not ready: capture is not running"
        );
        assert_eq!(
            health(true, false).to_string(),
            "not ready: the exporter cannot send to the collector"
        );
        assert_eq!(
            health(false, false).to_string(),
            "not ready: capture is not running, the exporter cannot send to the collector"
        );
    }

    #[test]
    fn a_server_without_exporter_is_ready_while_it_runs() {
        let h = Health::server("the HTTPS listener");
        assert_eq!(
            h.readiness().to_string(),
            "not ready: the HTTPS listener is not running"
        );
        h.running.store(true, Relaxed);
        assert!(h.readiness().is_ready());
    }
}
