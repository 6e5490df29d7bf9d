//! Who the observed pod is.
//!
//! Sidecar mode has no API-server access: the identity comes from the `k8s` configuration
//! (which the injected sidecar fills from the Downward API through `PODFLOW_K8S__*`
//! variables) and from the labels and annotations Downward-API files, which the
//! [`Metadata`] actor watches and reloads when the kubelet rewrites them. Parsing, the
//! workload guess, the annotation allow-list and the size cap are pure functions.
//!
//! Node mode knows every pod: a [`PodIndex`] by IP, fed by a kube watch of all pods or by
//! a PodList file (`k8s.source`), names the observed pod and its peer.

mod actor;
mod config;
mod downward;
mod events;
mod identity;
mod index;
mod kube;
mod metrics;
mod podlist;
mod select;
mod watched;
mod workload;

pub use actor::{CurrentIdentity, Metadata};
pub use config::{Config, PodSource};
pub use downward::ParseError;
pub use events::MetadataStats;
pub use identity::{build, from_config, node_identity, parse_file, Built, MetadataError};
pub use index::{
    workload_of, IdentityRules, IndexSummary, IndexedPod, ListMark, Owner, PodIndex, TrimmedPod,
};
pub use kube::{
    client as api_client, start_source, watch_with, PodWatch, Pods, SharedIndex, SourceError,
    SourceStats,
};
pub use podlist::{load_pod_list, parse_pod_list, PodListError};
pub use select::{capped_json, Capped};
pub use workload::{derive as derive_workload, Workload};

/// A map of the given entries, for tests.
#[cfg(test)]
fn entries(entries: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
