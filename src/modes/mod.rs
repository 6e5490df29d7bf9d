//! Each runtime mode wires its actors; nothing else lives here.

mod sidecar;
mod webhook;

use crate::cli::Mode;
use crate::config::Config;

/// Why a mode stopped with an error.
#[derive(Debug)]
pub enum Failure {
    /// Bad configuration or input (a file that is not a pcap, ...): exit code 2.
    Usage(anyhow::Error),
    /// Something failed while running: exit code 1.
    Runtime(anyhow::Error),
}

/// Runs `mode` until it ends (end of input or a signal).
pub fn run(mode: Mode, config: Config) -> Result<(), Failure> {
    match mode {
        Mode::Sidecar => sidecar::run(config),
        Mode::Webhook => webhook::run(config),
        Mode::Node => Err(Failure::Usage(anyhow::anyhow!(
            "--mode {} is not built yet; --mode sidecar is",
            mode.as_str()
        ))),
    }
}
