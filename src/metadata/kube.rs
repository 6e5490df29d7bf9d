//! The `kube` pod source: a watch on every pod of the cluster (the observed side needs this
//! node's pods, the peers may be anywhere) that keeps a shared [`PodIndex`] current.
//!
//! kube's watcher lists, then watches from the list's resourceVersion, and lists again
//! when the watch cannot resume (410 Gone, a dropped connection it cannot pick up). A list
//! arrives as `Init`, `InitApply` for each pod and `InitDone`: each pod is trimmed and
//! applied as it comes, and at `InitDone` the pods the list did not name are removed, so
//! that readers never lose a pod that still exists and a relist never holds a second copy
//! of the index (nor the list: kube reads it page by page, in small pages). Errors
//! are retried with kube's default backoff; a failing watch is logged when it starts to
//! fail and when it recovers, not on every retry.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use ::kube::runtime::watcher::{self, watcher, Event};
use ::kube::runtime::WatchStreamExt;
use ::kube::{Api, Client};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod as ApiPod;

use super::config::PodSource;
use super::index::{IdentityRules, IndexSummary, ListMark, PodIndex, TrimmedPod};
use super::podlist::{load_pod_list, PodListError};

/// HTTP status of a watch whose resourceVersion the API server no longer has.
const GONE: u16 = 410;

/// Pods asked for in one page of a list (`limit`). kube reads a whole page into memory,
/// and copies it twice before the pods are parsed: at 64 KiB of annotations a pod, kube's
/// default of 500 makes 33 MB pages and a peak of 170 MiB for 10,000 pods; 100 keeps it
/// near 60 MiB, for five times as many (smaller) list requests, which only a start and a
/// relist make.
const LIST_PAGE_SIZE: u32 = 100;

/// The index as the exporter reads it: one read lock per batch of records.
pub type SharedIndex = Arc<RwLock<PodIndex>>;

/// How a pod source is doing, for `/metrics`.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Failed lists or watches (each retried with backoff); expired watches not counted.
    pub failures: AtomicU64,
    /// Full lists applied, the first included (a file counts as one).
    pub lists: AtomicU64,
}

impl SourceStats {
    /// A full list has been applied.
    pub fn synced(&self) -> bool {
        self.lists.load(Relaxed) > 0
    }
}

/// A started pod source: the index it keeps current and how it is doing.
#[derive(Clone, Debug)]
pub struct Pods {
    pub index: SharedIndex,
    pub stats: Arc<SourceStats>,
}

/// Folds the watcher's events into a shared index.
#[derive(Debug)]
pub struct PodWatch {
    index: SharedIndex,
    stats: Arc<SourceStats>,
    /// Where the list in progress began, between `Init` and `InitDone`.
    listing: Option<ListMark>,
    /// Whether the last item of the stream was an error.
    failing: bool,
}

impl PodWatch {
    /// A watch that keeps `index` current.
    pub fn new(index: SharedIndex) -> PodWatch {
        PodWatch {
            index,
            stats: Arc::default(),
            listing: None,
            failing: false,
        }
    }

    /// Whether a full list has been applied.
    pub fn synced(&self) -> bool {
        self.stats.synced()
    }

    /// Applies one watcher event. Pure apart from the lock and the log lines.
    pub fn handle(&mut self, event: Event<ApiPod>) {
        // kube says `Init` before it tries to list again: only what comes of a list or a
        // watch shows that the API server answers.
        if !matches!(event, Event::Init) && std::mem::take(&mut self.failing) {
            tracing::info!("pod watch recovered");
        }
        match event {
            Event::Init => {
                let mark = self.write().list_started();
                self.listing = Some(mark);
            }
            Event::InitApply(pod) => self.write().apply(TrimmedPod::from_api(&pod)),
            Event::InitDone => {
                let mark = self.listing.take();
                let summary = {
                    let mut index = self.write();
                    if let Some(mark) = mark {
                        index.list_done(mark);
                    }
                    index.summary()
                };
                let IndexSummary { pods, addresses } = summary;
                if self.synced() {
                    tracing::info!(pods, addresses, "pod index relisted");
                } else {
                    tracing::info!(pods, addresses, "pod index synced");
                }
                self.stats.lists.fetch_add(1, Relaxed);
            }
            Event::Apply(pod) => self.write().apply(TrimmedPod::from_api(&pod)),
            Event::Delete(pod) => self.write().delete(&TrimmedPod::from_api(&pod)),
        }
    }

    /// Notes a failed list or watch; logged once until the watch recovers.
    pub fn failed(&mut self, error: &watcher::Error) {
        if let watcher::Error::WatchError(status) = error {
            if status.code == GONE {
                // The watch fell too far behind: the watcher lists again, which is normal.
                tracing::debug!(%error, "pod watch expired, relisting");
                return;
            }
        }
        self.stats.failures.fetch_add(1, Relaxed);
        if !self.failing {
            tracing::warn!(%error, "pod watch failing, retrying with backoff");
            self.failing = true;
        }
    }

