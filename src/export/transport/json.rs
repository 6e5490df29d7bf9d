//! JSON lines for people: one flow record a line on stdout, IPFIX element names as keys.

use std::io::{self, BufWriter, Stdout, Write};
use std::sync::atomic::Ordering::Relaxed;

use serde_json::{json, Map, Value};

use super::Transport;
use crate::export::encoding::Encoding;
use crate::export::events::ExportError;
use crate::flow::FlowRecord;
use crate::ipfix::ExportRecord;

/// Name of this collector in logs.
const NAME: &str = "stdout";

/// Records as JSON lines on standard output, flushed after every batch.
pub struct JsonLines {
    out: BufWriter<Stdout>,
}

impl JsonLines {
    pub fn new(out: BufWriter<Stdout>) -> JsonLines {
        JsonLines { out }
    }

    fn flush(&mut self, enc: &Encoding) {
        if let Err(error) = self.out.flush() {
            ExportError {
                collector: NAME,
                error: &error,
            }
            .emit(enc.stats());
        }
    }
}

impl Transport for JsonLines {
    fn open(&mut self, _enc: &mut Encoding) {}

    fn send(&mut self, flows: Vec<FlowRecord>, enc: &mut Encoding) {
        let biflow = enc.biflow();
        let stats = enc.stats().clone();
        let mut failed = 0;
        for rec in enc.attribute(&flows) {
            if write_record(&mut self.out, &rec, biflow).is_err() {
                failed += 1;
            }
        }
        // One line is one message and one record.
        let written = (flows.len() - failed) as u64;
        stats.messages.fetch_add(written, Relaxed);
        stats.records.fetch_add(written, Relaxed);
        stats.lost(failed as u64);
        self.flush(enc);
    }

    fn drain(&mut self, enc: &mut Encoding) {
        self.flush(enc);
    }
}

/// Writes one record as a JSON object and a newline.
fn write_record(out: &mut impl Write, rec: &ExportRecord<'_>, biflow: bool) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &to_value(rec, biflow))?;
    out.write_all(b"\n")
}

/// The JSON form of a record. Labels and annotations are nested objects, not strings.
pub fn to_value(rec: &ExportRecord<'_>, biflow: bool) -> Value {
    let f: &FlowRecord = rec.flow;
    let k = &f.key;
    let mut m = Map::new();
    let mut put = |name: &str, v: Value| {
        m.insert(name.to_string(), v);
    };
    put("flowStartMilliseconds", json!(f.start / 1_000_000));
    put("flowEndMilliseconds", json!(f.end / 1_000_000));
    let (src, dst) = if k.ipv6 {
        ("sourceIPv6Address", "destinationIPv6Address")
    } else {
        ("sourceIPv4Address", "destinationIPv4Address")
    };
    put(src, json!(k.src_addr().to_string()));
    put(dst, json!(k.dst_addr().to_string()));
    let icmp = k.is_icmp();
    put(
        "sourceTransportPort",
        json!(if icmp { 0 } else { k.src_port }),
    );
    put(
        "destinationTransportPort",
        json!(if icmp { 0 } else { k.dst_port }),
    );
    put("protocolIdentifier", json!(k.proto));
    put("ipClassOfService", json!(f.tos));
    put("vlanId", json!(k.vlan));
    if icmp {
        let name = if k.ipv6 {
            "icmpTypeCodeIPv6"
        } else {
            "icmpTypeCodeIPv4"
        };
        put(name, json!(k.dst_port));
    }
    put("tcpControlBits", json!(f.forward.tcp_flags));
    put("octetDeltaCount", json!(f.forward.octets));
    put("packetDeltaCount", json!(f.forward.packets));
    if biflow {
        put("reverseOctetDeltaCount", json!(f.reverse.octets));
        put("reversePacketDeltaCount", json!(f.reverse.packets));
        put("reverseTcpControlBits", json!(f.reverse.tcp_flags));
    }
    put("flowEndReason", json!(f.end_reason as u8));
    put("flowDirection", json!(rec.direction));
    put("interfaceName", json!(rec.interface));
    let p = rec.pod;
    put("k8sNodeName", json!(p.node_name));
    put(
        "k8sNodeIP",
        json!(p.node_ip.map(|ip| ip.to_string()).unwrap_or_default()),
    );
    put("k8sPodName", json!(p.pod_name));
    put("k8sPodNamespace", json!(p.pod_namespace));
    put("k8sWorkloadName", json!(p.workload_name));
    put("k8sWorkloadKind", json!(p.workload_kind));
    put("k8sPodLabels", nested(&p.labels_json));
    put("k8sPodAnnotations", nested(&p.annotations_json));
    put("k8sPodUid", json!(p.pod_uid));
    put("k8sClusterName", json!(p.cluster_name));
    put("k8sObservationPoint", json!(rec.observation_point));
    if let Some(peer) = rec.peer {
        put("k8sPeerPodName", json!(peer.pod_name));
        put("k8sPeerPodNamespace", json!(peer.pod_namespace));
        put("k8sPeerWorkloadName", json!(peer.workload_name));
        put("k8sPeerWorkloadKind", json!(peer.workload_kind));
        put("k8sPeerNodeName", json!(peer.node_name));
        put("k8sPeerPodLabels", nested(&peer.labels_json));
    }
    Value::Object(m)
}

fn nested(json_text: &str) -> Value {
    serde_json::from_str(json_text).unwrap_or_else(|_| Value::Object(Map::new()))
}
