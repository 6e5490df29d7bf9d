//! The signals that end a run: SIGTERM (the kubelet) and SIGINT (Ctrl-C).

use tokio::signal::unix::{signal, SignalKind};

/// Waits for SIGTERM or SIGINT and names it.
pub async fn shutdown_signal() -> &'static str {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
