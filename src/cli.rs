//! The command line: which role to run and where its configuration file is.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// podflow meters pod traffic into flows and exports IPFIX records tagged with the pod's
/// Kubernetes identity (node, pod, namespace, workload, labels, annotations).
///
/// Configuration is layered: built-in defaults, then the --config file (TOML, or YAML by
/// its .yaml/.yml extension), then environment variables PODFLOW_<SECTION>__<KEY>, e.g.
/// PODFLOW_EXPORT__COLLECTOR=udp://10.0.0.5:4739. See config/podflow.toml for every key.
#[derive(Debug, Parser)]
#[command(
    name = "podflow",
    version,
    about,
    long_about,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// Runtime role: `sidecar` captures its own pod's traffic (or meters capture.pcap
    /// offline), `webhook` injects the sidecar into pods, `node` captures every pod on a
    /// node, `mediator` names both ends of the records of every probe (and of any other
    /// IPFIX exporter) from one cluster-wide view and passes them on to the collector.
    #[arg(long, env = "PODFLOW_MODE", value_enum, required = true)]
    pub mode: Option<Mode>,

    /// Configuration file (TOML or YAML).
    #[arg(
        long,
        short = 'c',
        env = "PODFLOW_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,

    /// A tool to run instead of a mode.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Tools that run once and exit.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add the podflow sidecar to the pod templates of Kubernetes manifests (Deployment,
    /// StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, List) and print them, for
    /// clusters without the webhook: `podflow inject -f app.yaml | kubectl apply -f -`.
    /// The sidecar exports to `export.collector` of the configuration (--config, PODFLOW_*).
    Inject(InjectArgs),
    /// Write the Kustomize component that adds the same sidecar to Deployments
    /// (config/kustomize/podflow-sidecar is this output for the default configuration);
    /// the sidecar follows the webhook.sidecar keys of the configuration.
    KustomizeComponent(KustomizeArgs),
    /// A small IPFIX collector: prints every record it receives (or reads from IPFIX
    /// files) as a JSON line, fields by element name, podflow's enterprise elements named
    /// from its own table or from the RFC 5610 type records the exporter sends. SIGTERM
    /// or SIGINT ends it once the connections are read to the end; the totals go to stderr.
    Collect(CollectArgs),
}

/// Arguments of `podflow collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Where to listen: udp://ADDR:PORT, tcp://ADDR:PORT or tls://ADDR:PORT (port 0 picks
    /// one; the address listened on is printed to stderr). Repeatable.
    #[arg(long, value_name = "URL")]
    pub listen: Vec<String>,
    /// An IPFIX file (RFC 5655) to read. Repeatable.
    #[arg(long = "file", short = 'f', value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Certificate chain (PEM) of tls:// listeners.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA bundle (PEM) on tls:// listeners.
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
}

/// Arguments of `podflow kustomize-component`.
#[derive(Debug, Args)]
pub struct KustomizeArgs {
    /// Directory to write the component's files into (made when missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Arguments of `podflow inject`.
#[derive(Debug, Args)]
pub struct InjectArgs {
    /// Manifests to read (multi-document YAML); `-` or none reads standard input.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub filename: Option<PathBuf>,
}

impl InjectArgs {
    /// The file to read, or `None` for standard input.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.filename.as_deref().filter(|p| p.as_os_str() != "-")
    }
}

/// The runtime roles of the one binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// A container in the application pod, capturing that pod's traffic.
    Sidecar,
    /// The Mutating Admission Webhook Server that adds the sidecar to matching pods.
    Webhook,
    /// A DaemonSet pod capturing in every pod's network namespace on its node.
    Node,
    /// The central tier: IPFIX in from the probes and other exporters, both ends of each
    /// record named, IPFIX out to the collector.
    Mediator,
}

impl Mode {
    /// The mode as `--mode` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sidecar => "sidecar",
            Mode::Webhook => "webhook",
            Mode::Node => "node",
            Mode::Mediator => "mediator",
        }
    }
}
