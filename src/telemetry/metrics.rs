//! Prometheus metrics: the registry every domain registers its collectors into, and the
//! encoding `/metrics` answers with. Every value is read from the domains' shared counters
//! when `/metrics` is scraped, so nothing is added to the packet path. Every name gets
//! the prefix `podflow_`; the registry holds `podflow_build_info{version}` (always 1).
//!
//! Who registers what:
//!
//! | names | registered by |
//! |---|---|
//! | `podflow_capture_packets_total`, `_ignored_packets_total`, `_dropped_packets_total` | `capture::CaptureStats` |
//! | `podflow_capture_up`, `podflow_capture_interfaces` | [`Health`](super::Health) of a probe |
//! | `podflow_metered_bytes_total`, `podflow_live_flows`, `podflow_flows_started_total`, `podflow_flows_ended_total{reason}` | `flow::FlowTable` |
//! | `podflow_export_*` | `export::ExportStats` |
//! | `podflow_metadata_*`, `podflow_pod_index_*` | `metadata` (the sidecar's files, node mode's pod index) |
//! | `podflow_node_*` | `node::NodeStats` |
//! | `podflow_webhook_*` | `webhook::server::WebhookMetrics` |

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
pub use prometheus_client::registry::{Registry, Unit};

/// Prefix of every metric name.
const PREFIX: &str = "podflow";

/// An empty registry but for `podflow_build_info`; names registered get the prefix.
pub fn registry() -> Registry {
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register_collector(Box::new(BuildInfo));
    registry
}

/// Exposition format of `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text, for scrapers that ask for it (Prometheus does by default).
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for everything else (curl, older scrapers).
    Prometheus,
}

impl Format {
    /// OpenMetrics when the `Accept` header lists `application/openmetrics-text` with a
    /// non-zero quality, else the Prometheus text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let wants_openmetrics = accept.is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut params = range.split(';').map(str::trim);
                let media = params.next().unwrap_or_default();
                media.eq_ignore_ascii_case("application/openmetrics-text")
                    && !params.any(|p| {
                        p.strip_prefix("q=")
                            .and_then(|q| q.parse::<f32>().ok())
                            .is_some_and(|q| q <= 0.0)
                    })
            })
        });
        if wants_openmetrics {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

/// Encodes every metric of `registry` now.
pub fn render(registry: &Registry, format: Format) -> Result<String, fmt::Error> {
    let mut body = String::with_capacity(4096);
    match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut body, registry)?,
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut body, registry)?
        }
    }
    Ok(body)
}

/// A collector that encodes, at each scrape, what `encode` reads then.
pub fn collector<F>(encode: F) -> Box<dyn Collector>
where
    F: Fn(&mut DescriptorEncoder) -> fmt::Result + Send + Sync + 'static,
{
    Box::new(ReadAtScrape(encode))
}

struct ReadAtScrape<F>(F);

impl<F> fmt::Debug for ReadAtScrape<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadAtScrape").finish_non_exhaustive()
    }
}

impl<F> Collector for ReadAtScrape<F>
where
    F: Fn(&mut DescriptorEncoder) -> fmt::Result + Send + Sync + 'static,
{
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        (self.0)(&mut out)
    }
}

/// Asserts that `registry`, encoded in the Prometheus text format, has each of `lines`;
/// gives the body.
#[cfg(test)]
pub fn assert_lines(registry: &Registry, lines: &[&str]) -> String {
    let body = render(registry, Format::Prometheus).unwrap();
    for line in lines {
        assert!(body.lines().any(|l| l == *line), "no {line:?} in\n{body}");
    }
    body
}

/// Encodes unlabelled counters, each as (name, help, unit, value).
pub fn encode_counters<'a>(
    out: &mut DescriptorEncoder,
    counters: impl IntoIterator<Item = (&'a str, &'a str, Option<Unit>, u64)>,
) -> fmt::Result {
    for (name, help, unit, value) in counters {
        out.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?
            .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}

/// Encodes unlabelled gauges, each as (name, help, value).
pub fn encode_gauges<'a>(
    out: &mut DescriptorEncoder,
    gauges: impl IntoIterator<Item = (&'a str, &'a str, u64)>,
) -> fmt::Result {
    for (name, help, value) in gauges {
        out.encode_descriptor(name, help, None, MetricType::Gauge)?
            .encode_gauge(&value)?;
    }
    Ok(())
}

/// `podflow_build_info{version}`.
#[derive(Debug)]
struct BuildInfo;

impl Collector for BuildInfo {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        out.encode_descriptor(
            "build",
            "Version of this podflow binary.",
            None,
            MetricType::Info,
        )?
        .encode_info(&[("version", env!("CARGO_PKG_VERSION"))])
    }
}

#[cfg(test)]
mod tests;
