//! Writes with an overall deadline. A socket timeout bounds one system call, not a
//! message: a collector that reads a few bytes a second would keep `write_all` going for
//! ever. [`Deadlined`] sets the socket's timeout to what is left before each call, and
//! [`write_fd_by`] waits for a descriptor (stdout) with `poll` before each write.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::Instant;

/// The error of a deadline that passed.
pub fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} did not finish within export.write_timeout_secs"),
    )
}

/// A TCP stream whose reads and writes all end by `deadline`.
pub struct Deadlined<'a> {
    pub stream: &'a mut TcpStream,
    pub deadline: Instant,
}

impl Deadlined<'_> {
    /// Runs one call with the socket timeout set to what is left, again when it was
    /// interrupted or woke without progress, until the deadline.
    fn call<T>(
        &mut self,
        set: fn(&TcpStream, Option<std::time::Duration>) -> io::Result<()>,
        mut op: impl FnMut(&mut TcpStream) -> io::Result<T>,
    ) -> io::Result<T> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out("a write to the collector"));
            }
            set(self.stream, Some(left))?;
            match op(self.stream) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                other => return other,
            }
        }
    }
}

impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.call(TcpStream::set_write_timeout, |s| s.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.call(TcpStream::set_read_timeout, |s| s.read(buf))
    }
}

/// Most bytes written at once after `poll` says the descriptor is writable: a pipe that
/// polls writable has room for one page, so a write this size never blocks.
const POLLED_CHUNK: usize = 4096;

/// Writes `buf` to `fd` (stdout), by `deadline` when there is one, else blocking until
/// done. Returns how many bytes went out, and the error that stopped it.
pub fn write_fd_by(
    fd: impl AsFd,
    buf: &[u8],
    deadline: Option<Instant>,
) -> (usize, io::Result<()>) {
    let fd = fd.as_fd();
    let mut done = 0;
    while done < buf.len() {
        let chunk = match deadline {
            None => &buf[done..],
            Some(deadline) => {
                match wait_writable(fd, deadline) {
                    Ok(true) => {}
                    Ok(false) => return (done, Err(timed_out("a write to stdout"))),
                    Err(e) => return (done, Err(e)),
                }
                &buf[done..(done + POLLED_CHUNK).min(buf.len())]
            }
        };
        match rustix::io::write(fd, chunk) {
            Ok(0) => return (done, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
            Err(e) => return (done, Err(e.into())),
        }
    }
    (done, Ok(()))
}

/// Waits until `fd` is writable or `deadline` passes (false).
fn wait_writable(fd: std::os::fd::BorrowedFd<'_>, deadline: Instant) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let timeout = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => {}
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn a_reader_that_never_reads_ends_a_write_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        let started = Instant::now();
        let mut w = Deadlined {
            stream: &mut stream,
            deadline: started + Duration::from_millis(300),
        };
        // Far more than the socket buffers hold.
        let e = w.write_all(&vec![0u8; 64 << 20]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }

    #[test]
    fn a_full_pipe_ends_a_write_at_the_deadline_and_says_how_far_it_got() {
        let (read, write) = rustix::pipe::pipe().unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(200);
        let (done, result) = write_fd_by(&write, &vec![7u8; 1 << 20], Some(deadline));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!((4096..1 << 20).contains(&done), "{done}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // What was written is all there, and a reader lets the rest through.
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            std::fs::File::from(read).read_to_end(&mut all).unwrap();
            all.len()
        });
        let (rest, result) = write_fd_by(&write, &vec![7u8; (1 << 20) - done], None);
        result.unwrap();
        drop(write);
        assert_eq!(done + rest, 1 << 20);
        assert_eq!(reader.join().unwrap(), 1 << 20);
    }
}
