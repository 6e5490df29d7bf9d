//! Node mode: one probe per node. The pod index (a watch on the API server, or a PodList
//! file) says who is who; the node capture thread captures inside every pod network
//! namespace and on the node's own interfaces into one flow table; the sweeper ends flows
//! and the exporter attributes each record to the pod it was observed in and its peer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::Failure;
use crate::capture::live::CaptureSink;
use crate::capture::CaptureStats;
use crate::config::Config;
use crate::export::{Enricher, Exporter};
use crate::flow::{Clock, FlowTable, FlushPoints, Sweeper};
use crate::metadata::{start_source, IdentityRules, PodIdentity};
use crate::node::{NodeCapture, SharedNamespaces};
use crate::telemetry::{Health, MetricSources, NodeCollector, Telemetry};

pub fn run(config: Config) -> Result<(), Failure> {
    let usage = Failure::Usage;
    let table = Arc::new(FlowTable::new(config.flow.table()));
    let capture_stats = Arc::new(CaptureStats::default());
    let sink = CaptureSink::new(table.clone(), capture_stats.clone());
    let namespaces = SharedNamespaces::default();

    System::new().block_on(async move {
        let rules = IdentityRules::from_config(&config.k8s);
        let pods = start_source(&config.k8s.source, rules)
            .await
            .map_err(|e| usage(e.into()))?;
        let node = node_identity(&config);
        tracing::info!(node = %node.node_name, source = %config.k8s.source, "node mode");

        let encoder = super::encoder_options(&config, true);
        let enricher = Enricher::for_node(
            Arc::new(node),
            sink.registry.clone(),
            namespaces.clone(),
            pods.index.clone(),
        );
        let exporter = super::open_exporter(&config, encoder, enricher, &table, &capture_stats)?;
        let health = Arc::new(Health::capture(exporter.stats()));

        // The exporter does blocking I/O (TCP connects, file writes): its own thread.
        let export_arbiter = Arbiter::new();
        let exporter = Exporter::start_in_arbiter(&export_arbiter.handle(), move |_| exporter);
        let sweeper = Sweeper::new(
            table.clone(),
            Clock::Wall,
            Duration::from_millis(config.flow.sweep_interval_ms),
            exporter.clone().recipient(),
        )
        .start();
        let flush = sweeper.clone();
        let capture = NodeCapture::start(
            &config.node,
            sink,
            pods.index.clone(),
            namespaces,
            move |points| flush.do_send(FlushPoints(points)),
        )
        .map_err(|e| usage(e.into()))?;
        let telemetry = Telemetry::start(
            &config.telemetry.listen,
            MetricSources::new(capture_stats.clone(), table.clone(), health.clone())
                .with_collector(NodeCollector {
                    node: capture.stats(),
                    pods,
                }),
        )
        .map_err(|e| usage(e.into()))?;
        tracing::info!(
            collector = %config.export.collector,
            telemetry = %config.telemetry.listen,
            netns_dirs = ?config.node.netns_dirs,
            "capturing every network namespace of the node"
        );

        let node_stats = capture.stats();
        super::serve_until_signal(&health, || {
            (
                capture.running(),
                node_stats.interfaces.load(Ordering::Relaxed),
            )
        })
        .await;
        let _ = tokio::task::spawn_blocking(move || capture.stop()).await;
        health.running.store(false, Ordering::Relaxed);
        super::finish(
            &sweeper,
            &exporter,
            &table,
            &capture_stats,
            config.export.drain_timeout_secs,
        )
        .await;
        if let Some(t) = telemetry {
            t.stop().await;
        }
        export_arbiter.stop();
        System::current().stop();
        Ok(())
    })
}

/// The identity of records observed outside any known pod: the node (from `k8s.node_name`,
/// else the host name) and the cluster.
fn node_identity(config: &Config) -> PodIdentity {
    let node_name = config.k8s.node_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        tracing::warn!(
            hostname = %host,
            "k8s.node_name is not set (the DaemonSet sets PODFLOW_K8S__NODE_NAME from spec.nodeName); using the host name"
        );
        host
    });
    PodIdentity {
        node_name,
        node_ip: config.k8s.node_ip,
        cluster_name: config.k8s.cluster_name.clone().unwrap_or_default(),
        ..PodIdentity::default()
    }
}
