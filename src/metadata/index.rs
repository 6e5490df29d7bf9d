//! The pod index of node mode: every pod of the cluster, trimmed to what attribution needs,
//! looked up by IP address (for both ends of a flow) and listed by node. Pure: the sources
//! (`kube` watch, static PodList file) feed it events, nothing here does I/O.
//!
//! IP addresses are recycled: an address belongs to the newest pod that lists it (by
//! creation time, then by arrival), a deleted pod gives back only the addresses that are
//! still its own, and pods on the host network, or finished, claim none (their addresses
//! are the node's, or free again).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod as ApiPod;

use super::select::{allowed, capped_json};
use super::{derive_workload, Workload};
use crate::identity::{PeerIdentity, PodIdentity};

/// The owner reference that a controller sets on the pods it makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub kind: String,
    pub name: String,
    /// `controller: true`: this owner manages the pod.
    pub controller: bool,
}

/// A pod trimmed to the fields the index needs; everything else is dropped on arrival.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrimmedPod {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub owners: Vec<Owner>,
    /// `status.podIPs` (or `status.podIP` when the list is absent).
    pub ips: Vec<IpAddr>,
    /// `status.hostIP`.
    pub host_ip: Option<IpAddr>,
    pub node_name: String,
    pub host_network: bool,
    /// `status.phase` is `Succeeded` or `Failed`: the pod's addresses are free again.
    pub finished: bool,
    /// `metadata.creationTimestamp` in seconds since 1970; 0 when unknown.
    pub created_secs: i64,
}

impl TrimmedPod {
    /// Keeps what the index needs of an API pod. Addresses that do not parse are skipped.
    pub fn from_api(pod: &ApiPod) -> TrimmedPod {
        let md = &pod.metadata;
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let parse = |s: &str| s.parse::<IpAddr>().ok();
        let mut ips: Vec<IpAddr> = status
            .and_then(|s| s.pod_ips.as_ref())
            .map(|l| l.iter().filter_map(|p| parse(&p.ip)).collect())
            .unwrap_or_default();
        if ips.is_empty() {
            ips.extend(status.and_then(|s| s.pod_ip.as_deref()).and_then(parse));
        }
        ips.dedup();
        let to_map = |m: &Option<BTreeMap<String, String>>| m.clone().unwrap_or_default();
        TrimmedPod {
            name: md.name.clone().unwrap_or_default(),
            namespace: md.namespace.clone().unwrap_or_default(),
            uid: md.uid.clone().unwrap_or_default(),
            labels: to_map(&md.labels),
            annotations: to_map(&md.annotations),
            owners: md
                .owner_references
                .iter()
                .flatten()
                .map(|o| Owner {
                    kind: o.kind.clone(),
                    name: o.name.clone(),
                    controller: o.controller == Some(true),
                })
                .collect(),
            ips,
            host_ip: status.and_then(|s| s.host_ip.as_deref()).and_then(parse),
            node_name: spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
            host_network: spec.and_then(|s| s.host_network) == Some(true),
            finished: matches!(
                status.and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            ),
            created_secs: md
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(0),
        }
    }

    /// The key the index files the pod under: its UID, or namespace/name when it has none
    /// (a hand-written PodList).
    fn key(&self) -> String {
        if self.uid.is_empty() {
            format!("{}/{}", self.namespace, self.name)
        } else {
            self.uid.clone()
        }
    }

    /// The addresses this pod may claim.
    fn claimable(&self) -> &[IpAddr] {
        if self.host_network || self.finished {
            &[]
        } else {
            &self.ips
        }
    }
}

/// The pod's top owner from its controller reference, without asking the API server: a
/// ReplicaSet named `D-<pod-template-hash>` belongs to Deployment D, a Job named
/// `C-<scheduled minutes>` to CronJob C. A pod without a controller is its own workload.
pub fn workload_of(pod: &TrimmedPod) -> Workload {
    let workload = |name: &str, kind: &str| Workload {
        name: name.to_string(),
        kind: kind.to_string(),
    };
    let Some(owner) = pod.owners.iter().find(|o| o.controller) else {
        return workload(&pod.name, "Pod");
    };
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let deployment = pod
                .labels
                .get("pod-template-hash")
                .filter(|h| !h.is_empty())
                .and_then(|h| owner.name.strip_suffix(h.as_str()))
                .and_then(|d| d.strip_suffix('-'))
                .filter(|d| !d.is_empty());
            match deployment {
                Some(d) => workload(d, "Deployment"),
                None => workload(&owner.name, "ReplicaSet"),
            }
        }
        // The Job's name says whether a CronJob made it; the name-based derivation knows how.
        "Job" => {
            let job = BTreeMap::from([("job-name".to_string(), owner.name.clone())]);
            derive_workload(&owner.name, &job)
        }
        // A static pod, mirrored by the kubelet: the pod is the workload.
        "Node" => workload(&pod.name, "Pod"),
        kind => workload(&owner.name, kind),
    }
}

