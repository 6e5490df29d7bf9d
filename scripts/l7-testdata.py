#!/usr/bin/env python3
"""The payloads podflow's application-layer parsers (src/l7) are tested on, and what tshark
makes of them.

    scripts/l7-testdata.py capture        captures on loopback (root: tcpdump; dnsmasq, dig,
                                          openssl, curl and python3 -m http.server) and
                                          writes src/l7/testdata/{dns,http,tls}.txt
    scripts/l7-testdata.py expect         prints tshark's fields of every payload of the test
                                          data: the expectations the unit tests record
    scripts/l7-testdata.py check PCAP [JSON]...
                                          runs podflow's parsers (examples/l7_fields) on each
                                          capture's DNS, HTTP and TLS and compares them with
                                          tshark's fields, JA4 with FoxIO's expected output
                                          (a JSON of their tests) when given

The test data are lines `label hex`: one payload each, the client's or the server's first
bytes of a TCP connection or one UDP datagram. `capture` also writes `grease-client`: the
curl ClientHello with GREASE values (RFC 8701) put in each list a browser greases, since no
client installed here sends them. JA4 is computed here from tshark's dissected fields
(JA4 needs no more than tshark shows), as FoxIO's technical_details/JA4.md describes it.
"""

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTDATA = os.path.join(ROOT, "src", "l7", "testdata")
GREASE = {0x0A0A + 0x1010 * i for i in range(16)}


# --- capture --------------------------------------------------------------------------

def start(args, **kw):
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(args, **kw):
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20, **kw)


def capture_all(tmp):
    pcap = os.path.join(tmp, "l7.pcap")
    dump = start(["tcpdump", "-i", "lo", "-s", "0", "-U", "-w", pcap,
                  "udp port 53 or tcp port 8080 or tcp port 8443"])
    time.sleep(1)
    procs = []
    try:
        procs.append(start(["dnsmasq", "--no-daemon", "--listen-address=127.0.0.1",
                            "--bind-interfaces", "--port=53", "--no-resolv", "--no-hosts",
                            "--address=/example.test/192.0.2.10",
                            "--address=/example.test/2001:db8::10"]))
        www = os.path.join(tmp, "www")
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("hello\n")
        procs.append(start([sys.executable, "-m", "http.server", "8080", "--bind", "127.0.0.1"],
                           cwd=www))
        key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
             "-days", "30", "-subj", "/CN=localhost"], check=True)
        # http/1.1 only: curl offers h2 too, and s_server -www answers HTTP/1.0.
        procs.append(start(["openssl", "s_server", "-accept", "127.0.0.1:8443", "-cert", cert,
                            "-key", key, "-www", "-alpn", "http/1.1"]))
        time.sleep(1)
        dig = ["dig", "@127.0.0.1", "+tries=1", "+time=2"]
        for q in (["www.Example.test", "A"], ["example.test", "AAAA"], ["nothere.invalid", "A"],
                  [".", "NS"], ["odd\\032name.example.test", "TXT"], ["-x", "127.0.0.1"]):
            run(dig + q)
        url = "http://127.0.0.1:8080/"
        run(["curl", "-s", "-o", "/dev/null", "http://localhost:8080/index.html?q=1"])
        run(["curl", "-s", "-o", "/dev/null", "-I", url + "missing"])
        run(["curl", "-s", "-o", "/dev/null", "-X", "POST", "-H", "HOST:   Api.Example.Test  ",
             "--data", "a=1", url + "submit"])
        run(["curl", "-s", "-o", "/dev/null", "-0", url])
        run(["curl", "-sk", "-o", "/dev/null", "https://localhost:8443/"])
        run(["curl", "-sk", "-o", "/dev/null", "--tls-max", "1.2", "https://127.0.0.1:8443/"])
        run(["openssl", "s_client", "-connect", "127.0.0.1:8443", "-servername",
             "Www.Example.Test", "-alpn", "http/1.1", "-tls1_3"], input=b"")
        time.sleep(1)
    finally:
        for p in procs:
            stop(p)
        time.sleep(1)
        stop(dump)
    return pcap


