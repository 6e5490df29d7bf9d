//! The mediator (`--mode mediator`, an IPFIX Mediator in the sense of RFC 6183): IPFIX in
//! from podflow's probes and any other exporter, each record passed on byte for byte with
//! both of its ends named from one cluster-wide view (by address and time), the traffic
//! class and the original exporter (RFC 7119) appended, IPFIX out to the user's collector.

mod config;
pub mod enrich;
pub mod output;
pub mod receive;
pub mod session;

pub use config::Config;
