//! Node mode: one probe per node. The pod index (a watch on the API server, or a PodList
//! file) says who is who; the node capture thread captures inside every pod network
//! namespace and on the node's own interfaces into one flow table; each record is
//! attributed to the pod it was observed in and to its peer.

use crate::config::Config;
use crate::metadata::{node_identity, start_source, IdentityRules};
use crate::node::SharedNamespaces;
use crate::pipeline::{self, export_peer, Failure, Namespaces, NodePods, Pipeline};

pub fn run(config: Config) -> Result<(), Failure> {
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
