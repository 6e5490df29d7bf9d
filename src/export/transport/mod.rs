//! How records reach a collector: one [`Transport`] per kind of collector, all driven the
//! same way by the exporter actor.
//!
//! - [`Messages`]: IPFIX messages written one after the other on something that takes them
//!   as they come: a UDP socket (templates resent on an interval) or an IPFIX file
//!   (RFC 5655).
//! - [`Stream`]: IPFIX over a connection that comes back after failures, records waiting in
//!   a bounded buffer meanwhile; what connects (and backs off) is a [`Connect`] apart from
//!   the sending, so TCP and, later, TLS over TCP share the sending.
//! - [`JsonLines`]: one JSON object per record on stdout, for people.

mod dial;
mod json;
mod messages;
mod stream;
mod tcp;

use std::io::{self, BufWriter};
use std::time::Duration;

use super::encoding::Encoding;
use super::Collector;
use crate::flow::FlowRecord;
pub use dial::{Connect, Dialer};
pub use json::JsonLines;
pub use messages::{MessageSink, Messages};
pub use stream::Stream;
pub use tcp::Tcp;

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

    /// At shutdown: one last try for what waits, the final options record, a flush.
    /// Records left then are counted as not sent.
    fn drain(&mut self, enc: &mut Encoding);
}

/// The transport of `collector`. A UDP collector name that does not resolve, or a file
/// that cannot be created, is an error here, before anything runs.
pub fn open(collector: &Collector, cfg: &super::Config) -> io::Result<Box<dyn Transport>> {
    Ok(match collector {
        Collector::Stdout => Box::new(JsonLines::new(BufWriter::with_capacity(
            1 << 16,
            io::stdout(),
        ))),
        Collector::Udp(addr) => Box::new(Messages::udp(addr, cfg.template_refresh_secs)?),
        Collector::File(path) => Box::new(Messages::file(path)?),
        Collector::Tcp(addr) => Box::new(Stream::new(
            Dialer::new(
                Tcp::new(addr),
                Duration::from_secs(cfg.reconnect_max_backoff_secs.max(1)),
            ),
            cfg.buffer_records,
        )),
        Collector::Tls(_) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "tls:// export is not available in this build; use tcp:// or udp://",
            ))
        }
    })
}

#[cfg(test)]
mod tests;
