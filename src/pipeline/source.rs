//! Where packets come from. A [`Source`] meters into the probe's flow table through the
//! [`CaptureSink`] it is started with, drives (or not) the flow clock, says whether it runs
//! and how it stops: [`Live`] captures the interfaces of podflow's own network namespace
//! under a supervisor, [`Replay`] reads a capture file with the packets' own clock, and
//! [`Namespaces`] captures every network namespace of the node.

mod live;
mod namespaces;
mod replay;

use std::net::IpAddr;
use std::sync::Arc;

use actix::Recipient;
use futures::future::BoxFuture;

use super::Failure;
use crate::capture::live::ExportPeer;
use crate::capture::CaptureSink;
use crate::config::Config;
use crate::export::{Collector, ExportStats, Handoff};
use crate::flow::{Clock, FlowRecord, FlushPoints};
use crate::telemetry::{Health, Registry};
pub use live::Live;
pub use namespaces::Namespaces;
pub use replay::Replay;

/// The collector of `collector` as live capture leaves its traffic out: UDP and TCP (TLS
/// runs over TCP) collectors; files and stdout send nothing.
pub fn export_peer(collector: &Collector) -> Option<ExportPeer> {
    match collector {
        Collector::Udp(addr) => Some(ExportPeer {
            tcp: false,
            addr: addr.clone(),
        }),
        Collector::Tcp(addr) | Collector::Tls(addr) => Some(ExportPeer {
            tcp: true,
            addr: addr.clone(),
        }),
        Collector::File(_) | Collector::Stdout => None,
    }
}

/// Where ended flow records go: the hand-off to the exporter, waking it when needed.
pub type Deliver = Arc<dyn Fn(Vec<FlowRecord>) + Send + Sync>;

/// What keeps a batch source within the hand-off's bound: it waits while the hand-off is
/// full, and delivers itself the records the flow table ended faster than the sweeper
/// takes them.
#[derive(Clone)]
pub struct Backpressure {
    pub handoff: Arc<Handoff>,
    pub deliver: Deliver,
}

/// A source of packets, from its start to its stop.
pub trait Source: Send + 'static {
    /// What "now" is to the flow table's timeouts.
    fn clock(&self) -> Clock;

    /// The addresses of the interfaces it would capture now: what flowDirection is seen
    /// from when the pod's own addresses are not configured.
    fn addresses(&self) -> Vec<IpAddr> {
        Vec::new()
    }

    /// A batch job (a capture file): it ends when every record is written, however long
    /// that takes, and it waits for the exporter rather than have records dropped.
    fn is_batch(&self) -> bool {
        false
    }

    /// The hand-off to the exporter, for a batch source to wait on while it is full.
    /// Called before [`Source::start`].
    fn wait_on(&mut self, _backpressure: Backpressure) {}

    /// Starts metering into `sink`; `flush` ends the flows of observation points that are
    /// gone. Called inside the running System, once the exporter and the sweeper run.
    fn start(&mut self, sink: &CaptureSink, flush: Recipient<FlushPoints>) -> Result<(), Failure>;

    /// What `/readyz` and `/startupz` read, once started; `None` for a source that serves
    /// no telemetry (a replay runs offline).
    fn health(&self, export: Arc<ExportStats>) -> Option<Health>;

    /// Registers metric families of its own, once started.
    fn register(&self, _metrics: &mut Registry) {}

    /// Logs what it is doing, once it has started.
    fn announce(&self, config: &Config);

    /// Resolves when the source has nothing more to give (the end of a capture file);
    /// never for live capture.
    fn ended(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }

    /// Stops the capture threads and waits for them; blocks. An input that could not be
    /// read to its end is a usage error.
    fn stop(self) -> Result<(), Failure>;
}
