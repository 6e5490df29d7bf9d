//! The capture of one network namespace ([`NamespaceCapture`]): each selected interface
//! read (a ring or a pnet thread), started, kept and let go as the namespace's interfaces
//! come and go.

use std::collections::{BTreeSet, HashMap};

use super::reader::OpenError;
use super::readers::Reading;
use super::select::{select, Link};
use super::CaptureSink;

/// One interface being read.
struct Worker {
    name: String,
    index: u32,
    reading: Reading,
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
    /// Ring memory per interface instead of `capture.ring_bytes`.
    ring_bytes: Option<usize>,
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
            ring_bytes: None,
        }
    }

    /// Gives each interface's ring `bytes` of memory.
    pub fn ring_bytes(mut self, bytes: usize) -> NamespaceCapture {
        self.ring_bytes = Some(bytes);
        self
    }

    /// Leaves it to the caller to report that nothing is captured (with [`idle_reason`]).
    pub fn quiet_when_idle(mut self) -> NamespaceCapture {
        self.warn_idle = false;
        self
    }

    /// The interfaces configured for this namespace (empty: every one that is up).
    pub fn configured(&self) -> &[String] {
        &self.configured
    }

    /// How many interfaces are being captured.
    pub fn count(&self) -> usize {
        self.workers.len()
    }

    /// The names of the interfaces being captured.
    pub fn captured(&self) -> Vec<String> {
        self.workers.iter().map(|w| w.name.clone()).collect()
    }

    /// Asks every interface's reader to stop, without waiting: namespaces signalled
    /// together finish together, then [`NamespaceCapture::stop`] waits for each.
    pub fn signal(&self) {
        for w in &self.workers {
            w.reading.signal();
        }
    }

    /// Lets every interface go and waits until their last frames are metered.
    pub fn stop(&mut self) {
        self.signal();
        self.workers.clear();
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
                !w.reading.is_finished()
                    && selection
                        .capture
                        .iter()
                        .any(|(n, i)| *n == w.name && *i == w.index)
            });
        self.workers = keep;
        for w in &gone {
            w.reading.signal();
        }
        for w in gone {
            drop(w.reading);
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
        let reading = self
            .sink
            .readers
            .open(name, index, point, self.ring_bytes, &self.sink)?;
        Ok(Worker {
            name: name.to_owned(),
            index,
            reading,
        })
    }
}

impl Drop for NamespaceCapture {
    fn drop(&mut self) {
        self.stop();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn idle_reasons_name_the_cause_and_what_happens_next() {
        let none = idle_reason(&[], &[]);
        assert_eq!(
            none,
            "no interface is up but loopback; capture starts on each as it comes up"
        );
        let configured = ["eth1".to_owned(), "net1".to_owned()];
        let missing = idle_reason(&configured, &[]);
        assert!(
            missing.starts_with("none of the interfaces in capture.interfaces (eth1, net1) exists"),
            "{missing}"
        );
        let failed = OpenError::Bind {
            name: "eth1".into(),
            index: 7,
            error: io::Error::from_raw_os_error(libc::ENODEV),
        };
        let text = idle_reason(&configured, &[failed]);
        assert!(
            text.starts_with("no interface could be opened: cannot bind a packet socket to interface eth1 (index 7): No such device"),
            "{text}"
        );
    }
}
