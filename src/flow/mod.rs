//! Flow metering: keys, the shared flow table, fragment matching and the sweeper actor.

pub mod app;
mod clock;
mod config;
mod ext;
mod frag;
mod key;
mod meter;
mod metrics;
pub mod perf;
mod record;
mod sweeper;
mod table;

pub use clock::{wall_now, Clock};
pub use config::Config;
pub use ext::FlowExt;
pub use frag::FragmentTracker;
pub use key::{
    from_addr, tcp_flags, FlowKey, Fragment, Nanos, Packet, TcpSegment, NANOS_PER_SEC, PROTO_ICMP,
    PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP,
};
pub use meter::Meter;
pub use record::{Counters, EndReason, FlowRecord};
pub use sweeper::{Finished, FlushAll, FlushPoints, Pace, Sweeper};
pub use table::{FlowTable, FlowTableConfig, Groups, TableStats, GROUPS, MAX_BATCH};
