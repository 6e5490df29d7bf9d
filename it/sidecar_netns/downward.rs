//! Labels and annotations files laid out as the kubelet lays out a Downward-API volume.

use std::path::{Path, PathBuf};

/// A Downward-API volume as the kubelet writes it: files are links through `..data`, a link
/// to a timestamped directory that is replaced atomically on every update.
pub struct DownwardVolume {
    dir: PathBuf,
    generation: u32,
}

impl DownwardVolume {
    pub fn new(dir: &Path, labels: &str, annotations: &str) -> DownwardVolume {
        let mut v = DownwardVolume {
            dir: dir.to_path_buf(),
            generation: 0,
        };
        v.update(labels, annotations);
        std::os::unix::fs::symlink("..data/labels", dir.join("labels")).unwrap();
        std::os::unix::fs::symlink("..data/annotations", dir.join("annotations")).unwrap();
        v
    }

    pub fn update(&mut self, labels: &str, annotations: &str) {
        self.generation += 1;
        let ts = format!("..2026_11_26_07_00_00.{}", self.generation);
        let data = self.dir.join(&ts);
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("labels"), labels).unwrap();
        std::fs::write(data.join("annotations"), annotations).unwrap();
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&ts, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }
}
