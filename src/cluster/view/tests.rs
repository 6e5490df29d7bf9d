use super::*;
use crate::cluster::nodes::NodeUpdate;
use crate::cluster::pods::PodUpdate;
use crate::cluster::services::{ServiceFacts, ServicePort, ServiceUpdate, SliceUpdate};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn node(name: &str, zone: &str, region: &str, addr: &str, range: &str) -> NodeUpdate {
    NodeUpdate {
        facts: NodeFacts {
            name: name.into(),
            zone: zone.into(),
            region: region.into(),
        },
        addresses: vec![ip(addr)],
        pod_ranges: vec![range.parse().unwrap()],
    }
}

fn pod(name: &str, node: &str, addr: &str) -> PodUpdate {
    PodUpdate {
        facts: PodFacts {
            name: name.into(),
            namespace: "shop".into(),
            uid: format!("uid-{name}"),
            node: node.into(),
            ..PodFacts::default()
        },
        ips: vec![ip(addr)],
        since: Some(0),
    }
}

/// Nodes n1, n2 in zones a, b of region r1, n3 in region r2; a pod on each (n1 two); a
/// Service "web" at 10.96.0.20:80 backed by web-1 and web-2 on port 8080.
fn cluster() -> ClusterView {
    let mut v = ClusterView::default();
    v.nodes
        .apply(node("n1", "r1-a", "r1", "192.168.0.1", "10.244.1.0/24"));
    v.nodes
        .apply(node("n2", "r1-b", "r1", "192.168.0.2", "10.244.2.0/24"));
    v.nodes
        .apply(node("n3", "r2-a", "r2", "192.168.0.3", "10.244.3.0/24"));
    for (name, n, addr) in [
        ("client", "n1", "10.244.1.5"),
        ("web-1", "n1", "10.244.1.6"),
        ("web-2", "n2", "10.244.2.6"),
        ("far", "n3", "10.244.3.6"),
    ] {
        v.pods.apply(pod(name, n, addr), 1_000);
    }
    let http = ServicePort {
        name: "http".into(),
        protocol: 6,
        port: 80,
        node_port: Some(30080),
    };
    let web = ServiceFacts {
        name: "web".into(),
        namespace: "shop".into(),
    };
    v.services.apply(ServiceUpdate {
        uid: "svc-web".into(),
        facts: web.clone(),
        addresses: vec![ip("10.96.0.20")],
        ports: vec![http.clone()],
    });
    v.services.apply_slice(SliceUpdate {
        uid: "slice-web".into(),
        service: web,
        ports: vec![ServicePort {
            port: 8080,
            node_port: None,
            ..http
        }],
        addresses: vec![ip("10.244.1.6"), ip("10.244.2.6")],
    });
    v.cluster_ranges = vec!["10.96.0.0/12".parse().unwrap()];
    v
}

fn at(v: &ClusterView, addr: &str, port: u16) -> End {
    v.end(
        Endpoint {
            addr: ip(addr),
            port,
            protocol: 6,
        },
        5_000,
    )
}

fn class(v: &ClusterView, from: (&str, u16), to: (&str, u16)) -> TrafficClass {
    traffic_class(&at(v, from.0, from.1), &at(v, to.0, to.1))
}

#[test]
fn each_end_is_named_by_pod_node_service_or_world() {
    let v = cluster();
    let web = at(&v, "10.244.2.6", 8080);
    assert_eq!(web.pod.as_ref().unwrap().name, "web-2");
    assert_eq!(web.node.as_ref().unwrap().zone, "r1-b");
    let served = web.service.unwrap();
    assert_eq!(
        (served.service.name.as_str(), &*served.port_name),
        ("web", "http")
    );
    assert!(
        at(&v, "10.244.2.6", 9999).service.is_none(),
        "not a port of the slice"
    );
    let vip = at(&v, "10.96.0.20", 80);
    assert_eq!(&*vip.service.unwrap().port_name, "http");
    assert!(vip.pod.is_none() && !vip.world);
    let node_port = at(&v, "192.168.0.2", 30080);
    assert!(node_port.node_address);
    assert_eq!(node_port.service.unwrap().service.name, "web");
    assert!(at(&v, "93.184.216.34", 443).world);
    assert!(
        !at(&v, "10.100.0.1", 53).world,
        "inside mediator.cluster_cidrs"
    );
    assert!(
        !at(&v, "10.244.3.99", 53).world,
        "inside a node's pod range"
    );
}

#[test]
fn the_traffic_class_of_each_kind_of_path() {
    use TrafficClass::*;
    let v = cluster();
    let client = ("10.244.1.5", 40000);
    assert_eq!(class(&v, client, ("10.244.1.5", 80)), SamePod);
    assert_eq!(class(&v, client, ("10.244.1.6", 8080)), SameNode);
    assert_eq!(class(&v, client, ("10.244.2.6", 8080)), CrossZone);
    assert_eq!(class(&v, client, ("10.244.3.6", 8080)), CrossRegion);
    assert_eq!(class(&v, client, ("93.184.216.34", 443)), Egress);
    assert_eq!(
        class(&v, ("93.184.216.34", 50000), ("10.244.1.6", 8080)),
        Ingress
    );
    assert_eq!(class(&v, client, ("192.168.0.2", 10250)), HostNetwork);
    assert_eq!(class(&v, client, ("10.96.0.20", 80)), Service);
    assert_eq!(
        class(&v, ("93.184.216.34", 1), ("198.51.100.1", 2)),
        Unknown
    );
    // Two pods on nodes of one zone.
    let mut v = v;
    v.nodes
        .apply(node("n4", "r1-a", "r1", "192.168.0.4", "10.244.4.0/24"));
    v.pods.apply(pod("near", "n4", "10.244.4.6"), 1_000);
    assert_eq!(class(&v, client, ("10.244.4.6", 8080)), SameZone);
    // Nodes without zone labels say nothing.
    v.nodes
        .apply(node("n5", "", "", "192.168.0.5", "10.244.5.0/24"));
    v.pods.apply(pod("bare", "n5", "10.244.5.6"), 1_000);
    assert_eq!(class(&v, client, ("10.244.5.6", 8080)), Unknown);
    for c in [
        SamePod,
        SameNode,
        SameZone,
        CrossZone,
        CrossRegion,
        Egress,
        Ingress,
        HostNetwork,
        Service,
        Unknown,
    ] {
        assert!(!c.name().is_empty());
    }
}
