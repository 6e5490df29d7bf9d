//! Rendering of known counters in both exposition formats, and format negotiation.

use std::sync::atomic::Ordering::Relaxed;

use super::*;
use crate::flow::{FlowKey, FlowTableConfig, Packet, NANOS_PER_SEC, PROTO_UDP};

fn udp(src_port: u16, octets: u32) -> Packet {
    Packet {
        key: FlowKey {
            src: 0x0a00_0001,
            dst: 0x0a00_0002,
            src_port,
            dst_port: 53,
            proto: PROTO_UDP,
            ..FlowKey::default()
        },
        octets,
        ..Packet::default()
    }
}

/// 10 frames read (2 ignored, 1 dropped); three flows of 100, 200 and 300 bytes, the first
/// two ended at a flush; 4 messages of 512 bytes in all carrying 2 records, 1 not sent.
fn sources() -> MetricSources {
    let capture = Arc::new(CaptureStats::default());
    capture.frames.store(10, Relaxed);
    capture.ignored.store(2, Relaxed);
    capture.kernel_drops.store(1, Relaxed);
    let table = Arc::new(FlowTable::new(FlowTableConfig {
        idle_timeout: 15 * NANOS_PER_SEC,
        active_timeout: 60 * NANOS_PER_SEC,
        tcp_end_linger: NANOS_PER_SEC,
        max_flows: 100,
        biflow: true,
    }));
    table.update(&udp(1000, 100), NANOS_PER_SEC);
    table.update(&udp(1001, 200), NANOS_PER_SEC);
    table.flush(2 * NANOS_PER_SEC, &mut Vec::new());
    table.update(&udp(1002, 300), 3 * NANOS_PER_SEC);
    let export = Arc::new(ExportStats::default());
    export.messages.store(4, Relaxed);
    export.records.store(2, Relaxed);
    export.octets.store(512, Relaxed);
    export.not_sent.store(1, Relaxed);
    MetricSources::new(capture, table, Arc::new(Health::capture(export)))
}

fn has_line(body: &str, line: &str) {
    assert!(
        body.lines().any(|l| l == line),
        "no line {line:?} in\n{body}"
    );
}

#[test]
fn prometheus_text_has_every_value() {
    let body = render(&sources().registry(), Format::Prometheus).unwrap();
    for line in [
        "podflow_capture_packets_total 10",
        "podflow_capture_ignored_packets_total 2",
        "podflow_capture_dropped_packets_total 1",
        "podflow_metered_bytes_total 600",
        "podflow_flows_started_total 3",
        "podflow_live_flows 1",
        "podflow_flows_ended_total{reason=\"idle_timeout\"} 0",
        "podflow_flows_ended_total{reason=\"active_timeout\"} 0",
        "podflow_flows_ended_total{reason=\"end_of_flow\"} 0",
        "podflow_flows_ended_total{reason=\"forced_end\"} 2",
        "podflow_flows_ended_total{reason=\"lack_of_resources\"} 0",
        "podflow_export_records_total 2",
        "podflow_export_records_not_sent_total 1",
        "podflow_export_bytes_total 512",
        "podflow_export_messages_total 4",
        "# TYPE podflow_capture_packets_total counter",
        "# TYPE podflow_live_flows gauge",
        "# TYPE podflow_build_info gauge",
    ] {
        has_line(&body, line);
    }
    has_line(
        &body,
        &format!(
            "podflow_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
    );
    // Process-wide, so other tests may have raised it: only its presence is checked.
    assert!(body.contains("\npodflow_export_errors_total "), "{body}");
    assert!(!body.contains("# EOF"));
}

#[test]
fn openmetrics_text_has_units_and_eof() {
    let body = render(&sources().registry(), Format::OpenMetrics).unwrap();
    for line in [
        "# TYPE podflow_capture_packets counter",
        "podflow_capture_packets_total 10",
        "# TYPE podflow_metered_bytes counter",
        "# UNIT podflow_metered_bytes bytes",
        "podflow_metered_bytes_total 600",
        "# UNIT podflow_export_bytes bytes",
        "podflow_flows_ended_total{reason=\"forced_end\"} 2",
        "# TYPE podflow_build info",
        "podflow_live_flows 1",
    ] {
        has_line(&body, line);
    }
    assert!(body.ends_with("# EOF\n"), "{body}");
}

#[test]
fn every_sample_name_is_prefixed_and_counters_end_in_total() {
    let body = render(&sources().registry(), Format::Prometheus).unwrap();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(name.starts_with("podflow_"), "{line}");
    }
    for line in body.lines().filter(|l| l.ends_with(" counter")) {
        assert!(line.ends_with("_total counter"), "{line}");
    }
}

#[derive(Debug)]
struct Watches;

impl Collector for Watches {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        out.encode_descriptor("metadata_watches", "Watches.", None, MetricType::Gauge)?
            .encode_gauge(&7u64)
    }
}

#[test]
fn extra_collectors_are_encoded_with_the_prefix() {
    let body = render(
        &sources().with_collector(Watches).registry(),
        Format::Prometheus,
    )
    .unwrap();
    has_line(&body, "podflow_metadata_watches 7");
    has_line(&body, "podflow_capture_packets_total 10");
}

#[test]
fn openmetrics_only_when_asked_for() {
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    assert_eq!(
        Format::negotiate(Some("text/plain, Application/OpenMetrics-Text ; q=0.3")),
        Format::OpenMetrics
    );
    assert_eq!(Format::negotiate(None), Format::Prometheus);
    assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;q=0")),
        Format::Prometheus
    );
    assert_eq!(
        Format::Prometheus.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(Format::OpenMetrics
        .content_type()
        .starts_with("application/openmetrics-text; version=1.0.0"));
}

#[test]
fn metadata_counters() {
    let stats = Arc::new(MetadataStats::default());
    stats.reload_errors.store(2, Relaxed);
    stats.identity_changes.store(3, Relaxed);
    stats.annotations_cut.store(5, Relaxed);
    let registry = sources()
        .with_collector(MetadataCollector(stats))
        .registry();
    let body = render(&registry, Format::Prometheus).unwrap();
    has_line(&body, "podflow_metadata_file_errors_total 2");
    has_line(&body, "podflow_metadata_identity_changes_total 3");
    has_line(&body, "podflow_metadata_labels_cut_total 0");
    has_line(&body, "podflow_metadata_annotations_cut_total 5");
}
