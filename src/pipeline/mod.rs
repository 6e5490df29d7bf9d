//! The probe pipeline, written once for every mode that meters: a [`Source`] of packets
//! meters into the shared flow table, the sweeper ends flows and hands them to the
//! exporter, and an [`Attribution`] says whose records they are.
//!
//! ```text
//!  DATA PLANE: OS threads, no message and no allocation per packet
//!
//!   Live        capture-<n> (a few threads polling every interface's ring),
//!               the interfaces watched by capture-watch, restarted by
//!               capture-supervise (pnet: capture-<ifname> per interface)
//!   Replay      capture-pcap (the file, on the packets' own clock)        --+
//!   Namespaces  node-capture (enters each pod namespace, opens its rings)   | decode,
//!               + capture-<n> polling the rings of every namespace          | meter
//!                                                                           v
//!                                              FlowTable: sharded, shared by every thread
//!                                                                           |
//!  CONTROL PLANE: actix actors; the exporter on a thread of its own         | swept every
//!                                                                           | sweep_interval_ms
//!   node-capture --FlushPoints (a namespace is gone)--> Sweeper <-----------+
//!   Probe::shutdown --FlushAll--------------------------> |
//!                                                         | Handoff: batches, bounded in
//!                                                         | records (Wake when not empty)
//!                                                         v
//!   Metadata --IdentityChanged (labels rewritten)----> Exporter --> Transport: UDP, TCP,
//!   (sidecar: Downward-API files)                      attributes,   IPFIX file, JSON lines
//!                                                      encodes
//!   Probe::shutdown --Drain-------------------------------^
//!
//!  HTTP: the telemetry listener (/healthz, /readyz, /startupz, /metrics) reads Health and
//!  the registry every domain registered its counters into; the webhook mode runs its
//!  HTTPS server beside it instead of a probe.
//! ```
//!
//! [`Pipeline::start`] wires a probe from the configuration, a source and an attribution
//! and hands back the running [`Probe`]; [`Probe::run_until_signal`] waits for SIGTERM,
//! SIGINT or the end of the input, and [`Probe::shutdown`] stops capture, ends every live
//! flow, lets the exporter send what it holds and returns the totals.

mod attribution;
mod signal;
mod source;

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use anyhow::Context as _;

use crate::capture::{CaptureSink, CaptureStats};
use crate::config::Config;
use crate::export::{Drain, DrainReport, ExportStats, Exporter, Handoff, StatsSources, Wake};
use crate::flow::{FlowTable, FlushAll, Sweeper};
use crate::ipfix::EncoderOptions;
use crate::telemetry::{self, Registry, Telemetry};
pub use attribution::{Attribution, NodePods, SidecarPod};
pub use signal::shutdown_signal;
pub use source::{export_peer, Backpressure, Deliver, Live, Namespaces, Replay, Source};

/// Why a mode stopped with an error.
#[derive(Debug)]
pub enum Failure {
    /// Bad configuration or input (a file that is not a pcap, ...): exit code 2.
    Usage(anyhow::Error),
    /// Something failed while running: exit code 1.
    Runtime(anyhow::Error),
}

/// Runs `work` on an actix System, which stops once `work` is done.
pub fn block_on<T>(work: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    System::new().block_on(async move {
        let result = work.await;
        System::current().stop();
        result
    })
}

/// A probe about to start: its configuration, and the flow table and capture totals its
/// source meters into.
pub struct Pipeline<'a> {
    config: &'a Config,
    sink: CaptureSink,
}

