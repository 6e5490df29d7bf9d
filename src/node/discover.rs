//! Finding network namespaces: the bind mounts under `node.netns_dirs` and the namespaces
//! of the host's processes (`/proc/<pid>/ns/net`), deduplicated by inode; the file of each
//! pod sandbox's namespace ([`resolve`]); opening one without following a link or blocking
//! on a FIFO ([`open`]). Plus an inotify watch on the directories, so that a new pod is
//! seen without waiting for the rescan.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{inotify, Mode, OFlags};

use super::runtime::Sandbox;

/// `NSFS_MAGIC` of `<linux/magic.h>`: the filesystem of namespace files.
const NSFS_MAGIC: i64 = 0x6e73_6673;

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

    /// The inode of the calling thread's network namespace (`/proc/thread-self/ns/net`, a
    /// link by nature).
    pub fn own_inode(&self) -> io::Result<u64> {
        let md = fs::metadata("/proc/thread-self/ns/net")?;
        if md.dev() != self.dev {
            return Err(io::Error::other("not on nsfs"));
        }
        Ok(md.ino())
    }

    /// The namespace inode of `path`, when it is a namespace itself (a symbolic link is
    /// not followed, and is no namespace).
    pub fn inode(&self, path: &Path) -> Option<u64> {
        let md = fs::symlink_metadata(path).ok()?;
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

/// Where each pod sandbox's namespace is, by inode: the file of the same name in one of
/// `dirs` (the runtime reports its own path, which this container may see elsewhere), the
/// runtime's path itself, or with `proc_dir` the namespace of the sandbox's process.
/// Sandboxes whose namespace is nowhere to be seen are left out.
pub fn resolve<'a>(
    nsfs: Nsfs,
    sandboxes: &'a [Sandbox],
    dirs: &[PathBuf],
    proc_dir: Option<&Path>,
) -> BTreeMap<u64, (PathBuf, &'a Sandbox)> {
    let mut out = BTreeMap::new();
    for sandbox in sandboxes {
        let named = sandbox
            .netns
            .file_name()
            .into_iter()
            .flat_map(|name| dirs.iter().map(move |d| d.join(name)));
        let by_pid = proc_dir
            .zip(sandbox.pid)
            .map(|(proc, pid)| proc.join(pid.to_string()).join("ns/net"));
        let found = named
            .chain([sandbox.netns.clone()])
            .find_map(|p| Some((nsfs.inode(&p)?, p)))
            .or_else(|| {
                // A process's ns/net is a link by nature: read what it points at.
                let p = by_pid?;
                let md = fs::metadata(&p).ok()?;
                (md.dev() == nsfs.dev).then(|| (md.ino(), p))
            });
        if let Some((ino, path)) = found {
            out.entry(ino).or_insert((path, sandbox));
        }
    }
    out
}

/// Opens namespace `path` and checks that it is still namespace `ino` (a process may have
/// ended and its PID been reused between the scan and now). A symbolic link in a netns
/// directory, a FIFO or anything not on nsfs is refused without blocking; the process
/// files `/proc/<pid>/ns/net` (links by nature) are opened through their link when
/// `proc_link`.
pub fn open(nsfs: Nsfs, path: &Path, ino: u64, proc_link: bool) -> io::Result<fs::File> {
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    if !proc_link {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
    #[allow(clippy::unnecessary_cast)] // its type differs between architectures
    let fs_type = rustix::fs::fstatfs(&fd)?.f_type as i64;
    if fs_type != NSFS_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a namespace file (not on nsfs)",
        ));
    }
    let file = fs::File::from(fd);
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
    fn own_namespace_is_found_through_proc_and_links_and_stray_files_are_not() {
        let nsfs = Nsfs::detect().unwrap();
        let own = fs::metadata("/proc/self/ns/net").unwrap().ino();
        let dir = tempfile::tempdir().unwrap();
        // A file that is not (yet) a bind-mounted namespace, and a link to a real one:
        // neither is a namespace of the directory.
        fs::write(dir.path().join("cni-not-mounted"), "").unwrap();
        std::os::unix::fs::symlink("/proc/self/ns/net", dir.path().join("mine")).unwrap();
        let dirs = [dir.path().to_path_buf(), dir.path().join("missing")];
        let (found, trouble) = scan(nsfs, &dirs, None);
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(trouble.dirs.len(), 1);
        assert_eq!(trouble.dirs[0].0, dir.path().join("missing"));

        let (found, _) = scan(nsfs, &[], Some(Path::new("/proc")));
        assert!(found.contains_key(&own), "{found:?}");
        let file = open(nsfs, &found[&own], own, true).unwrap();
        assert_eq!(file.metadata().unwrap().ino(), own);
        assert!(open(nsfs, &found[&own], own + 1, true).is_err());
        // Through a link of a netns directory: refused, the link is not followed.
        let e = open(nsfs, &dir.path().join("mine"), own, false).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
    }

    #[test]
    fn a_fifo_or_a_regular_file_is_refused_without_blocking() {
        let nsfs = Nsfs::detect().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("cni-fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let ino = fs::symlink_metadata(&fifo).unwrap().ino();
        let start = std::time::Instant::now();
        // Opening a FIFO for reading blocks until a writer comes, unless O_NONBLOCK.
        let e = open(nsfs, &fifo, ino, false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        let plain = dir.path().join("plain");
        fs::write(&plain, "").unwrap();
        let ino = fs::metadata(&plain).unwrap().ino();
        assert!(open(nsfs, &plain, ino, false).is_err());
        assert_eq!(nsfs.inode(&fifo), None);
    }

    #[test]
    fn sandboxes_are_found_by_name_in_the_dirs_then_by_path_then_by_process() {
        let nsfs = Nsfs::detect().unwrap();
        let own = fs::metadata("/proc/self/ns/net").unwrap().ino();
        let sandbox = |netns: &str, pid: Option<u32>| Sandbox {
            id: "sb".into(),
            uid: "u".into(),
            name: "p".into(),
            namespace: "n".into(),
            netns: netns.into(),
            pid,
        };
        let me = std::process::id();
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().to_path_buf()];
        // Nowhere to be seen: no directory holds it, the path is not a namespace, no pid.
        let all = [sandbox("/var/run/netns/cni-gone", None)];
        assert!(resolve(nsfs, &all, &dirs, Some(Path::new("/proc"))).is_empty());
        // Through the sandbox's process, only where processes may be read.
        let all = [sandbox("/var/run/netns/cni-gone", Some(me))];
        assert!(resolve(nsfs, &all, &dirs, None).is_empty());
        let got = resolve(nsfs, &all, &dirs, Some(Path::new("/proc")));
        assert_eq!(
            got[&own].0,
            Path::new("/proc").join(me.to_string()).join("ns/net")
        );
        // A link of that name in a directory is not the namespace.
        std::os::unix::fs::symlink("/proc/self/ns/net", dir.path().join("cni-gone")).unwrap();
        assert!(resolve(nsfs, &all, &dirs, None).is_empty());
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
