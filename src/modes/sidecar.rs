//! Sidecar mode: capture -> flow table -> sweeper -> exporter, with the pod identity from
//! the metadata actor. Captures the pod's interfaces live, or meters `capture.pcap` offline.
//! Live capture is supervised: when it cannot run the sidecar stays up, `/readyz` says why
//! and capture starts as soon as it can.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use anyhow::Context as _;
use tokio::sync::oneshot;

use super::Failure;
use crate::capture::file::{self, FileEnd};
use crate::capture::{CaptureStats, PcapReader, SupervisedCapture};
use crate::config::Config;
use crate::export::{Enricher, Exporter};
use crate::flow::{Clock, FlowTable, Meter, Sweeper};
use crate::metadata::Metadata;
use crate::telemetry::{Health, MetadataCollector, MetricSources, Telemetry};

/// k8sObservationPoint of a sidecar: the pod's own namespace.
const OBSERVATION_POINT_SIDECAR: u8 = 1;

/// Where packets come from.
enum Input {
    File(PcapReader),
    Live(SupervisedCapture),
}

pub fn run(config: Config) -> Result<(), Failure> {
    // The startup grace counts from here, not from when the listener is up.
    let started = Instant::now();
    let usage = Failure::Usage;
    let metadata = Metadata::load(&config.k8s);
    let table = Arc::new(FlowTable::new(config.flow.table()));
    let capture_stats = Arc::new(CaptureStats::default());
    let input = match &config.capture.pcap {
        Some(path) => Input::File(PcapReader::open(path).map_err(|e| usage(e.into()))?),
        None => Input::Live(
            SupervisedCapture::start(&config.capture, table.clone(), capture_stats.clone())
                .context("cannot start the capture supervisor thread")
                .map_err(Failure::Runtime)?,
        ),
    };

    let mut enricher = Enricher::new(
        metadata.identity(),
        &config.k8s.pod_ips,
        vec![String::new()],
        OBSERVATION_POINT_SIDECAR,
    );
    if let Input::Live(live) = &input {
        let pod_ips = if config.k8s.pod_ips.is_empty() {
            live.addresses()
        } else {
            config.k8s.pod_ips.clone()
        };
        enricher = Enricher::new(
            metadata.identity(),
            &pod_ips,
            Vec::new(),
            OBSERVATION_POINT_SIDECAR,
        )
        .with_registry(live.interfaces());
    }
    let encoder = super::encoder_options(&config, false);
    let exporter = super::open_exporter(&config, encoder, enricher, &table, &capture_stats)?;
    let mut health = Health::capture(exporter.stats());
    if let Input::Live(live) = &input {
        let grace = Duration::from_secs(config.telemetry.startup_grace_secs);
        health = health.supervised(live.state(), started, grace);
    }
    let health = Arc::new(health);
    let metadata_stats = metadata.stats();

    System::new().block_on(async move {
        // The exporter does blocking I/O (TCP connects, file writes): its own thread.
        let export_arbiter = Arbiter::new();
        let exporter = Exporter::start_in_arbiter(&export_arbiter.handle(), move |_| exporter);
        let _metadata = metadata.send_to(exporter.clone().recipient()).start();
        let clock = match input {
            Input::File(_) => Clock::packet(),
            Input::Live(_) => Clock::Wall,
        };
        let sweeper = Sweeper::new(
            table.clone(),
            clock.clone(),
            Duration::from_millis(config.flow.sweep_interval_ms),
            exporter.clone().recipient(),
        )
        .start();

        let (end, telemetry) = match input {
            Input::File(reader) => {
                tracing::info!(pcap = %reader.name(), collector = %config.export.collector, "metering capture file");
                (meter_file(reader, &table, clock, &capture_stats).await?, None)
            }
            Input::Live(live) => {
                let telemetry = Telemetry::start(
                    &config.telemetry.listen,
                    MetricSources::new(capture_stats.clone(), table.clone(), health.clone())
                        .with_collector(MetadataCollector(metadata_stats)),
                )
                .map_err(|e| Failure::Usage(e.into()))?;
                tracing::info!(
                    collector = %config.export.collector,
                    telemetry = %config.telemetry.listen,
                    "sidecar running"
                );
                super::until_shutdown().await;
                let _ = tokio::task::spawn_blocking(move || live.stop()).await;
                (FileEnd::Stopped, telemetry)
            }
        };
        health.running.store(false, Ordering::Relaxed);

        super::finish(&sweeper, &exporter, &table, &capture_stats, config.export.drain_timeout_secs).await;
        if let Some(t) = telemetry {
            t.stop().await;
        }
        export_arbiter.stop();
        System::current().stop();
        match end {
            FileEnd::Failed(e) => Err(Failure::Usage(e.into())),
            FileEnd::Eof | FileEnd::Stopped => Ok(()),
        }
    })
}

/// Reads the file on its own thread until its end or a signal; returns how it ended.
async fn meter_file(
    reader: PcapReader,
    table: &Arc<FlowTable>,
    clock: Clock,
    stats: &Arc<CaptureStats>,
) -> Result<FileEnd, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = oneshot::channel();
    let capture = file::spawn(
        reader,
        Meter::new(table.clone(), 0),
        clock,
        stats.clone(),
        stop.clone(),
        move |end| {
            let _ = done_tx.send(end);
        },
    )
    .context("cannot start the capture thread")
    .map_err(Failure::Runtime)?;
    let end = tokio::select! {
        end = done_rx => end.unwrap_or(FileEnd::Stopped),
        sig = super::shutdown_signal() => {
            tracing::info!(signal = sig, "shutting down");
            stop.store(true, Ordering::Relaxed);
            FileEnd::Stopped
        }
    };
    let _ = tokio::task::spawn_blocking(move || capture.join()).await;
    Ok(end)
}
