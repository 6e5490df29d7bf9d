//! A finished flow (or a piece of a long one) on its way to the exporter.

use super::ext::FlowExt;
use super::key::{FlowKey, Nanos};

/// Why a flow record was ended (IPFIX flowEndReason, IE 136).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EndReason {
    IdleTimeout = 1,
    ActiveTimeout = 2,
    EndOfFlow = 3,
    ForcedEnd = 4,
    LackOfResources = 5,
}

impl EndReason {
    pub const ALL: [EndReason; 5] = [
        EndReason::IdleTimeout,
        EndReason::ActiveTimeout,
        EndReason::EndOfFlow,
        EndReason::ForcedEnd,
        EndReason::LackOfResources,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::ActiveTimeout => "active_timeout",
            EndReason::EndOfFlow => "end_of_flow",
            EndReason::ForcedEnd => "forced_end",
            EndReason::LackOfResources => "lack_of_resources",
        }
    }
}

/// Packet, octet and TCP flag totals of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub octets: u64,
    pub tcp_flags: u16,
}

/// One exported flow record. `key.src` is the initiator (the side that sent the first
/// packet); `forward` counts its packets, `reverse` the answers (always zero when
/// biflows are off).
#[derive(Clone, Debug, PartialEq)]
pub struct FlowRecord {
    pub key: FlowKey,
    /// First and last packet of this record (either direction).
    pub start: Nanos,
    pub end: Nanos,
    pub forward: Counters,
    pub reverse: Counters,
    /// TOS / traffic class of the first packet.
    pub tos: u8,
    pub end_reason: EndReason,
    /// TCP performance and application identity, for the flows that have them.
    pub ext: Option<Box<FlowExt>>,
}
