//! Logging: tracing-subscriber on stderr (stdout may carry flow records), text or JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use super::{LogConfig, LogFormat};

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `log.level`.
pub fn init(cfg: &LogConfig) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => {
            EnvFilter::try_new(&v).map_err(|e| format!("RUST_LOG={v:?}: {e}"))?
        }
        // actix's server logs its worker start and stop at info: not news for operators.
        _ if !cfg.level.contains("actix") => {
            EnvFilter::try_new(format!("{},actix_server=warn", cfg.level))
                .map_err(|e| format!("invalid configuration: log.level = {:?}: {e}", cfg.level))?
        }
        _ => EnvFilter::try_new(&cfg.level)
            .map_err(|e| format!("invalid configuration: log.level = {:?}: {e}", cfg.level))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let result = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}
