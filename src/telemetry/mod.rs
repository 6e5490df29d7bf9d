//! Logging initialisation and the named events that log and count.

mod config;
pub mod events;
pub mod logging;

pub use config::{Config, LogConfig, LogFormat};
