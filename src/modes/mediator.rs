//! Mediator mode: the view of the cluster (a List file, or watches of the API server),
//! the mediator between the exporters and the collector, the telemetry listener. Stops on
//! SIGTERM or SIGINT once what it received is sent or counted.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cluster::{file, watch::watch_cluster, ClusterView};
use crate::config::Config;
use crate::mediator::{Mediator, Settings};
use crate::metadata::PodSource;
use crate::pipeline::{self, shutdown_signal, Failure};
use crate::telemetry::{self, Health, Telemetry};

pub fn run(config: Config) -> Result<(), Failure> {
    pipeline::block_on(async move {
        let cfg = &config.mediator;
        let view = Arc::new(RwLock::new(ClusterView {
            cluster_ranges: cfg.cluster_cidrs.clone(),
            skew: cfg.clock_skew_ms as i64,
            // A file is the whole cluster; watches say so once they have listed.
            current: matches!(cfg.source, PodSource::File(_)),
            ..ClusterView::default()
        }));
        let max_label_bytes = config.k8s.max_metadata_bytes;
        let watches = match &cfg.source {
            PodSource::File(path) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let mut v = view.write().unwrap_or_else(|e| e.into_inner());
                let loaded = file::load(path, &mut v, max_label_bytes, now.as_millis() as i64)
                    .map_err(|e| Failure::Usage(anyhow::anyhow!("mediator.source = file: {e}")))?;
                tracing::info!(
                    pods = loaded.pods,
                    services = loaded.services,
                    endpoint_slices = loaded.slices,
                    nodes = loaded.nodes,
                    skipped = loaded.skipped,
                    file = %path.display(),
                    "the cluster view, from a file"
                );
                None
            }
            PodSource::Kube => {
                let usage = |e: &dyn std::fmt::Display| {
                    Failure::Usage(anyhow::anyhow!(
                        "mediator.source = kube: no Kubernetes client configuration (in-cluster service account or kubeconfig): {e}"
                    ))
                };
                let client = crate::metadata::api_client().await.map_err(|e| usage(&e))?;
                Some(watch_cluster(
                    client,
                    view.clone(),
                    max_label_bytes,
                    Duration::from_secs(cfg.sync_grace_secs),
                ))
            }
        };
        let mediator = Mediator::start(Settings {
            mediator: cfg,
            export: &config.export,
            ipfix: &config.ipfix,
            view,
        })
        .map_err(|e| Failure::Usage(e.into()))?;
        let mut health = Health::serving("the IPFIX receiver", mediator.export.clone());
        if let Some(w) = &watches {
            health = health.relying_on(w.clone());
        }
        let health = Arc::new(health);
        let mut registry = telemetry::registry();
        mediator.register(&mut registry);
        if let Some(w) = &watches {
            crate::cluster::watch::register(&mut registry, w);
        }
        let telemetry = Telemetry::start(&config.telemetry.listen, registry, health.clone())
            .map_err(|e| Failure::Usage(e.into()))?;
        health.running.store(true, Ordering::Relaxed);
        tracing::info!(
            listen = ?mediator.bound,
            collector = %config.export.collector,
            source = %cfg.source,
            telemetry = %config.telemetry.listen,
            "mediator running"
        );

        let sig = shutdown_signal().await;
        tracing::info!(signal = sig, "shutting down");
        health.running.store(false, Ordering::Relaxed);
        mediator.shutdown(Duration::from_secs(config.export.drain_timeout_secs));
        if let Some(t) = telemetry {
            t.stop().await;
        }
        Ok(())
    })
}
