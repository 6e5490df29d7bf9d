#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/seeds/<target>/) from real inputs:
frames and records cut from the sample captures, IPFIX files podflow exported from them,
the captured AdmissionReviews, Downward-API files and PodLists made of their pods,
rtnetlink answers of the running kernel in a network namespace made for the purpose, and
the DNS, HTTP and TLS payloads the application-layer parsers are tested on.

    scripts/fuzz-seeds.py [PODFLOW_BINARY]

The binary (default target/release/podflow, else target/debug/podflow) exports the IPFIX
seeds. The netlink seeds need root (ip netns); without it they are left as they are.
The output is deterministic apart from the kernel's answers (interface indexes, flags).
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "it", "fixtures")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")

# decode_frame's first byte picks the link type: an index into its LINKTYPES.
LINK_INDEX = {"null": 0, "ethernet": 1, "raw": 2, "loop": 3, "sll": 4, "ipv4": 5, "ipv6": 6, "sll2": 7}


def target_dir(name):
    path = os.path.join(SEEDS, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write(directory, name, data):
    mode = "w" if isinstance(data, str) else "wb"
    with open(os.path.join(directory, name), mode) as f:
        f.write(data)


# --- captures -------------------------------------------------------------------------

def pcap_records(path):
    """(ts_sec, ts_usec, data, orig_len) of a little-endian microsecond pcap."""
    with open(path, "rb") as f:
        blob = f.read()
    assert blob[:4] == bytes.fromhex("d4c3b2a1"), path
    at, out = 24, []
    while at + 16 <= len(blob):
        sec, usec, incl, orig = struct.unpack_from("<IIII", blob, at)
        out.append((sec, usec, blob[at + 16:at + 16 + incl], orig))
        at += 16 + incl
    return out


def ethertype(frame):
    return struct.unpack_from(">H", frame, 12)[0]


def protocol_of(frame):
    """A short name of the frame's network and transport protocols."""
    et = ethertype(frame)
    if et == 0x0800:
        return "ip4-%d" % frame[14 + 9]
    if et == 0x86DD:
        return "ip6-%d" % frame[14 + 6]
    return "eth-%04x" % et


def distinct_frames(records, per_kind):
    """The first few frames of each protocol and size class."""
    chosen, counts = [], {}
    for rec in records:
        frame = rec[2]
        kind = (protocol_of(frame), len(frame) > 200)
        if counts.get(kind, 0) < per_kind:
            counts[kind] = counts.get(kind, 0) + 1
            chosen.append(frame)
    return chosen


def relink(frame, link):
    """The IP packet of an Ethernet frame under another link-layer header."""
    et, ip = ethertype(frame), frame[14:]
    v6 = et == 0x86DD
    if link == "raw":
        return ip
    if link in ("ipv4", "ipv6"):
        return ip
    if link == "null":
        return struct.pack("<I", 30 if v6 else 2) + ip
    if link == "loop":
        return struct.pack(">I", 24 if v6 else 2) + ip
    if link == "sll":
        return struct.pack(">HHH", 4, 1, 6) + frame[6:12] + b"\0\0" + struct.pack(">H", et) + ip
    if link == "sll2":
        return struct.pack(">HHIHBB", et, 0, 2, 1, 0, 6) + frame[6:12] + b"\0\0" + ip
    raise ValueError(link)


def vlan_tagged(frame, vid):
    return frame[:12] + struct.pack(">HH", 0x8100, vid) + frame[12:]


def decode_frame_seeds():
    out = target_dir("decode_frame")
    records = pcap_records(os.path.join(FIXTURES, "sample-1k.pcap"))
    frames = distinct_frames(records, 2)
    for i, frame in enumerate(frames):
        # A snap length of 256 bytes keeps the corpus small; the decoder reads headers only.
        frame = frame[:256]
        name = "%02d-%s" % (i, protocol_of(frame))
        write(out, name + "-ethernet", bytes([LINK_INDEX["ethernet"]]) + frame)
        et = ethertype(frame)
        if et not in (0x0800, 0x86DD):
            continue
        link = ["raw", "null", "loop", "sll", "sll2", "ipv6" if et == 0x86DD else "ipv4"][i % 6]
        write(out, "%s-%s" % (name, link), bytes([LINK_INDEX[link]]) + relink(frame, link))
        if i % 5 == 0:
            write(out, name + "-vlan", bytes([LINK_INDEX["ethernet"]]) + vlan_tagged(frame, 100 + i))


def pcap_file(records, big_endian=False, nanos=False, linktype=1):
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, usec, data, orig in records:
        frac = usec * 1000 if nanos else usec
        out += struct.pack(e + "IIII", sec, frac, len(data), orig) + data
    return out


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def ng_block(kind, body):
    body = pad4(body)
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def ng_option(code, value):
    return struct.pack("<HH", code, len(value)) + pad4(value)


def pcapng_file(records, linktype, tsresol):
    """A section with one interface (if_tsresol given) and one enhanced packet block per
    record, then a simple packet block of the last one."""
    shb = ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = ng_option(9, bytes([tsresol])) + ng_option(0, b"")
    idb = ng_block(1, struct.pack("<HHI", linktype, 0, 262144) + opts)
    blocks = shb + idb
    for sec, usec, data, orig in records:
        units = (sec * 1_000_000 + usec) * 10 ** (tsresol - 6) if tsresol >= 6 else sec
        body = struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(data), orig)
        blocks += ng_block(6, body + pad4(data))
    last = records[-1][2]
    blocks += ng_block(3, struct.pack("<I", len(last)) + last)
    return blocks


