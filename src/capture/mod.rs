//! Packet sources. `decode` turns one frame into a [`crate::flow::Packet`]; `pcap` reads
//! pcap and pcapng files; the sources run on named OS threads and update the flow table.

pub mod decode;
pub mod pcap;

pub use decode::{decode, Ignored, LinkType};
