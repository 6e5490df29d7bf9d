//! Liveness and readiness: what `/readyz` answers, shared by the actors of a mode.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use crate::export::ExportStats;

/// Whether the probe can do its job: capture running and an exporter able to send.
#[derive(Debug)]
pub struct Health {
    /// Set by the capture side once its threads read frames, cleared when they stop.
    pub capture_running: AtomicBool,
    /// Interfaces being captured now (live capture).
    pub interfaces: AtomicUsize,
    /// The exporter's counters; [`ExportStats::ready`] says whether it can send.
    pub export: Arc<ExportStats>,
}

impl Health {
    /// Not ready until the capture side sets `capture_running`.
    pub fn new(export: Arc<ExportStats>) -> Health {
        Health {
            capture_running: AtomicBool::new(false),
            interfaces: AtomicUsize::new(0),
            export,
        }
    }

    /// Reads both flags now.
    pub fn readiness(&self) -> Readiness {
        Readiness {
            capture_running: self.capture_running.load(Relaxed),
            export_ready: self.export.ready.load(Relaxed),
        }
    }
}

/// One reading of [`Health`]; its `Display` is the `/readyz` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// The capture threads are reading frames.
    pub capture_running: bool,
    /// The exporter can hand records to its collector.
    pub export_ready: bool,
}

impl Readiness {
    /// Both sides ready.
    pub fn is_ready(&self) -> bool {
        self.capture_running && self.export_ready
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ready() {
            return f.write_str("ready");
        }
        f.write_str("not ready: ")?;
        let mut sep = "";
        if !self.capture_running {
            f.write_str("capture is not running")?;
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
        let h = Health::new(Arc::new(ExportStats::default()));
        h.capture_running.store(capture, Relaxed);
        h.export.ready.store(export, Relaxed);
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
}
