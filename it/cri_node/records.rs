//! The node-mode test's reading of the collector: the records decoded, and the checks that
//! each is attributed to the pod it was observed in, with that pod's identity and peer, and
//! counts equal to what tcpdump saw on the pod's veth.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use podflow::ipfix::{DataRecord, Session};

use super::pods::{ipv4, App, APP_PORT};
use crate::common::PEN;
use crate::cri::collector::Arrival;
use crate::cri::node::Node;
use crate::cri::runner::PodRun;
use crate::cri::wire::{interface_to, Counts};

/// What the test knows of a pod whose records it checks.
pub struct Observed<'a> {
    /// What the test made of it (its name and namespace, as the runtime reports them).
    pub app: Option<&'a App>,
    /// The PodList names it (its workload is known); else only the runtime does.
    pub listed: bool,
    pub uid: String,
    pub ip: Ipv4Addr,
    /// The IPv6 link-local addresses of its eth0 and of its veth's host end.
    pub link: Vec<Ipv6Addr>,
    /// What crossed its eth0, from tcpdump on the veth's host end.
    pub wire: Counts,
}

impl Observed<'_> {
    /// The pod's name in records: empty for a pod the index does not know.
    pub fn name(&self) -> &str {
        self.app.map_or("", |a| a.name)
    }
}

/// Every flow record the collector received, and when the first message and the first
/// flow record arrived.
pub fn decode(received: &[Arrival]) -> (Vec<DataRecord>, Option<Instant>, Option<Instant>) {
    let mut session = Session::new(PEN);
    let mut records = Vec::new();
    let mut first_record = None;
    for Arrival { at, bytes } in received {
        let message = session.decode(bytes).expect("an IPFIX message");
        let flows: Vec<_> = message
            .records
            .into_iter()
            .filter(|r| !r.is_options())
            .collect();
        if !flows.is_empty() {
            first_record.get_or_insert(*at);
        }
        records.extend(flows);
    }
    (records, received.first().map(|a| a.at), first_record)
}

pub fn s<'a>(r: &'a DataRecord, name: &str) -> &'a str {
    r.get_str(name)
        .unwrap_or_else(|| panic!("{name} missing in {r:?}"))
}

pub fn u(r: &DataRecord, name: &str) -> u64 {
    r.get_u64(name)
        .unwrap_or_else(|| panic!("{name} missing in {r:?}"))
}

pub fn addr(r: &DataRecord, name: &str) -> Ipv4Addr {
    match r.get_ip(name) {
        Some(IpAddr::V4(a)) => a,
        other => panic!("{name} is {other:?} in {r:?}"),
    }
}

/// Packets and octets, both ways.
fn counts(r: &DataRecord) -> [u64; 4] {
    [
        "packetDeltaCount",
        "octetDeltaCount",
        "reversePacketDeltaCount",
        "reverseOctetDeltaCount",
    ]
    .map(|k| u(r, k))
}

/// The records of TCP connections to the application port.
pub fn http_records(records: &[DataRecord]) -> Vec<&DataRecord> {
    records
        .iter()
        .filter(|r| {
            r.get_u64("protocolIdentifier") == Some(6)
                && r.get_u64("destinationTransportPort") == Some(APP_PORT.into())
        })
        .collect()
}

/// Asserts that `r`, observed in `pod`, names it and counts exactly what its eth0 carried
/// in each direction.
fn assert_observed_in(r: &DataRecord, pod: &Observed) {
    assert_eq!(s(r, "k8sPodName"), pod.name(), "{r:?}");
    let (namespace, uid, workload) = match pod.app {
        Some(app) if pod.listed => (app.namespace, pod.uid.as_str(), app.workload),
        Some(app) => (app.namespace, pod.uid.as_str(), ("", "")),
        None => ("", "", ("", "")),
    };
    assert_eq!(s(r, "k8sPodNamespace"), namespace, "{r:?}");
    assert_eq!(s(r, "k8sPodUid"), uid, "{r:?}");
    let found = (s(r, "k8sWorkloadName"), s(r, "k8sWorkloadKind"));
    assert_eq!(found, workload, "{r:?}");
    let (src, dst) = (
        addr(r, "sourceIPv4Address"),
        addr(r, "destinationIPv4Address"),
    );
    let sport = u(r, "sourceTransportPort") as u16;
    let dport = u(r, "destinationTransportPort") as u16;
    let wire = |key| pod.wire.get(&key).copied().unwrap_or_default();
    let (forward, reverse) = (
        wire((src, sport, dst, dport)),
        wire((dst, dport, src, sport)),
    );
    assert_eq!(
        counts(r),
        [forward.0, forward.1, reverse.0, reverse.1],
        "record against tcpdump ({forward:?}, {reverse:?}): {r:?}"
    );
    assert!(
        forward.0 >= 4 && reverse.0 >= 4,
        "a whole HTTP exchange: {r:?}"
    );
}

/// The connections from the node to `pod`: `expected` of them, each observed once, inside
/// the pod (point 2, eth0), ingress from its side, with no peer (the node is no pod).
pub fn check_from_node(http: &[&DataRecord], pod: &Observed, pods: &[Observed], expected: usize) {
    let from_node: Vec<_> = http
        .iter()
        .filter(|r| addr(r, "destinationIPv4Address") == pod.ip)
        .filter(|r| !pods.iter().any(|p| p.ip == addr(r, "sourceIPv4Address")))
        .collect();
    assert_eq!(
        from_node.len(),
        expected,
        "from the node to {:?}",
        pod.name()
    );
    for r in from_node {
        assert_observed_in(r, pod);
        assert_eq!(
            u(r, "flowDirection"),
            0,
            "ingress, seen from the pod: {r:?}"
        );
        assert_eq!(s(r, "k8sPeerPodName"), "", "the node is no pod: {r:?}");
    }
}

