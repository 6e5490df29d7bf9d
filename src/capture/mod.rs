//! Packet sources. `decode` turns one frame into a [`crate::flow::Packet`]; `pcap` reads
//! pcap and pcapng files; `file` runs the offline source on its own named thread; `live`
//! captures the interfaces of the network namespace, one named thread each.

mod config;
pub mod decode;
pub mod file;
pub mod live;
pub mod pcap;
mod stats;

pub use config::Config;
pub use decode::{decode, Ignored, LinkType};
pub use live::{
    CaptureSink, CaptureState, Interfaces, LiveCapture, LiveError, PointInfo, SupervisedCapture,
};
pub use pcap::{Frame, PcapError, PcapReader};
pub use stats::{CaptureStats, LocalStats};