    /// Watches every pod through `client` (those of node `node` only, when given) until
    /// the stream ends (it does not, short of the task being dropped).
    pub async fn run(mut self, client: Client, node: Option<String>) {
        let api: Api<ApiPod> = Api::all(client);
        let mut config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
        if let Some(node) = &node {
            config = config.fields(&format!("spec.nodeName={node}"));
        }
        let stream = watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => self.handle(event),
                Err(error) => self.failed(&error),
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, PodIndex> {
        // A writer that panicked left the index as it was between two events: still usable.
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A pod source that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("k8s.source = file: {0}")]
    File(#[from] PodListError),
    #[error("k8s.source = kube: no Kubernetes client configuration (in-cluster service account or kubeconfig): {0}")]
    Kube(#[from] ::kube::Error),
}

/// Opens the configured pod source: a PodList file is read once; `kube` connects with the
/// in-cluster service account (or the kubeconfig outside a cluster) and starts the watch
/// as a task of the running actix System, which keeps the returned index current.
pub async fn start_source(source: &PodSource, rules: IdentityRules) -> Result<Pods, SourceError> {
    match source {
        PodSource::File(path) => {
            let stats = SourceStats::default();
            stats.lists.store(1, Relaxed);
            Ok(Pods {
                index: Arc::new(RwLock::new(load_pod_list(path, rules)?)),
                stats: Arc::new(stats),
            })
        }
        PodSource::Kube => Ok(watch_pods(client().await?, rules)),
    }
}

/// A client of the API server from the in-cluster service account, else the kubeconfig.
/// The watches retry with a backoff of their own and say when they fail; the client's own
/// retries of 503s (off here) would hide an outage for minutes.
pub async fn client() -> Result<Client, ::kube::Error> {
    let mut config = ::kube::Config::infer()
        .await
        .map_err(::kube::Error::InferConfig)?;
    config.default_retry = false;
    Client::try_from(config)
}

/// Starts the watch through `client` as a task of the running actix System; returns the
/// index it keeps current (empty until the first list arrives) and its counters.
pub fn watch_pods(client: Client, rules: IdentityRules) -> Pods {
    let node = rules.node_name.clone().filter(|_| rules.own_node_only);
    if let Some(node) = &node {
        tracing::info!(
            node,
            "watching this node's pods only (k8s.own_node_only): the mediator names the other ends"
        );
    }
    let index = Arc::new(RwLock::new(PodIndex::new(rules)));
    let watch = PodWatch::new(index.clone());
    let stats = watch.stats.clone();
    actix_rt::spawn(watch.run(client, node));
    Pods { index, stats }
}

/// [`watch_pods`], for callers that need only the index.
pub fn watch_with(client: Client, rules: IdentityRules) -> SharedIndex {
    watch_pods(client, rules).index
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ip: &str) -> ApiPod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": name},
            "spec": {"nodeName": "node-1", "containers": []},
            "status": {"podIPs": [{"ip": ip}]}
        }))
        .unwrap()
    }

    #[test]
    fn file_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pods.json");
        let list = json!({"kind": "List", "apiVersion": "v1", "items": [pod("a", "10.0.0.1")]});
        std::fs::write(&path, list.to_string()).unwrap();
        let rules = IdentityRules {
            cluster_name: "prod".into(),
            ..IdentityRules::default()
        };
        let start = |s: PodSource| {
            let rules = rules.clone();
            actix_rt::System::new().block_on(async move { start_source(&s, rules).await })
        };
        let pods = start(PodSource::File(path.clone())).unwrap();
        assert!(pods.stats.synced());
        let index = pods.index.read().unwrap();
        assert_eq!(index.names(), ["ns/a"]);
        let id = index.identity(&"10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(id.cluster_name, "prod");
        let e = start(PodSource::File(dir.path().join("missing.json"))).unwrap_err();
        assert!(e.to_string().contains("missing.json"), "{e}");
    }

    #[test]
    fn a_list_is_applied_pod_by_pod_and_removes_what_it_did_not_name() {
        let mut w = PodWatch::new(SharedIndex::default());
        w.handle(Event::Init);
        w.handle(Event::InitApply(pod("a", "10.0.0.1")));
        assert!(!w.synced(), "not synced before the list is complete");
        assert_eq!(w.index.read().unwrap().names(), ["ns/a"]);
        w.handle(Event::InitApply(pod("b", "10.0.0.2")));
        w.handle(Event::InitDone);
        assert!(w.synced());
        assert_eq!(w.stats.lists.load(Relaxed), 1);
        assert_eq!(w.index.read().unwrap().names(), ["ns/a", "ns/b"]);
        w.handle(Event::Apply(pod("c", "10.0.0.3")));
        w.handle(Event::Delete(pod("a", "10.0.0.1")));
        assert_eq!(w.index.read().unwrap().names(), ["ns/b", "ns/c"]);
        // A relist: until it is done no pod goes, listed ones come as they are read; then
        // the pods it did not list are gone.
        w.handle(Event::Init);
        w.handle(Event::InitApply(pod("d", "10.0.0.4")));
        w.handle(Event::InitApply(pod("c", "10.0.0.3")));
        assert_eq!(w.index.read().unwrap().names(), ["ns/b", "ns/c", "ns/d"]);
        w.handle(Event::InitDone);
        assert_eq!(w.index.read().unwrap().names(), ["ns/c", "ns/d"]);
        assert_eq!(w.stats.lists.load(Relaxed), 2);
    }

    #[test]
    fn a_retried_list_recovers_only_once_it_answers() {
        let mut w = PodWatch::new(SharedIndex::default());
        w.failed(&watcher::Error::NoResourceVersion);
        assert!(w.failing);
        // Each retry begins with Init, before the list is asked for.
        w.handle(Event::Init);
        assert!(w.failing, "Init is no answer from the API server");
        w.failed(&watcher::Error::NoResourceVersion);
        assert_eq!(w.stats.failures.load(Relaxed), 2);
        w.handle(Event::Init);
        w.handle(Event::InitApply(pod("a", "10.0.0.1")));
        assert!(!w.failing);
    }
}
