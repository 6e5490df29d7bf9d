//! IPFIX messages written as they come: datagrams on a connected UDP socket, or records of
//! an IPFIX file (RFC 5655: messages one after the other).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use super::Transport;
use crate::export::encoding::Encoding;
use crate::export::events::{CollectorMoved, ExportError, ResolveFailed};
use crate::flow::FlowRecord;

/// Anything an IPFIX message can be written to.
pub trait MessageSink {
    /// Writes one whole message, or fails.
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()>;

    /// Writes out what is buffered.
    fn flush_messages(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Closes a connection (after a withdrawal, or because it is of no use).
    fn close(&mut self) {}

    /// Looks again where messages go (a UDP collector's name); true when that moved and
    /// the collector there needs the templates now.
    fn follow(&mut self) -> bool {
        false
    }
}

/// A transport that writes each message once: templates, type records and an options
/// record at start (and, over UDP, every `template_refresh_secs` and whenever the
/// collector's name resolves elsewhere), data messages as flows end, the final options
/// record and a flush at shutdown.
pub struct Messages<S> {
    sink: S,
    name: &'static str,
    refresh: Option<Duration>,
    last_control: Instant,
}

/// How often a UDP transport looks whether templates or a new resolution are due.
const UDP_TICK: Duration = Duration::from_secs(1);

impl Messages<Udp> {
    /// A UDP collector, its name resolved now and every `resolve_every`; templates resent
    /// every `refresh_secs`.
    pub fn udp(addr: &str, refresh_secs: u64, resolve_every: Duration) -> io::Result<Self> {
        Ok(Messages {
            sink: Udp::new(addr, resolve_every)?,
            name: "udp",
            refresh: Some(Duration::from_secs(refresh_secs.max(1))),
            last_control: Instant::now(),
        })
    }
}

impl Messages<BufWriter<File>> {
    /// An IPFIX file, created or truncated.
    pub fn file(path: &Path) -> io::Result<Self> {
        Ok(Messages {
            sink: BufWriter::with_capacity(1 << 16, File::create(path)?),
            name: "file",
            refresh: None,
            last_control: Instant::now(),
        })
    }
}

/// A UDP collector by name: a socket connected to the address the name resolves to,
/// resolved again every `resolve_every`. An address that is still among the name's keeps
/// being used (a round-robin answer does not move it).
pub struct Udp {
    name: String,
    sock: UdpSocket,
    target: SocketAddr,
    resolve_every: Duration,
    resolved_at: Instant,
}

impl Udp {
    pub(super) fn new(name: &str, resolve_every: Duration) -> io::Result<Udp> {
        let target = resolve(name)?;
        Ok(Udp {
            name: name.to_owned(),
            sock: udp_socket(target)?,
            target,
            resolve_every,
            resolved_at: Instant::now(),
        })
    }
}

/// A UDP socket connected to `target`.
fn udp_socket(target: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(local)?;
    sock.connect(target)?;
    Ok(sock)
}

impl<S: MessageSink> Messages<S> {
    /// Writes one message; a failure is logged and counted.
    fn write(&mut self, msg: &[u8], enc: &Encoding) -> io::Result<()> {
        let result = self.sink.send_message(msg);
        if let Err(error) = &result {
            ExportError {
                collector: self.name,
                error,
            }
            .emit(enc.stats());
        }
        result
    }

    /// Templates, type records and the options record.
    fn control(&mut self, enc: &mut Encoding) {
        self.last_control = Instant::now();
        for msg in enc.control() {
            if self.write(&msg, enc).is_ok() {
                enc.stats().sent(msg.len(), 0);
            }
        }
    }
}

impl<S: MessageSink + Send> Transport for Messages<S> {
    fn interval(&self) -> Option<Duration> {
        self.refresh.map(|r| r.min(UDP_TICK))
    }

    fn open(&mut self, enc: &mut Encoding) {
        self.control(enc);
    }

    fn tick(&mut self, enc: &mut Encoding) {
        let moved = self.sink.follow();
        if moved
            || self
                .refresh
                .is_some_and(|r| self.last_control.elapsed() >= r)
        {
            self.control(enc);
        }
    }

    fn send(&mut self, flows: Vec<FlowRecord>, enc: &mut Encoding) {
        for msg in enc.data(&flows) {
            let n = u64::from(msg.records);
            match self.write(&msg.bytes, enc) {
                Ok(()) => enc.stats().sent_data(&msg),
                Err(_) => enc.stats().lost(n),
            }
        }
    }

    fn drain(&mut self, enc: &mut Encoding, _until: Option<Instant>) {
        let msg = enc.options();
        if self.write(&msg, enc).is_ok() {
            enc.stats().sent(msg.len(), 0);
        }
        if let Err(error) = self.sink.flush_messages() {
            ExportError {
                collector: self.name,
                error: &error,
            }
            .emit(enc.stats());
        }
    }
}

/// Resolves `HOST:PORT` to its first address.
pub fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{addr} has no address")))
}

impl MessageSink for Udp {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        let n = self.sock.send(msg)?;
        if n != msg.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "datagram cut short",
            ));
        }
        Ok(())
    }

    fn follow(&mut self) -> bool {
        if self.resolved_at.elapsed() < self.resolve_every {
            return false;
        }
        self.resolved_at = Instant::now();
        let addrs: Vec<SocketAddr> = match self.name.to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(error) => {
                ResolveFailed {
                    name: &self.name,
                    error: &error,
                }
                .emit();
                return false;
            }
        };
        let Some(&to) = addrs.first().filter(|_| !addrs.contains(&self.target)) else {
            return false;
        };
        match udp_socket(to) {
            Ok(sock) => {
                CollectorMoved {
                    name: &self.name,
                    from: self.target,
                    to,
                }
                .emit();
                self.sock = sock;
                self.target = to;
                true
            }
            Err(error) => {
                ResolveFailed {
                    name: &self.name,
                    error: &error,
                }
                .emit();
                false
            }
        }
    }
}

impl MessageSink for BufWriter<File> {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        self.write_all(msg)
    }
    fn flush_messages(&mut self) -> io::Result<()> {
        self.flush()?;
        // Only a regular file can be synced (`file:/dev/null` is a fine way to discard).
        if self.get_ref().metadata()?.is_file() {
            self.get_ref().sync_data()?;
        }
        Ok(())
    }
}
