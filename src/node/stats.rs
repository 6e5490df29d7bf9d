//! Node mode's counters: what `/metrics` and `/readyz` read of the node thread.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

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
    /// The node thread runs (it keeps the capture threads in line with the namespaces and
    /// interfaces present); false once it has ended, however it ended.
    pub running: AtomicBool,
}

impl Work for NodeStats {
    fn running(&self) -> bool {
        self.running.load(Relaxed)
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
            ],
        );
        assert_eq!(Work::interfaces(&*stats), 5);
    }
}
