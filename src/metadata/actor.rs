//! The sidecar's metadata actor: holds the pod identity and rebuilds it when the kubelet
//! rewrites the labels or annotations Downward-API files, telling the exporter each time.
//!
//! It sends [`IdentityChanged`] to its sink once when it starts and again after every
//! change; it looks at the files every `poll_interval` (one second by default: two
//! `stat`s, a read only when a file's version changed).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::events::{FileMissing, FileUnusable, FileVanished, IdentityBuilt, MetadataStats};
use super::identity::build;
use super::watched::{Change, WatchedFile};
use super::Config;
use crate::export::IdentityChanged;
use crate::identity::PodIdentity;

/// How often the files are looked at unless told otherwise.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Asks for the identity the actor holds now.
#[derive(Message)]
#[rtype(result = "Arc<PodIdentity>")]
pub struct CurrentIdentity;

/// The pod identity from configuration and Downward-API files, kept up to date.
pub struct Metadata {
    cfg: Config,
    labels: WatchedFile,
    annotations: WatchedFile,
    current: Arc<PodIdentity>,
    sink: Option<Recipient<IdentityChanged>>,
    stats: Arc<MetadataStats>,
    poll_interval: Duration,
}

impl Metadata {
    /// Reads the files and builds the first identity, before any actor runs. A file that
    /// exists but cannot be read or parsed is warned about and counted, and its entries
    /// stay empty until a good version comes; later, the last good identity is kept. A
    /// missing file means none, logged once.
    pub fn load(cfg: &Config) -> Metadata {
        let stats = Arc::<MetadataStats>::default();
        let (labels, labels_error) = WatchedFile::open(&cfg.labels_file);
        let (annotations, annotations_error) = WatchedFile::open(&cfg.annotations_file);
        // A file the kubelet wrote but podflow cannot parse must not stop the metering:
        // warn, count, and go on without those entries until a good version comes.
        for (file, what, error) in [
            (&labels, "labels", labels_error),
            (&annotations, "annotations", annotations_error),
        ] {
            if let Some(error) = error {
                FileUnusable { error: &error }.emit(&stats);
            } else if !file.exists() {
                FileMissing {
                    path: file.path(),
                    what,
                }
                .emit();
            }
        }
        let mut metadata = Metadata {
            cfg: cfg.clone(),
            labels,
            annotations,
            current: Arc::default(),
            sink: None,
            stats,
            poll_interval: DEFAULT_POLL_INTERVAL,
        };
        metadata.rebuild(false);
        metadata
    }

    /// Where identities go: once at start, then on every change.
    pub fn send_to(mut self, sink: Recipient<IdentityChanged>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// How often the files are looked at (default one second).
    pub fn poll_every(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The identity now: for the exporter's first records, before the actor starts.
    pub fn identity(&self) -> Arc<PodIdentity> {
        self.current.clone()
    }

    /// The counters, for metrics.
    pub fn stats(&self) -> Arc<MetadataStats> {
        self.stats.clone()
    }

    /// Looks at both files; rebuilds and sends the identity if their entries changed.
    fn reload(&mut self) {
        let mut changed = false;
        for file in [&mut self.labels, &mut self.annotations] {
            match file.poll() {
                Change::Unchanged => {}
                Change::Entries => changed = true,
                Change::Failed(error) => FileUnusable { error: &error }.emit(&self.stats),
                Change::Vanished => FileVanished { path: file.path() }.emit(),
            }
        }
        if changed && self.rebuild(true) {
            self.send();
        }
    }

    /// Builds the identity from the last good entries; true when it differs.
    fn rebuild(&mut self, changed: bool) -> bool {
        let built = build(
            &self.cfg,
            &self.labels.entries(),
            &self.annotations.entries(),
        );
        if changed && *self.current == built.identity {
            return false;
        }
        IdentityBuilt {
            built: &built,
            changed,
            max_bytes: self.cfg.max_metadata_bytes,
        }
        .emit(&self.stats);
        self.current = Arc::new(built.identity);
        true
    }

    fn send(&self) {
        if let Some(sink) = &self.sink {
            sink.do_send(IdentityChanged(self.current.clone()));
        }
    }
}

impl Actor for Metadata {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.send();
        let poll_interval = self.poll_interval;
        ctx.run_interval(poll_interval, |this, _| this.reload());
    }
}

impl Handler<CurrentIdentity> for Metadata {
    type Result = MessageResult<CurrentIdentity>;

    fn handle(&mut self, _: CurrentIdentity, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.current.clone())
    }
}

#[cfg(test)]
mod tests;
