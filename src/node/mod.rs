//! Node mode's capture: every pod network namespace of the node, and the node's own
//! interfaces.

mod attribution;
mod capture;
mod config;
mod discover;
mod state;
mod stats;
mod veth;

pub use attribution::NodeAttribution;
pub use capture::{NodeCapture, NodeError};
pub use config::Config;
pub use state::{NamespaceView, SharedNamespaces};
pub use stats::NodeStats;
