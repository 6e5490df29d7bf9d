//! Node mode's counters: what `/metrics` and `/readyz` read of the node thread.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use crate::telemetry::{collector, encode_counters, encode_gauges, Registry, Work};

/// Counters of node mode's capture, read by `/metrics`.
#[derive(Debug, Default)]
pub struct NodeStats {
    /// Pod namespaces captured now.
    pub namespaces: AtomicUsize,
    /// Of those, the ones whose pod the index knows.
    pub namespaces_with_pod: AtomicUsize,
    /// Namespaces found and ended since start.
    pub namespaces_added: AtomicU64,
    pub namespaces_removed: AtomicU64,
    /// Failures to open or enter a namespace, or to list its interfaces.
    pub namespace_errors: AtomicU64,
    /// Interfaces captured now, pod namespaces and host together.
    pub interfaces: AtomicUsize,
    /// Namespaces present now that no pod sandbox of the runtime owns (not captured).
    pub namespaces_unknown: AtomicUsize,
    /// Such namespaces seen since start (each counted once).
    pub namespaces_refused: AtomicU64,
    /// Pod namespaces that had more interfaces than `node.max_interfaces_per_namespace`.
    pub interface_limit_hits: AtomicU64,
    /// Pod namespaces that reached their share of the flow table.
    pub flow_share_hits: AtomicU64,
    /// New flows of pod namespaces at their share, not metered.
    pub flows_refused: AtomicU64,
    /// Why the container runtime's records cannot be read now; `None` while it answers.
    pub runtime_problem: Mutex<Option<Arc<str>>>,
    /// The node thread runs (it keeps the capture threads in line with the namespaces and
    /// interfaces present); false once it has ended, however it ended.
    pub running: AtomicBool,
}

impl NodeStats {
    fn runtime_problem(&self) -> Option<Arc<str>> {
        self.runtime_problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Work for NodeStats {
    /// The node thread runs and the container runtime answers.
    fn running(&self) -> bool {
        self.running.load(Relaxed) && self.runtime_problem().is_none()
    }

    fn problem(&self) -> Option<Arc<str>> {
        if !self.running.load(Relaxed) {
            return Some("the node capture thread has stopped".into());
        }
        self.runtime_problem()
    }

    fn interfaces(&self) -> usize {
        self.interfaces.load(Relaxed)
    }
}

impl NodeStats {
    /// Registers the `podflow_node_*` families.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        let n = self.clone();
        registry.register_collector(collector(move |out| {
            let gauge = |v: &AtomicUsize| v.load(Relaxed) as u64;
            encode_gauges(
                out,
                [
                    (
                        "node_namespaces",
                        "Pod network namespaces captured now.",
                        gauge(&n.namespaces),
                    ),
                    (
                        "node_namespaces_with_pod",
                        "Captured namespaces whose pod the index knows.",
                        gauge(&n.namespaces_with_pod),
                    ),
                    (
                        "node_interfaces",
                        "Interfaces captured now, pod namespaces and host together.",
                        gauge(&n.interfaces),
                    ),
                    (
                        "node_namespaces_unknown",
                        "Network namespaces present that no pod sandbox of the container runtime owns (not captured).",
                        gauge(&n.namespaces_unknown),
                    ),
                    (
                        "node_runtime_up",
                        "1 while the container runtime answers, 0 while it does not (/readyz says why).",
                        u64::from(n.runtime_problem().is_none()),
                    ),
                ],
            )?;
            encode_counters(
                out,
                [
                    (
                        "node_namespaces_added",
                        "Network namespaces found since start.",
                        None,
                        n.namespaces_added.load(Relaxed),
                    ),
                    (
                        "node_namespaces_removed",
                        "Network namespaces gone since start (their flows ended and exported).",
                        None,
                        n.namespaces_removed.load(Relaxed),
                    ),
                    (
                        "node_namespaces_refused",
                        "Network namespaces found that no pod sandbox owns, since start (each once; never captured).",
                        None,
                        n.namespaces_refused.load(Relaxed),
                    ),
                    (
                        "node_interface_limit_hits",
                        "Pod namespaces with more interfaces than node.max_interfaces_per_namespace (the rest are not captured).",
                        None,
                        n.interface_limit_hits.load(Relaxed),
                    ),
                    (
                        "node_flow_share_hits",
                        "Pod namespaces that reached node.max_flows_per_namespace live flows.",
                        None,
                        n.flow_share_hits.load(Relaxed),
                    ),
                    (
                        "node_flows_refused",
                        "New flows of pod namespaces at their share of the flow table, not metered.",
                        None,
                        n.flows_refused.load(Relaxed),
                    ),
                    (
                        "node_namespace_errors",
                        "Failures to open or enter a namespace or to list its interfaces (each retried with backoff).",
                        None,
                        n.namespace_errors.load(Relaxed),
                    ),
                ],
            )
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{assert_lines, registry};

    #[test]
    fn node_gauges_and_counters() {
        let stats = Arc::new(NodeStats::default());
        stats.namespaces.store(3, Relaxed);
        stats.namespaces_with_pod.store(2, Relaxed);
        stats.interfaces.store(5, Relaxed);
        stats.namespace_errors.store(1, Relaxed);
        stats.namespaces_unknown.store(2, Relaxed);
        stats.running.store(true, Relaxed);
        let mut registry = registry();
        stats.register(&mut registry);
        assert_lines(
            &registry,
            &[
                "podflow_node_namespaces 3",
                "podflow_node_namespaces_with_pod 2",
                "podflow_node_interfaces 5",
                "podflow_node_namespaces_added_total 0",
                "podflow_node_namespace_errors_total 1",
                "podflow_node_namespaces_unknown 2",
                "podflow_node_runtime_up 1",
            ],
        );
        assert_eq!(Work::interfaces(&*stats), 5);
        assert!(stats.running());
        *stats.runtime_problem.lock().unwrap() = Some("no runtime".into());
        assert!(!stats.running());
        assert_eq!(stats.problem().as_deref(), Some("no runtime"));
    }
}
