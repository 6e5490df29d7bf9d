//! Prometheus metrics. Every value is read from the shared counters when `/metrics` is
//! scraped, so nothing is added to the packet path. Exposed names (prefix `podflow_`):
//!
//! | name | type | what |
//! |---|---|---|
//! | `podflow_capture_packets_total` | counter | frames read from the interfaces or the file |
//! | `podflow_capture_ignored_packets_total` | counter | frames not metered (not IP, undecodable) |
//! | `podflow_capture_dropped_packets_total` | counter | frames the kernel dropped |
//! | `podflow_metered_bytes_total` | counter | IP bytes metered into flows |
//! | `podflow_live_flows` | gauge | flows in the flow table |
//! | `podflow_flows_started_total` | counter | flows created |
//! | `podflow_flows_ended_total{reason}` | counter | flow records ended, by IPFIX flowEndReason |
//! | `podflow_export_records_total` | counter | flow records handed to the transport |
//! | `podflow_export_records_not_sent_total` | counter | flow records that could not be sent |
//! | `podflow_export_errors_total` | counter | failed writes to the collector |
//! | `podflow_export_bytes_total` | counter | bytes of the messages sent |
//! | `podflow_export_messages_total` | counter | IPFIX messages (or JSON lines) sent |
//! | `podflow_capture_up` | gauge | 1 while capture threads run, 0 otherwise |
//! | `podflow_capture_interfaces` | gauge | interfaces captured now |
//! | `podflow_build_info{version}` | info | always 1 |
//!
//! Node mode adds `podflow_node_*` (namespaces, interfaces, namespace errors) and
//! `podflow_pod_index_*` (pods, addresses, watch failures, lists); see [`NodeCollector`].

use crate::metadata::MetadataStats;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::health::Health;
use crate::capture::CaptureStats;
use crate::export::ExportStats;
use crate::flow::{EndReason, FlowTable};

/// Prefix of every metric name.
const PREFIX: &str = "podflow";

/// The shared state that `/metrics` and `/readyz` read.
pub struct MetricSources {
    /// The probe's capture totals, flow table and exporter counters (the exporter's through
    /// `health`); absent in a mode that meters nothing (the webhook).
    probe: Option<(Arc<CaptureStats>, Arc<FlowTable>)>,
    /// Readiness, and through it the exporter's counters.
    pub health: Arc<Health>,
    /// More metric families, encoded after the probe's own (metadata, webhook, ...). Their
    /// names get the `podflow_` prefix too.
    pub extra: Vec<Box<dyn Collector>>,
}

impl MetricSources {
    /// The probe's own metrics, with no extra collector.
    pub fn new(capture: Arc<CaptureStats>, table: Arc<FlowTable>, health: Arc<Health>) -> Self {
        MetricSources {
            probe: Some((capture, table)),
            health,
            extra: Vec::new(),
        }
    }

    /// Only readiness and the collectors added with [`MetricSources::with_collector`]: for
    /// a mode that captures nothing.
    pub fn without_probe(health: Arc<Health>) -> Self {
        MetricSources {
            probe: None,
            health,
            extra: Vec::new(),
        }
    }

    /// Adds a collector read at every scrape.
    pub fn with_collector(mut self, collector: impl Collector) -> Self {
        self.extra.push(Box::new(collector));
        self
    }

    /// A registry holding the probe's collector then the extra ones.
    pub fn registry(self) -> Registry {
        let mut registry = Registry::with_prefix(PREFIX);
        if let (Some((capture, table)), Some(export)) = (self.probe, self.health.export.clone()) {
            registry.register_collector(Box::new(ProbeCollector {
                capture,
                table,
                export,
                health: self.health,
            }));
        }
        for collector in self.extra {
            registry.register_collector(collector);
        }
        registry
    }
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

/// Reads the capture, flow table and exporter counters at each scrape.
struct ProbeCollector {
    capture: Arc<CaptureStats>,
    table: Arc<FlowTable>,
    export: Arc<ExportStats>,
    health: Arc<Health>,
}

impl fmt::Debug for ProbeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeCollector").finish_non_exhaustive()
    }
}

