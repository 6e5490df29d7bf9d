//! The webhook's counters: `/mutate` outcomes, skip reasons, latency, certificate
//! renewals; encoded at each scrape of the telemetry listener.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, NoLabelSet};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::telemetry::{collector, encode_counters, Registry};
use crate::webhook::Decision;

/// How one `/mutate` request ended, as counted in `podflow_webhook_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Injected,
    Skipped(&'static str),
    NotApplicable,
    BadRequest,
    TooLarge,
    Timeout,
    FailedOpen,
}

impl Outcome {
    /// Label values, in the order of [`WebhookMetrics::outcomes`].
    const LABELS: [&'static str; 7] = [
        "injected",
        "skipped",
        "not_applicable",
        "bad_request",
        "too_large",
        "timeout",
        "failed_open",
    ];

    fn index(self) -> usize {
        match self {
            Outcome::Injected => 0,
            Outcome::Skipped(_) => 1,
            Outcome::NotApplicable => 2,
            Outcome::BadRequest => 3,
            Outcome::TooLarge => 4,
            Outcome::Timeout => 5,
            Outcome::FailedOpen => 6,
        }
    }
}

impl From<Decision> for Outcome {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Injected => Outcome::Injected,
            Decision::Skipped(reason) => Outcome::Skipped(reason),
            Decision::NotApplicable => Outcome::NotApplicable,
        }
    }
}

/// The webhook's counters, read at each scrape of the telemetry listener. Exposed names:
///
/// | name | type | what |
/// |---|---|---|
/// | `podflow_webhook_requests_total{outcome}` | counter | `/mutate` requests: `injected`, `skipped`, `not_applicable` (200), `bad_request` (400), `too_large` (413), `timeout` (408), `failed_open` (200, admitted unchanged after an internal fault) |
/// | `podflow_webhook_skipped_total{reason}` | counter | pods not injected, by reason |
/// | `podflow_webhook_mutate_duration_seconds` | histogram | time from request head to response, body read included |
/// | `podflow_webhook_certificate_reloads_total` | counter | renewed certificates put in service |
/// | `podflow_webhook_certificate_rejected_total` | counter | changes of the files that could not be served |
pub struct WebhookMetrics {
    outcomes: [AtomicU64; Outcome::LABELS.len()],
    skipped: Mutex<Vec<(&'static str, u64)>>,
    latency: Histogram,
    cert_reloads: AtomicU64,
    cert_rejected: AtomicU64,
}

impl Default for WebhookMetrics {
    fn default() -> Self {
        WebhookMetrics {
            outcomes: Default::default(),
            skipped: Mutex::new(Vec::new()),
            // 100 µs to about 1.6 s.
            latency: Histogram::new(exponential_buckets(0.0001, 2.0, 15)),
            cert_reloads: AtomicU64::new(0),
            cert_rejected: AtomicU64::new(0),
        }
    }
}

impl fmt::Debug for WebhookMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookMetrics").finish_non_exhaustive()
    }
}

impl WebhookMetrics {
    /// Counts a renewed certificate put in service.
    pub(super) fn certificate_reloaded(&self) {
        self.cert_reloads.fetch_add(1, Relaxed);
    }

    /// Counts a change of the certificate files that could not be served.
    pub(super) fn certificate_rejected(&self) {
        self.cert_rejected.fetch_add(1, Relaxed);
    }

    /// Counts one `/mutate` request and its latency.
    pub(super) fn observe(&self, outcome: Outcome, took: Duration) {
        self.outcomes[outcome.index()].fetch_add(1, Relaxed);
        if let Outcome::Skipped(reason) = outcome {
            let mut skipped = self.skipped.lock().unwrap_or_else(PoisonError::into_inner);
            match skipped.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, n)) => *n += 1,
                None => skipped.push((reason, 1)),
            }
        }
        self.latency.observe(took.as_secs_f64());
    }

    /// Registers the `podflow_webhook_*` families.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        let m = self.clone();
        registry.register_collector(collector(move |out| {
            let mut requests = out.encode_descriptor(
                "webhook_requests",
                "Requests to /mutate, by outcome.",
                None,
                MetricType::Counter,
            )?;
            for (label, n) in Outcome::LABELS.iter().zip(&m.outcomes) {
                requests
                    .encode_family(&[("outcome", *label)])?
                    .encode_counter::<NoLabelSet, _, u64>(&n.load(Relaxed), None)?;
            }
            let skipped = m
                .skipped
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut by_reason = out.encode_descriptor(
                "webhook_skipped",
                "Pods that were not given the sidecar, by reason.",
                None,
                MetricType::Counter,
            )?;
            for (reason, n) in skipped {
                by_reason
                    .encode_family(&[("reason", reason)])?
                    .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
            m.latency.encode(out.encode_descriptor(
                "webhook_mutate_duration",
                "Time to answer /mutate, from the request head to the response.",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?)?;
            let certs: [(&str, &str, &AtomicU64); 2] = [
                (
                    "webhook_certificate_reloads",
                    "Renewed certificates put in service without a restart.",
                    &m.cert_reloads,
                ),
                (
                    "webhook_certificate_rejected",
                    "Changes of the certificate files that could not be served.",
                    &m.cert_rejected,
                ),
            ];
            encode_counters(out, certs.map(|(n, h, v)| (n, h, None, v.load(Relaxed))))
        }));
    }
}
