//! Each runtime mode wires its pieces; nothing else lives here. The probes (sidecar and
//! node) are the one [`crate::pipeline`] with their own source and attribution; the
//! mediator is [`crate::mediator`] with its view of the cluster.

mod mediator;
mod node;
mod sidecar;
mod webhook;

use crate::cli::Mode;
use crate::config::Config;
pub use crate::pipeline::Failure;

/// Runs `mode` until it ends (end of input or a signal).
pub fn run(mode: Mode, config: Config) -> Result<(), Failure> {
    match mode {
        Mode::Sidecar => sidecar::run(config),
        Mode::Webhook => webhook::run(config),
        Mode::Node => node::run(config),
        Mode::Mediator => mediator::run(config),
    }
}