def pcap_reader_seeds():
    out = target_dir("pcap_reader")
    records = pcap_records(os.path.join(FIXTURES, "sample-1k.pcap"))
    short = [(s, u, d[:128], o) for s, u, d, o in records[:8]]
    write(out, "classic-le-usec.pcap", pcap_file(short))
    write(out, "classic-be-nsec.pcap", pcap_file(short, big_endian=True, nanos=True))
    sll = [(s, u, relink(d, "sll"), o) for s, u, d, o in short if ethertype(d) in (0x0800, 0x86DD)]
    write(out, "classic-sll.pcap", pcap_file(sll, linktype=113))
    write(out, "ng-ethernet-nsec.pcapng", pcapng_file(short, 1, 9))
    sll2 = [(s, u, relink(d, "sll2"), o) for s, u, d, o in short if ethertype(d) in (0x0800, 0x86DD)]
    write(out, "ng-sll2-usec.pcapng", pcapng_file(sll2, 276, 6))
    shutil.copy(os.path.join(FIXTURES, "sample-20.pcapng"), os.path.join(out, "sample-20.pcapng"))


# --- IPFIX ----------------------------------------------------------------------------

def ipfix_decode_seeds(podflow):
    out = target_dir("ipfix_decode")
    if not podflow:
        print("no podflow binary: ipfix_decode seeds left empty", file=sys.stderr)
        return
    capture = os.path.join(FIXTURES, "sample-20.pcapng")
    runs = {
        "biflow.ipfix": {},
        "uniflow.ipfix": {"PODFLOW_FLOW__BIFLOW": "false"},
        "small-messages.ipfix": {"PODFLOW_EXPORT__MAX_MESSAGE_BYTES": "512",
                                 "PODFLOW_K8S__POD_NAME": "web-6d4cf56db6-x2x9k",
                                 "PODFLOW_K8S__POD_NAMESPACE": "shop",
                                 "PODFLOW_K8S__NODE_IP": "fd00::10"},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in runs.items():
            path = os.path.join(tmp, name)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PODFLOW_")}
            env.update(extra)
            env.update({"PODFLOW_CAPTURE__PCAP": capture,
                        "PODFLOW_EXPORT__COLLECTOR": "file:" + path})
            subprocess.run([podflow, "--mode", "sidecar"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.copy(path, os.path.join(out, name))


def ipfix_message(domain, sets):
    """One IPFIX message of (set id, body) pairs."""
    body = b"".join(struct.pack(">HH", sid, len(b) + 4) + b for sid, b in sets)
    return struct.pack(">HHIII", 10, 16 + len(body), 1_700_000_000, 0, domain) + body


def mediator_relay_seeds():
    """podflow's exports (as for ipfix_decode) and a stream of another exporter: IPv6
    ends, times in seconds and NTP format, an element of enterprise 55555 in the long
    variable-length form, and an options record."""
    out = target_dir("mediator_relay")
    src = os.path.join(SEEDS, "ipfix_decode")
    for name in os.listdir(src):
        shutil.copy(os.path.join(src, name), os.path.join(out, name))
    spec = lambda id_, length: struct.pack(">HH", id_, length)
    ent = lambda pen, id_, length: struct.pack(">HHI", 0x8000 | id_, length, pen)
    template = struct.pack(">HH", 300, 6) + spec(27, 16) + spec(28, 16) + spec(150, 4) \
        + spec(155, 8) + spec(4, 1) + ent(55555, 9, 65535)
    options = struct.pack(">HHH", 301, 2, 1) + spec(149, 4) + spec(41, 8)
    v6 = lambda last: bytes([0xfd, 0] + [0] * 13 + [last])
    note = b"n" * 300
    record = v6(7) + v6(9) + struct.pack(">I", 1_700_000_000) \
        + struct.pack(">II", 1_700_000_001 + 2_208_988_800, 1 << 31) + bytes([17]) \
        + bytes([255]) + struct.pack(">H", len(note)) + note
    stream = ipfix_message(5, [(2, template), (3, options)]) \
        + ipfix_message(5, [(300, record * 2), (301, struct.pack(">IQ", 5, 42))])
    write(out, "foreign-exporter.ipfix", stream)


# --- Kubernetes objects ---------------------------------------------------------------

def admission_reviews():
    d = os.path.join(FIXTURES, "admission")
    return {f[:-5]: json.load(open(os.path.join(d, f))) for f in sorted(os.listdir(d))}


def admission_review_seeds():
    out = target_dir("admission_review")
    d = os.path.join(FIXTURES, "admission")
    for f in sorted(os.listdir(d)):
        shutil.copy(os.path.join(d, f), os.path.join(out, f))


def scheduled(name, review, i):
    """The pod of an AdmissionReview as the API server lists it once it runs."""
    pod = json.loads(json.dumps(review["request"]["object"]))
    md = pod["metadata"]
    md.setdefault("name", md.get("generateName", "pod-") + "x%dk2p" % i)
    md["uid"] = "4f6c2a1e-0b7d-4e8a-9c3f-%012d" % i
    md["resourceVersion"] = str(1000 + i)
    md["creationTimestamp"] = md.get("creationTimestamp") or "2025-05-14T09:%02d:00Z" % i
    md.pop("managedFields", None)
    spec = pod["spec"]
    spec["nodeName"] = "node-%d" % (i % 2 + 1)
    host = "192.168.1.%d" % (10 + i % 2)
    if spec.get("hostNetwork"):
        ips = [host]
    else:
        ips = ["10.244.%d.%d" % (i % 2, 10 + i), "fd00:10:244::%x" % (10 + i)]
    pod["status"] = {"phase": "Succeeded" if "opted-out" in name else "Running",
                     "hostIP": host, "podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips],
                     "startTime": md.get("creationTimestamp")}
    return pod


def pods():
    return [scheduled(name, review, i) for i, (name, review) in enumerate(admission_reviews().items())]


def pod_list(items):
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def pod_list_seeds():
    out = target_dir("pod_list")
    all_pods = pods()
    write(out, "cluster.json", json.dumps(pod_list(all_pods), indent=4) + "\n")
    # The same address in two pods: the newer one holds it.
    a, b = json.loads(json.dumps(all_pods[0])), json.loads(json.dumps(all_pods[1]))
    b["status"]["podIPs"] = a["status"]["podIPs"]
    b["status"]["podIP"] = a["status"]["podIP"]
    b["metadata"]["creationTimestamp"] = "2030-01-01T00:00:00Z"
    write(out, "recycled-address.json", json.dumps(pod_list([a, b])) + "\n")
    write(out, "empty.json", json.dumps(pod_list([])) + "\n")


def slim(pod):
    """A pod with the parts of its spec the index reads, to keep watch seeds small."""
    pod = json.loads(json.dumps(pod))
    spec = pod["spec"]
    pod["spec"] = {k: spec[k] for k in ("nodeName", "hostNetwork") if k in spec}
    pod["spec"]["containers"] = [{"name": c["name"], "image": c["image"]} for c in spec["containers"]]
    return pod


def watch_line(kind, obj):
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":"))


def pod_watch_seeds():
    out = target_dir("pod_watch")
    all_pods = [slim(p) for p in pods()]
    compact = lambda obj: json.dumps(obj, separators=(",", ":"))
    listed = {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1000"},
              "items": all_pods[:3]}
    relabelled = json.loads(json.dumps(all_pods[1]))
    relabelled["metadata"]["labels"]["tier"] = "backend"
    bookmark = {"kind": "Pod", "apiVersion": "v1",
                "metadata": {"resourceVersion": "1012",
                             "annotations": {"k8s.io/initial-events-end": "true"}}}
    expired = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "too old resource version: 1000 (1012)", "reason": "Expired",
               "code": 410}
    relisted = dict(listed, metadata={"resourceVersion": "1013"},
                    items=[all_pods[2], all_pods[4], all_pods[5]])
    seeds = {
        "list-then-watch.jsonl": [compact(listed), watch_line("ADDED", all_pods[3]),
                                  watch_line("MODIFIED", relabelled),
                                  watch_line("DELETED", all_pods[0]),
                                  watch_line("BOOKMARK", bookmark)],
        "expired-relist.jsonl": [watch_line("ADDED", all_pods[4]), watch_line("ERROR", expired),
                                 compact(relisted)],
        "broken-stream.jsonl": [watch_line("ADDED", all_pods[5]), "<html>502 Bad Gateway</html>",
                                watch_line("ADDED", all_pods[6])],
    }
    # An address handed from a deleted pod to a newer one, and back when that one goes.
    a, b = all_pods[6], json.loads(json.dumps(all_pods[7]))
    b["status"]["podIPs"], b["status"]["podIP"] = a["status"]["podIPs"], a["status"]["podIP"]
    b["metadata"]["creationTimestamp"] = "2030-01-01T00:00:00Z"
    seeds["recycled-address.jsonl"] = [watch_line("ADDED", a), watch_line("ADDED", b),
                                       watch_line("DELETED", b)]
    for name, lines in seeds.items():
        write(out, name, "\n".join(lines) + "\n")


