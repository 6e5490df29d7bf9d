//! Labels and annotations files laid out as the kubelet lays out a Downward-API volume.

use std::path::Path;

use crate::common::AtomicVolume;

/// A Downward-API volume of `labels` and `annotations`, as the kubelet writes it.
pub struct DownwardVolume(AtomicVolume);

impl DownwardVolume {
    pub fn new(dir: &Path, labels: &str, annotations: &str) -> DownwardVolume {
        DownwardVolume(AtomicVolume::new(
            dir,
            &[("labels", labels), ("annotations", annotations)],
        ))
    }

    pub fn update(&mut self, labels: &str, annotations: &str) {
        self.0
            .update(&[("labels", labels), ("annotations", annotations)]);
    }
}
