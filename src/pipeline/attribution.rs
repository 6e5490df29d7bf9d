//! Who the records belong to, as a pipeline starts it: [`SidecarPod`], the pod a sidecar
//! runs in (its identity from the Downward API, kept current by the metadata actor), or
//! [`NodePods`], the pods of a node (the namespaces node capture finds, named through the
//! pod index).

use std::net::IpAddr;
use std::sync::Arc;

use actix::prelude::*;

use crate::capture::Interfaces;
use crate::export::{self, Exporter, PodAttribution};
use crate::identity::PodIdentity;
use crate::metadata::{self, Metadata, Pods};
use crate::node::{NodeAttribution, SharedNamespaces};
use crate::telemetry::Registry;

/// The attribution side of a probe.
pub trait Attribution {
    /// Records name the pod at the other end too (node mode's peer elements).
    fn with_peer(&self) -> bool;

    /// What the exporter attributes records with: observation points from `interfaces`;
    /// `addresses` gives those of the captured interfaces, for a pod whose own are not
    /// configured.
    fn records(
        &self,
        interfaces: Interfaces,
        addresses: impl FnOnce() -> Vec<IpAddr>,
    ) -> Box<dyn export::Attribution>;

    /// Starts what keeps the attribution current, reporting to `exporter`, and registers
    /// its metric families; called inside the running System.
    fn start(self, exporter: &Addr<Exporter>, metrics: &mut Registry);
}

/// The pod a sidecar runs in.
pub struct SidecarPod {
    metadata: Metadata,
    pod_ips: Vec<IpAddr>,
}

impl SidecarPod {
    /// The pod's identity from `k8s` and its Downward-API files, read now.
    pub fn load(cfg: &metadata::Config) -> SidecarPod {
        SidecarPod {
            metadata: Metadata::load(cfg),
            pod_ips: cfg.pod_ips.clone(),
        }
    }
}

impl Attribution for SidecarPod {
    fn with_peer(&self) -> bool {
        false
    }

    fn records(
        &self,
        interfaces: Interfaces,
        addresses: impl FnOnce() -> Vec<IpAddr>,
    ) -> Box<dyn export::Attribution> {
        let pod_ips = if self.pod_ips.is_empty() {
            addresses()
        } else {
            self.pod_ips.clone()
        };
        let pod = PodAttribution::new(self.metadata.identity(), &pod_ips, interfaces);
        Box::new(pod)
    }

    fn start(self, exporter: &Addr<Exporter>, metrics: &mut Registry) {
        self.metadata.stats().register(metrics);
        self.metadata.send_to(exporter.clone().recipient()).start();
    }
}

/// The pods of a node.
pub struct NodePods {
    node: Arc<PodIdentity>,
    pods: Pods,
    namespaces: SharedNamespaces,
}

impl NodePods {
    /// Records of the namespaces in `namespaces`, named through the index of `pods`, or as
    /// `node`'s own.
    pub fn new(node: PodIdentity, pods: Pods, namespaces: SharedNamespaces) -> NodePods {
        NodePods {
            node: Arc::new(node),
            pods,
            namespaces,
        }
    }
}

impl Attribution for NodePods {
    fn with_peer(&self) -> bool {
        true
    }

    fn records(
        &self,
        interfaces: Interfaces,
        _: impl FnOnce() -> Vec<IpAddr>,
    ) -> Box<dyn export::Attribution> {
        Box::new(NodeAttribution::new(
            self.node.clone(),
            interfaces,
            self.namespaces.clone(),
            self.pods.index.clone(),
        ))
    }

    fn start(self, _: &Addr<Exporter>, metrics: &mut Registry) {
        self.pods.register(metrics);
    }
}
