//! What the mediator's view of a large cluster costs: the memory of its pods, Services,
//! EndpointSlices and nodes, a relist that does not double it, and the records per second
//! one core names (both ends and the traffic class) and passes on.
//!
//!     mediator_view [PODS] [SERVICES] [NODES]      defaults 150000 10000 5000
//!
//! Pods get three labels of a Deployment, one address each from their node's /24; each
//! Service one ClusterIP, one named port and a slice of ten of the pods; nodes spread
//! over three zones of one region. Memory is the process's resident set (VmRSS) before
//! and after, so run it alone.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::Instant;

use podflow::cluster::{
    ClusterView, NodeFacts, NodeUpdate, PodFacts, PodUpdate, ServiceFacts, ServicePort,
    ServiceUpdate, SliceUpdate,
};
use podflow::ipfix::DEFAULT_ENTERPRISE_NUMBER as PEN;
use podflow::mediator::session::{ExporterSession, OutTemplates, Spare};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn pod_ip(i: usize, per_node: usize) -> IpAddr {
    let node = i / per_node;
    IpAddr::V4(Ipv4Addr::new(
        10,
        (node >> 8) as u8 + 100,
        node as u8,
        (i % per_node) as u8 + 1,
    ))
}

fn pod(i: usize, per_node: usize) -> PodUpdate {
    let deployment = format!("app-{}", i / 10);
    PodUpdate {
        facts: PodFacts {
            name: format!("{deployment}-7c9d8f6b5-{i:05x}"),
            namespace: format!("team-{}", i % 50),
            uid: format!("{:08x}-0000-4000-8000-{:012x}", i, i),
            workload_name: deployment.clone(),
            workload_kind: "Deployment".into(),
            node: format!("node-{}", i / per_node),
            labels_json: format!(
                r#"{{"app":"{deployment}","pod-template-hash":"7c9d8f6b5","tier":"web"}}"#
            ),
            host_network: false,
        },
        ips: vec![pod_ip(i, per_node)],
        since: Some(0),
    }
}

/// A message of one template (addresses, ports, protocol, end time) and `n` records of
/// pod-to-pod flows, as a probe sends them.
fn message(n: usize, pods: usize, per_node: usize) -> Vec<u8> {
    let mut set = vec![1, 44, 0, 6];
    for (id, len) in [(8u16, 4u16), (12, 4), (7, 2), (11, 2), (4, 1), (153, 8)] {
        set.extend_from_slice(&id.to_be_bytes());
        set.extend_from_slice(&len.to_be_bytes());
    }
    let mut data = Vec::new();
    for k in 0..n {
        for ip in [
            pod_ip((k * 7919) % pods, per_node),
            pod_ip((k * 104_729) % pods, per_node),
        ] {
            let IpAddr::V4(v4) = ip else { unreachable!() };
            data.extend_from_slice(&v4.octets());
        }
        data.extend_from_slice(&40000u16.to_be_bytes());
        data.extend_from_slice(&8080u16.to_be_bytes());
        data.push(6);
        data.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
    }
    let mut msg = vec![0, 10, 0, 0, 0x65, 0x53, 0xf1, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    for (id, body) in [(2u16, set), (300, data)] {
        msg.extend_from_slice(&id.to_be_bytes());
        msg.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        msg.extend_from_slice(&body);
    }
    let len = msg.len() as u16;
    msg[2..4].copy_from_slice(&len.to_be_bytes());
    msg
}

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (pods, services, nodes) = (arg(1, 150_000), arg(2, 10_000), arg(3, 5_000));
    let per_node = pods.div_ceil(nodes).max(1);
    let mut view = ClusterView::default();
    let empty = rss_kib();
    let started = Instant::now();
    for n in 0..nodes {
        view.nodes.apply(NodeUpdate {
            facts: NodeFacts {
                name: format!("node-{n}"),
                zone: format!("eu-west-1{}", ["a", "b", "c"][n % 3]),
                region: "eu-west-1".into(),
            },
            addresses: vec![IpAddr::V4(Ipv4Addr::new(192, 168, (n >> 8) as u8, n as u8))],
            pod_ranges: Vec::new(),
        });
    }
    let after_nodes = rss_kib();
    for i in 0..pods {
        view.pods.apply(pod(i, per_node), 1_000);
    }
    let after_pods = rss_kib();
    for s in 0..services {
        let facts = ServiceFacts {
            name: format!("svc-{s}"),
            namespace: format!("team-{}", s % 50),
        };
        let port = |port| ServicePort {
            name: "http".into(),
            protocol: 6,
            port,
            node_port: None,
        };
        view.services.apply(ServiceUpdate {
            uid: format!("svc-uid-{s}"),
            facts: facts.clone(),
            addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 96, (s >> 8) as u8, s as u8))],
            ports: vec![port(80)],
        });
        view.services.apply_slice(SliceUpdate {
            uid: format!("slice-uid-{s}"),
            service: facts,
            ports: vec![port(8080)],
            addresses: (0..10)
                .map(|k| pod_ip((s * 10 + k) % pods, per_node))
                .collect(),
        });
    }
    let built = rss_kib();
    let build_time = started.elapsed();
    // A relist: every pod again, then the end of the list.
    let mark = view.pods.list_started();
    for i in 0..pods {
        view.pods.apply(pod(i, per_node), 2_000);
    }
    view.pods.list_done(mark, 2_000);
    let relisted = rss_kib();

    println!("pods {pods}, services {services} (each with a slice of 10 endpoints), nodes {nodes}");
    println!("built in {:.2} s", build_time.as_secs_f64());
    println!("memory: nodes {} KiB, pods {} KiB ({} bytes a pod), services and slices {} KiB ({} bytes a service), all {} KiB",
        after_nodes - empty,
        after_pods - after_nodes,
        (after_pods - after_nodes) * 1024 / pods.max(1) as u64,
        built - after_pods,
        (built - after_pods) * 1024 / services.max(1) as u64,
        built - empty);
    println!(
        "after a relist of every pod: {} KiB ({:+} KiB)",
        relisted - empty,
        relisted as i64 - built as i64
    );

    // Records per second on this core: one exporter session, a message of 500 records
    // named and appended again and again.
    let templates = Mutex::new(OutTemplates::new(PEN));
    let mut session = ExporterSession::new("10.100.0.1".parse().unwrap(), PEN, 16);
    let msg = message(500, pods, per_node);
    let rounds = 400;
    // The batches' buffers come back, as the output gives them back.
    let spare = Spare::default();
    let started = Instant::now();
    let mut records = 0u64;
    for _ in 0..rounds {
        let out = session
            .message(&msg, &view, &templates, &spare)
            .expect("the message parses");
        records += out.records;
        black_box(&out.batches);
        for b in out.batches {
            spare.give_back(b);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "relayed {records} records (both ends named, appended) in {secs:.2} s: {:.0} records/s on one core",
        records as f64 / secs
    );
}
