//! Sidecar mode: capture source -> flow table -> sweeper -> exporter, with the pod
//! identity from the metadata source. Offline when `capture.pcap` is set.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use anyhow::{anyhow, Context as _};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

use super::Failure;
use crate::capture::file::{self, FileEnd};
use crate::capture::pcap::PcapReader;
use crate::capture::CaptureStats;
use crate::config::Config;
use crate::export::{Drain, Enricher, Exporter, StatsSources};
use crate::flow::{Clock, FlowTable, FlowTableConfig, FlushAll, Meter, Sweeper};
use crate::ipfix::EncoderOptions;
use crate::metadata;

/// k8sObservationPoint of a sidecar: the pod's own namespace.
const OBSERVATION_POINT_SIDECAR: u8 = 1;

pub fn run(config: Config) -> Result<(), Failure> {
    let usage = |e: anyhow::Error| Failure::Usage(e);
    let Some(path) = config.capture.pcap.clone() else {
        return Err(usage(anyhow!(
            "live capture is not built yet: set capture.pcap (or PODFLOW_CAPTURE__PCAP) to meter a capture file"
        )));
    };
    let reader = PcapReader::open(&path).map_err(|e| usage(e.into()))?;
    let identity = Arc::new(metadata::from_config(&config.k8s).map_err(|e| usage(e.into()))?);

    let table = Arc::new(FlowTable::new(FlowTableConfig {
        idle_timeout: config.flow.idle_timeout(),
        active_timeout: config.flow.active_timeout(),
        tcp_end_linger: config.flow.tcp_end_linger(),
        max_flows: config.flow.max_flows,
        biflow: config.flow.biflow,
    }));
    let capture_stats = Arc::new(CaptureStats::default());
    let enricher = Enricher::new(
        identity,
        &config.k8s.pod_ips,
        vec![String::new()],
        OBSERVATION_POINT_SIDECAR,
    );
    let encoder = EncoderOptions {
        observation_domain_id: config.ipfix.observation_domain_id,
        enterprise_number: config.ipfix.enterprise_number,
        biflow: config.flow.biflow,
        with_peer: false,
        max_message_bytes: config.export.message_bytes(),
    };
    let sources = StatsSources {
        table: table.clone(),
        capture: capture_stats.clone(),
    };
    let exporter = Exporter::open(&config.export, encoder, enricher, sources)
        .with_context(|| format!("export.collector = {}", config.export.collector))
        .map_err(usage)?;

    let system = System::new();
    let outcome = system.block_on(async move {
        // The exporter does blocking I/O (TCP connects, file writes): give it its own thread.
        let export_arbiter = Arbiter::new();
        let exporter = Exporter::start_in_arbiter(&export_arbiter.handle(), move |_| exporter);
        let clock = Clock::packet();
        let sweeper = Sweeper::new(
            table.clone(),
            clock.clone(),
            Duration::from_millis(config.flow.sweep_interval_ms),
            exporter.clone().recipient(),
        )
        .start();

        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = oneshot::channel();
        let capture = file::spawn(
            reader,
            Meter::new(table.clone(), 0),
            clock,
            capture_stats.clone(),
            stop.clone(),
            move |end| {
                let _ = done_tx.send(end);
            },
        )
        .context("cannot start the capture thread")
        .map_err(Failure::Runtime)?;
        tracing::info!(pcap = %path.display(), collector = %config.export.collector, "metering capture file");

        let end = tokio::select! {
            end = done_rx => end.unwrap_or(FileEnd::Stopped),
            sig = shutdown_signal() => {
                tracing::info!(signal = sig, "shutting down");
                stop.store(true, Ordering::Relaxed);
                FileEnd::Stopped
            }
        };
        let _ = tokio::task::spawn_blocking(move || capture.join()).await;

        let flushed = sweeper.send(FlushAll).await.unwrap_or(0);
        let drain = tokio::time::timeout(
            Duration::from_secs(config.export.drain_timeout_secs),
            exporter.send(Drain),
        )
        .await;
        let stats = table.stats();
        match drain {
            Ok(Ok(report)) => {
                tracing::info!(
                    packets = capture_stats.frames.load(Ordering::Relaxed),
                    ignored = capture_stats.ignored.load(Ordering::Relaxed),
                    flows = stats.flows,
                    records = report.exported,
                    not_sent = report.not_sent,
                    records_at_shutdown = flushed,
                    evicted = stats.evictions,
                    "done"
                );
                if report.not_sent > 0 {
                    tracing::warn!(not_sent = report.not_sent, "some flow records could not be sent");
                }
            }
            _ => tracing::warn!(
                timeout_secs = config.export.drain_timeout_secs,
                "the exporter did not finish within export.drain_timeout_secs; unsent records are lost"
            ),
        }
        export_arbiter.stop();
        System::current().stop();
        match end {
            FileEnd::Failed(e) => Err(Failure::Usage(e.into())),
            FileEnd::Eof | FileEnd::Stopped => Ok(()),
        }
    });
    outcome
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
