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

/// An error and its causes in one line, each cause once: a cause whose text the line
/// already ends with is not repeated (an error that writes its cause into its own message
/// and also returns it as its source), and one that adds to it is (tonic's transport error
/// says only "transport error" and leaves what happened to its sources).
pub fn error_chain<'a>(
    errors: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut line = String::new();
    for error in errors {
        let text = error.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line = format!("{line}: {text}");
        }
    }
    line
}

/// The chain of `error`: itself, then each of its sources.
pub fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading x.pcap: {0}")]
    struct Echoes(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("transport error")]
    struct Terse(#[source] std::io::Error);

    #[test]
    fn a_cause_is_written_once_and_only_when_it_adds_something() {
        let missing = || std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            error_chain(causes(&Echoes(missing()))),
            "reading x.pcap: No such file or directory (os error 2)"
        );
        assert_eq!(
            error_chain(causes(&Terse(missing()))),
            "transport error: No such file or directory (os error 2)"
        );
    }
}
