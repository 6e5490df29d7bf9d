//! The view from a file: a `v1` List of Pods, Services, EndpointSlices and Nodes, as
//! `kubectl get pods,services,endpointslices,nodes -A -o json` writes it. For a cluster
//! without API access from the mediator, tests and replays; read once at start.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

use super::api::{node_update, pod_update, service_update, slice_update};
use super::tenure::Millis;
use super::view::ClusterView;

/// Why a file gives no view.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a v1 List of Pods, Services, EndpointSlices and Nodes: {why}", path.display())]
    Format { path: PathBuf, why: String },
}

/// What a file held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub pods: usize,
    pub services: usize,
    pub slices: usize,
    pub nodes: usize,
    /// Items of other kinds, and items that did not parse as their kind.
    pub skipped: usize,
}

/// Applies every object of the List in `path` to `view`, as seen at `now`.
pub fn load(
    path: &Path,
    view: &mut ClusterView,
    max_label_bytes: usize,
    now: Millis,
) -> Result<Loaded, FileError> {
    let text = std::fs::read_to_string(path).map_err(|error| FileError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    apply(&text, view, max_label_bytes, now).map_err(|why| FileError::Format {
        path: path.to_path_buf(),
        why,
    })
}

/// Applies every object of the List `text`.
pub fn apply(
    text: &str,
    view: &mut ClusterView,
    max_label_bytes: usize,
    now: Millis,
) -> Result<Loaded, String> {
    let list: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let items = list
        .get("items")
        .and_then(Value::as_array)
        .ok_or("no \"items\" list")?;
    let mut loaded = Loaded::default();
    for item in items {
        let kind = item.get("kind").and_then(Value::as_str).unwrap_or("");
        let known = match kind {
            "Pod" => serde_json::from_value::<Pod>(item.clone())
                .map(|p| view.pods.apply(pod_update(&p, max_label_bytes), now))
                .map(|()| loaded.pods += 1),
            "Service" => serde_json::from_value::<Service>(item.clone())
                .map(|s| view.services.apply(service_update(&s)))
                .map(|()| loaded.services += 1),
            "EndpointSlice" => serde_json::from_value::<EndpointSlice>(item.clone()).map(|e| {
                if let Some(slice) = slice_update(&e) {
                    view.services.apply_slice(slice);
                    loaded.slices += 1;
                }
            }),
            "Node" => serde_json::from_value::<Node>(item.clone())
                .map(|n| view.nodes.apply(node_update(&n)))
                .map(|()| loaded.nodes += 1),
            _ => {
                loaded.skipped += 1;
                continue;
            }
        };
        if known.is_err() {
            loaded.skipped += 1;
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Endpoint, TrafficClass};

    #[test]
    fn a_list_of_every_kind_makes_the_view() {
        let text = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1",
                "labels": {"topology.kubernetes.io/zone": "a"}},
             "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"}]}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1"},
             "spec": {"nodeName": "n1", "containers": []},
             "status": {"podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}]}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop", "uid": "s1"},
             "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}]}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": "web-x", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
             "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
             "endpoints": [{"addresses": ["10.1.0.5"]}]},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 7}}
        ]})
        .to_string();
        let mut view = ClusterView::default();
        let loaded = apply(&text, &mut view, 4096, 1_000).unwrap();
        assert_eq!(
            loaded,
            Loaded {
                pods: 1,
                services: 1,
                slices: 1,
                nodes: 1,
                skipped: 2
            }
        );
        let at = |addr: &str, port| {
            view.end(
                Endpoint {
                    addr: addr.parse().unwrap(),
                    port,
                    protocol: 6,
                },
                2_000,
            )
        };
        let web = at("10.1.0.5", 8080);
        assert_eq!(web.pod.as_ref().unwrap().name, "web-1");
        assert_eq!(web.node.as_ref().unwrap().zone, "a");
        assert_eq!(&*web.service.as_ref().unwrap().port_name, "http");
        assert_eq!(
            crate::cluster::traffic_class(&at("10.1.0.5", 1), &at("10.96.0.20", 80)),
            TrafficClass::Service
        );
        assert!(apply("{}", &mut view, 4096, 0).is_err());
        assert!(apply("[", &mut view, 4096, 0).is_err());
    }
}
