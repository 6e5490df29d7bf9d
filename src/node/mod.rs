//! Node mode's capture: every pod network namespace of the node, and the node's own
//! interfaces.

mod config;
mod state;

pub use config::Config;
pub use state::{NamespaceView, SharedNamespaces};