impl<'a> Pipeline<'a> {
    pub fn new(config: &'a Config) -> Pipeline<'a> {
        let table = Arc::new(FlowTable::new(config.flow.table()));
        Pipeline {
            config,
            sink: CaptureSink::new(table, Arc::default()),
        }
    }

    /// Starts the exporter on a thread of its own, the attribution, the sweeper, the
    /// source and (where the source serves it) the telemetry listener. Call it inside the
    /// System ([`block_on`]). A collector it cannot use, or a source that cannot start, is
    /// an error here.
    pub fn start<S: Source, A: Attribution>(
        self,
        source: S,
        attribution: A,
    ) -> Result<Probe<S>, Failure> {
        let Pipeline { config, sink } = self;
        let records = attribution.records(sink.registry.clone(), || source.addresses());
        let encoder = EncoderOptions {
            observation_domain_id: config.ipfix.observation_domain_id,
            enterprise_number: config.ipfix.enterprise_number,
            biflow: config.flow.biflow,
            with_peer: attribution.with_peer(),
            max_message_bytes: config.export.message_bytes(),
            npm: config.flow.npm,
            l7: config.flow.l7,
            element_ids: config.ipfix.element_ids,
        };
        let totals = StatsSources {
            table: sink.table.clone(),
            capture: sink.stats.clone(),
        };
        let batch = source.is_batch();
        let exporter = Exporter::open(&config.export, encoder, records, totals, batch)
            .with_context(|| format!("export.collector = {}", config.export.collector))
            .map_err(Failure::Usage)?;
        let export_stats = exporter.stats();
        let handoff = exporter.handoff();

        // The exporter does blocking I/O (TCP connects, file writes): its own thread.
        let arbiter = Arbiter::new();
        let exporter = Exporter::start_in_arbiter(&arbiter.handle(), move |_| exporter);
        let mut metrics = probe_metrics(&sink, &export_stats);
        attribution.start(&exporter, &mut metrics);
        let (to_exporter, queue) = (exporter.clone(), handoff.clone());
        let deliver: Deliver = Arc::new(move |flows| {
            if queue.push(flows) {
                to_exporter.do_send(Wake);
            }
        });
        // A flood ends flows faster than the sweeper runs: past `flow.max_ended_records`
        // the capture threads hand them to the queue themselves.
        let spill = deliver.clone();
        sink.table.spill_to(Box::new(move |flows| spill(flows)));
        let mut source = source;
        source.wait_on(Backpressure {
            handoff: handoff.clone(),
        });
        let sweeper = Sweeper::new(
            sink.table.clone(),
            source.clock(),
            Duration::from_millis(config.flow.sweep_interval_ms),
            Box::new(move |flows| deliver(flows)),
        )
        .start();
        let mut probe = Probe {
            source,
            sink,
            sweeper,
            exporter,
            arbiter,
            telemetry: None,
            handoff,
            export_stats: export_stats.clone(),
            drain_timeout: (!batch).then(|| Duration::from_secs(config.export.drain_timeout_secs)),
            write_grace: Duration::from_secs(config.export.write_timeout_secs + 2),
        };
        match probe.begin(config, export_stats, metrics) {
            Ok(()) => Ok(probe),
            Err(e) => {
                probe.arbiter.stop();
                Err(e)
            }
        }
    }
}

/// The metrics of every probe: capture totals, the flow table, the exporter.
fn probe_metrics(sink: &CaptureSink, export: &Arc<ExportStats>) -> Registry {
    let mut metrics = telemetry::registry();
    sink.stats.register(&mut metrics);
    sink.table.register(&mut metrics);
    export.register(&mut metrics);
    metrics
}

/// A running probe. [`Probe::shutdown`] ends it in order; dropped without it, the flows
/// still in the table are never exported.
pub struct Probe<S> {
    source: S,
    sink: CaptureSink,
    sweeper: Addr<Sweeper>,
    exporter: Addr<Exporter>,
    arbiter: Arbiter,
    telemetry: Option<Telemetry>,
    handoff: Arc<Handoff>,
    export_stats: Arc<ExportStats>,
    /// How long the exporter may take at shutdown; `None` for a batch job, which ends
    /// when every record is written.
    drain_timeout: Option<Duration>,
    /// How much longer than `drain_timeout` the exporter is waited for: one write.
    write_grace: Duration,
}

/// What a probe did over its run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Records of the flows still live at shutdown.
    pub at_shutdown: usize,
    /// What the exporter sent and could not send.
    pub export: DrainReport,
    /// False when the exporter did not finish within `export.drain_timeout_secs`: what it
    /// still held is counted in `export.not_sent`.
    pub drained: bool,
}

impl<S: Source> Probe<S> {
    /// Starts the source, then the telemetry listener where the source serves one.
    fn begin(
        &mut self,
        config: &Config,
        export: Arc<ExportStats>,
        mut metrics: Registry,
    ) -> Result<(), Failure> {
        self.source
            .start(&self.sink, self.sweeper.clone().recipient())?;
        if let Some(health) = self.source.health(export) {
            let health = Arc::new(health);
            health.register(&mut metrics);
            self.source.register(&mut metrics);
            self.telemetry = Telemetry::start(&config.telemetry.listen, metrics, health)
                .map_err(|e| Failure::Usage(e.into()))?;
        }
        self.source.announce(config);
        Ok(())
    }

    /// Runs until SIGTERM or SIGINT (logged), or until the source ends by itself.
    pub async fn run_until_signal(&mut self) {
        tokio::select! {
            sig = shutdown_signal() => tracing::info!(signal = sig, "shutting down"),
            () = self.source.ended() => {}
        }
    }

