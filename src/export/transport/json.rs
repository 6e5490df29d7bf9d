//! JSON lines for people: one flow record a line on stdout, IPFIX element names as keys.
//! A live probe writes each batch within `export.write_timeout_secs`: when stdout is
//! blocked (a log reader that stalled), the lines not started in time are dropped and
//! counted, and a line cut by the deadline is finished before any other, so no line is
//! ever torn. Reading a capture file writes everything, however long stdout blocks.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::deadline::write_fd_by;
use super::Transport;
use crate::export::encoding::Encoding;
use crate::export::events::ExportError;
use crate::export::stats::ExportStats;
use crate::flow::FlowRecord;
use crate::ipfix::{group_field_json, groups_of, ExportRecord, GROUP_FIELDS};

/// Name of this collector in logs.
const NAME: &str = "stdout";
/// Bytes of lines written at once.
const CHUNK_BYTES: usize = 1 << 16;

/// Records as JSON lines on standard output, written after every batch.
pub struct JsonLines {
    /// The end of a line a deadline cut: written before anything else.
    rest: Vec<u8>,
    buf: Vec<u8>,
    /// Where each line of `buf` ends.
    ends: Vec<usize>,
    write_timeout: Option<Duration>,
}

impl JsonLines {
    /// Lines written within `write_timeout` a batch, or without limit (`None`).
    pub fn new(write_timeout: Option<Duration>) -> JsonLines {
        JsonLines {
            rest: Vec::new(),
            buf: Vec::with_capacity(CHUNK_BYTES),
            ends: Vec::new(),
            write_timeout,
        }
    }

    /// Writes the lines of `buf`; false when the write failed or the deadline passed,
    /// with the lines not written counted as lost (a line begun kept in `rest`).
    fn write_chunk(&mut self, deadline: Option<Instant>, stats: &ExportStats) -> bool {
        let (n, result) = write_fd_by(io::stdout(), &self.buf, deadline);
        let whole = self.ends.iter().take_while(|&&end| end <= n).count();
        written(stats, whole);
        let Err(error) = result else { return true };
        ExportError {
            collector: NAME,
            error: &error,
        }
        .emit(stats);
        let mut lost = self.ends.len() - whole;
        let start = whole.checked_sub(1).map_or(0, |i| self.ends[i]);
        if n > start {
            // Begun: its end goes out before anything else.
            self.rest = self.buf[n..self.ends[whole]].to_vec();
            stats.set_buffered(1);
            lost -= 1;
        }
        stats.lost(lost as u64);
        false
    }

    fn deadline(&self) -> Option<Instant> {
        self.write_timeout.map(|t| Instant::now() + t)
    }

    /// Finishes a line a deadline cut; true when none is left.
    fn finish_rest(&mut self, deadline: Option<Instant>, stats: &ExportStats) -> bool {
        if self.rest.is_empty() {
            return true;
        }
        let (n, result) = write_fd_by(io::stdout(), &self.rest, deadline);
        self.rest.drain(..n);
        if let Err(error) = result {
            ExportError {
                collector: NAME,
                error: &error,
            }
            .emit(stats);
        }
        if !self.rest.is_empty() {
            return false;
        }
        written(stats, 1);
        stats.set_buffered(0);
        true
    }
}

/// `lines` lines were written whole: one line is one message and one record.
fn written(stats: &ExportStats, lines: usize) {
    stats.messages.fetch_add(lines as u64, Relaxed);
    stats.records.fetch_add(lines as u64, Relaxed);
}

impl Transport for JsonLines {
    fn open(&mut self, _enc: &mut Encoding) {}

    fn send(&mut self, flows: Vec<FlowRecord>, enc: &mut Encoding) {
        let biflow = enc.biflow();
        let stats = enc.stats().clone();
        let deadline = self.deadline();
        if !self.finish_rest(deadline, &stats) {
            stats.lost(flows.len() as u64);
            return;
        }
        // Lines go out in chunks of about CHUNK_BYTES, so that a batch of records with
        // kilobytes of metadata each never needs one buffer of them all.
        let records = enc.attribute(&flows);
        let mut records = records.iter();
        let mut handled = 0;
        loop {
            self.buf.clear();
            self.ends.clear();
            for rec in records.by_ref() {
                // Writing into a Vec cannot fail; a value serde cannot write is left out.
                let _ = write_record(&mut self.buf, rec, biflow);
                self.ends.push(self.buf.len());
                if self.buf.len() >= CHUNK_BYTES {
                    break;
                }
            }
            if self.ends.is_empty() {
                break;
            }
            handled += self.ends.len();
            if !self.write_chunk(deadline, &stats) {
                stats.lost((flows.len() - handled) as u64);
                break;
            }
        }
        if self.buf.capacity() > 2 * CHUNK_BYTES {
            self.buf = Vec::with_capacity(CHUNK_BYTES);
        }
    }

    fn drain(&mut self, enc: &mut Encoding, until: Option<Instant>) {
        let stats = enc.stats().clone();
        let deadline = match (self.deadline(), until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if !self.finish_rest(deadline, &stats) {
            stats.lost(1);
            stats.set_buffered(0);
        }
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
    // In every record, as in IPFIX: type * 256 + code, 0 for other protocols.
    let name = if k.ipv6 {
        "icmpTypeCodeIPv6"
    } else {
        "icmpTypeCodeIPv4"
    };
    put(name, json!(if icmp { k.dst_port } else { 0 }));
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
    // Both, as in IPFIX: the node's address in its family's element, the other zero.
    let (v4, v6) = match p.node_ip {
        Some(IpAddr::V4(a)) => (a, Ipv6Addr::UNSPECIFIED),
        Some(IpAddr::V6(a)) => (Ipv4Addr::UNSPECIFIED, a),
        None => (Ipv4Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED),
    };
    put("k8sNodeIPv4Address", json!(v4.to_string()));
    put("k8sNodeIPv6Address", json!(v6.to_string()));
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
    // Network performance and application fields: the groups this flow has, as in IPFIX.
    let groups = groups_of(f);
    for (bit, fields) in GROUP_FIELDS {
        if groups & bit != 0 {
            for &ie in fields {
                put(ie.element().name, group_field_json(ie, rec));
            }
        }
    }
    Value::Object(m)
}

fn nested(json_text: &str) -> Value {
    serde_json::from_str(json_text).unwrap_or_else(|_| Value::Object(Map::new()))
}