# --- Downward API ---------------------------------------------------------------------

def go_quote(s):
    """Go's strconv.Quote, as the kubelet writes Downward-API values."""
    out = ['"']
    short = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\v": "\\v", "\\": "\\\\", '"': '\\"'}
    for c in s:
        if c in short:
            out.append(short[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append("\\x%02x" % ord(c))
        elif not c.isprintable() and c != " ":
            out.append("\\u%04x" % ord(c) if ord(c) < 0x10000 else "\\U%08x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def downward_file(entries):
    return "\n".join("%s=%s" % (k, go_quote(v)) for k, v in sorted(entries.items()))


def downward_api_seeds():
    out = target_dir("downward_api")
    for name, review in admission_reviews().items():
        md = review["request"]["object"]["metadata"]
        if md.get("labels"):
            write(out, name + "-labels", downward_file(md["labels"]))
        if md.get("annotations"):
            write(out, name + "-annotations", downward_file(md["annotations"]))
    write(out, "escapes-annotations", downward_file({
        "description": "line one\nline two\ttabbed \"quoted\" C:\\dir",
        "unicode": "caf\u00e9 \u2028 \U0001F600 \u200b",
        "control": "bell\a nul\x00 del\x7f",
        "kubectl.kubernetes.io/last-applied-configuration":
            json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}) + "\n",
    }))


# --- rtnetlink ------------------------------------------------------------------------

NETLINK_DUMP = r"""
import socket, struct, sys
out = sys.argv[1]
def ask(kind, header, seq, flags):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.bind((0, 0))
    s.send(struct.pack("=IHHII", 16 + len(header), kind, flags, seq, 0) + header)
    n = 0
    while True:
        d = s.recv(65536)
        with open("%s/%s-seq%d-%d" % (out, {18: "links", 22: "addresses"}[kind], seq, n), "wb") as f:
            f.write(struct.pack("=I", seq) + d)
        n += 1
        at, done = 0, False
        while at + 16 <= len(d):
            length, t = struct.unpack_from("=IH", d, at)
            done = done or t in (2, 3)
            at += (length + 3) & ~3
        if done:
            return
ask(18, bytes(16), 1, 0x301)
ask(22, bytes(8), 1, 0x301)
# A link that does not exist: the kernel answers NLMSG_ERROR (-ENODEV).
ask(18, struct.pack("=BxHiII", 0, 0, 9999, 0, 0), 7, 0x5)
"""


def netlink_seeds():
    if os.geteuid() != 0:
        print("not root: netlink seeds left as they are", file=sys.stderr)
        return
    out = target_dir("netlink")
    node, pod = "podflow-seeds-node", "podflow-seeds-pod"

    def ip(*args):
        subprocess.run(["ip"] + list(args), check=True)

    try:
        ip("netns", "add", node)
        ip("netns", "add", pod)
        ip("-n", node, "link", "set", "lo", "up")
        ip("-n", node, "link", "add", "veth-web", "type", "veth", "peer", "name", "eth0", "netns", pod)
        ip("-n", node, "link", "add", "cni0", "type", "bridge")
        ip("-n", node, "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-peer")
        ip("-n", node, "link", "add", "macvlan0", "link", "uplink", "type", "macvlan")
        ip("-n", node, "link", "add", "vxlan42", "type", "vxlan", "id", "42", "dstport", "4789",
           "local", "10.0.0.1")
        for dev in ("veth-web", "cni0", "uplink", "uplink-peer", "macvlan0"):
            ip("-n", node, "link", "set", dev, "up")
        ip("-n", node, "addr", "add", "10.244.0.1/24", "dev", "cni0")
        ip("-n", node, "addr", "add", "10.0.0.1", "peer", "10.0.0.2", "dev", "uplink")
        ip("-n", node, "addr", "add", "fd00:10:244::1/64", "dev", "cni0", "nodad")
        subprocess.run(["ip", "netns", "exec", node, sys.executable, "-c", NETLINK_DUMP, out],
                       check=True)
    finally:
        subprocess.run(["ip", "netns", "del", pod], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", node], stderr=subprocess.DEVNULL)


# --- application-layer payloads -------------------------------------------------------

def l7_payloads(name):
    """(label, payload) of a test data file of src/l7/testdata."""
    with open(os.path.join(ROOT, "src", "l7", "testdata", name)) as f:
        rows = [line.split() for line in f if line.strip() and not line.startswith("#")]
    return [(label, bytes.fromhex(h)) for label, h in rows]


def l7_seeds():
    for target, name in (("l7_dns", "dns.txt"), ("l7_http", "http.txt")):
        out = target_dir(target)
        for label, payload in l7_payloads(name):
            write(out, label, payload)
    # l7_tls: two bytes of where the stream is cut in two segments, one of whether the
    # first is resent, then the stream.
    out = target_dir("l7_tls")
    for i, (label, payload) in enumerate(l7_payloads("tls.txt")):
        cut = len(payload) * (i + 1) // 8
        write(out, label, struct.pack(">HB", cut, i % 2) + payload)


def main():
    podflow = sys.argv[1] if len(sys.argv) > 1 else None
    for candidate in ("target/release/podflow", "target/debug/podflow"):
        if not podflow and os.access(os.path.join(ROOT, candidate), os.X_OK):
            podflow = os.path.join(ROOT, candidate)
    decode_frame_seeds()
    pcap_reader_seeds()
    ipfix_decode_seeds(podflow)
    mediator_relay_seeds()
    admission_review_seeds()
    downward_api_seeds()
    pod_list_seeds()
    pod_watch_seeds()
    netlink_seeds()
    l7_seeds()
    for name in sorted(os.listdir(SEEDS)):
        files = os.listdir(os.path.join(SEEDS, name))
        size = sum(os.path.getsize(os.path.join(SEEDS, name, f)) for f in files)
        print("%-18s %3d files %7d bytes" % (name, len(files), size))


if __name__ == "__main__":
    main()
