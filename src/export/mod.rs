//! The exporter actor and its transports: enrichment, IPFIX over UDP, TCP or into a
//! file, or JSON lines on stdout.

mod config;
mod encoding;
mod enrich;
mod events;
mod exporter;
mod stats;
mod transport;

pub use config::{Collector, Config, IpfixConfig};
pub use encoding::StatsSources;
pub use enrich::{Enricher, DIRECTION_UNKNOWN, POINT_HOST, POINT_POD_NAMESPACE};
pub use exporter::{Drain, DrainReport, Exporter, IdentityChanged};
pub use stats::ExportStats;
