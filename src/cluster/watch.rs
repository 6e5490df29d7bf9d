//! The view from the API server: one watch per kind (Pods, Services, EndpointSlices,
//! Nodes) over the whole cluster, each through kube's watcher: a paged list, then a watch
//! from its resourceVersion, a list again when the watch cannot resume (410 Gone). A list
//! is applied object by object as it arrives and, once complete, ends what it did not
//! name (a pod is kept for the grace after that), so a relist never holds a second copy.
//! A failing watch is logged when it starts to fail and when it recovers.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use serde::de::DeserializeOwned;

use super::api::{node_update, pod_update, service_update, slice_update};
use super::tenure::Millis;
use super::view::ClusterView;

/// Objects asked for in one page of a list: kube holds a page in memory while it parses.
const PAGE_SIZE: u32 = 100;
/// HTTP status of a watch whose resourceVersion the API server no longer has.
const GONE: u16 = 410;

/// How one kind's watch is doing.
#[derive(Debug, Default)]
pub struct WatchStats {
    /// Full lists applied.
    pub lists: AtomicU64,
    /// Failed lists and watches (each retried with backoff); expirations not counted.
    pub failures: AtomicU64,
    /// The error of the failure going on now, if any.
    failing: Mutex<Option<Arc<str>>>,
}

impl WatchStats {
    fn failing(&self) -> Option<Arc<str>> {
        self.failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_failing(&self, error: Option<Arc<str>>) {
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner) = error;
    }
}

/// The four watches' counters and state.
#[derive(Debug)]
pub struct Watches {
    pub pods: WatchStats,
    pub services: WatchStats,
    pub slices: WatchStats,
    pub nodes: WatchStats,
    /// When the watches started.
    since: Instant,
    /// How long readiness waits for the first list of every kind.
    sync_grace: Duration,
}

impl Watches {
    /// Watches starting now, readiness waiting up to `sync_grace` for their first lists.
    pub fn new(sync_grace: Duration) -> Watches {
        Watches {
            pods: WatchStats::default(),
            services: WatchStats::default(),
            slices: WatchStats::default(),
            nodes: WatchStats::default(),
            since: Instant::now(),
            sync_grace,
        }
    }

    fn kinds(&self) -> [(&'static str, &WatchStats); 4] {
        [
            ("pods", &self.pods),
            ("services", &self.services),
            ("endpointslices", &self.slices),
            ("nodes", &self.nodes),
        ]
    }

    /// Every kind has been listed once.
    pub fn synced(&self) -> bool {
        self.kinds().iter().all(|(_, w)| w.lists.load(Relaxed) > 0)
    }

    /// Every kind has been listed and no watch is failing now: the view is as current as
    /// the API server.
    pub fn current(&self) -> bool {
        self.synced() && self.kinds().iter().all(|(_, w)| w.failing().is_none())
    }

    /// What is wrong with the view now, if anything: kinds not listed yet, watches
    /// failing (with their errors).
    fn trouble(&self) -> Option<String> {
        let mut out = Vec::new();
        let unlisted: Vec<&str> = self
            .kinds()
            .iter()
            .filter(|(_, w)| w.lists.load(Relaxed) == 0)
            .map(|(kind, _)| *kind)
            .collect();
        if !unlisted.is_empty() {
            out.push(format!("not listed yet: {}", unlisted.join(", ")));
        }
        // Kinds failing with the same error (the API server away) are named together.
        let mut failing: Vec<(Arc<str>, Vec<&str>)> = Vec::new();
        for (kind, w) in self.kinds() {
            if let Some(error) = w.failing() {
                match failing.iter_mut().find(|(e, _)| *e == error) {
                    Some((_, kinds)) => kinds.push(kind),
                    None => failing.push((error, vec![kind])),
                }
            }
        }
        for (error, kinds) in failing {
            out.push(match kinds.as_slice() {
                [kind] => format!("the {kind} watch is failing: {error}"),
                _ => format!("the watches of {} are failing: {error}", kinds.join(", ")),
            });
        }
        (!out.is_empty()).then(|| out.join("; "))
    }
}

impl crate::telemetry::Dependency for Watches {
    /// Starting until every kind is listed or the sync grace is over; degraded while a
    /// kind is not listed or a watch fails, records going out with what the view knows.
    fn state(&self) -> crate::telemetry::DependencyState {
        use crate::telemetry::DependencyState::*;
        let Some(trouble) = self.trouble() else {
            return Fine;
        };
        if !self.synced() && self.since.elapsed() < self.sync_grace {
            Starting(format!("the cluster view is not synced ({trouble})").into())
        } else {
            Degraded(
                format!("the cluster view is not current ({trouble}); records go out with what it knows")
                    .into(),
            )
        }
    }
}

fn now() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// A kind the view is made of.
pub trait Kind:
    kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    const NAME: &'static str;
    fn stats(w: &Watches) -> &WatchStats;
    fn apply(&self, view: &mut ClusterView, now: Millis, max_label_bytes: usize);
    fn delete(&self, view: &mut ClusterView, now: Millis);
    fn list_started(view: &mut ClusterView) -> u64;
    fn list_done(view: &mut ClusterView, mark: u64, now: Millis);
}

