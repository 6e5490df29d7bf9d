//! Logging: tracing-subscriber on stderr (stdout may carry flow records), text or JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use super::{LogConfig, LogFormat};

/// Libraries that log what is not news for operators, quieted unless `log.level` names
/// them: actix's server its worker start and stop at info; kube's HTTP client every failed
/// request at error, each retry of a watch included, where podflow says once that a
/// watch fails and once that it recovered.
const QUIET: [(&str, &str); 2] = [
    ("actix_server", "actix_server=warn"),
    ("kube_client", "kube_client::client::builder=off"),
];

/// `level` with the [`QUIET`] directives it does not override.
fn with_quiet_libraries(level: &str) -> String {
    let mut filter = level.to_owned();
    for (target, directive) in QUIET {
        if !level.contains(target) {
            filter.push(',');
            filter.push_str(directive);
        }
    }
    filter
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `log.level`.
pub fn init(cfg: &LogConfig) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => {
            EnvFilter::try_new(&v).map_err(|e| format!("RUST_LOG={v:?}: {e}"))?
        }
        _ => EnvFilter::try_new(with_quiet_libraries(&cfg.level))
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

    #[test]
    fn noisy_libraries_are_quieted_unless_the_level_names_them() {
        assert_eq!(
            with_quiet_libraries("info"),
            "info,actix_server=warn,kube_client::client::builder=off"
        );
        assert_eq!(
            with_quiet_libraries("info,kube_client=debug"),
            "info,kube_client=debug,actix_server=warn"
        );
    }
}
