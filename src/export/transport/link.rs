//! Whole IPFIX messages to a collector, for an exporter that makes its messages itself
//! (the mediator): the same sockets, files, dialling, TLS and backoff as the flow
//! exporter's transports, without their flow records. The link says when a new
//! transport session starts (a connection, a UDP collector that moved, a template refresh
//! due), so that the templates go first.

use std::fs::File;
use std::io::{self, BufWriter};
use std::time::{Duration, Instant};

use super::dial::{Connect, Dialer};
use super::messages::{MessageSink, Udp};
use super::tcp::Tcp;
use super::tls::Tls;
use crate::export::events::ExportError;
use crate::export::stats::ExportStats;
use crate::export::{Collector, Config};

/// Where whole messages go.
pub trait Link: Send {
    /// `udp`, `tcp`, `tls` or `file`, for logs.
    fn name(&self) -> &'static str;
    /// Whether a message can go now: a stream collector is dialled when a try is due.
    fn ready(&mut self, stats: &ExportStats) -> bool;
    /// True once at the start of each transport session, and over UDP whenever the
    /// templates are due again: the caller sends its templates first (and, for a stream,
    /// starts its sequence numbers again).
    fn fresh(&mut self) -> bool;
    /// Sends one message; a failure is logged and counted here, the records it held by
    /// the caller.
    fn send(&mut self, msg: &[u8], stats: &ExportStats) -> io::Result<()>;
    /// Writes out what is buffered (a file).
    fn flush(&mut self, stats: &ExportStats);
    /// Ends the session (after the caller's withdrawal).
    fn close(&mut self);
}

/// The link to `collector`; None for `stdout`, which takes JSON lines, not messages.
pub fn link(collector: &Collector, cfg: &Config) -> io::Result<Option<Box<dyn Link>>> {
    let write_timeout = Duration::from_secs(cfg.write_timeout_secs.max(1));
    let backoff = Duration::from_secs(cfg.reconnect_max_backoff_secs.max(1));
    Ok(Some(match collector {
        Collector::Stdout => return Ok(None),
        Collector::Udp(addr) => Box::new(Datagrams {
            udp: Udp::new(addr, Duration::from_secs(cfg.resolve_interval_secs.max(1)))?,
            refresh: Duration::from_secs(cfg.template_refresh_secs.max(1)),
            last: None,
        }),
        Collector::File(path) => Box::new(FileLink {
            file: BufWriter::with_capacity(1 << 16, File::create(path)?),
            fresh: true,
        }),
        Collector::Tcp(addr) => Box::new(Connected {
            dialer: Dialer::new(Tcp::new(addr, write_timeout), backoff),
            stream: None,
            fresh: false,
            name: "tcp",
        }),
        Collector::Tls(addr) => Box::new(Connected {
            dialer: Dialer::new(
                Tls::new(addr, super::tls_files(cfg), write_timeout)?,
                backoff,
            ),
            stream: None,
            fresh: false,
            name: "tls",
        }),
    }))
}

/// A sink's failure, logged once as the flow exporter logs it and counted.
fn failed<T>(result: io::Result<T>, collector: &'static str, stats: &ExportStats) -> io::Result<T> {
    if let Err(error) = &result {
        ExportError { collector, error }.emit(stats);
    }
    result
}

struct Datagrams {
    udp: Udp,
    refresh: Duration,
    last: Option<Instant>,
}

impl Link for Datagrams {
    fn name(&self) -> &'static str {
        "udp"
    }

    fn ready(&mut self, _: &ExportStats) -> bool {
        true
    }

    fn fresh(&mut self) -> bool {
        let moved = self.udp.follow();
        let due = self.last.is_none_or(|t| t.elapsed() >= self.refresh);
        if moved || due {
            self.last = Some(Instant::now());
        }
        moved || due
    }

    fn send(&mut self, msg: &[u8], stats: &ExportStats) -> io::Result<()> {
        failed(self.udp.send_message(msg), "udp", stats)
    }

    fn flush(&mut self, _: &ExportStats) {}

    fn close(&mut self) {}
}

struct FileLink {
    file: BufWriter<File>,
    fresh: bool,
}

impl Link for FileLink {
    fn name(&self) -> &'static str {
        "file"
    }

    fn ready(&mut self, _: &ExportStats) -> bool {
        true
    }

    fn fresh(&mut self) -> bool {
        std::mem::take(&mut self.fresh)
    }

    fn send(&mut self, msg: &[u8], stats: &ExportStats) -> io::Result<()> {
        failed(self.file.send_message(msg), "file", stats)
    }

    fn flush(&mut self, stats: &ExportStats) {
        let _ = failed(self.file.flush_messages(), "file", stats);
    }

    fn close(&mut self) {}
}

struct Connected<C: Connect> {
    dialer: Dialer<C>,
    stream: Option<C::Stream>,
    fresh: bool,
    name: &'static str,
}

impl<C: Connect> Link for Connected<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn ready(&mut self, stats: &ExportStats) -> bool {
        if self.stream.is_some() && self.dialer.renewed(stats) {
            self.close();
        }
        if self.stream.is_none() {
            self.stream = self.dialer.dial(stats);
            self.fresh = self.stream.is_some();
        }
        stats
            .ready
            .store(self.stream.is_some(), std::sync::atomic::Ordering::Relaxed);
        self.stream.is_some()
    }

    fn fresh(&mut self) -> bool {
        std::mem::take(&mut self.fresh)
    }

    fn send(&mut self, msg: &[u8], stats: &ExportStats) -> io::Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let result = failed(stream.send_message(msg), self.name, stats);
        if result.is_err() {
            self.close();
            self.dialer.broke();
        }
        result
    }

    fn flush(&mut self, _: &ExportStats) {}

    fn close(&mut self) {
        if let Some(mut s) = self.stream.take() {
            s.close();
        }
    }
}
