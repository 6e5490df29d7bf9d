//! The exporter actor and its transports: enrichment, IPFIX over UDP, TCP or into a
//! file, or JSON lines on stdout.

mod config;
mod enrich;
mod exporter;
pub mod json;
mod transport;

pub use config::{Collector, Config, IpfixConfig};
pub use enrich::{Enricher, DIRECTION_UNKNOWN, POINT_HOST, POINT_POD_NAMESPACE};
pub use exporter::{Drain, DrainReport, ExportStats, Exporter, IdentityChanged, StatsSources};
