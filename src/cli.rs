//! The command line: which role to run and where its configuration file is.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// podflow meters pod traffic into flows and exports IPFIX records tagged with the pod's
/// Kubernetes identity (node, pod, namespace, workload, labels, annotations).
///
/// Configuration is layered: built-in defaults, then the --config file (TOML, or YAML by
/// its .yaml/.yml extension), then environment variables PODFLOW_<SECTION>__<KEY>, e.g.
/// PODFLOW_EXPORT__COLLECTOR=udp://10.0.0.5:4739. See config/podflow.toml for every key.
#[derive(Debug, Parser)]
#[command(name = "podflow", version, about, long_about)]
pub struct Cli {
    /// Runtime role: `sidecar` captures its own pod's traffic (or meters capture.pcap
    /// offline), `webhook` injects the sidecar into pods, `node` captures every pod on a node.
    #[arg(long, env = "PODFLOW_MODE", value_enum)]
    pub mode: Mode,

    /// Configuration file (TOML or YAML).
    #[arg(long, short = 'c', env = "PODFLOW_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The three runtime roles of the one binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// A container in the application pod, capturing that pod's traffic.
    Sidecar,
    /// The Mutating Admission Webhook Server that adds the sidecar to matching pods.
    Webhook,
    /// A DaemonSet pod capturing in every pod's network namespace on its node.
    Node,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sidecar => "sidecar",
            Mode::Webhook => "webhook",
            Mode::Node => "node",
        }
    }
}
