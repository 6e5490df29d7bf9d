//! Packet sources. `decode` turns one frame into a [`crate::flow::Packet`]; `pcap` reads
//! pcap and pcapng files; `file` runs the offline source on its own named thread; `ring`
//! is the memory-mapped receive ring and its capture threads; `live` captures the
//! interfaces of network namespaces through rings or pnet.

mod config;
pub mod decode;
pub mod file;
pub mod live;
pub mod pcap;
pub mod ring;
mod stats;

pub use config::{Backend, Config, MAX_RING, MIN_RING};
pub use decode::{decode, decode_frame, Ignored, LinkType};
pub use live::{
    CaptureSink, CaptureState, Interfaces, LiveCapture, LiveError, PointInfo, SupervisedCapture,
};
pub use pcap::{Frame, PcapError, PcapReader};
pub use stats::{CaptureStats, LocalStats};

#[cfg(test)]
mod meter_tests;
