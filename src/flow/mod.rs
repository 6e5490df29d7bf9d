//! Flow metering: keys, the shared flow table, fragment matching and the sweeper actor.

mod frag;
mod key;
mod record;
mod table;

pub use frag::FragmentTracker;
pub use key::{
    from_addr, tcp_flags, FlowKey, Fragment, Nanos, Packet, NANOS_PER_SEC, PROTO_ICMP,
    PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP,
};
pub use record::{Counters, EndReason, FlowRecord};
pub use table::{FlowTable, TableStats};
