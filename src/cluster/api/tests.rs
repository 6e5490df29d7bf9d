use super::*;
use serde_json::json;

#[test]
fn a_pod_of_a_deployment_with_the_time_its_network_was_ready() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {
            "name": "web-7c9d8f6b5-x2x9k", "namespace": "shop", "uid": "u-1",
            "labels": {"app": "web", "pod-template-hash": "7c9d8f6b5"},
            "creationTimestamp": "2026-12-01T10:00:00Z",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "web-7c9d8f6b5", "uid": "rs", "controller": true}]
        },
        "spec": {"nodeName": "n1", "containers": []},
        "status": {
            "phase": "Running", "podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}, {"ip": "fd00::5"}],
            "startTime": "2026-12-01T10:00:03Z",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-01T10:00:09Z"},
                {"type": "PodReadyToStartContainers", "status": "True",
                 "lastTransitionTime": "2026-12-01T10:00:02Z"}
            ]
        }
    }))
    .unwrap();
    let u = pod_update(&pod, 4096);
    assert_eq!(u.facts.workload_name, "web");
    assert_eq!(u.facts.workload_kind, "Deployment");
    assert_eq!(u.facts.node, "n1");
    assert_eq!(
        u.facts.labels_json,
        r#"{"app":"web","pod-template-hash":"7c9d8f6b5"}"#
    );
    assert_eq!(u.ips.len(), 2);
    assert_eq!(
        u.since,
        Some(1_796_119_202_000),
        "the sandbox's network, 10:00:02"
    );
    // Finished: its addresses are free again.
    let mut done = pod.clone();
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    assert!(pod_update(&done, 4096).ips.is_empty());
}

#[test]
fn a_service_its_slices_and_a_node() {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop", "uid": "s-1"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080},
                      {"port": 53, "protocol": "UDP"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}
    }))
    .unwrap();
    let s = service_update(&svc);
    assert_eq!(
        s.addresses,
        [
            "10.96.0.20".parse::<IpAddr>().unwrap(),
            "203.0.113.9".parse().unwrap()
        ]
    );
    assert_eq!(s.ports[0].node_port, Some(30080));
    assert_eq!((s.ports[1].protocol, &*s.ports[1].name), (17, ""));
    let headless: Service = serde_json::from_value(json!({
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}
    }))
    .unwrap();
    let h = service_update(&headless);
    assert!(h.addresses.is_empty());
    assert_eq!(h.uid, "shop/db");
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "web-abc", "namespace": "shop", "uid": "e-1",
            "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.1.0.5"], "conditions": {"ready": true}},
                      {"addresses": ["10.1.0.6"]}]
    }))
    .unwrap();
    let e = slice_update(&slice).unwrap();
    assert_eq!(
        (e.service.name.as_str(), e.addresses.len(), e.ports[0].port),
        ("web", 2, 8080)
    );
    let orphan: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "x"}, "addressType": "IPv4", "endpoints": []
    }))
    .unwrap();
    assert!(slice_update(&orphan).is_none());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "eu-1a",
            "topology.kubernetes.io/region": "eu-1"}},
        "spec": {"podCIDR": "10.1.0.0/24", "podCIDRs": ["10.1.0.0/24", "fd00::/64"]},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"},
                                  {"type": "Hostname", "address": "n1"}]}
    }))
    .unwrap();
    let n = node_update(&node);
    assert_eq!(
        (n.facts.zone.as_str(), n.facts.region.as_str()),
        ("eu-1a", "eu-1")
    );
    assert_eq!(n.addresses.len(), 1);
    assert_eq!(n.pod_ranges.len(), 2);
}
