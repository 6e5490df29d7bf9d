//! Each runtime mode wires its actors; nothing else lives here.

mod node;
mod sidecar;
mod webhook;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use tokio::signal::unix::{signal, SignalKind};

use crate::capture::CaptureStats;
use crate::cli::Mode;
use crate::config::Config;
use anyhow::Context as _;

use crate::export::{Drain, Enricher, Exporter, StatsSources};
use crate::flow::{FlowTable, FlushAll, Sweeper};
use crate::ipfix::EncoderOptions;
use crate::telemetry::Health;

/// Why a mode stopped with an error.
#[derive(Debug)]
pub enum Failure {
    /// Bad configuration or input (a file that is not a pcap, ...): exit code 2.
    Usage(anyhow::Error),
    /// Something failed while running: exit code 1.
    Runtime(anyhow::Error),
}

/// Runs `mode` until it ends (end of input or a signal).
pub fn run(mode: Mode, config: Config) -> Result<(), Failure> {
    match mode {
        Mode::Sidecar => sidecar::run(config),
        Mode::Webhook => webhook::run(config),
        Mode::Node => node::run(config),
    }
}

/// The IPFIX encoder the configuration describes; `with_peer` adds the peer elements (node
/// mode).
fn encoder_options(config: &Config, with_peer: bool) -> EncoderOptions {
    EncoderOptions {
        observation_domain_id: config.ipfix.observation_domain_id,
        enterprise_number: config.ipfix.enterprise_number,
        biflow: config.flow.biflow,
        with_peer,
        max_message_bytes: config.export.message_bytes(),
    }
}

/// The exporter of a probe, its transport open; a collector it cannot use is a usage
/// error naming `export.collector`.
fn open_exporter(
    config: &Config,
    encoder: EncoderOptions,
    enricher: Enricher,
    table: &Arc<FlowTable>,
    capture: &Arc<CaptureStats>,
) -> Result<Exporter, Failure> {
    let sources = StatsSources {
        table: table.clone(),
        capture: capture.clone(),
    };
    Exporter::open(&config.export, encoder, enricher, sources)
        .with_context(|| format!("export.collector = {}", config.export.collector))
        .map_err(Failure::Usage)
}

/// Keeps readiness in line with a capture that publishes no state of its own (node mode:
/// `state` says whether it runs and how many interfaces it captures; interfaces come and
/// go) until SIGTERM or SIGINT, then logs it.
async fn serve_until_signal(health: &Health, state: impl Fn() -> (bool, usize)) {
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let sig = loop {
        tokio::select! {
            sig = &mut signal => break sig,
            _ = check.tick() => {
                let (running, interfaces) = state();
                health.running.store(running, Ordering::Relaxed);
                health.interfaces.store(interfaces, Ordering::Relaxed);
            }
        }
    };
    tracing::info!(signal = sig, "shutting down");
}

/// The end of a probe's run, once capture has stopped: ends every live flow, lets the
/// exporter send what it holds within `drain_timeout_secs`, and logs the totals once.
async fn finish(
    sweeper: &Addr<Sweeper>,
    exporter: &Addr<Exporter>,
    table: &Arc<FlowTable>,
    capture_stats: &CaptureStats,
    drain_timeout_secs: u64,
) {
    let flushed = sweeper.send(FlushAll).await.unwrap_or(0);
    let drain = tokio::time::timeout(
        Duration::from_secs(drain_timeout_secs),
        exporter.send(Drain),
    )
    .await;
    let stats = table.stats();
    match drain {
        Ok(Ok(report)) => {
            tracing::info!(
                packets = capture_stats.frames.load(Ordering::Relaxed),
                ignored = capture_stats.ignored.load(Ordering::Relaxed),
                kernel_drops = capture_stats.kernel_drops.load(Ordering::Relaxed),
                flows = stats.flows,
                records = report.exported,
                not_sent = report.not_sent,
                records_at_shutdown = flushed,
                evicted = stats.evictions,
                "done"
            );
            if report.not_sent > 0 {
                tracing::warn!(
                    not_sent = report.not_sent,
                    "some flow records could not be sent"
                );
            }
        }
        _ => tracing::warn!(
            timeout_secs = drain_timeout_secs,
            "the exporter did not finish within export.drain_timeout_secs; unsent records are lost"
        ),
    }
}

/// Waits for SIGTERM or SIGINT and logs which.
async fn until_shutdown() {
    let sig = shutdown_signal().await;
    tracing::info!(signal = sig, "shutting down");
}

/// Waits for SIGTERM or SIGINT and names it.
async fn shutdown_signal() -> &'static str {
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
