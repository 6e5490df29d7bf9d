//! Logging initialisation, the named events that log and count, and the telemetry
//! listener (`/healthz`, `/readyz`, `/startupz`, Prometheus `/metrics`).

mod config;
pub mod events;
mod health;
pub mod logging;
mod metrics;
mod server;

pub use config::{Config, LogConfig, LogFormat};
pub use health::{startup_phase, Health, Readiness, Startup, StartupPhase, Work};
pub(crate) use metrics::encode_counters;
pub use metrics::{
    render, Format, MetadataCollector, MetricSources, NodeCollector, PodIndexCollector,
};
pub use server::{Telemetry, TelemetryError};