/// How the index turns pods into exported identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityRules {
    pub cluster_name: String,
    /// Glob patterns of the annotation keys to export (`k8s.annotations_allow`).
    pub annotations_allow: Vec<String>,
    /// Cap of the labels and annotations JSON (`k8s.max_metadata_bytes`).
    pub max_metadata_bytes: usize,
    /// This node (`k8s.node_name`): pods elsewhere are only ever peers, and keep no
    /// annotations. `None` keeps the full identity of every pod.
    pub node_name: Option<String>,
    /// Watch only this node's pods (`k8s.own_node_only`).
    pub own_node_only: bool,
}

impl IdentityRules {
    /// The rules the `k8s` section sets.
    pub fn from_config(cfg: &super::Config) -> IdentityRules {
        IdentityRules {
            cluster_name: cfg.cluster_name.clone().unwrap_or_default(),
            annotations_allow: cfg.annotations_allow.clone(),
            max_metadata_bytes: cfg.max_metadata_bytes,
            node_name: cfg.node_name.clone().filter(|n| !n.is_empty()),
            own_node_only: cfg.own_node_only,
        }
    }
}

impl Default for IdentityRules {
    fn default() -> Self {
        IdentityRules::from_config(&super::Config::default())
    }
}

/// A pod in the index with its identities, computed once when it arrives. Its labels and
/// annotations are kept only as exported (allow-list, size cap), in the identities: the
/// maps of `pod` are emptied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedPod {
    pub pod: TrimmedPod,
    /// The identity of the pod when it is the observed side.
    pub identity: PodIdentity,
    /// The identity of the pod when it is the other end of a flow.
    pub peer: PeerIdentity,
}

impl IndexedPod {
    fn new(mut pod: TrimmedPod, rules: &IdentityRules) -> IndexedPod {
        let w = workload_of(&pod);
        let labels = capped_json(&pod.labels, rules.max_metadata_bytes).json;
        let elsewhere = rules
            .node_name
            .as_ref()
            .is_some_and(|node| !pod.node_name.is_empty() && pod.node_name != *node);
        let annotations = if elsewhere {
            // Only a peer: the exported peer fields carry no annotations.
            "{}".to_string()
        } else {
            capped_json(
                &allowed(&pod.annotations, &rules.annotations_allow),
                rules.max_metadata_bytes,
            )
            .json
        };
        pod.labels = BTreeMap::new();
        pod.annotations = BTreeMap::new();
        let identity = PodIdentity {
            node_name: pod.node_name.clone(),
            node_ip: pod.host_ip,
            pod_name: pod.name.clone(),
            pod_namespace: pod.namespace.clone(),
            pod_uid: pod.uid.clone(),
            workload_name: w.name.clone(),
            workload_kind: w.kind.clone(),
            cluster_name: rules.cluster_name.clone(),
            labels_json: labels.clone(),
            annotations_json: annotations,
        };
        let peer = PeerIdentity {
            pod_name: pod.name.clone(),
            pod_namespace: pod.namespace.clone(),
            workload_name: w.name,
            workload_kind: w.kind,
            node_name: pod.node_name.clone(),
            labels_json: labels,
        };
        IndexedPod {
            pod,
            identity,
            peer,
        }
    }
}

/// Where a list of every pod began (see [`PodIndex::list_started`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListMark(u64);

/// A change to the set of pods, as a watch reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodEvent {
    /// ADDED or MODIFIED.
    Apply(TrimmedPod),
    /// DELETED.
    Delete(TrimmedPod),
}

/// Every known pod, by key and by address.
#[derive(Clone, Debug, Default)]
pub struct PodIndex {
    rules: IdentityRules,
    pods: HashMap<String, Arc<IndexedPod>>,
    by_ip: HashMap<IpAddr, String>,
    /// Arrival counter: of two pods created in the same second, the later arrival wins.
    arrivals: u64,
    arrived: HashMap<String, u64>,
}

impl PodIndex {
    /// An empty index whose identities follow `rules`.
    pub fn new(rules: IdentityRules) -> PodIndex {
        PodIndex {
            rules,
            ..PodIndex::default()
        }
    }

    /// An index of exactly these pods.
    pub fn from_pods(rules: IdentityRules, pods: impl IntoIterator<Item = TrimmedPod>) -> Self {
        let mut index = PodIndex::new(rules);
        for pod in pods {
            index.apply(pod);
        }
        index
    }

    /// The rules the identities follow.
    pub fn rules(&self) -> &IdentityRules {
        &self.rules
    }

    /// Number of pods known.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// No pod known.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Follows one watch event.
    pub fn handle(&mut self, event: PodEvent) {
        match event {
            PodEvent::Apply(pod) => self.apply(pod),
            PodEvent::Delete(pod) => self.delete(&pod),
        }
    }