/// A connection from pod `a` to pod `b`: once in each, egress at `a` and ingress at `b`,
/// each naming the other as its peer, both counting what the wire carried.
pub fn check_between(http: &[&DataRecord], a: &Observed, b: &Observed, node_name: &str) {
    let conversation: Vec<_> = http
        .iter()
        .filter(|r| addr(r, "sourceIPv4Address") == a.ip)
        .filter(|r| addr(r, "destinationIPv4Address") == b.ip)
        .collect();
    let what = format!("{} -> {}", a.name(), b.name());
    assert_eq!(conversation.len(), 2, "{what}: once in each pod");
    let at = |pod: &Observed, peer: &Observed, direction: u64| {
        let r = conversation
            .iter()
            .find(|r| s(r, "k8sPodName") == pod.name())
            .unwrap_or_else(|| panic!("{what} not seen in {}", pod.name()));
        assert_observed_in(r, pod);
        assert_eq!(u(r, "flowDirection"), direction, "{r:?}");
        let app = peer.app.expect("a listed peer");
        let peer_fields = ["k8sPeerPodName", "k8sPeerPodNamespace", "k8sPeerNodeName"];
        assert_eq!(
            peer_fields.map(|k| s(r, k)),
            [app.name, app.namespace, node_name],
            "{r:?}"
        );
        let peer_workload = (s(r, "k8sPeerWorkloadName"), s(r, "k8sPeerWorkloadKind"));
        assert_eq!(peer_workload, app.workload, "{r:?}");
        counts(r)
    };
    assert_eq!(at(a, b, 1), at(b, a, 0), "{what}: both ends count the same");
}

/// Nothing is attributed to the wrong pod, whatever the protocol (the kernel's IPv6
/// neighbour discovery and MLD included): every record was observed inside a pod, and the
/// pod it names is at one end of it, by its IPv4 address or by a link-local address of
/// either end of its veth pair.
pub fn check_attribution(records: &[DataRecord], pods: &[Observed]) {
    for r in records {
        assert_eq!(u(r, "k8sObservationPoint"), 2, "nothing on the node: {r:?}");
        let name = s(r, "k8sPodName");
        let pod = pods
            .iter()
            .find(|p| p.name() == name)
            .unwrap_or_else(|| panic!("a record names {name:?}: {r:?}"));
        match (r.get_ip("sourceIPv4Address"), r.get_ip("sourceIPv6Address")) {
            (Some(_), _) => {
                let ends = [
                    addr(r, "sourceIPv4Address"),
                    addr(r, "destinationIPv4Address"),
                ];
                assert!(ends.contains(&pod.ip), "{name:?}: {r:?}");
            }
            (None, Some(IpAddr::V6(src))) => {
                let Some(IpAddr::V6(dst)) = r.get_ip("destinationIPv6Address") else {
                    panic!("{r:?}");
                };
                let hosts = [src, dst].into_iter().filter(names_a_host);
                let link = &pod.link;
                assert!(
                    hosts.into_iter().all(|a| on_link(&a, link)),
                    "{name:?} ({link:?}): {r:?}"
                );
            }
            _ => panic!("neither IPv4 nor IPv6: {r:?}"),
        }
    }
}

/// The IPv6 link-local addresses of a pod's eth0 and of its veth's host end.
pub fn link_local(node: &Node, run: &PodRun) -> Vec<Ipv6Addr> {
    let netns = format!("--net=/proc/{}/ns/net", run.pid("web"));
    let veth = interface_to(node, ipv4(run));
    let shows = [
        [
            "nsenter", &netns, "ip", "-o", "-6", "addr", "show", "dev", "eth0",
        ],
        [
            "ip", "-n", &node.name, "-o", "-6", "addr", "show", "dev", &veth,
        ],
    ];
    let mut addresses = Vec::new();
    for show in shows {
        let out = std::process::Command::new(show[0])
            .args(&show[1..])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        while words.any(|w| w == "inet6") {
            let cidr = words.next().unwrap();
            addresses.push(cidr.split('/').next().unwrap().parse().unwrap());
        }
    }
    assert_eq!(addresses.len(), 2, "one link-local address at each end");
    addresses
}

/// Whether an address says which host sent or gets a packet: not the unspecified address
/// of a duplicate-address probe, not a multicast group but a solicited-node one.
fn names_a_host(a: &Ipv6Addr) -> bool {
    !a.is_unspecified() && (!a.is_multicast() || solicited_node(a).is_some())
}

/// The low 24 bits a solicited-node group (ff02::1:ffXX:XXXX) stands for.
fn solicited_node(a: &Ipv6Addr) -> Option<u32> {
    let s = a.segments();
    (s[..6] == [0xff02, 0, 0, 0, 0, 1] && s[6] >> 8 == 0xff)
        .then(|| (u32::from(s[6] & 0xff) << 16) | u32::from(s[7]))
}

/// Whether `a` is one of `link`'s addresses, or the solicited-node group of one of them.
fn on_link(a: &Ipv6Addr, link: &[Ipv6Addr]) -> bool {
    let low24 = |l: &Ipv6Addr| u32::from_be_bytes(l.octets()[12..].try_into().unwrap()) & 0xff_ffff;
    link.contains(a) || solicited_node(a).is_some_and(|low| link.iter().any(|l| low24(l) == low))
}
