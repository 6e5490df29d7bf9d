//! IPFIX messages written as they come: datagrams on a connected UDP socket, or records of
//! an IPFIX file (RFC 5655: messages one after the other).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::time::Duration;

use super::Transport;
use crate::export::encoding::Encoding;
use crate::export::events::ExportError;
use crate::flow::FlowRecord;

/// Anything an IPFIX message can be written to.
pub trait MessageSink {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()>;
    fn flush_messages(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A transport that writes each message once: templates and an options record at start
/// (and, over UDP, every `template_refresh_secs`), data messages as flows end, the final
/// options record and a flush at shutdown.
pub struct Messages<S> {
    sink: S,
    name: &'static str,
    refresh: Option<Duration>,
}

impl Messages<UdpSocket> {
    /// A UDP collector, its name resolved now; templates resent every `refresh_secs`.
    pub fn udp(addr: &str, refresh_secs: u64) -> io::Result<Self> {
        let target = resolve(addr)?;
        let local: SocketAddr = if target.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let sock = UdpSocket::bind(local)?;
        sock.connect(target)?;
        Ok(Messages {
            sink: sock,
            name: "udp",
            refresh: Some(Duration::from_secs(refresh_secs.max(1))),
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
        })
    }
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

    /// Templates and the options record.
    fn control(&mut self, enc: &mut Encoding) {
        for msg in enc.control() {
            if self.write(&msg, enc).is_ok() {
                enc.stats().sent(msg.len(), 0);
            }
        }
    }
}

impl<S: MessageSink + Send> Transport for Messages<S> {
    fn interval(&self) -> Option<Duration> {
        self.refresh
    }

    fn open(&mut self, enc: &mut Encoding) {
        self.control(enc);
    }

    fn tick(&mut self, enc: &mut Encoding) {
        self.control(enc);
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

    fn drain(&mut self, enc: &mut Encoding) {
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

impl MessageSink for UdpSocket {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        let n = self.send(msg)?;
        if n != msg.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "datagram cut short",
            ));
        }
        Ok(())
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
