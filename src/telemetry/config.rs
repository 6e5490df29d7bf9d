//! The `telemetry` and `log` configuration sections.

use serde::{Deserialize, Serialize};

use crate::section::{Invalid, Section};

/// Health and metrics endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of `/healthz`, `/readyz` and `/metrics`; empty disables the listener.
    /// 9477 is chosen to stay clear of common application ports.
    pub listen: String,
    /// Live sidecar: seconds after start when `/startupz` answers 200 even though capture
    /// does not run (its body then says why). Keep it below the startup probe's
    /// `failureThreshold` x `periodSeconds` (10 x 1 s on the injected sidecar), or the
    /// kubelet restarts a sidecar that cannot capture instead of letting the pod start. 5 s
    /// leaves room for capture to start first, so that the application's first packets are
    /// metered, while delaying a pod whose sidecar cannot capture by 5 s at most.
    pub startup_grace_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:9477".into(),
            startup_grace_secs: 5,
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

impl Section for Config {}

/// The levels `log.level` takes, quietest first.
pub const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

impl Section for LogConfig {
    /// A level, or comma-separated directives `TARGET=LEVEL` (with at most one bare
    /// level). tracing reads a bare word that is not a level as a target to log at every
    /// level, and everything else not at all: `verbose` would hide every line, the final
    /// totals included. So a bare word must be a level.
    fn check(&self) -> Result<(), Invalid> {
        let wanted = || {
            format!(
                "expected a level ({}) or comma-separated TARGET=LEVEL directives, e.g. info,podflow::export=debug",
                LEVELS.join(", ")
            )
        };
        for directive in self.level.split(',').map(str::trim) {
            let level = directive
                .rsplit_once('=')
                .map_or(directive, |(_, level)| level);
            if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
                return Err(Invalid::new(
                    "level",
                    format!("{level:?} is not a level: {}", wanted()),
                ));
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.level)
            .map(drop)
            .map_err(|e| Invalid::new("level", format!("{e}: {}", wanted())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_level_must_parse_as_a_filter() {
        let mut c = LogConfig::default();
        assert_eq!(c.check(), Ok(()));
        c.level = "podflow=debug,info".into();
        assert_eq!(c.check(), Ok(()));
        c.level = "podflow=loud".into();
        assert_eq!(c.check().unwrap_err().key, "level");
        c.level = "WARN,podflow::export=Debug".into();
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn a_bare_word_that_is_no_level_is_refused_with_the_levels() {
        // tracing would take it for a target and log nothing else at all.
        for level in ["verbose", "info,podflow", "", "info,"] {
            let c = LogConfig {
                level: level.into(),
                ..LogConfig::default()
            };
            let refused = c.check().unwrap_err();
            assert_eq!(refused.key, "level");
            assert!(
                refused.why.contains("off, error, warn, info, debug, trace"),
                "{level:?}: {}",
                refused.why
            );
        }
    }
}
