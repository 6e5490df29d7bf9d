//! Webhook mode: the Mutating Admission Webhook Server on `webhook.listen` (HTTPS) and
//! the telemetry listener beside it. Stops on SIGTERM or SIGINT once the requests in
//! progress are answered.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use tokio::signal::unix::{signal, SignalKind};

use super::Failure;
use crate::capture::CaptureStats;
use crate::config::Config;
use crate::export::ExportStats;
use crate::flow::{FlowTable, FlowTableConfig};
use crate::telemetry::{Health, MetricSources, Telemetry};
use crate::webhook::server::{Admission, WebhookMetrics, WebhookServer};
use crate::webhook::Injector;

pub fn run(config: Config) -> Result<(), Failure> {
    let admission: Arc<dyn Admission> = Arc::new(Injector::new(&config));
    System::new().block_on(async move {
        let metrics = Arc::new(WebhookMetrics::default());
        let health = Arc::new(Health::new(Arc::new(ExportStats::default())));
        // There is no exporter in this mode: only the listener decides readiness, through
        // the flag the capture side uses elsewhere ("serving" here).
        health.export.ready.store(true, Ordering::Relaxed);
        let server = WebhookServer::start(&config.webhook, admission, metrics.clone())
            .map_err(|e| Failure::Usage(e.into()))?;
        let telemetry = Telemetry::start(
            &config.telemetry.listen,
            sources(&config, &health, &metrics),
        )
        .map_err(|e| Failure::Usage(e.into()))?;
        health.capture_running.store(true, Ordering::Relaxed);
        tracing::info!(
            listen = %server.local_addr(),
            telemetry = %config.telemetry.listen,
            "serving admission reviews"
        );

        let sig = wait_for_stop().await;
        tracing::info!(signal = sig, "shutting down");
        health.capture_running.store(false, Ordering::Relaxed);
        server.stop().await;
        if let Some(t) = telemetry {
            t.stop().await;
        }
        System::current().stop();
        Ok(())
    })
}

/// What `/metrics` shows: the probe's own families (all zero here: nothing is captured)
/// and the webhook's.
fn sources(config: &Config, health: &Arc<Health>, metrics: &Arc<WebhookMetrics>) -> MetricSources {
    let table = FlowTable::new(FlowTableConfig {
        idle_timeout: config.flow.idle_timeout(),
        active_timeout: config.flow.active_timeout(),
        tcp_end_linger: config.flow.tcp_end_linger(),
        max_flows: 1,
        biflow: config.flow.biflow,
    });
    MetricSources::new(
        Arc::new(CaptureStats::default()),
        Arc::new(table),
        health.clone(),
    )
    .with_collector(metrics.collector())
}

/// Resolves on the first SIGTERM or SIGINT, with its name.
async fn wait_for_stop() -> &'static str {
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => stream.recv().await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = term => "SIGTERM",
        Ok(()) = tokio::signal::ctrl_c() => "SIGINT",
    }
}
