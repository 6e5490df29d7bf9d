//! How records reach a collector: one [`Transport`] per kind of collector, all driven the
//! same way by the exporter actor.
//!
//! - [`Messages`]: IPFIX messages written one after the other on something that takes them
//!   as they come: a UDP socket (templates resent on an interval) or an IPFIX file
//!   (RFC 5655).
//! - [`Stream`]: IPFIX over a connection that comes back after failures, records waiting in
//!   a bounded buffer meanwhile; what connects (and backs off) is a [`Connect`] apart from
//!   the sending, so TCP ([`Tcp`]) and TLS over TCP ([`Tls`]) share the sending.
//!
//! Every write ends by a deadline (`export.write_timeout_secs`), so the exporter never
//! hangs on a collector; only a capture file's stdout or IPFIX file is written without one.
//! - [`JsonLines`]: one JSON object per record on stdout, for people.

mod deadline;
mod dial;
mod json;
mod link;
mod messages;
mod stream;
mod tcp;
mod tls;

use std::io;
use std::time::{Duration, Instant};

use super::encoding::Encoding;
use super::Collector;
use crate::certs::CertFiles;
use crate::flow::FlowRecord;
pub use dial::{Connect, Dialer, Peer};
pub use json::JsonLines;
pub use link::{link, Link};
pub use messages::{MessageSink, Messages};
pub use stream::Stream;
pub use tcp::Tcp;
pub use tls::{Tls, TlsFiles};

/// One kind of collector. The exporter actor calls every method from its own thread.
pub trait Transport: Send {
    /// False when records cannot be handed over before a connection is made.
    fn ready_when_open(&self) -> bool {
        true
    }

    /// How often [`Transport::tick`] runs, if at all.
    fn interval(&self) -> Option<Duration> {
        None
    }

    /// When the exporter starts: the first templates, a first connection.
    fn open(&mut self, enc: &mut Encoding);

    /// Periodic work: templates sent again, a reconnection and the backlog.
    fn tick(&mut self, _enc: &mut Encoding) {}

    /// A batch of finished flows.
    fn send(&mut self, flows: Vec<FlowRecord>, enc: &mut Encoding);

    /// At shutdown: one last try for what waits (until `until`, when there is one), the
    /// final options record, a flush. Records left then are counted as not sent.
    fn drain(&mut self, enc: &mut Encoding, until: Option<Instant>);
}

/// The transport of `collector`. `batch`: a capture file is read, so writes to stdout
/// wait as long as it takes. A UDP collector name that does not resolve, or a file that
/// cannot be created, is an error here, before anything runs.
pub fn open(
    collector: &Collector,
    cfg: &super::Config,
    batch: bool,
) -> io::Result<Box<dyn Transport>> {
    let write_timeout = Duration::from_secs(cfg.write_timeout_secs.max(1));
    let backoff = Duration::from_secs(cfg.reconnect_max_backoff_secs.max(1));
    Ok(match collector {
        Collector::Stdout => Box::new(JsonLines::new((!batch).then_some(write_timeout))),
        Collector::Udp(addr) => Box::new(Messages::udp(
            addr,
            cfg.template_refresh_secs,
            Duration::from_secs(cfg.resolve_interval_secs.max(1)),
        )?),
        Collector::File(path) => Box::new(Messages::file(path)?),
        Collector::Tcp(addr) => Box::new(Stream::new(
            Dialer::new(Tcp::new(addr, write_timeout), backoff),
            cfg.buffer_records,
        )),
        Collector::Tls(addr) => Box::new(Stream::new(
            Dialer::new(Tls::new(addr, tls_files(cfg), write_timeout)?, backoff),
            cfg.buffer_records,
        )),
    })
}

/// The PEM files of a TLS collector as `export.tls_*` name them.
fn tls_files(cfg: &super::Config) -> TlsFiles {
    TlsFiles {
        ca: cfg.tls_ca.clone().unwrap_or_default(),
        client: cfg
            .tls_cert
            .clone()
            .zip(cfg.tls_key.clone())
            .map(|(cert, key)| CertFiles {
                cert,
                key,
                keys: ("export.tls_cert", "export.tls_key"),
            }),
    }
}

#[cfg(test)]
mod tests;