def tshark_fields(pcap, fields, display=None):
    args = ["tshark", "-r", pcap, "-T", "fields", "-E", "separator=\t"]
    if display:
        args += ["-Y", display]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def first_payloads(pcap):
    """Per TCP stream, the first payload of the client (who sent the SYN) and the server."""
    rows = tshark_fields(pcap, ["tcp.stream", "tcp.flags.syn", "tcp.flags.ack", "tcp.srcport",
                                "tcp.payload"], "tcp")
    clients, out = {}, {}
    for stream, syn, ack, sport, payload in rows:
        if syn in ("1", "True") and ack in ("0", "False"):
            clients[stream] = sport
        if payload:
            side = "client" if clients.get(stream) == sport else "server"
            out.setdefault(stream, {}).setdefault(side, bytes.fromhex(payload))
    return [out[s] for s in sorted(out, key=int)]


def capture_main():
    with tempfile.TemporaryDirectory() as tmp:
        pcap = capture_all(tmp)
        dns = [bytes.fromhex(p) for (p,) in tshark_fields(pcap, ["udp.payload"], "dns")]
        streams = first_payloads(pcap)
    names = ["a", "aaaa", "refused", "root", "odd", "ptr"]
    assert len(dns) == 2 * len(names), len(dns)
    dns_lines = []
    for i, name in enumerate(names):
        dns_lines += [(name + "-query", dns[2 * i]), (name + "-response", dns[2 * i + 1])]
    http_names = ["get", "head", "post", "http10"]
    tls_names = ["curl13", "curl12", "sclient13"]
    assert len(streams) == len(http_names) + len(tls_names), len(streams)
    http_lines, tls_lines = [], []
    for name, s in zip(http_names, streams[:4]):
        http_lines += [(name + "-request", s["client"]), (name + "-response", s["server"])]
    for name, s in zip(tls_names, streams[4:]):
        tls_lines += [(name + "-client", s["client"]), (name + "-server", s["server"])]
    tls_lines.append(("grease-client", greased(tls_lines[0][1])))
    how = "# Written by scripts/l7-testdata.py capture: %s on loopback, one payload a line.\n"
    write("dns.txt", how % "dig queries to dnsmasq", dns_lines)
    write("http.txt", how % "curl to python3 -m http.server", http_lines)
    write("tls.txt", how % "curl and openssl s_client to openssl s_server", tls_lines)


def write(name, header, lines):
    os.makedirs(TESTDATA, exist_ok=True)
    with open(os.path.join(TESTDATA, name), "w") as f:
        f.write(header)
        for label, payload in lines:
            f.write("%s %s\n" % (label, payload.hex()))


# --- a ClientHello taken apart and put together ----------------------------------------

