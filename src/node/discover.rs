//! Finding network namespaces: the bind mounts under `node.netns_dirs` and the namespaces
//! of the host's processes (`/proc/<pid>/ns/net`), deduplicated by inode. Plus an inotify
//! watch on the directories, so that a new pod is seen without waiting for the rescan.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::inotify;

/// Where the namespaces of this scan were found, by inode.
pub type Found = BTreeMap<u64, PathBuf>;

/// Identifies namespace files: every one of them lives on the kernel's nsfs, whose device
/// is that of podflow's own namespace file. A path under a netns directory that is not on
/// it is an empty file whose bind mount has not happened yet (or a stray file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nsfs {
    dev: u64,
}

impl Nsfs {
    /// Reads the nsfs device from `/proc/self/ns/net`.
    pub fn detect() -> io::Result<Nsfs> {
        Ok(Nsfs {
            dev: fs::metadata("/proc/self/ns/net")?.dev(),
        })
    }

    /// The namespace inode of `path` (symbolic links followed), when it is a namespace.
    pub fn inode(&self, path: &Path) -> Option<u64> {
        let md = fs::metadata(path).ok()?;
        (md.dev() == self.dev).then(|| md.ino())
    }
}

/// What a scan could not read, for one log line per kind of trouble.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScanTrouble {
    /// Directories that could not be listed, with the error.
    pub dirs: Vec<(PathBuf, String)>,
    /// Processes whose namespace could not be read for lack of permission.
    pub denied: usize,
}

/// Lists the namespaces of `dirs` and, when `proc_dir` is given, of its processes. A
/// namespace found in a directory keeps that path (it outlives any one process).
pub fn scan(nsfs: Nsfs, dirs: &[PathBuf], proc_dir: Option<&Path>) -> (Found, ScanTrouble) {
    let mut found = Found::new();
    let mut trouble = ScanTrouble::default();
    for dir in dirs {
        match fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if let Some(ino) = nsfs.inode(&path) {
                        found.entry(ino).or_insert(path);
                    }
                }
            }
            Err(e) => trouble.dirs.push((dir.clone(), e.to_string())),
        }
    }
    if let Some(proc_dir) = proc_dir {
        match fs::read_dir(proc_dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                        continue;
                    }
                    let path = entry.path().join("ns/net");
                    match fs::metadata(&path) {
                        Ok(md) if md.dev() == nsfs.dev => {
                            found.entry(md.ino()).or_insert(path);
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                            trouble.denied += 1
                        }
                        // The process ended while we looked: nothing to see.
                        Err(_) => {}
                    }
                }
            }
            Err(e) => trouble.dirs.push((proc_dir.to_path_buf(), e.to_string())),
        }
    }
    (found, trouble)
}

/// Opens namespace `path` and checks that it is still namespace `ino` (a process may have
/// ended and its PID been reused between the scan and now).
pub fn open(nsfs: Nsfs, path: &Path, ino: u64) -> io::Result<fs::File> {
    let file = fs::File::open(path)?;
    let md = file.metadata()?;
    if md.dev() != nsfs.dev || md.ino() != ino {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the namespace changed since it was found",
        ));
    }
    Ok(file)
}

/// An inotify watch on the netns directories: says when an entry was added or removed.
pub struct DirWatch {
    fd: OwnedFd,
    buf: Vec<MaybeUninit<u8>>,
}

impl DirWatch {
    /// Watches `dirs`; directories that cannot be watched are left to the rescan, and
    /// `None` when inotify is not available at all.
    pub fn new(dirs: &[PathBuf]) -> io::Result<DirWatch> {
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
        let flags = inotify::WatchFlags::CREATE
            | inotify::WatchFlags::DELETE
            | inotify::WatchFlags::MOVED_FROM
            | inotify::WatchFlags::MOVED_TO;
        let mut watched = 0;
        let mut last_error = None;
        for dir in dirs {
            match inotify::add_watch(&fd, dir.as_path(), flags) {
                Ok(_) => watched += 1,
                Err(e) => last_error = Some(io::Error::from(e)),
            }
        }
        match (watched, last_error) {
            (0, Some(e)) => Err(e),
            _ => Ok(DirWatch {
                fd,
                buf: vec![MaybeUninit::uninit(); 4096],
            }),
        }
    }

    /// Whether anything happened in the directories since the last call; never blocks.
    pub fn changed(&mut self) -> bool {
        let mut reader = inotify::Reader::new(&self.fd, &mut self.buf);
        let mut any = false;
        // Drains the queue: an overflow or an error ends it, and counts as a change.
        loop {
            match reader.next() {
                Ok(_) => any = true,
                Err(e) if e == rustix::io::Errno::AGAIN => return any,
                Err(_) => return true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespace_is_found_through_proc_and_stray_files_are_not() {
        let nsfs = Nsfs::detect().unwrap();
        let own = nsfs.inode(Path::new("/proc/self/ns/net")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        // A file that is not (yet) a bind-mounted namespace, and a link to a real one.
        fs::write(dir.path().join("cni-not-mounted"), "").unwrap();
        std::os::unix::fs::symlink("/proc/self/ns/net", dir.path().join("mine")).unwrap();
        let dirs = [dir.path().to_path_buf(), dir.path().join("missing")];
        let (found, trouble) = scan(nsfs, &dirs, None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[&own], dir.path().join("mine"));
        assert_eq!(trouble.dirs.len(), 1);
        assert_eq!(trouble.dirs[0].0, dir.path().join("missing"));

        let (found, _) = scan(nsfs, &[], Some(Path::new("/proc")));
        assert!(found.contains_key(&own), "{found:?}");
        // A directory entry wins over a process path for the same namespace.
        let (found, _) = scan(nsfs, &dirs[..1], Some(Path::new("/proc")));
        assert_eq!(found[&own], dir.path().join("mine"));

        let file = open(nsfs, &found[&own], own).unwrap();
        assert_eq!(file.metadata().unwrap().ino(), own);
        assert!(open(nsfs, &found[&own], own + 1).is_err());
    }

    #[test]
    fn the_watch_sees_entries_come_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = DirWatch::new(&[dir.path().to_path_buf()]).unwrap();
        assert!(!watch.changed());
        fs::write(dir.path().join("cni-1"), "").unwrap();
        assert!(watch.changed());
        assert!(!watch.changed());
        fs::remove_file(dir.path().join("cni-1")).unwrap();
        assert!(watch.changed());
        assert!(DirWatch::new(&[dir.path().join("missing")]).is_err());
    }
}