fn uid(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    match &meta.uid {
        Some(uid) if !uid.is_empty() => uid.clone(),
        _ => format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or("")
        ),
    }
}

impl Kind for Pod {
    const NAME: &'static str = "pods";
    fn stats(w: &Watches) -> &WatchStats {
        &w.pods
    }
    fn apply(&self, view: &mut ClusterView, now: Millis, max_label_bytes: usize) {
        view.pods.apply(pod_update(self, max_label_bytes), now);
    }
    fn delete(&self, view: &mut ClusterView, now: Millis) {
        view.pods.delete(&uid(&self.metadata), now);
    }
    fn list_started(view: &mut ClusterView) -> u64 {
        view.pods.list_started().0
    }
    fn list_done(view: &mut ClusterView, mark: u64, now: Millis) {
        view.pods.list_done(super::pods::ListMark(mark), now);
    }
}

impl Kind for Service {
    const NAME: &'static str = "services";
    fn stats(w: &Watches) -> &WatchStats {
        &w.services
    }
    fn apply(&self, view: &mut ClusterView, _: Millis, _: usize) {
        view.services.apply(service_update(self));
    }
    fn delete(&self, view: &mut ClusterView, _: Millis) {
        view.services.delete(&uid(&self.metadata));
    }
    fn list_started(view: &mut ClusterView) -> u64 {
        view.services.list_started()
    }
    fn list_done(view: &mut ClusterView, mark: u64, now: Millis) {
        view.services.list_done(mark, false, now);
    }
}

impl Kind for EndpointSlice {
    const NAME: &'static str = "endpointslices";
    fn stats(w: &Watches) -> &WatchStats {
        &w.slices
    }
    fn apply(&self, view: &mut ClusterView, _: Millis, _: usize) {
        match slice_update(self) {
            Some(slice) => view.services.apply_slice(slice),
            None => view.services.delete_slice(&uid(&self.metadata)),
        }
    }
    fn delete(&self, view: &mut ClusterView, _: Millis) {
        view.services.delete_slice(&uid(&self.metadata));
    }
    fn list_started(view: &mut ClusterView) -> u64 {
        view.services.list_started()
    }
    fn list_done(view: &mut ClusterView, mark: u64, now: Millis) {
        view.services.list_done(mark, true, now);
    }
}

impl Kind for Node {
    const NAME: &'static str = "nodes";
    fn stats(w: &Watches) -> &WatchStats {
        &w.nodes
    }
    fn apply(&self, view: &mut ClusterView, _: Millis, _: usize) {
        view.nodes.apply(node_update(self));
    }
    fn delete(&self, view: &mut ClusterView, _: Millis) {
        view.nodes
            .delete(self.metadata.name.as_deref().unwrap_or(""));
    }
    fn list_started(view: &mut ClusterView) -> u64 {
        view.nodes.list_started()
    }
    fn list_done(view: &mut ClusterView, mark: u64, _: Millis) {
        view.nodes.list_done(mark);
    }
}

/// A watch's error in a line: the API server's status as it said it, or the chain of
/// causes.
fn described(error: &watcher::Error) -> String {
    use watcher::Error::*;
    let status = match error {
        WatchStartFailed(kube::Error::Api(s)) | WatchFailed(kube::Error::Api(s)) => s,
        InitialListFailed(kube::Error::Api(s)) | WatchError(s) => s,
        _ => {
            return crate::telemetry::logging::error_chain(crate::telemetry::logging::causes(error))
        }
    };
    format!(
        "the API server answered {} {}: {}",
        status.code, status.reason, status.message
    )
}

/// Folds one kind's watcher events into the view.
pub struct Watch<K: Kind> {
    view: Arc<RwLock<ClusterView>>,
    watches: Arc<Watches>,
    max_label_bytes: usize,
    listing: Option<u64>,
    _kind: std::marker::PhantomData<K>,
}

