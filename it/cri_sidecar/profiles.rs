//! Each security profile (`webhook.sidecar.security_profile`) captures the pod's traffic,
//! exactly: the three pods run one after the other on one node, each with the capability
//! state its profile promises, and the records of known traffic (HTTP connections to the
//! application, UDP datagrams to an echo service in the pod, pings) carry, per direction
//! of each conversation, the packets and IP bytes a tcpdump on the pod's host-side veth
//! saw. Prints one table row per profile, with the time from RunPodSandbox to the first
//! record the collector received.

use std::net::IpAddr;
use std::time::Duration;

use podflow::ipfix::DataRecord;
use podflow::webhook::SecurityProfile;

use crate::cri::images;
use crate::cri::node::Node;
use crate::pod::{deployment_review, Injected};
use crate::process::{print_header, ProcStatus, Row, NET_RAW};
use crate::traffic::{
    answered_http, assert_exact, is_http, ping, test_records, udp_echo, udp_exchange, Wire,
    UDP_PORT,
};

const REQUESTS: usize = 5;
const DATAGRAMS: u64 = 10;
const PINGS: u64 = 3;

#[test]
fn each_security_profile_captures_the_pods_traffic_exactly_root() {
    let node = Node::start(
        2,
        &[&images::pause(), &images::busybox(), &images::podflow()],
    );
    let review = deployment_review();
    let rows: Vec<Row> = [
        (1, SecurityProfile::Default, 65532),
        (2, SecurityProfile::Root, 0),
        (3, SecurityProfile::Baseline, 0),
    ]
    .into_iter()
    .map(|(n, profile, uid)| run_profile(&node, &review, n, profile, uid))
    .collect();
    print_header();
    for row in &rows {
        row.print();
    }
    let left = node.shut_down();
    assert!(left.is_empty(), "left behind: {left:#?}");
}

fn run_profile(
    node: &Node,
    review: &serde_json::Value,
    n: u8,
    profile: SecurityProfile,
    uid: u32,
) -> Row {
    let case = format!("{profile:?}").to_lowercase();
    let wire = Wire::next_pod(node);
    let mut pod = Injected::start(node, n, review, |config| {
        config.webhook.sidecar.security_profile = profile;
    });
    let wire = wire.ready();

    // The sidecar as the runtime made it: NET_RAW alone, in every set that matters
    // (through the image's file capability when not root), no privilege escalation.
    let status = ProcStatus::read(pod.sidecar_pid());
    assert_eq!(status.uid, uid, "{case}: {status:?}");
    assert_eq!(
        (status.effective, status.permitted, status.bounding),
        (NET_RAW, NET_RAW, NET_RAW),
        "{case}: {status:?}"
    );
    assert_eq!((status.inheritable, status.ambient), (0, 0), "{case}");
    assert!(status.no_new_privs, "{case}: {status:?}");

    // The first request as soon as the application answers, then the rest of the traffic.
    let answered = pod.first_answer();
    assert_eq!(
        pod.metric("podflow_capture_up"),
        1.0,
        "{case}: capture runs"
    );
    for _ in 1..REQUESTS {
        pod.request();
    }
    let echo = udp_echo(pod.run.pid("web"), pod.pod_ip);
    udp_exchange(node, pod.pod_ip, DATAGRAMS as u32, 200);
    drop(echo);
    ping(node, pod.pod_ip, PINGS as u32);
    // Finished connections are exported while the pod runs (TCP end, then the linger).
    pod.collector.wait_for(
        "every HTTP connection",
        Duration::from_secs(10),
        |records| answered_http(records) == REQUESTS,
    );
    let held_back = pod.held_back();
    let log = pod.log_lines();
    assert_eq!(
        log.iter().filter(|l| l.contains("capture started")).count(),
        1,
        "{case}: {log:#?}"
    );
    pod.stop_containers();

    let truth = wire.truth();
    pod.stop_sandbox();
    let arrivals = pod.collector.finish();
    let first_any = arrivals.first().expect("records").0;
    let first_app = arrivals.iter().find(|(_, r)| is_http(r)).unwrap().0;
    let records: Vec<DataRecord> = arrivals.into_iter().map(|(_, r)| r).collect();
    let tests = test_records(&records, pod.pod_ip);
    let packets = assert_exact(&case, &tests, &truth, pod.pod_ip);
    check_conversations(&case, &tests, pod.pod_ip);
    for r in &tests {
        assert_eq!(r.get_str("k8sPodName"), Some(pod.name.as_str()), "{r:?}");
        assert_eq!(r.get_str("k8sPodNamespace"), Some("shop"));
        assert_eq!(r.get_str("k8sPodUid").map(|u| u.len()), Some(36), "{r:?}");
        assert_eq!(r.get_str("k8sWorkloadName"), Some("shop-web"));
        assert_eq!(r.get_str("k8sWorkloadKind"), Some("Deployment"));
        assert_eq!(r.get_str("k8sClusterName"), Some("test"));
        assert_eq!(r.get_str("k8sNodeName"), Some(pod.run.info.name.as_str()));
    }
    Row {
        case,
        status,
        captures: true,
        held_back,
        answered: answered - pod.began,
        first_record: Some((first_any - pod.began, first_app - pod.began)),
        matched: Some((tests.len(), packets)),
    }
}

/// The shape of the test's conversations: one biflow per HTTP connection (connections
/// refused before the application listened included), each ended by TCP; one UDP biflow
/// and one flow per ICMP type, still live at the termination (forced end); the node
/// initiated them all.
fn check_conversations(case: &str, records: &[&DataRecord], pod_ip: IpAddr) {
    let reason = |r: &DataRecord| r.get_u64("flowEndReason");
    let http: Vec<_> = records.iter().filter(|r| is_http(r)).collect();
    assert_eq!(
        answered_http(records.iter().copied()),
        REQUESTS,
        "{case}: one biflow per connection: {http:#?}"
    );
    for r in &http {
        assert_eq!(reason(r), Some(3), "{case}: TCP end: {r:?}");
    }
    let udp: Vec<_> = records
        .iter()
        .filter(|r| r.get_u64("destinationTransportPort") == Some(UDP_PORT.into()))
        .collect();
    assert_eq!(udp.len(), 1, "{case}: {udp:#?}");
    assert_eq!(
        (
            udp[0].get_u64("packetDeltaCount"),
            udp[0].get_u64("reversePacketDeltaCount"),
            reason(udp[0]),
        ),
        (Some(DATAGRAMS), Some(DATAGRAMS), Some(4)),
        "{case}: {:?}",
        udp[0]
    );
    for (icmp, from_pod) in [(8 * 256, false), (0, true)] {
        let flows: Vec<_> = records
            .iter()
            .filter(|r| {
                r.get_u64("protocolIdentifier") == Some(1)
                    && r.get_u64("icmpTypeCodeIPv4") == Some(icmp)
            })
            .collect();
        assert_eq!(flows.len(), 1, "{case}: ICMP {icmp:#x}: {flows:#?}");
        assert_eq!(flows[0].get_u64("packetDeltaCount"), Some(PINGS));
        assert_eq!(
            flows[0].get_ip("sourceIPv4Address") == Some(pod_ip),
            from_pod
        );
    }
    for r in records {
        let expected = if r.get_ip("sourceIPv4Address") == Some(pod_ip) {
            1
        } else {
            0
        };
        assert_eq!(
            r.get_u64("flowDirection"),
            Some(expected),
            "{case}: direction: {r:?}"
        );
    }
}
