//! Tests of the pod index: trimming, IP reuse, deletes, relists, host network, workloads.

use super::*;
use serde_json::json;

/// A pod as the API server writes it, with the fields the index drops.
fn api_pod(name: &str, uid: &str, ip: &str, created: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": uid,
            "resourceVersion": "1001",
            "creationTimestamp": created,
            "labels": {"app": "shop", "pod-template-hash": "7c9d8f6b5"},
            "annotations": {"prometheus.io/scrape": "true"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "shop-web-7c9d8f6b5",
                "uid": "rs-1", "controller": true, "blockOwnerDeletion": true
            }],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}]
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "web", "image": "shop:1"}]
        },
        "status": {
            "phase": "Running",
            "hostIP": "192.168.1.10",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    })
}

fn trimmed(v: serde_json::Value) -> TrimmedPod {
    let pod: ApiPod = serde_json::from_value(v).unwrap();
    TrimmedPod::from_api(&pod)
}

fn pod(name: &str, uid: &str, ip: &str, created: &str) -> TrimmedPod {
    trimmed(api_pod(name, uid, ip, created))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn holder(index: &PodIndex, addr: &str) -> Option<String> {
    index.by_ip(&ip(addr)).map(|p| p.pod.name.clone())
}

const T1: &str = "2026-01-01T10:00:00Z";
const T2: &str = "2026-01-01T10:05:00Z";

#[test]
fn trims_to_what_the_index_needs() {
    let mut v = api_pod("shop-web-7c9d8f6b5-x2x9k", "u1", "10.0.0.7", T1);
    v["status"]["podIPs"] = json!([{"ip": "10.0.0.7"}, {"ip": "fd00::7"}]);
    let p = trimmed(v);
    assert_eq!(p.name, "shop-web-7c9d8f6b5-x2x9k");
    assert_eq!(p.namespace, "shop");
    assert_eq!(p.uid, "u1");
    assert_eq!(p.ips, vec![ip("10.0.0.7"), ip("fd00::7")]);
    assert_eq!(p.host_ip, Some(ip("192.168.1.10")));
    assert_eq!(p.node_name, "node-1");
    assert!(!p.host_network && !p.finished);
    assert_eq!(
        p.owners,
        vec![Owner {
            kind: "ReplicaSet".into(),
            name: "shop-web-7c9d8f6b5".into(),
            controller: true
        }]
    );
    assert_eq!(p.created_secs, 1_767_261_600);
    // Only podIP, as older API servers write it.
    let mut v = api_pod("a", "u2", "10.0.0.8", T1);
    v["status"].as_object_mut().unwrap().remove("podIPs");
    assert_eq!(trimmed(v).ips, vec![ip("10.0.0.8")]);
    // No status yet: pending, no address.
    let mut v = api_pod("a", "u3", "10.0.0.8", T1);
    v.as_object_mut().unwrap().remove("status");
    assert!(trimmed(v).ips.is_empty());
}

#[test]
fn identities_of_observed_and_peer() {
    let rules = IdentityRules {
        cluster_name: "prod".into(),
        ..IdentityRules::default()
    };
    let index = PodIndex::from_pods(
        rules,
        [pod("shop-web-7c9d8f6b5-x2x9k", "u1", "10.0.0.7", T1)],
    );
    let id = index.identity(&ip("10.0.0.7")).unwrap();
    assert_eq!(id.pod_name, "shop-web-7c9d8f6b5-x2x9k");
    assert_eq!(id.pod_uid, "u1");
    assert_eq!(id.node_ip, Some(ip("192.168.1.10")));
    assert_eq!(id.cluster_name, "prod");
    assert_eq!(
        (id.workload_name.as_str(), id.workload_kind.as_str()),
        ("shop-web", "Deployment")
    );
    assert_eq!(
        id.labels_json,
        r#"{"app":"shop","pod-template-hash":"7c9d8f6b5"}"#
    );
    assert_eq!(id.annotations_json, r#"{"prometheus.io/scrape":"true"}"#);
    let peer = index.peer(&ip("10.0.0.7")).unwrap();
    assert_eq!(
        *peer,
        PeerIdentity {
            pod_name: "shop-web-7c9d8f6b5-x2x9k".into(),
            pod_namespace: "shop".into(),
            workload_name: "shop-web".into(),
            workload_kind: "Deployment".into(),
            node_name: "node-1".into(),
            labels_json: id.labels_json.clone(),
        }
    );
    assert!(index.peer(&ip("10.0.0.9")).is_none());
}

#[test]
fn newest_pod_wins_an_address() {
    let mut index = PodIndex::default();
    index.apply(pod("new", "u2", "10.0.0.7", T2));
    // An older pod that still lists the address (terminating) does not take it back.
    index.apply(pod("old", "u1", "10.0.0.7", T1));
    assert_eq!(holder(&index, "10.0.0.7").as_deref(), Some("new"));
    index.apply(pod("old", "u1", "10.0.0.7", T1));
    assert_eq!(holder(&index, "10.0.0.7").as_deref(), Some("new"));
    // Deleting the old pod leaves the address with the new one.
    index.delete(&pod("old", "u1", "10.0.0.7", T1));
    assert_eq!(holder(&index, "10.0.0.7").as_deref(), Some("new"));
    assert_eq!(index.len(), 1);
}

#[test]
fn same_second_later_arrival_wins() {
    let mut index = PodIndex::default();
    index.apply(pod("a", "u1", "10.0.0.7", T1));
    index.apply(pod("b", "u2", "10.0.0.7", T1));
    assert_eq!(holder(&index, "10.0.0.7").as_deref(), Some("b"));
}

#[test]
fn delete_releases_only_its_own_addresses() {
    let mut index = PodIndex::default();
    index.apply(pod("old", "u1", "10.0.0.7", T1));
    index.apply(pod("new", "u2", "10.0.0.7", T2));
    index.delete(&pod("new", "u2", "10.0.0.7", T2));
    // The older pod still lists the address: it has it again.
    assert_eq!(holder(&index, "10.0.0.7").as_deref(), Some("old"));
    index.delete(&pod("old", "u1", "10.0.0.7", T1));
    assert_eq!(holder(&index, "10.0.0.7"), None);
    assert!(index.is_empty());
    // Deleting an unknown pod changes nothing.
    index.delete(&pod("ghost", "u9", "10.0.0.7", T1));
    assert_eq!(index.summary(), IndexSummary::default());
}

#[test]
fn modified_address_moves() {
    let mut index = PodIndex::default();
    let mut p = pod("a", "u1", "", T1);
    index.apply(p.clone());
    assert_eq!(
        index.summary(),
        IndexSummary {
            pods: 1,
            addresses: 0
        }
    );
    p.ips = vec![ip("10.0.0.7")];
    index.apply(p.clone());
    assert_eq!(holder(&index, "10.0.0.7").as_deref(), Some("a"));
    p.ips = vec![ip("10.0.0.8")];
    index.apply(p);
    assert_eq!(holder(&index, "10.0.0.7"), None);
    assert_eq!(holder(&index, "10.0.0.8").as_deref(), Some("a"));
}

#[test]
fn host_network_and_finished_pods_claim_nothing() {
    let mut v = api_pod("kube-proxy-x7k2p", "u1", "192.168.1.10", T2);
    v["spec"]["hostNetwork"] = json!(true);
    let mut index = PodIndex::default();
    index.apply(pod("web", "u0", "10.0.0.7", T1));
    index.apply(trimmed(v));
    assert_eq!(holder(&index, "192.168.1.10"), None);
    let mut done = pod("job", "u2", "10.0.0.7", T2);
    done.finished = true;
    index.apply(done);
    assert_eq!(holder(&index, "10.0.0.7").as_deref(), Some("web"));
    assert_eq!(index.on_node("node-1").len(), 3);
    assert!(index.on_node("node-2").is_empty());
}

#[test]
fn relist_replaces_everything() {
    let mut index = PodIndex::default();
    index.apply(pod("a", "u1", "10.0.0.1", T1));
    index.apply(pod("b", "u2", "10.0.0.2", T1));
    index.replace([
        pod("b", "u2", "10.0.0.3", T1),
        pod("c", "u3", "10.0.0.4", T1),
    ]);
    assert_eq!(index.names(), ["shop/b", "shop/c"]);
    assert_eq!(holder(&index, "10.0.0.1"), None);
    assert_eq!(holder(&index, "10.0.0.2"), None);
    assert_eq!(holder(&index, "10.0.0.3").as_deref(), Some("b"));
    assert_eq!(
        index.summary(),
        IndexSummary {
            pods: 2,
            addresses: 2
        }
    );
    assert!(index.by_name("shop", "c").is_some());
}

#[test]
fn workloads_from_owner_references() {
    let owned = |pod: &str, labels: &[(&str, &str)], kind: &str, owner: &str| {
        let p = TrimmedPod {
            name: pod.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            owners: vec![Owner {
                kind: kind.into(),
                name: owner.into(),
                controller: true,
            }],
            ..TrimmedPod::default()
        };
        let w = workload_of(&p);
        (w.name, w.kind)
    };
    let is = |n: &str, k: &str| (n.to_string(), k.to_string());
    let hash = [("pod-template-hash", "7c9d8f6b5")];
    assert_eq!(
        owned("x", &hash, "ReplicaSet", "shop-web-7c9d8f6b5"),
        is("shop-web", "Deployment")
    );
    assert_eq!(
        owned("x", &hash, "ReplicaSet", "shop-web"),
        is("shop-web", "ReplicaSet")
    );
    assert_eq!(
        owned("x", &[], "ReplicaSet", "rs-7c9d8f6b5"),
        is("rs-7c9d8f6b5", "ReplicaSet")
    );
    // A long Deployment name: the ReplicaSet keeps it whole, the pod name would not.
    let long = format!("{}-7c9d8f6b5", "d".repeat(60));
    assert_eq!(
        owned("x", &hash, "ReplicaSet", &long),
        is(&"d".repeat(60), "Deployment")
    );
    assert_eq!(
        owned("web-0", &[], "StatefulSet", "web"),
        is("web", "StatefulSet")
    );
    assert_eq!(
        owned("fb-x7k2p", &[], "DaemonSet", "fb"),
        is("fb", "DaemonSet")
    );
    assert_eq!(
        owned("m-x7k2p", &[], "Job", "migrate"),
        is("migrate", "Job")
    );
    assert_eq!(
        owned("b-x", &[], "Job", "backup-28437120"),
        is("backup", "CronJob")
    );
    assert_eq!(
        owned("etcd-node-1", &[], "Node", "node-1"),
        is("etcd-node-1", "Pod")
    );
    assert_eq!(owned("r-x", &[], "Rollout", "r"), is("r", "Rollout"));
    // Not a controller: the pod is its own workload.
    let mut p = TrimmedPod {
        name: "bare".into(),
        ..TrimmedPod::default()
    };
    assert_eq!(
        workload_of(&p),
        Workload {
            name: "bare".into(),
            kind: "Pod".into()
        }
    );
    p.owners.push(Owner {
        kind: "ReplicaSet".into(),
        name: "x".into(),
        controller: false,
    });
    assert_eq!(workload_of(&p).kind, "Pod");
}

#[test]
fn pods_without_uid_are_keyed_by_name() {
    let mut index = PodIndex::default();
    let mut p = pod("a", "", "10.0.0.1", T1);
    index.apply(p.clone());
    p.ips = vec![ip("10.0.0.2")];
    index.apply(p.clone());
    assert_eq!(index.len(), 1);
    index.delete(&p);
    assert!(index.is_empty());
}

#[test]
fn the_index_keeps_labels_and_annotations_only_as_exported() {
    let big = "x".repeat(64 * 1024);
    let mut v = api_pod("shop-web-1", "u1", "10.0.0.1", "2024-01-01T00:00:00Z");
    v["metadata"]["annotations"] = json!({"big.io/blob": big, "team.io/owner": "shop"});
    let rules = IdentityRules {
        annotations_allow: vec!["team.io/*".into()],
        max_metadata_bytes: 4096,
        node_name: Some("node-1".into()),
        ..IdentityRules::default()
    };
    let mut other = api_pod("shop-web-2", "u2", "10.0.0.2", "2024-01-01T00:00:00Z");
    other["metadata"]["annotations"] = json!({"team.io/owner": "shop"});
    other["spec"]["nodeName"] = json!("node-2");
    let index = PodIndex::from_pods(rules, [trimmed(v), trimmed(other)]);

    let here = index.by_ip(&ip("10.0.0.1")).unwrap();
    assert_eq!(
        here.identity.annotations_json,
        r#"{"team.io/owner":"shop"}"#
    );
    assert_eq!(
        here.identity.workload_name, "shop-web",
        "derived before the trim"
    );
    assert!(here.pod.labels.is_empty() && here.pod.annotations.is_empty());
    let elsewhere = index.by_ip(&ip("10.0.0.2")).unwrap();
    assert_eq!(
        elsewhere.identity.annotations_json, "{}",
        "only ever a peer"
    );
    assert_eq!(
        elsewhere.peer.labels_json,
        r#"{"app":"shop","pod-template-hash":"7c9d8f6b5"}"#
    );
    assert_eq!(elsewhere.peer.workload_name, "shop-web");
}

#[test]
fn a_relist_applied_pod_by_pod_removes_only_what_it_did_not_name() {
    let mut index = PodIndex::from_pods(
        IdentityRules::default(),
        [
            pod("a", "ua", "10.0.0.1", "2024-01-01T00:00:00Z"),
            pod("b", "ub", "10.0.0.2", "2024-01-01T00:00:00Z"),
        ],
    );
    let mark = index.list_started();
    index.apply(pod("b", "ub", "10.0.0.2", "2024-01-01T00:00:00Z"));
    index.apply(pod("c", "uc", "10.0.0.1", "2024-01-02T00:00:00Z"));
    assert_eq!(index.len(), 3, "nothing goes before the list is complete");
    assert_eq!(index.list_done(mark), 1);
    assert_eq!(index.names(), ["shop/b", "shop/c"]);
    assert_eq!(holder(&index, "10.0.0.1").as_deref(), Some("c"));
}
