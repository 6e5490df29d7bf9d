//! Logging initialisation, the named events that log and count, and the telemetry
//! listener (`/healthz`, `/readyz`, `/startupz`, Prometheus `/metrics`).

mod config;
mod events;
mod health;
pub mod logging;
mod metrics;
mod server;

pub use config::{Config, LogConfig, LogFormat};
pub use health::{
    startup_phase, Dependency, DependencyState, Health, Readiness, Sending, Startup, StartupPhase,
    Work,
};
#[cfg(test)]
pub use metrics::assert_lines;
pub use metrics::{
    collector, encode_counters, encode_gauges, registry, render, Format, Registry, Unit,
};
pub use server::{Telemetry, TelemetryError};
