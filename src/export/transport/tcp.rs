//! TCP collectors: connections with a bounded connect, and messages written within
//! `export.write_timeout_secs` each.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::deadline::Deadlined;
use super::messages::resolve;
use super::{Connect, MessageSink, Peer};

/// How long a TCP connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a new connection is watched for a greeting before anything is written: a
/// server that speaks first (SSH, SMTP, ...) is no IPFIX collector, and nothing must be
/// written to it.
const GREETING_WAIT: Duration = Duration::from_millis(100);

/// Connects to a TCP collector at `HOST:PORT` (resolved at each connect).
pub struct Tcp {
    addr: String,
    write_timeout: Duration,
}

impl Tcp {
    pub fn new(addr: &str, write_timeout: Duration) -> Tcp {
        Tcp {
            addr: addr.to_owned(),
            write_timeout,
        }
    }
}

/// A connected TCP collector.
pub struct TcpSink {
    stream: TcpStream,
    write_timeout: Duration,
}

/// Connects to `addr` within [`CONNECT_TIMEOUT`], without Nagle's delay.
pub fn connect(addr: &str) -> io::Result<TcpStream> {
    let target = resolve(addr)?;
    let stream = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl Connect for Tcp {
    type Stream = TcpSink;

    fn addr(&self) -> &str {
        &self.addr
    }

    fn connect(&mut self) -> io::Result<TcpSink> {
        let stream = connect(&self.addr)?;
        stream.set_read_timeout(Some(GREETING_WAIT))?;
        let mut greeting = [0u8; 64];
        match stream.peek(&mut greeting) {
            Ok(0) => return Err(io::ErrorKind::ConnectionAborted.into()),
            Ok(n) => {
                let text = String::from_utf8_lossy(&greeting[..n]);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the collector sent data first ({}): IPFIX collectors never do, so this is not one (wrong port?)",
                        crate::quote::quote(&text)
                    ),
                ));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        Ok(TcpSink {
            stream,
            write_timeout: self.write_timeout,
        })
    }

    fn peer(stream: &mut TcpSink) -> Peer {
        peer_state(&mut stream.stream, |s, buf| s.read(buf))
    }
}

impl MessageSink for TcpSink {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        Deadlined {
            stream: &mut self.stream,
            deadline: Instant::now() + self.write_timeout,
        }
        .write_all(msg)
    }

    fn close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// What the collector did on its end, read without blocking: IPFIX collectors never
/// send, so end-of-file means the connection is gone, and bytes mean whatever listens
/// there is no IPFIX collector. `read` reads what the collector sent (through TLS, for a
/// TLS collector).
pub fn peer_state(
    stream: &mut TcpStream,
    read: impl FnOnce(&mut TcpStream, &mut [u8]) -> io::Result<usize>,
) -> Peer {
    if stream.set_nonblocking(true).is_err() {
        return Peer::Closed;
    }
    let mut buf = [0u8; 64];
    let state = match read(stream, &mut buf) {
        Ok(0) => Peer::Closed,
        Ok(n) => Peer::Spoke(buf[..n].to_vec()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Peer::Open,
        Err(_) => Peer::Closed,
    };
    if stream.set_nonblocking(false).is_err() {
        return Peer::Closed;
    }
    state
}
