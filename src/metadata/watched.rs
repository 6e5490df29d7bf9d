//! One Downward-API file watched for new content.
//!
//! The kubelet never rewrites a Downward-API file in place: it writes a new timestamped
//! directory (`..2024_01_01_00_00_00.123456789/`), points a `..data_tmp` symlink at it,
//! renames that over `..data` and removes the old directory. The path the pod sees,
//! `labels -> ..data/labels`, keeps its own inode throughout. So the version of a file is
//! taken from its fully resolved target (which names the timestamped directory) plus the
//! target's device, inode, length and modification time: a swap changes the target, an
//! in-place write (tests, bare metal) changes the rest. Only a new version is read, and a
//! new version whose entries equal the last good ones is no change.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::identity::{parse_file, MetadataError};

/// What a file looked like when last examined.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Version {
    Missing,
    Present {
        target: PathBuf,
        dev: u64,
        ino: u64,
        len: u64,
        modified: Option<SystemTime>,
    },
    /// The path could not even be resolved (permissions, a symlink loop): the error kind
    /// stands for the version, so the same failure is reported once.
    Unresolvable(io::ErrorKind),
}

/// What a poll found.
#[derive(Debug)]
pub enum Change {
    /// Nothing new: same version, or a new version with the same entries.
    Unchanged,
    /// New entries, now in `entries()`.
    Entries,
    /// The new version cannot be read or parsed; the last good entries stay.
    Failed(MetadataError),
    /// The file is gone after having been there; the last good entries stay.
    Vanished,
}

/// A Downward-API file, its last good entries and the version they came from.
#[derive(Debug)]
pub struct WatchedFile {
    path: PathBuf,
    seen: Option<Version>,
    /// `None` while there has never been a file.
    entries: Option<BTreeMap<String, String>>,
}

impl WatchedFile {
    /// Reads the file for the first time. A missing file is no error: no entries. A file
    /// that cannot be used is watched all the same (no entries until a good version comes),
    /// and the error is handed back for the caller to report.
    pub fn open(path: &Path) -> (WatchedFile, Option<MetadataError>) {
        let mut file = WatchedFile {
            path: path.to_path_buf(),
            seen: None,
            entries: None,
        };
        match file.poll() {
            Change::Failed(e) => (file, Some(e)),
            Change::Unchanged | Change::Entries | Change::Vanished => (file, None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// False while the file has never been found.
    pub fn exists(&self) -> bool {
        self.entries.is_some()
    }

    /// The last good entries (none when there has never been a file).
    pub fn entries(&self) -> BTreeMap<String, String> {
        self.entries.clone().unwrap_or_default()
    }

    /// Looks at the file; reads it only when its version changed.
    pub fn poll(&mut self) -> Change {
        let version = version(&self.path);
        if self.seen.as_ref() == Some(&version) {
            return Change::Unchanged;
        }
        self.seen = Some(version.clone());
        let target = match version {
            Version::Present { target, .. } => target,
            Version::Missing if self.entries.is_some() => return Change::Vanished,
            Version::Missing => return Change::Unchanged,
            Version::Unresolvable(kind) => return self.failed(io::Error::from(kind)),
        };
        let text = match fs::read_to_string(&target) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Swapped again between the look and the read: look again next time.
                self.seen = None;
                return Change::Unchanged;
            }
            Err(e) => return self.failed(e),
        };
        match parse_file(&self.path, &text) {
            Ok(entries) if self.entries.as_ref() == Some(&entries) => Change::Unchanged,
            Ok(entries) => {
                self.entries = Some(entries);
                Change::Entries
            }
            Err(e) => Change::Failed(e),
        }
    }

    fn failed(&self, error: io::Error) -> Change {
        Change::Failed(MetadataError::Read {
            path: self.path.clone(),
            error,
        })
    }
}

fn version(path: &Path) -> Version {
    let stat = fs::canonicalize(path).and_then(|target| {
        let m = fs::metadata(&target)?;
        Ok(Version::Present {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            modified: m.modified().ok(),
            target,
        })
    });
    match stat {
        Ok(v) => v,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Version::Missing,
        Err(e) => Version::Unresolvable(e.kind()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_new_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels");
        let (mut f, error) = WatchedFile::open(&path);
        assert!(error.is_none());
        assert!(!f.exists());
        assert!(matches!(f.poll(), Change::Unchanged));

        fs::write(&path, "app=\"a\"").unwrap();
        assert!(matches!(f.poll(), Change::Entries));
        assert_eq!(f.entries()["app"], "a");
        assert!(matches!(f.poll(), Change::Unchanged));

        // A new version with the same entries is no change.
        let same = dir.path().join("same");
        fs::write(&same, "app=\"a\"\n").unwrap();
        fs::rename(&same, &path).unwrap();
        assert!(matches!(f.poll(), Change::Unchanged));

        // A bad version is reported once; the last good entries stay.
        fs::write(&path, "app=a").unwrap();
        match f.poll() {
            Change::Failed(MetadataError::Parse { path: p, error }) => {
                assert_eq!((p, error.line), (path.clone(), 1));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(f.poll(), Change::Unchanged));
        assert_eq!(f.entries()["app"], "a");

        fs::write(&path, "app=\"b\"").unwrap();
        assert!(matches!(f.poll(), Change::Entries));
        assert_eq!(f.entries()["app"], "b");

        fs::remove_file(&path).unwrap();
        assert!(matches!(f.poll(), Change::Vanished));
        assert!(matches!(f.poll(), Change::Unchanged));
        assert_eq!(f.entries()["app"], "b");
    }

    #[test]
    fn a_bad_file_at_start_is_reported_and_still_watched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("annotations");
        fs::write(&path, "x").unwrap();
        let (mut f, error) = WatchedFile::open(&path);
        assert_eq!(error.expect("an error").path(), path);
        assert!(!f.exists());
        // The same bad version is not reported again; a good one is taken.
        assert!(matches!(f.poll(), Change::Unchanged));
        fs::write(&path, "k=\"v\"").unwrap();
        assert!(matches!(f.poll(), Change::Entries));
        assert_eq!(f.entries()["k"], "v");
    }
}
