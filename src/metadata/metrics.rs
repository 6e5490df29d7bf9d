//! The metadata sources' metrics: the sidecar's Downward-API files (`podflow_metadata_*`)
//! and node mode's pod index (`podflow_pod_index_*`), read at each scrape.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::events::MetadataStats;
use super::kube::Pods;
use crate::telemetry::{collector, encode_counters, encode_gauges, Registry};

impl MetadataStats {
    /// Registers the `podflow_metadata_*` counters: files that could not be used,
    /// identity changes, metadata left out by the size cap.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        let s = self.clone();
        registry.register_collector(collector(move |out| {
            encode_counters(
                out,
                [
                    (
                        "metadata_file_errors",
                        "Versions of the labels or annotations file that could not be read or parsed.",
                        None,
                        s.reload_errors.load(Relaxed),
                    ),
                    (
                        "metadata_identity_changes",
                        "Pod identities built: at start, then one per change of labels or annotations.",
                        None,
                        s.identity_changes.load(Relaxed),
                    ),
                    (
                        "metadata_labels_cut",
                        "Labels left out of records by k8s.max_metadata_bytes.",
                        None,
                        s.labels_cut.load(Relaxed),
                    ),
                    (
                        "metadata_annotations_cut",
                        "Annotations left out of records by k8s.max_metadata_bytes.",
                        None,
                        s.annotations_cut.load(Relaxed),
                    ),
                ],
            )
        }));
    }
}

impl Pods {
    /// Registers the `podflow_pod_index_*` families: the pods the index holds and how its
    /// source fares.
    pub fn register(&self, registry: &mut Registry) {
        let pods = self.clone();
        registry.register_collector(collector(move |out| {
            let summary = pods
                .index
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .summary();
            encode_gauges(
                out,
                [
                    ("pod_index_pods", "Pods in the index.", summary.pods as u64),
                    (
                        "pod_index_addresses",
                        "Pod addresses the index resolves.",
                        summary.addresses as u64,
                    ),
                ],
            )?;
            encode_counters(
                out,
                [
                    (
                        "pod_index_watch_failures",
                        "Failed lists or watches of pods on the API server (each retried with backoff).",
                        None,
                        pods.stats.failures.load(Relaxed),
                    ),
                    (
                        "pod_index_lists",
                        "Full pod lists applied to the index (the first, then one per relist).",
                        None,
                        pods.stats.lists.load(Relaxed),
                    ),
                ],
            )
        }));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::RwLock;

    use super::*;
    use crate::metadata::{IdentityRules, PodIndex, SourceStats, TrimmedPod};
    use crate::telemetry::{registry, render, Format};

    fn has_line(body: &str, line: &str) {
        assert!(body.lines().any(|l| l == line), "no {line:?} in\n{body}");
    }

    #[test]
    fn metadata_counters() {
        let stats = Arc::new(MetadataStats::default());
        stats.reload_errors.store(2, Relaxed);
        stats.identity_changes.store(3, Relaxed);
        stats.annotations_cut.store(5, Relaxed);
        let mut registry = registry();
        stats.register(&mut registry);
        let body = render(&registry, Format::Prometheus).unwrap();
        has_line(&body, "podflow_metadata_file_errors_total 2");
        has_line(&body, "podflow_metadata_identity_changes_total 3");
        has_line(&body, "podflow_metadata_labels_cut_total 0");
        has_line(&body, "podflow_metadata_annotations_cut_total 5");
    }

    #[test]
    fn pod_index_gauges_and_counters() {
        let pod = TrimmedPod {
            name: "web".into(),
            namespace: "shop".into(),
            uid: "uid-web".into(),
            ips: vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
            ..TrimmedPod::default()
        };
        let index = PodIndex::from_pods(IdentityRules::default(), [pod]);
        let pods = Pods {
            index: Arc::new(RwLock::new(index)),
            stats: Arc::new(SourceStats::default()),
        };
        pods.stats.lists.store(1, Relaxed);
        let mut registry = registry();
        pods.register(&mut registry);
        let body = render(&registry, Format::Prometheus).unwrap();
        has_line(&body, "podflow_pod_index_pods 1");
        has_line(&body, "podflow_pod_index_addresses 2");
        has_line(&body, "podflow_pod_index_watch_failures_total 0");
        has_line(&body, "podflow_pod_index_lists_total 1");
    }
}
