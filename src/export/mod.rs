//! The exporter actor and its transports: the bounded hand-off from the sweeper,
//! attribution of each record, IPFIX over UDP, TCP, TLS or into a file, or JSON lines on
//! stdout.

mod attribution;
mod config;
mod encoding;
mod events;
mod exporter;
mod handoff;
mod stats;
mod transport;

#[cfg(test)]
pub use attribution::test_flow;
pub use attribution::{
    addresses, direction, peer_address, Attribution, PodAttribution, Points, DIRECTION_UNKNOWN,
    POINT_HOST, POINT_POD_NAMESPACE,
};
pub use config::{Collector, Config, IpfixConfig};
pub use encoding::StatsSources;
pub use exporter::{Drain, DrainReport, Exporter, IdentityChanged, Wake};
pub use handoff::{Handoff, Overflow};
pub use stats::ExportStats;
pub use transport::{link, Link};
