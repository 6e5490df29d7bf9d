//! Node mode's capture: the network namespace of every pod sandbox the container runtime
//! runs on the node, attributed to the pod the runtime says owns it, and the node's own
//! interfaces.

mod attribution;
mod capture;
mod config;
pub mod cri;
mod discover;
mod limits;
mod runtime;
mod state;
mod stats;
mod veth;

pub use attribution::NodeAttribution;
pub use capture::{NodeCapture, NodeError};
pub use config::Config;
pub use runtime::unix_channel;
pub use state::{NamespaceView, Owner, SharedNamespaces};
pub use stats::NodeStats;
