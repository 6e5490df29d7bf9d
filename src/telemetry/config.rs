//! The `telemetry` and `log` configuration sections.

use serde::{Deserialize, Serialize};

/// Health and metrics endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of `/healthz`, `/readyz` and `/metrics`; empty disables the listener.
    /// 9477 is chosen to stay clear of common application ports.
    pub listen: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:9477".into(),
        }
    }
}

/// Log output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log pipelines. Logs always go to stderr.
    pub format: LogFormat,
    /// Level or filter directives (`info`, `podflow=debug`); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}
