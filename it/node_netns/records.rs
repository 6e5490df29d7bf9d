//! The records of one conversation, and what the record observed in a pod must say.

use std::net::IpAddr;

use podflow::ipfix::DataRecord;

use crate::cluster::python_in;
use crate::common::run;

/// (name, workload name, workload kind) of pod `i`.
pub fn who(i: u8) -> (&'static str, &'static str, &'static str) {
    match i {
        1 => ("web-7c9d8f6b5-x2x9k", "web", "Deployment"),
        2 => ("db-0", "db", "StatefulSet"),
        3 => ("debug", "debug", "Pod"),
        4 => ("report-29400480-abcde", "report", "CronJob"),
        _ => unreachable!(),
    }
}

/// One TCP conversation: who connected where from which port.
pub struct Conversation {
    pub client: String,
    pub port: u16,
    pub server: String,
    pub up: u64,
    pub down: u64,
}

pub fn converse(from_ns: &str, from_ip: &str, to_ip: &str, up: u64, down: u64) -> Conversation {
    let port = run(&mut python_in(
        from_ns,
        &[
            "tcp-client",
            to_ip,
            "8080",
            &up.to_string(),
            &down.to_string(),
        ],
    ));
    Conversation {
        client: from_ip.to_string(),
        port: port.parse().unwrap(),
        server: to_ip.to_string(),
        up,
        down,
    }
}

pub fn s<'a>(r: &'a DataRecord, name: &str) -> &'a str {
    r.get_str(name)
        .unwrap_or_else(|| panic!("{name} missing in {r:?}"))
}

pub fn u(r: &DataRecord, name: &str) -> u64 {
    r.get_u64(name)
        .unwrap_or_else(|| panic!("{name} missing in {r:?}"))
}

/// The records of conversation `c`.
pub fn of<'a>(records: &'a [DataRecord], c: &Conversation) -> Vec<&'a DataRecord> {
    let client: IpAddr = c.client.parse().unwrap();
    let server: IpAddr = c.server.parse().unwrap();
    records
        .iter()
        .filter(|r| {
            r.get_ip("sourceIPv4Address") == Some(client)
                && r.get_ip("destinationIPv4Address") == Some(server)
                && r.get_u64("sourceTransportPort") == Some(c.port.into())
                && r.get_u64("destinationTransportPort") == Some(8080)
        })
        .collect()
}

pub fn counts(r: &DataRecord) -> [u64; 4] {
    [
        u(r, "packetDeltaCount"),
        u(r, "octetDeltaCount"),
        u(r, "reversePacketDeltaCount"),
        u(r, "reverseOctetDeltaCount"),
    ]
}

/// The record observed in pod `i` (point 2): right pod, direction, peer, interface.
pub fn observed_in<'a>(
    recs: &[&'a DataRecord],
    i: u8,
    direction: u64,
    peer: &str,
) -> &'a DataRecord {
    let (name, workload, kind) = who(i);
    let mine: Vec<_> = recs
        .iter()
        .filter(|r| u(r, "k8sObservationPoint") == 2 && s(r, "k8sPodName") == name)
        .collect();
    assert_eq!(mine.len(), 1, "one record observed in {name}: {recs:?}");
    let r = mine[0];
    assert_eq!(s(r, "k8sWorkloadName"), workload);
    assert_eq!(s(r, "k8sWorkloadKind"), kind);
    assert_eq!(s(r, "k8sPodUid"), format!("uid-{name}"));
    assert_eq!(s(r, "k8sNodeName"), "node-1");
    assert_eq!(s(r, "interfaceName"), "eth0");
    assert_eq!(u(r, "flowDirection"), direction, "{r:?}");
    assert_eq!(s(r, "k8sPeerPodName"), peer, "{r:?}");
    r
}
