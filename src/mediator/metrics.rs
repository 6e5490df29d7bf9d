//! The mediator's metrics, read at each scrape: what its exporters sent and did wrong,
//! its sessions, and the size of its view of the cluster.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, PoisonError, RwLock};

use super::output::Received;
use super::receive::ReceiveStats;
use crate::cluster::ClusterView;
use crate::telemetry::{collector, encode_counters, encode_gauges, Registry};

pub fn register(
    registry: &mut Registry,
    received: &Arc<Received>,
    receive: &Arc<ReceiveStats>,
    view: &Arc<RwLock<ClusterView>>,
) {
    let (r, x, v) = (received.clone(), receive.clone(), view.clone());
    registry.register_collector(collector(move |out| {
        encode_counters(
            out,
            [
                ("mediator_messages_received", "IPFIX messages received whole from exporters.", None, r.messages.load(Relaxed)),
                ("mediator_records_received", "Data records received (options records included), passed on to the output.", None, r.records.load(Relaxed)),
                ("mediator_records_named", "Records with at least one end the cluster view named (a pod, a node, a Service).", None, x.named.load(Relaxed)),
                ("mediator_records_not_current", "Data records named while the cluster view was not current (a kind not listed yet, a watch failing): sent with what it knew.", None, x.not_current.load(Relaxed)),
                ("mediator_ends_unowned", "Record ends in the cluster's own ranges (pod ranges, mediator.cluster_cidrs) that no pod, Service or node held then: sent unnamed.", None, x.unowned_ends.load(Relaxed)),
                ("mediator_unknown_template_sets", "Data sets whose template the exporter's session did not know (yet): their records are lost.", None, x.unknown_sets.load(Relaxed)),
                ("mediator_templates_refused", "Templates refused: over mediator.max_templates_per_session, or no output id left.", None, x.templates_refused.load(Relaxed)),
                ("mediator_exporter_garbage", "Messages that are not IPFIX: the UDP datagram is skipped, the TCP or TLS session dropped.", None, x.garbage.load(Relaxed)),
                ("mediator_exporter_stalled", "Sessions dropped for a message or TLS handshake not finished in mediator.message_timeout_secs.", None, x.stalled.load(Relaxed)),
                ("mediator_exporter_handshakes_failed", "TLS handshakes that failed.", None, x.handshakes_failed.load(Relaxed)),
                ("mediator_sessions_refused", "Connections refused, and UDP exporters forgotten, past mediator.max_sessions.", None, x.sessions_refused.load(Relaxed)),
            ],
        )?;
        let view = v.read().unwrap_or_else(PoisonError::into_inner);
        let (pods, gone) = view.pods.counts();
        let (services, slices) = view.services.counts();
        encode_gauges(
            out,
            [
                ("mediator_udp_exporters", "UDP exporter addresses with a session now.", x.sessions.load(Relaxed) as u64),
                ("cluster_pods", "Pods in the view.", pods as u64),
                ("cluster_pods_gone", "Pods deleted or missing from a relist, kept for mediator.deleted_pod_grace_secs.", gone as u64),
                ("cluster_addresses", "Addresses with an owner, or a past owner within the grace.", view.pods.addresses() as u64),
                ("cluster_services", "Services in the view.", services as u64),
                ("cluster_endpoint_slices", "EndpointSlices in the view.", slices as u64),
                ("cluster_nodes", "Nodes in the view.", view.nodes.len() as u64),
            ],
        )
    }));
}
