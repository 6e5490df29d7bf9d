//! Node mode: one probe per node. The pod index (a watch on the API server, or a PodList
//! file) says who is who; the node capture thread captures inside every pod network
//! namespace and on the node's own interfaces into one flow table; each record is
//! attributed to the pod it was observed in and to its peer.

use rustix::thread::CapabilitySet;

use crate::capabilities;
use crate::config::Config;
use crate::metadata::{node_identity, start_source, IdentityRules};
use crate::node::SharedNamespaces;
use crate::pipeline::{self, export_peer, Failure, Namespaces, NodePods, Pipeline};

/// The capabilities node mode uses after start: setns into the pods' namespaces, packet
/// sockets, receive buffers past `net.core.rmem_max` (where the pod has NET_ADMIN), and
/// with the process scan other processes' `/proc/<pid>/ns/net`. None is gained: what the
/// process does not hold it does not get.
fn needed(config: &Config) -> CapabilitySet {
    let mut set = CapabilitySet::SYS_ADMIN | CapabilitySet::NET_RAW | CapabilitySet::NET_ADMIN;
    if config.node.scan_processes {
        set |= CapabilitySet::SYS_PTRACE;
    }
    set
}

pub fn run(config: Config) -> Result<(), Failure> {
    // Before any thread starts: every thread inherits the reduced sets.
    match capabilities::keep_only(needed(&config)) {
        Ok(kept) => tracing::info!(
            effective = format!("{:#x}", kept.sets.effective.bits()),
            permitted = format!("{:#x}", kept.sets.permitted.bits()),
            bounding = format!("{:#x}", kept.bounding.bits()),
            bounding_error = kept.bounding_error.map(|e| e.to_string()),
            "dropped every capability node mode does not use"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot drop the capabilities node mode does not use"),
    }
    pipeline::block_on(async move {
        let rules = IdentityRules::from_config(&config.k8s);
        let pods = start_source(&config.k8s.source, rules)
            .await
            .map_err(|e| Failure::Usage(e.into()))?;
        let node = node_identity(&config.k8s);
        tracing::info!(node = %node.node_name, source = %config.k8s.source, "node mode");

        let namespaces = SharedNamespaces::default();
        let source = Namespaces::new(
            &config.node,
            &config.capture,
            export_peer(&config.export.collector),
            pods.index.clone(),
            namespaces.clone(),
        );
        let attribution = NodePods::new(node, pods, namespaces);
        let mut probe = Pipeline::new(&config).start(source, attribution)?;
        probe.run_until_signal().await;
        probe.shutdown().await.map(drop)
    })
}
