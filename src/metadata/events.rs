//! Named events of the metadata source: each `emit()` logs and counts into
//! [`MetadataStats`]. None of them repeats for the same file content.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::identity::{Built, MetadataError};

/// What the metadata source has done since start, shared with metrics.
#[derive(Debug, Default)]
pub struct MetadataStats {
    /// Identities built: the one at start, then one per change of labels or annotations.
    pub identity_changes: AtomicU64,
    /// Versions of a labels or annotations file that could not be read or parsed (each
    /// counted once, however long it stays).
    pub reload_errors: AtomicU64,
    /// Labels left out of k8sPodLabels by `k8s.max_metadata_bytes`, summed over the
    /// identities built.
    pub labels_cut: AtomicU64,
    /// Allowed annotations left out of k8sPodAnnotations by `k8s.max_metadata_bytes`,
    /// summed over the identities built.
    pub annotations_cut: AtomicU64,
}

/// A Downward-API file is not there at start: the pod does not mount it.
pub struct FileMissing<'a> {
    pub path: &'a Path,
    /// `labels` or `annotations`.
    pub what: &'a str,
}

impl FileMissing<'_> {
    pub fn emit(self) {
        tracing::info!(
            file = %self.path.display(),
            "no Downward-API file: records carry no {}",
            self.what
        );
    }
}

/// A new version of a Downward-API file cannot be used.
pub struct FileUnusable<'a> {
    pub error: &'a MetadataError,
}

impl FileUnusable<'_> {
    pub fn emit(self, stats: &MetadataStats) {
        stats.reload_errors.fetch_add(1, Relaxed);
        tracing::warn!(
            file = %self.error.path().display(),
            error = %self.error,
            "keeping the last good pod identity"
        );
    }
}

/// A Downward-API file that was there is gone.
pub struct FileVanished<'a> {
    pub path: &'a Path,
}

impl FileVanished<'_> {
    pub fn emit(self) {
        tracing::warn!(
            file = %self.path.display(),
            "Downward-API file is gone; keeping the last good pod identity"
        );
    }
}

/// A pod identity was built, at start or because labels or annotations changed.
pub struct IdentityBuilt<'a> {
    pub built: &'a Built,
    /// `false` for the one at start.
    pub changed: bool,
    /// `k8s.max_metadata_bytes`, for the message about what it cut.
    pub max_bytes: usize,
}

impl IdentityBuilt<'_> {
    pub fn emit(self, stats: &MetadataStats) {
        let b = self.built;
        let p = &b.identity;
        stats.identity_changes.fetch_add(1, Relaxed);
        stats
            .labels_cut
            .fetch_add(b.labels_cut.len() as u64, Relaxed);
        stats
            .annotations_cut
            .fetch_add(b.annotations_cut.len() as u64, Relaxed);
        let what = if self.changed {
            "pod labels or annotations changed"
        } else {
            "pod identity"
        };
        tracing::info!(
            pod = %p.pod_name,
            namespace = %p.pod_namespace,
            workload = %p.workload_name,
            kind = %p.workload_kind,
            labels_bytes = p.labels_json.len(),
            annotations_bytes = p.annotations_json.len(),
            "{what}"
        );
        if !b.labels_cut.is_empty() || !b.annotations_cut.is_empty() {
            tracing::warn!(
                max_metadata_bytes = self.max_bytes,
                labels = ?b.labels_cut,
                annotations = ?b.annotations_cut,
                "labels or annotations left out of the records: their JSON would pass k8s.max_metadata_bytes"
            );
        }
    }
}