impl<K: Kind> Watch<K> {
    pub fn new(
        view: Arc<RwLock<ClusterView>>,
        watches: Arc<Watches>,
        max_label_bytes: usize,
    ) -> Self {
        Watch {
            view,
            watches,
            max_label_bytes,
            listing: None,
            _kind: std::marker::PhantomData,
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, ClusterView> {
        self.view.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the view whether it is current (records named while it is not are counted).
    fn mark_current(&self) {
        self.write().current = self.watches.current();
    }

    /// Applies one watcher event at `now`.
    pub fn handle(&mut self, event: Event<K>, now: Millis) {
        let stats = K::stats(&self.watches);
        if !matches!(event, Event::Init) && stats.failing().is_some() {
            tracing::info!(kind = K::NAME, "watch recovered");
            stats.set_failing(None);
            self.mark_current();
        }
        match event {
            Event::Init => {
                let mark = K::list_started(&mut self.write());
                self.listing = Some(mark);
            }
            Event::InitApply(obj) | Event::Apply(obj) => {
                obj.apply(&mut self.write(), now, self.max_label_bytes)
            }
            Event::InitDone => {
                if let Some(mark) = self.listing.take() {
                    K::list_done(&mut self.write(), mark, now);
                }
                let first = K::stats(&self.watches).lists.fetch_add(1, Relaxed) == 0;
                if first {
                    tracing::info!(kind = K::NAME, "listed");
                }
                if first && self.watches.synced() {
                    tracing::info!("the cluster view is synced: every kind listed");
                }
                self.mark_current();
            }
            Event::Delete(obj) => obj.delete(&mut self.write(), now),
        }
    }

    fn failed(&mut self, error: &watcher::Error) {
        if let watcher::Error::WatchError(status) = error {
            if status.code == GONE {
                tracing::debug!(kind = K::NAME, %error, "watch expired, relisting");
                return;
            }
        }
        let stats = K::stats(&self.watches);
        stats.failures.fetch_add(1, Relaxed);
        if stats.failing().is_none() {
            tracing::warn!(
                kind = K::NAME,
                error = described(error),
                "watch failing, retrying with backoff; records go out with what the view knows"
            );
            stats.set_failing(Some(described(error).into()));
            self.mark_current();
        }
    }

    /// Watches every object of the kind through `client`, for as long as the task runs.
    pub async fn run(mut self, client: Client) {
        let api: Api<K> = Api::all(client);
        let stream =
            watcher(api, watcher::Config::default().page_size(PAGE_SIZE)).default_backoff();
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => self.handle(event, now()),
                Err(error) => self.failed(&error),
            }
        }
    }
}

/// Starts the four watches as tasks of the running actix System.
pub fn watch_cluster(
    client: Client,
    view: Arc<RwLock<ClusterView>>,
    max_label_bytes: usize,
    sync_grace: Duration,
) -> Arc<Watches> {
    let watches = Arc::new(Watches::new(sync_grace));
    let (v, w) = (view, watches.clone());
    actix_rt::spawn(Watch::<Pod>::new(v.clone(), w.clone(), max_label_bytes).run(client.clone()));
    actix_rt::spawn(
        Watch::<Service>::new(v.clone(), w.clone(), max_label_bytes).run(client.clone()),
    );
    actix_rt::spawn(
        Watch::<EndpointSlice>::new(v.clone(), w.clone(), max_label_bytes).run(client.clone()),
    );
    actix_rt::spawn(Watch::<Node>::new(v, w, max_label_bytes).run(client));
    watches
}

/// Registers `podflow_cluster_watch_lists_total` and `podflow_cluster_watch_failures_total`
/// by kind, and `podflow_cluster_synced`.
pub fn register(registry: &mut crate::telemetry::Registry, watches: &Arc<Watches>) {
    use crate::telemetry::{collector, encode_counters, encode_gauges};
    let w = watches.clone();
    registry.register_collector(collector(move |out| {
        let mut names = Vec::new();
        for (kind, stats) in w.kinds() {
            names.push((format!("cluster_{kind}_lists"), stats.lists.load(Relaxed)));
            names.push((
                format!("cluster_{kind}_watch_failures"),
                stats.failures.load(Relaxed),
            ));
        }
        encode_counters(
            out,
            names.iter().map(|(name, value)| {
                let help = if name.ends_with("_lists") {
                    "Full lists of this kind applied to the cluster view."
                } else {
                    "Failed lists and watches of this kind (each retried with backoff)."
                };
                (name.as_str(), help, None, *value)
            }),
        )?;
        encode_gauges(
            out,
            [
                (
                    "cluster_synced",
                    "1 once every kind has been listed.",
                    u64::from(w.synced()),
                ),
                (
                    "cluster_current",
                    "1 while every kind is listed and no watch is failing (/readyz says what is wrong).",
                    u64::from(w.current()),
                ),
            ],
        )
    }));
}
