//! Node mode's capture: every pod network namespace of the node, and the node's own
//! interfaces.

mod config;

pub use config::Config;