    /// Adds or updates a pod.
    pub fn apply(&mut self, pod: TrimmedPod) {
        let key = pod.key();
        self.arrivals += 1;
        self.arrived.insert(key.clone(), self.arrivals);
        let new = Arc::new(IndexedPod::new(pod, &self.rules));
        let claims: Vec<IpAddr> = new.pod.claimable().to_vec();
        if let Some(old) = self.pods.insert(key.clone(), new) {
            for ip in old.pod.claimable() {
                if !claims.contains(ip) {
                    self.release(*ip, &key);
                }
            }
        }
        for ip in claims {
            let wins = match self.by_ip.get(&ip) {
                None => true,
                Some(holder) if *holder == key => true,
                Some(holder) => self.newer(&key, holder),
            };
            if wins {
                self.by_ip.insert(ip, key.clone());
            }
        }
    }

    /// Removes a pod and gives back the addresses that were still its own.
    pub fn delete(&mut self, pod: &TrimmedPod) {
        let key = pod.key();
        let Some(old) = self.pods.remove(&key) else {
            return;
        };
        self.arrived.remove(&key);
        for ip in old.pod.claimable() {
            self.release(*ip, &key);
        }
    }

    /// Replaces the whole state with these pods, as after a relist: pods absent from the
    /// list are gone.
    pub fn replace(&mut self, pods: impl IntoIterator<Item = TrimmedPod>) {
        let mark = self.list_started();
        for pod in pods {
            self.apply(pod);
        }
        self.list_done(mark);
    }

    /// A list of every pod begins: each pod it lists is applied as it comes (readers see
    /// the pods known before and the listed ones, never fewer), and [`PodIndex::list_done`]
    /// with the returned mark removes the pods it did not list. So a relist costs the
    /// index and one pod, never two indexes.
    pub fn list_started(&self) -> ListMark {
        ListMark(self.arrivals)
    }

    /// The list begun at `mark` is complete: pods that did not arrive since are gone.
    /// Returns how many went.
    pub fn list_done(&mut self, mark: ListMark) -> usize {
        let gone: Vec<TrimmedPod> = self
            .pods
            .iter()
            .filter(|(k, _)| self.arrived.get(*k).is_none_or(|&n| n <= mark.0))
            .map(|(_, p)| p.pod.clone())
            .collect();
        for pod in &gone {
            self.delete(pod);
        }
        gone.len()
    }

    /// The pod that holds this address.
    pub fn by_ip(&self, ip: &IpAddr) -> Option<&Arc<IndexedPod>> {
        self.by_ip.get(ip).and_then(|k| self.pods.get(k))
    }

    /// The pod with this namespace and name.
    pub fn by_name(&self, namespace: &str, name: &str) -> Option<&Arc<IndexedPod>> {
        self.pods
            .values()
            .find(|p| p.pod.namespace == namespace && p.pod.name == name)
    }

    /// The pods scheduled on this node, by namespace and name.
    pub fn on_node(&self, node: &str) -> Vec<Arc<IndexedPod>> {
        let mut pods: Vec<_> = self
            .pods
            .values()
            .filter(|p| p.pod.node_name == node)
            .cloned()
            .collect();
        pods.sort_by(|a, b| (&a.pod.namespace, &a.pod.name).cmp(&(&b.pod.namespace, &b.pod.name)));
        pods
    }

    /// The identity of the other end of a flow, when the address is a known pod's.
    pub fn peer(&self, ip: &IpAddr) -> Option<&PeerIdentity> {
        self.by_ip(ip).map(|p| &p.peer)
    }

    /// The observed pod's identity, when the address is a known pod's.
    pub fn identity(&self, ip: &IpAddr) -> Option<&PodIdentity> {
        self.by_ip(ip).map(|p| &p.identity)
    }

    /// A summary for logs and tests: `namespace/name` of every pod, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .pods
            .values()
            .map(|p| format!("{}/{}", p.pod.namespace, p.pod.name))
            .collect();
        names.sort();
        names
    }

    /// Whether pod `a` is newer than pod `b`: created later, or created in the same second
    /// and seen later.
    fn newer(&self, a: &str, b: &str) -> bool {
        let rank = |k: &str| {
            (
                self.pods.get(k).map_or(i64::MIN, |p| p.pod.created_secs),
                self.arrived.get(k).copied().unwrap_or(0),
            )
        };
        rank(a) > rank(b)
    }

    /// `key` no longer lists `ip`: if it held it, the newest other pod that still lists it
    /// takes it over.
    fn release(&mut self, ip: IpAddr, key: &str) {
        if self.by_ip.get(&ip).map(String::as_str) != Some(key) {
            return;
        }
        self.by_ip.remove(&ip);
        let next = self
            .pods
            .iter()
            .filter(|(k, p)| k.as_str() != key && p.pod.claimable().contains(&ip))
            .map(|(k, _)| k.clone())
            .reduce(|a, b| if self.newer(&b, &a) { b } else { a });
        if let Some(next) = next {
            self.by_ip.insert(ip, next);
        }
    }
}

/// Logs and counts of an index, comparable across updates so that a change is logged once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexSummary {
    pub pods: usize,
    pub addresses: usize,
}

impl PodIndex {
    /// How many pods and claimed addresses the index holds.
    pub fn summary(&self) -> IndexSummary {
        IndexSummary {
            pods: self.pods.len(),
            addresses: self.by_ip.len(),
        }
    }
}

#[cfg(test)]
mod tests;