    /// Stops capture, ends every live flow, lets the exporter send what it holds (within
    /// `export.drain_timeout_secs` for a live probe; a batch job waits until everything
    /// is written), logs the totals once and stops the listener and the exporter's thread.
    /// An exporter that did not finish in time leaves its records counted as not sent.
    pub async fn shutdown(self) -> Result<Totals, Failure> {
        let Probe {
            source,
            sink,
            sweeper,
            exporter,
            arbiter,
            telemetry,
            handoff,
            export_stats,
            drain_timeout,
            write_grace,
        } = self;
        let stopped = tokio::task::spawn_blocking(move || source.stop())
            .await
            .unwrap_or(Ok(()));
        // The drain's time starts now: the table is handed to the queue a queue's worth
        // at a time as the exporter sends (a full table is larger than the queue), and
        // what is still unqueued at `until` is dropped and counted.
        let until = drain_timeout.map(|t| Instant::now() + t);
        let queue = handoff.clone();
        let pace = Box::new(move |n| queue.wait_for_room_for(n, until));
        let at_shutdown = sweeper.send(FlushAll { pace }).await.unwrap_or(0);
        let drain = match until {
            None => exporter.send(Drain { until: None }).await.ok(),
            Some(until) => {
                // The exporter stops sending at `until` and answers with exact counts; the
                // grace covers the one write (bounded by export.write_timeout_secs) in
                // progress then. Past it, what the exporter held is counted here.
                let drain = exporter.send(Drain { until: Some(until) });
                let left = until.saturating_duration_since(Instant::now());
                tokio::time::timeout(left + write_grace, drain)
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
        };
        let drained = drain.is_some();
        let export = drain.unwrap_or_else(|| abandon(&handoff, &export_stats, drain_timeout));
        log_totals(&sink, at_shutdown, export, &export_stats);
        if let Some(t) = telemetry {
            t.stop().await;
        }
        arbiter.stop();
        stopped.map(|()| Totals {
            at_shutdown,
            export,
            drained,
        })
    }
}

/// The exporter did not finish in time: what waits in the hand-off and what the transport
/// still holds will not be sent, and is counted so.
fn abandon(handoff: &Handoff, stats: &ExportStats, timeout: Option<Duration>) -> DrainReport {
    let queued = handoff.abandon();
    let held = stats.buffered.swap(0, Relaxed);
    stats.not_sent.fetch_add(held, Relaxed);
    tracing::warn!(
        timeout_secs = timeout.map_or(0, |t| t.as_secs()),
        queued,
        held,
        "the exporter did not finish within export.drain_timeout_secs; what it had not sent is counted as not sent"
    );
    DrainReport {
        exported: stats.records.load(Relaxed),
        not_sent: stats.not_sent.load(Relaxed),
    }
}

/// The last log line of a run: what was captured, metered and exported.
fn log_totals(sink: &CaptureSink, at_shutdown: usize, report: DrainReport, export: &ExportStats) {
    let capture: &CaptureStats = &sink.stats;
    let table = sink.table.stats();
    tracing::info!(
        packets = capture.frames.load(Relaxed),
        ignored = capture.ignored.load(Relaxed),
        kernel_drops = capture.kernel_drops.load(Relaxed),
        flows = table.flows,
        records = report.exported,
        not_sent = report.not_sent,
        records_at_shutdown = at_shutdown,
        evicted = table.evictions,
        evicted_noise = table.evicted_noise,
        records_cut = export.cut.load(Relaxed),
        export_errors = export.errors.load(Relaxed),
        connect_failures = export.connect_failures.load(Relaxed),
        "done"
    );
    if report.not_sent > 0 {
        tracing::warn!(
            not_sent = report.not_sent,
            "some flow records could not be sent"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{render, Format, Health};

    #[test]
    fn every_probe_metric_is_there_prefixed_with_counters_ending_in_total() {
        let config = Config::default();
        let sink = CaptureSink::new(
            Arc::new(FlowTable::new(config.flow.table())),
            Arc::default(),
        );
        let export = Arc::new(ExportStats::default());
        let mut metrics = probe_metrics(&sink, &export);
        Arc::new(Health::capture(export)).register(&mut metrics);
        let body = render(&metrics, Format::Prometheus).unwrap();
        for line in body.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(name.starts_with("podflow_"), "{line}");
        }
        for line in body.lines().filter(|l| l.ends_with(" counter")) {
            assert!(line.ends_with("_total counter"), "{line}");
        }
        for name in [
            "podflow_capture_packets_total",
            "podflow_capture_ignored_packets_total",
            "podflow_capture_dropped_packets_total",
            "podflow_metered_bytes_total",
            "podflow_live_flows",
            "podflow_flows_started_total",
            "podflow_flows_ended_total{reason=",
            "podflow_export_records_total",
            "podflow_export_records_not_sent_total",
            "podflow_export_errors_total",
            "podflow_export_bytes_total",
            "podflow_export_messages_total",
            "podflow_capture_up",
            "podflow_capture_interfaces",
            "podflow_build_info{version=",
        ] {
            assert!(body.contains(&format!("\n{name}")), "no {name} in\n{body}");
        }
    }
}