def split_hello(record):
    """(legacy_version, random, session_id, ciphers, compression, [(type, data)])."""
    body = record[9:]
    at = 34
    sid = body[at + 1:at + 1 + body[at]]
    at += 1 + body[at]
    n = struct.unpack_from(">H", body, at)[0]
    ciphers = list(struct.unpack_from(">%dH" % (n // 2), body, at + 2))
    at += 2 + n
    comp = body[at + 1:at + 1 + body[at]]
    at += 1 + body[at]
    exts, end = [], at + 2 + struct.unpack_from(">H", body, at)[0]
    at += 2
    while at < end:
        t, n = struct.unpack_from(">HH", body, at)
        exts.append((t, body[at + 4:at + 4 + n]))
        at += 4 + n
    return body[:2], body[2:34], sid, ciphers, comp, exts


def join_hello(version, random, sid, ciphers, comp, exts):
    ext_bytes = b"".join(struct.pack(">HH", t, len(d)) + d for t, d in exts)
    body = (version + random + bytes([len(sid)]) + sid + struct.pack(">H", 2 * len(ciphers))
            + struct.pack(">%dH" % len(ciphers), *ciphers) + bytes([len(comp)]) + comp
            + struct.pack(">H", len(ext_bytes)) + ext_bytes)
    message = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(message)) + message


def u16_list(values, width=2):
    data = struct.pack(">%dH" % len(values), *values)
    return struct.pack(">B" if width == 1 else ">H", len(data)) + data


def greased(record):
    """The hello with GREASE where BoringSSL puts it: first cipher, first and last
    extension, first supported group, first supported version and key share."""
    version, random, sid, ciphers, comp, exts = split_hello(record)
    out = []
    for t, d in exts:
        if t == 10:
            groups = list(struct.unpack_from(">%dH" % (len(d) // 2 - 1), d, 2))
            d = u16_list([0x2A2A] + groups)
        elif t == 43:
            versions = list(struct.unpack_from(">%dH" % (d[0] // 2), d, 1))
            d = u16_list([0x3A3A] + versions, width=1)
        elif t == 51:
            shares = d[2:]
            shares = struct.pack(">HH", 0x2A2A, 1) + b"\0" + shares
            d = struct.pack(">H", len(shares)) + shares
        out.append((t, d))
    out = [(0x1A1A, b"")] + out + [(0xFAFA, b"\0")]
    return join_hello(version, random, sid, [0x0A0A] + ciphers, comp, out)


# --- tshark on single payloads -----------------------------------------------------------

def pcap_of(packets):
    """A raw-IP pcap of IPv4 packets: (proto, sport, dport, payload) each."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 101)
    for i, (proto, sport, dport, payload) in enumerate(packets):
        if proto == 17:
            l4 = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0)
        else:
            l4 = struct.pack(">HHIIBBHHH", sport, dport, 1, 1, 5 << 4, 0x18, 65535, 0, 0)
        # The server (the lower port) is 10.0.0.2.
        hosts = [bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])]
        if sport < dport:
            hosts.reverse()
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) + len(payload), i, 0, 64,
                         proto, 0, *hosts)
        frame = ip + l4 + payload
        out += struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame
    return out


def tshark_json(pcap_bytes):
    """tshark's dissection of each packet of a pcap, each payload on its own: a response
    is not held back to wait for the rest of its body."""
    with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
        f.write(pcap_bytes)
        f.flush()
        args = ["tshark", "-r", f.name, "-T", "json", "-x", "--no-duplicate-keys",
                "-o", "tcp.desegment_tcp_streams:FALSE"]
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [p["_source"]["layers"] for p in json.loads(out)]


def find_all(obj, key):
    """Every value of `key` in a tshark JSON tree, in order, lists flattened."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found += v if isinstance(v, list) else [v]
            else:
                found += find_all(v, key)
    elif isinstance(obj, list):
        for v in obj:
            found += find_all(v, key)
    return found


def first(obj, key, default=""):
    values = find_all(obj, key)
    return values[0] if values else default


def hello_extensions(tls):
    """The ClientHello's extension subtrees, in order."""
    hs = first(tls, "tls.handshake", {})
    hs = hs[0] if isinstance(hs, list) else hs
    exts = []
    for k, v in hs.items():
        if k.startswith("Extension: "):
            exts += v if isinstance(v, list) else [v]
    return hs, exts


def ja4_of(tls, transport="t"):
    """JA4 of a ClientHello from tshark's fields, as FoxIO's JA4.md specifies it."""
    hs, exts = hello_extensions(tls)
    num = lambda v: int(v, 16) if str(v).startswith("0x") else int(v)
    ciphers = [num(c) for c in find_all(hs.get("tls.handshake.ciphersuites", {}),
                                        "tls.handshake.ciphersuite")]
    ciphers = [c for c in ciphers if c not in GREASE]
    types = [num(first(e, "tls.handshake.extension.type")) for e in exts]
    types = [t for t in types if t not in GREASE]
    version = num(hs["tls.handshake.version"])
    sigalgs, alpn = [], None
    for e in exts:
        t = num(first(e, "tls.handshake.extension.type"))
        if t == 43:
            offered = [num(v) for v in find_all(e, "tls.handshake.extensions.supported_version")]
            offered = [v for v in offered if v not in GREASE]
            if offered:
                version = max(offered)
        elif t == 13:
            sigalgs = [num(v) for v in find_all(e, "tls.handshake.sig_hash_alg")]
            sigalgs = [s for s in sigalgs if s not in GREASE]
        elif t == 16 and alpn is None:
            # The bytes as sent (tshark shows bytes outside ASCII as U+FFFD).
            raw = first(e, "tls.handshake.extensions_alpn_str_raw", None)
            alpn = bytes.fromhex(raw[0] if isinstance(raw, list) else raw) if raw else b""
    codes = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
             0x0002: "s2", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
    if not alpn:
        alpn_code = "00"
    elif alpn[:1].isalnum() and alpn[-1:].isalnum():
        alpn_code = (alpn[:1] + alpn[-1:]).decode()
    else:
        alpn_code = alpn.hex()[0] + alpn.hex()[-1]
    a = "%s%s%s%02d%02d%s" % (transport, codes.get(version, "00"), "d" if 0 in types else "i",
                              min(len(ciphers), 99), min(len(types), 99), alpn_code)
    sha12 = lambda s: hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"
    b = sha12(",".join("%04x" % c for c in sorted(ciphers)))
    kept = sorted(t for t in types if t not in (0, 16))
    c = ",".join("%04x" % t for t in kept)
    if sigalgs and c:
        c += "_" + ",".join("%04x" % s for s in sigalgs)
    return "%s_%s_%s" % (a, b, sha12(c))


def describe_tls(tls):
    hs, exts = hello_extensions(tls)
    kind = first(hs, "tls.handshake.type")
    if kind == "1":
        alpn = []
        for e in exts:
            if first(e, "tls.handshake.extension.type") == "16":
                alpn = find_all(e, "tls.handshake.extensions_alpn_str")
                break
        return {"sni": first(hs, "tls.handshake.extensions_server_name"),
                "alpn": ",".join(alpn),
                "supported_versions": find_all(hs, "tls.handshake.extensions.supported_version"),
                "legacy_version": first(hs, "tls.handshake.version"),
                "ja3": first(hs, "tls.handshake.ja3"),
                "ja3_full": first(hs, "tls.handshake.ja3_full"),
                "ja4 (from the fields)": ja4_of(tls)}
    if kind == "2":
        return {"version": first(hs, "tls.handshake.version"),
                "supported_version": first(hs, "tls.handshake.extensions.supported_version"),
                "cipher": first(hs, "tls.handshake.ciphersuite")}
    return {"handshake.type": kind}


def describe_dns(dns):
    return {k: first(dns, "dns." + k) for k in
            ("id", "flags", "flags.response", "flags.rcode", "qry.name", "qry.type", "qry.class",
             "count.queries", "count.answers")}


def describe_http(http):
    keys = ("http.request.method", "http.request.uri", "http.host", "http.response.code")
    return {k: first(http, k) for k in keys if first(http, k)}


def read_testdata(name):
    with open(os.path.join(TESTDATA, name)) as f:
        rows = [line.split() for line in f if line.strip() and not line.startswith("#")]
    return [(label, bytes.fromhex(h)) for label, h in rows]


def expect_main():
    for name, proto, port, layer, describe in (
            ("dns.txt", 17, 53, "dns", describe_dns),
            ("http.txt", 6, 8080, "http", describe_http),
            ("tls.txt", 6, 443, "tls", describe_tls)):
        rows = read_testdata(name)
        packets, exchanges = [], {}
        for label, payload in rows:
            # A connection of its own for each exchange: `get-request` and `get-response`.
            i = exchanges.setdefault(label.rsplit("-", 1)[0], len(exchanges))
            server = label.endswith(("-response", "-server"))
            packets.append((proto, port, 40000 + i, payload) if server
                           else (proto, 40000 + i, port, payload))
        for (label, _), layers in zip(rows, tshark_json(pcap_of(packets))):
            print("%-18s %s" % (label, json.dumps(describe(layers.get(layer, {})))))


# --- podflow against tshark on captures ------------------------------------------------

def fields_binary():
    subprocess.run(["cargo", "build", "--quiet", "--release", "--example", "l7_fields"],
                   cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "examples", "l7_fields")


def podflow_fields(binary, inputs):
    text = "".join("%s %s\n" % (kind, payload.hex()) for kind, payload in inputs)
    out = subprocess.run([binary], input=text, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def client_streams(pcap):
    """Per TCP stream: the client's payload bytes in sequence order (16 KiB at most) and
    the server's first payload; the client is who sent the SYN, else the first talker."""
    rows = tshark_fields(pcap, ["tcp.stream", "tcp.flags.syn", "tcp.flags.ack", "tcp.srcport",
                                "tcp.seq_raw", "tcp.payload"], "tcp")
    client, data, server = {}, {}, {}
    for row in rows:
        # Tunnelled TCP (in GRE, say) gives a value per layer: the first is the outer.
        stream, syn, ack, sport, seq, payload = (v.split(",")[-1] for v in row)
        if not seq:
            continue
        if syn in ("1", "True") and ack in ("0", "False"):
            client.setdefault(stream, sport)
        if not payload:
            continue
        client.setdefault(stream, sport)
        if client[stream] == sport:
            data.setdefault(stream, {}).setdefault(int(seq), bytes.fromhex(payload))
        else:
            server.setdefault(stream, bytes.fromhex(payload))
    streams = {}
    for stream, segments in data.items():
        start = min(segments)
        gathered = b""
        for seq in sorted(segments):
            if seq - start == len(gathered):
                gathered += segments[seq]
        streams[int(stream)] = (gathered[:16384], server.get(stream, b""))
    return streams


def check_main(args):
    binary = fields_binary()
    failures = 0
    while args:
        pcap = args.pop(0)
        expected = {}
        if args and args[0].endswith(".json"):
            for entry in json.load(open(args.pop(0))):
                if "JA4.1" in entry:
                    expected[int(entry["stream"])] = entry["JA4.1"]
        streams = client_streams(pcap)
        rows = tshark_fields(pcap, ["tcp.stream"], "tls.handshake.type == 1 && !quic")
        hello_streams = sorted({int(r[0].split(",")[0]) for r in rows if r[0]})
        seen = {}
        for s in hello_streams:
            if s in streams and streams[s][0][:1] == b"\x16":
                seen[s] = streams[s]
        mine = podflow_fields(binary, [("tls-client", c) for c, _ in seen.values()])
        theirs = tshark_json(pcap_of([(6, 40000 + i, 443, c) for i, (c, _) in enumerate(seen.values())]))
        checked = agree = matched = 0
        for (s, _), got, layers in zip(seen.items(), mine, theirs):
            want = describe_tls(layers.get("tls", {}))
            if "ja3" not in want or got[0] != "done":
                print("%s stream %d: tshark %s, podflow %s" % (pcap, s, want, got[:1]))
                failures += 1
                continue
            checked += 1
            ok = (got[1] == want["sni"] and got[2] == want["alpn"] and got[5] == want["ja3"]
                  and got[4] == want["ja4 (from the fields)"])
            agree += ok
            if not ok:
                failures += 1
                print("%s stream %d differs:\n  tshark  %s\n  podflow %s" % (pcap, s, want, got))
            if s in expected:
                matched += got[4] == expected[s]
                if got[4] != expected[s]:
                    print("%s stream %d: JA4 %s, FoxIO's test expects %s"
                          % (pcap, s, got[4], expected[s]))
        print("%s: %d ClientHellos, %d agree with tshark%s" % (
            pcap, checked, agree,
            ", %d of %d JA4 as FoxIO expects" % (matched, len(expected)) if expected else ""))
        failures += check_dns_http(binary, pcap)
    sys.exit(1 if failures else 0)


def check_dns_http(binary, pcap):
    """DNS messages and HTTP requests of a capture, podflow's reading against tshark's."""
    failures = 0
    rows = tshark_fields(pcap, ["frame.number", "udp.payload", "dns.id", "dns.flags",
                                "dns.qry.name", "dns.qry.type", "dns.count.answers"],
                         "dns && udp && !mdns && dns.qry.name")
    mine = podflow_fields(binary, [("dns", bytes.fromhex(r[1])) for r in rows])
    for r, got in zip(rows, mine):
        want = ["dns", "%#06x" % int(r[2], 16), "%#06x" % int(r[3], 16), r[4].split(",")[0],
                r[5].split(",")[0], r[6]]
        have = got[:3] + [got[4], got[5], got[8]] if len(got) > 8 else got
        if have != want:
            failures += 1
            print("%s frame %s: tshark %s, podflow %s" % (pcap, r[0], want, got))
    print("%s: %d DNS messages, %d agree with tshark" % (pcap, len(rows), len(rows) - failures))
    bad = 0
    rows = tshark_fields(pcap, ["frame.number", "tcp.payload", "http.request.method",
                                "http.request.uri", "http.host"], "http.request")
    rows = [r for r in rows if r[1]]
    mine = podflow_fields(binary, [("http-request", bytes.fromhex(r[1])) for r in rows])
    for r, got in zip(rows, mine):
        want = ["request", r[2], r[3], r[4].strip(" \t")]
        if got != want:
            bad += 1
            print("%s frame %s: tshark %s, podflow %s" % (pcap, r[0], want, got))
    print("%s: %d HTTP requests, %d agree with tshark" % (pcap, len(rows), len(rows) - bad))
    return failures + bad


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "capture":
        capture_main()
    elif cmd == "expect":
        expect_main()
    elif cmd == "check":
        check_main(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
