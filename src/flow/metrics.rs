//! The flow table's metrics, read from its counters at each scrape.

use std::sync::Arc;

use prometheus_client::encoding::NoLabelSet;
use prometheus_client::metrics::MetricType;

use super::{EndReason, FlowTable};
use crate::telemetry::{collector, encode_counters, encode_gauges, Registry, Unit};

impl FlowTable {
    /// Registers `podflow_metered_bytes_total`, `podflow_flows_started_total`,
    /// `podflow_live_flows` and `podflow_flows_ended_total{reason}`.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        let table = self.clone();
        registry.register_collector(collector(move |out| {
            let stats = table.stats();
            encode_counters(
                out,
                [
                    (
                        "metered",
                        "IP bytes (headers and payload) metered into flows.",
                        Some(Unit::Bytes),
                        stats.octets,
                    ),
                    ("flows_started", "Flows created.", None, stats.flows),
                ],
            )?;
            encode_gauges(
                out,
                [("live_flows", "Flows in the flow table.", table.len() as u64)],
            )?;
            let mut ended = out.encode_descriptor(
                "flows_ended",
                "Flow records ended, by IPFIX flowEndReason.",
                None,
                MetricType::Counter,
            )?;
            for reason in EndReason::ALL {
                ended
                    .encode_family(&[("reason", reason.as_str())])?
                    .encode_counter::<NoLabelSet, _, u64>(&stats.ended(reason), None)?;
            }
            Ok(())
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{FlowKey, Packet, NANOS_PER_SEC, PROTO_UDP};
    use crate::telemetry::{assert_lines, registry, render, Format};

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

    /// Three flows of 100, 200 and 300 bytes, the first two ended at a flush.
    #[test]
    fn table_counters_and_gauges() {
        let table = Arc::new(FlowTable::new(crate::flow::Config::default().table()));
        table.update(&udp(1000, 100), NANOS_PER_SEC);
        table.update(&udp(1001, 200), NANOS_PER_SEC);
        table.flush(2 * NANOS_PER_SEC, &mut Vec::new());
        table.update(&udp(1002, 300), 3 * NANOS_PER_SEC);
        let mut registry = registry();
        table.register(&mut registry);
        assert_lines(
            &registry,
            &[
                "podflow_metered_bytes_total 600",
                "podflow_flows_started_total 3",
                "podflow_live_flows 1",
                "# TYPE podflow_live_flows gauge",
                "podflow_flows_ended_total{reason=\"idle_timeout\"} 0",
                "podflow_flows_ended_total{reason=\"active_timeout\"} 0",
                "podflow_flows_ended_total{reason=\"end_of_flow\"} 0",
                "podflow_flows_ended_total{reason=\"forced_end\"} 2",
                "podflow_flows_ended_total{reason=\"lack_of_resources\"} 0",
            ],
        );
        let body = render(&registry, Format::OpenMetrics).unwrap();
        for line in [
            "# TYPE podflow_metered_bytes counter",
            "# UNIT podflow_metered_bytes bytes",
            "podflow_metered_bytes_total 600",
        ] {
            assert!(body.lines().any(|l| l == line), "no {line:?} in\n{body}");
        }
    }
}