impl Collector for ProbeCollector {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        let table = self.table.stats();
        let read = |n: &AtomicU64| n.load(Relaxed);
        let capture = &self.capture;
        let export = &self.export;
        let counters: [(&str, &str, Option<Unit>, u64); 10] = [
            (
                "capture_packets",
                "Frames read from the interfaces or the capture file.",
                None,
                read(&capture.frames),
            ),
            (
                "capture_ignored_packets",
                "Frames not metered: not IP, or not decodable.",
                None,
                read(&capture.ignored),
            ),
            (
                "capture_dropped_packets",
                "Frames the kernel dropped before podflow could read them.",
                None,
                read(&capture.kernel_drops),
            ),
            (
                "metered",
                "IP bytes (headers and payload) metered into flows.",
                Some(Unit::Bytes),
                table.octets,
            ),
            ("flows_started", "Flows created.", None, table.flows),
            (
                "export_records",
                "Flow records handed to the transport.",
                None,
                read(&export.records),
            ),
            (
                "export_records_not_sent",
                "Flow records that could not be sent: collector down, buffer full, write errors.",
                None,
                read(&export.not_sent),
            ),
            (
                "export_errors",
                "Failed writes to the collector.",
                None,
                read(&export.errors),
            ),
            (
                "export",
                "Bytes of the messages sent to the collector.",
                Some(Unit::Bytes),
                read(&export.octets),
            ),
            (
                "export_messages",
                "IPFIX messages (or JSON lines) sent to the collector.",
                None,
                read(&export.messages),
            ),
        ];
        for (name, help, unit, value) in &counters {
            out.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?
                .encode_counter::<NoLabelSet, _, u64>(value, None)?;
        }
        out.encode_descriptor(
            "live_flows",
            "Flows in the flow table.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&self.table.len())?;
        out.encode_descriptor(
            "capture_interfaces",
            "Interfaces being captured now; fewer than expected when a configured one is missing.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&(self.health.captured_interfaces() as u64))?;
        out.encode_descriptor(
            "capture_up",
            "1 while capture runs, 0 while it does not (/readyz says why).",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&u64::from(self.health.is_running()))?;

        let mut ended = out.encode_descriptor(
            "flows_ended",
            "Flow records ended, by IPFIX flowEndReason.",
            None,
            MetricType::Counter,
        )?;
        for reason in EndReason::ALL {
            ended
                .encode_family(&[("reason", reason.as_str())])?
                .encode_counter::<NoLabelSet, _, u64>(&table.ended(reason), None)?;
        }

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

/// The metadata source's counters: Downward-API files that could not be used, identity
/// changes, metadata left out by the size cap.
pub struct MetadataCollector(pub Arc<MetadataStats>);

impl fmt::Debug for MetadataCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataCollector").finish_non_exhaustive()
    }
}

impl Collector for MetadataCollector {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let counters: [(&str, &str, &AtomicU64); 4] = [
            (
                "metadata_file_errors",
                "Versions of the labels or annotations file that could not be read or parsed.",
                &s.reload_errors,
            ),
            (
                "metadata_identity_changes",
                "Pod identities built: at start, then one per change of labels or annotations.",
                &s.identity_changes,
            ),
            (
                "metadata_labels_cut",
                "Labels left out of records by k8s.max_metadata_bytes.",
                &s.labels_cut,
            ),
            (
                "metadata_annotations_cut",
                "Annotations left out of records by k8s.max_metadata_bytes.",
                &s.annotations_cut,
            ),
        ];
        encode_counters(&mut out, counters.map(|(n, h, v)| (n, h, v.load(Relaxed))))
    }
}

/// Encodes unlabelled counters, each as (name, help, value).
pub(crate) fn encode_counters<'a>(
    out: &mut DescriptorEncoder,
    counters: impl IntoIterator<Item = (&'a str, &'a str, u64)>,
) -> fmt::Result {
    for (name, help, value) in counters {
        out.encode_descriptor(name, help, None, MetricType::Counter)?
            .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}

/// Encodes unlabelled gauges, each as (name, help, value).
fn encode_gauges<'a>(
    out: &mut DescriptorEncoder,
    gauges: impl IntoIterator<Item = (&'a str, &'a str, usize)>,
) -> fmt::Result {
    for (name, help, value) in gauges {
        out.encode_descriptor(name, help, None, MetricType::Gauge)?
            .encode_gauge(&(value as u64))?;
    }
    Ok(())
}

/// Node mode's capture: the namespaces it captures.
pub struct NodeCollector(pub Arc<crate::node::NodeStats>);

impl fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCollector").finish_non_exhaustive()
    }
}

impl Collector for NodeCollector {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        let n = &self.0;
        let gauges: [(&str, &str, usize); 3] = [
            (
                "node_namespaces",
                "Pod network namespaces captured now.",
                n.namespaces.load(Relaxed),
            ),
            (
                "node_namespaces_with_pod",
                "Captured namespaces whose pod the index knows.",
                n.namespaces_with_pod.load(Relaxed),
            ),
            (
                "node_interfaces",
                "Interfaces captured now, pod namespaces and host together.",
                n.interfaces.load(Relaxed),
            ),
        ];
        encode_gauges(&mut out, gauges)?;
        let counters: [(&str, &str, u64); 3] = [
            (
                "node_namespaces_added",
                "Network namespaces found since start.",
                n.namespaces_added.load(Relaxed),
            ),
            (
                "node_namespaces_removed",
                "Network namespaces gone since start (their flows ended and exported).",
                n.namespaces_removed.load(Relaxed),
            ),
            (
                "node_namespace_errors",
                "Failures to open or enter a namespace or to list its interfaces (each retried with backoff).",
                n.namespace_errors.load(Relaxed),
            ),
        ];
        encode_counters(&mut out, counters)
    }
}

/// Node mode's pod index: the pods it holds and how its source fares.
pub struct PodIndexCollector(pub crate::metadata::Pods);

impl fmt::Debug for PodIndexCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PodIndexCollector").finish_non_exhaustive()
    }
}

impl Collector for PodIndexCollector {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        let pods = &self.0;
        let summary = pods
            .index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .summary();
        let gauges: [(&str, &str, usize); 2] = [
            ("pod_index_pods", "Pods in the index.", summary.pods),
            (
                "pod_index_addresses",
                "Pod addresses the index resolves.",
                summary.addresses,
            ),
        ];
        encode_gauges(&mut out, gauges)?;
        let p = &pods.stats;
        let counters: [(&str, &str, u64); 2] = [
            (
                "pod_index_watch_failures",
                "Failed lists or watches of pods on the API server (each retried with backoff).",
                p.failures.load(Relaxed),
            ),
            (
                "pod_index_lists",
                "Full pod lists applied to the index (the first, then one per relist).",
                p.lists.load(Relaxed),
            ),
        ];
        encode_counters(&mut out, counters)
    }
}
