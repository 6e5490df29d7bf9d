//! The registry's own content, the encoding in both exposition formats, and format
//! negotiation.

use super::*;

#[derive(Debug)]
struct Watches;

impl Collector for Watches {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        encode_gauges(&mut out, [("metadata_watches", "Watches.", 7)])?;
        encode_counters(
            &mut out,
            [("metadata_read", "Bytes read.", Some(Unit::Bytes), 9)],
        )
    }
}

fn has_line(body: &str, line: &str) {
    assert!(
        body.lines().any(|l| l == line),
        "no line {line:?} in\n{body}"
    );
}

#[test]
fn collectors_are_encoded_with_the_prefix_beside_the_build_info() {
    let mut registry = registry();
    registry.register_collector(Box::new(Watches));
    let body = render(&registry, Format::Prometheus).unwrap();
    has_line(&body, "podflow_metadata_watches 7");
    has_line(&body, "podflow_metadata_read_bytes_total 9");
    has_line(&body, "# TYPE podflow_build_info gauge");
    has_line(
        &body,
        &format!(
            "podflow_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
    );
    assert!(!body.contains("# EOF"));

    let body = render(&registry, Format::OpenMetrics).unwrap();
    has_line(&body, "# TYPE podflow_build info");
    has_line(&body, "# UNIT podflow_metadata_read_bytes bytes");
    assert!(body.ends_with("# EOF\n"), "{body}");
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
