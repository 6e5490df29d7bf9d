//! Webhook mode: the Mutating Admission Webhook Server on `webhook.listen` (HTTPS) and
//! the telemetry listener beside it. Stops on SIGTERM or SIGINT once the requests in
//! progress are answered.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::Config;
use crate::pipeline::{self, shutdown_signal, Failure};
use crate::telemetry::{self, Health, Telemetry};
use crate::webhook::server::{Admission, WebhookMetrics, WebhookServer};
use crate::webhook::Injector;

pub fn run(config: Config) -> Result<(), Failure> {
    let admission: Arc<dyn Admission> = Arc::new(Injector::new(&config));
    pipeline::block_on(async move {
        let metrics = Arc::new(WebhookMetrics::default());
        let health = Arc::new(Health::server("the HTTPS listener"));
        let server = WebhookServer::start(&config.webhook, admission, metrics.clone())
            .map_err(|e| Failure::Usage(e.into()))?;
        let mut registry = telemetry::registry();
        metrics.register(&mut registry);
        let telemetry = Telemetry::start(&config.telemetry.listen, registry, health.clone())
            .map_err(|e| Failure::Usage(e.into()))?;
        health.running.store(true, Ordering::Relaxed);
        tracing::info!(
            listen = %server.local_addr(),
            telemetry = %config.telemetry.listen,
            "serving admission reviews"
        );

        let sig = shutdown_signal().await;
        tracing::info!(signal = sig, "shutting down");
        health.running.store(false, Ordering::Relaxed);
        server.stop().await;
        if let Some(t) = telemetry {
            t.stop().await;
        }
        Ok(())
    })
}
