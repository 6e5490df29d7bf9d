//! StopContainer exports every flow: with a TCP connection to the application still open
//! and other flows not yet due (the default idle timeout is 15 s), the kubelet's
//! termination (the application, then the sidecar, each with StopContainer and the pod's
//! grace period) makes the sidecar export them all before it exits 0, the open connection
//! with flowEndReason 4, each with the packets a tcpdump on the pod's veth saw.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use podflow::ipfix::DataRecord;

use crate::cri::images;
use crate::cri::node::Node;
use crate::pod::{deployment_review, Injected, APP_PORT};
use crate::traffic::{
    answered_http, assert_exact, ping, test_records, udp_echo, udp_exchange, Wire,
};

#[test]
fn stop_container_exports_every_flow_root() {
    let node = Node::start(
        4,
        &[&images::pause(), &images::busybox(), &images::podflow()],
    );
    let wire = Wire::next_pod(&node);
    let mut pod = Injected::start(&node, 1, &deployment_review(), |_| {});
    let wire = wire.ready();

    // A finished connection, due once its linger is over; then flows that are not due:
    // an open connection (half a request sent), a UDP exchange and pings.
    pod.first_answer();
    let app = SocketAddr::new(pod.pod_ip, APP_PORT);
    let mut open =
        node.in_netns(|| TcpStream::connect_timeout(&app, Duration::from_secs(5)).unwrap());
    open.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let open_key = {
        let local = open.local_addr().unwrap();
        (local.ip(), pod.pod_ip, local.port())
    };
    let echo = udp_echo(pod.run.pid("web"), pod.pod_ip);
    udp_exchange(&node, pod.pod_ip, 4, 100);
    drop(echo);
    ping(&node, pod.pod_ip, 2);
    pod.collector.wait_for(
        "the finished connection",
        Duration::from_secs(10),
        |records| answered_http(records) == 1,
    );
    let before: Vec<DataRecord> = pod
        .collector
        .records()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    let live_before = test_records(&before, pod.pod_ip)
        .into_iter()
        .filter(|r| r.get_u64("flowEndReason") != Some(3))
        .count();
    assert_eq!(live_before, 0, "no flow but the finished one was due yet");

    let stopping = Instant::now();
    pod.stop_containers();
    let stopped = stopping.elapsed();
    let truth = wire.truth();
    pod.stop_sandbox();
    // Closed only now: its end is no longer on the wire, nor captured.
    drop(open);
    let records: Vec<DataRecord> = pod.collector.finish().into_iter().map(|(_, r)| r).collect();
    let tests = test_records(&records, pod.pod_ip);
    let packets = assert_exact("at termination", &tests, &truth, pod.pod_ip);

    let forced: Vec<_> = tests
        .iter()
        .filter(|r| r.get_u64("flowEndReason") == Some(4))
        .collect();
    // The open connection, the UDP biflow, ICMP echo requests and replies.
    assert_eq!(forced.len(), 4, "forced ends: {forced:#?}");
    let (client, server, port) = open_key;
    let held: Vec<_> = tests
        .iter()
        .filter(|r| {
            r.get_ip("sourceIPv4Address") == Some(client)
                && r.get_ip("destinationIPv4Address") == Some(server)
                && r.get_u64("sourceTransportPort") == Some(port.into())
        })
        .collect();
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0].get_u64("flowEndReason"), Some(4), "{:?}", held[0]);

    let log = pod.log_lines();
    let last = log.iter().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        last.contains(" done ") && last.contains("not_sent=0"),
        "the final log line: {last}"
    );
    println!(
        "termination exported {} records ({packets} packets) of the test's traffic, {} forced; \
         StopContainer of the application, then of the sidecar: {stopped:?}; \
         the sidecar's last line: {last}",
        tests.len(),
        forced.len()
    );
    let left = node.shut_down();
    assert!(left.is_empty(), "left behind: {left:#?}");
}
