#!/usr/bin/env python3
"""Export outage soak: podflow captures live in a pod network namespace under steady
traffic while its collector misbehaves, and the figures say what was lost and whether
every loss was counted. Needs root (network namespaces), iproute2 and openssl.

Each scenario is a fresh podflow (--mode sidecar, capturing the pod's eth0) and a fresh
collector on the pod's loopback. A peer namespace sends RATE UDP datagrams a second to
the pod, each from its own source port, so each is one flow (idle timeout 1 s): the
flows produced are the datagrams sent, counted by the sender, not by podflow.

  tcp, tls            the collector (podflow collect) is stopped for OUTAGE s and comes
                      back; run twice: export.buffer_records large enough to hold the
                      outage ("within"), and a third of that ("beyond")
  slow                a TCP collector that reads 1 KB/s a connection (the rest at full
                      speed once podflow has exited), records carrying 3 KB of
                      annotations so that writes stall past export.write_timeout_secs
  stdout              collector stdout, a pipe nobody reads until podflow has exited

For each: flows produced, records the collector received, podflow's exported and
not_sent totals, notSentFlowTotalCount in the last options record the collector got,
podflow's peak RSS (VmHWM) and whether produced = received + not_sent holds.

usage: soak.py [--podflow BIN] [--rate N] [--before S] [--outage S] [--after S]
               [--only NAME,...] [--json] [--keep DIR]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

PY = sys.executable
HERE = os.path.dirname(os.path.abspath(__file__))
TAG = str(os.getpid() % 100000)
POD, PEER = f"pf-soak-pod-{TAG}", f"pf-soak-peer-{TAG}"
POD_IP, PEER_IP = "10.252.0.1", "10.252.0.2"
COLLECTOR_PORT = 4739
SINK_PORT = 9
SINK = []


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


def netns_up():
    for ns in (POD, PEER):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        ip("netns", "add", ns)
    ip("link", "add", "eth0", "netns", POD, "type", "veth", "peer", "name", "peer0",
       "netns", PEER)
    for ns, dev, addr in ((POD, "eth0", POD_IP), (PEER, "peer0", PEER_IP)):
        # No IPv6: its neighbour discovery and MLD would be flows the sender did not make.
        for conf in ("all", "default", dev):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            f"net.ipv6.conf.{conf}.disable_ipv6=1"], check=True)
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "set", dev, "up")
    # The pod takes the datagrams: no port-unreachable answers, which would be flows too.
    SINK.append(in_ns(POD, [PY, "-c", DISCARD, str(SINK_PORT)]))


def netns_down():
    if SINK:
        SINK[0].kill()
        SINK[0].wait()
    for ns in (POD, PEER):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def in_ns(ns, argv, **kw):
    return subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kw)


SENDER = r"""
import socket, sys, time
rate, secs, dst = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
sent, start = 0, time.monotonic()
while time.monotonic() - start < secs:
    due = int((time.monotonic() - start) * rate)
    while sent < due:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 20000 + sent % 30000))
        s.sendto(b"x" * 64, (dst, SINK_PORT))
        s.close()
        sent += 1
    time.sleep(0.005)
print(sent)
""".replace("SINK_PORT", str(SINK_PORT))

DISCARD = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    s.recv(65535)
"""

SLOW = r"""
import os, signal, socket, sys, threading, time
port, out = int(sys.argv[1]), sys.argv[2]
fast = threading.Event()
signal.signal(signal.SIGUSR1, lambda *_: fast.set())
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind(("127.0.0.1", port))
l.listen(16)
print("listening", flush=True)
threads = []
def serve(c, n):
    with open(os.path.join(out, "conn.%d" % n), "wb") as f:
        while True:
            d = c.recv(65536 if fast.is_set() else 1024)
            if not d:
                return
            f.write(d)
            if not fast.is_set():
                fast.wait(1.0)
l.settimeout(0.2)
n = 0
while not fast.is_set():
    try:
        c, _ = l.accept()
    except socket.timeout:
        continue
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    t = threading.Thread(target=serve, args=(c, n)); t.start(); threads.append(t); n += 1
for t in threads:
    t.join()
"""

BLOCKED_READER = r"""
import signal, sys
go = []
signal.signal(signal.SIGUSR1, lambda *_: go.append(1))
while not go:
    signal.pause()
lines = sum(1 for line in sys.stdin.buffer if line.endswith(b"\n"))
print(lines)
"""


def certs(dir):
    """A CA and a certificate for 127.0.0.1, made with openssl."""
    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=dir)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=soak CA", "-days", "1")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=collector",
        "-addext", "subjectAltName=IP:127.0.0.1")
    run("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tls.crt", "-days", "1", "-copy_extensions", "copy")


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def totals(stderr_text):
    line = [l for l in stderr_text.splitlines() if " done " in l][-1]
    out = {}
    for word in line.split():
        if "=" in word:
            k, v = word.split("=", 1)
            if v.isdigit():
                out[k] = int(v)
    return out


class Collect:
    """podflow collect on the pod's loopback, its JSON lines in a file."""

    def __init__(self, podflow, scheme, dir, n):
        self.out = open(os.path.join(dir, f"collect.{n}.jsonl"), "wb")
        self.err = open(os.path.join(dir, f"collect.{n}.err"), "wb")
        argv = [podflow, "collect", "--listen", f"{scheme}://127.0.0.1:{COLLECTOR_PORT}"]
        if scheme == "tls":
            argv += ["--tls-cert", os.path.join(dir, "tls.crt"),
                     "--tls-key", os.path.join(dir, "tls.key")]
        self.proc = in_ns(POD, argv, stdout=self.out, stderr=self.err)
        wait_listening(os.path.join(dir, f"collect.{n}.err"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.out.close()
        self.err.close()
        return self.out.name


def wait_listening(err_path):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(err_path, "rb") as f:
            if b"listening" in f.read():
                return
        time.sleep(0.05)
    raise RuntimeError(f"collector did not start: {err_path}")


def received(paths):
    """Data records and the last notSentFlowTotalCount in JSON lines files."""
    records, not_sent = 0, None
    for p in paths:
        with open(p) as f:
            for line in f:
                r = json.loads(line)
                if r.get("templateId") in (256, 257):
                    records += 1
                elif "notSentFlowTotalCount" in r:
                    not_sent = r["notSentFlowTotalCount"]
    return records, not_sent


def podflow_env(collector, dir, extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODFLOW_")}
    env.update({
        "PODFLOW_CAPTURE__INTERFACES": '["eth0"]',
        "PODFLOW_EXPORT__COLLECTOR": collector,
        "PODFLOW_FLOW__IDLE_TIMEOUT_SECS": "1",
        "PODFLOW_FLOW__TCP_END_LINGER_SECS": "1",
        "PODFLOW_EXPORT__RECONNECT_MAX_BACKOFF_SECS": "2",
        "PODFLOW_EXPORT__DRAIN_TIMEOUT_SECS": "5",
        "PODFLOW_EXPORT__WRITE_TIMEOUT_SECS": "2",
        "PODFLOW_TELEMETRY__LISTEN": "",
        "PODFLOW_K8S__POD_NAME": "soak",
        "PODFLOW_K8S__LABELS_FILE": "/nonexistent",
        "PODFLOW_K8S__ANNOTATIONS_FILE": "/nonexistent",
        "PODFLOW_LOG__LEVEL": "info",
    })
    if collector.startswith("tls://"):
        env["PODFLOW_EXPORT__TLS_CA"] = os.path.join(dir, "ca.crt")
    env.update(extra)
    return env


def start_podflow(podflow, env, dir, stdout=subprocess.DEVNULL):
    err = open(os.path.join(dir, "podflow.err"), "wb")
    proc = in_ns(POD, [podflow, "--mode", "sidecar"], env=env, stdout=stdout, stderr=err)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(err.name, "rb") as f:
            if b"capture started" in f.read():
                return proc, err
        time.sleep(0.05)
    raise RuntimeError("podflow did not start capturing: " + open(err.name).read())


def stop_podflow(proc, err):
    rss = peak_rss_kib(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    err.close()
    with open(err.name) as f:
        text = f.read()
    return totals(text), rss, proc.returncode


def send(rate, secs):
    return in_ns(PEER, [PY, "-c", SENDER, str(rate), str(secs), POD_IP],
                 stdout=subprocess.PIPE, text=True)


def outage(args, scheme, buffer_records, dir):
    """Collector away for OUTAGE s in the middle of steady traffic."""
    if scheme == "tls":
        certs(dir)
    collector = f"{scheme}://127.0.0.1:{COLLECTOR_PORT}"
    env = podflow_env(collector, dir, {"PODFLOW_EXPORT__BUFFER_RECORDS": str(buffer_records)})
    first = Collect(args.podflow, scheme, dir, 1)
    proc, err = start_podflow(args.podflow, env, dir)
    sender = send(args.rate, args.before + args.outage + args.after)
    time.sleep(args.before)
    files = [first.stop()]
    time.sleep(args.outage)
    second = Collect(args.podflow, scheme, dir, 2)
    produced = int(sender.communicate()[0])
    time.sleep(2.5)  # the last flows end (idle timeout, sweep)
    t, rss, rc = stop_podflow(proc, err)
    files.append(second.stop())
    got, options_not_sent = received(files)
    return produced, got, options_not_sent, t, rss, rc


def slow(args, dir):
    out = os.path.join(dir, "slow")
    os.mkdir(out)
    reader = in_ns(POD, [PY, "-c", SLOW, str(COLLECTOR_PORT), out], stdout=subprocess.PIPE)
    reader.stdout.readline()
    # 3 KB of annotations a record: far more than the sockets' buffers hold, so that
    # writes stall and meet their deadline.
    annotations = os.path.join(dir, "annotations")
    with open(annotations, "w") as f:
        for i in range(30):
            f.write(f'note-{i:02}="{"x" * 90}"\n')
    env = podflow_env(f"tcp://127.0.0.1:{COLLECTOR_PORT}", dir,
                      {"PODFLOW_K8S__ANNOTATIONS_FILE": annotations})
    proc, err = start_podflow(args.podflow, env, dir)
    produced = int(send(args.rate, args.before + args.outage).communicate()[0])
    time.sleep(2.5)
    t, rss, rc = stop_podflow(proc, err)
    reader.send_signal(signal.SIGUSR1)
    reader.wait(timeout=60)
    files = [os.path.join(out, f) for f in sorted(os.listdir(out))]
    lines = os.path.join(dir, "slow.jsonl")
    with open(lines, "wb") as f:
        argv = [args.podflow, "collect"]
        for p in files:
            argv += ["-f", p]
        subprocess.run(argv, stdout=f, stderr=subprocess.DEVNULL, check=True)
    got, options_not_sent = received([lines])
    return produced, got, options_not_sent, t, rss, rc


def blocked_stdout(args, dir):
    reader = subprocess.Popen([PY, "-c", BLOCKED_READER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    env = podflow_env("stdout", dir, {})
    proc, err = start_podflow(args.podflow, env, dir, stdout=reader.stdin)
    reader.stdin.close()
    produced = int(send(args.rate, args.before + args.outage).communicate()[0])
    time.sleep(2.5)
    t, rss, rc = stop_podflow(proc, err)
    reader.send_signal(signal.SIGUSR1)
    got = int(reader.stdout.read())
    reader.wait(timeout=60)
    return produced, got, None, t, rss, rc


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--podflow", default=os.path.join(HERE, "..", "target/release/podflow"))
    p.add_argument("--rate", type=int, default=500, help="flows a second")
    p.add_argument("--before", type=float, default=10, help="seconds before the outage")
    p.add_argument("--outage", type=float, default=30, help="seconds the collector is away")
    p.add_argument("--after", type=float, default=15, help="seconds after it is back")
    p.add_argument("--only", default="", help="scenarios to run, comma-separated")
    p.add_argument("--json", action="store_true", help="one JSON object per scenario")
    p.add_argument("--keep", help="keep each scenario's files under this directory")
    args = p.parse_args()
    args.podflow = os.path.abspath(args.podflow)
    outage_flows = int(args.rate * args.outage)
    scenarios = {
        "tcp-within": lambda d: outage(args, "tcp", 4 * outage_flows, d),
        "tcp-beyond": lambda d: outage(args, "tcp", max(outage_flows // 3, 1), d),
        "tls-within": lambda d: outage(args, "tls", 4 * outage_flows, d),
        "tls-beyond": lambda d: outage(args, "tls", max(outage_flows // 3, 1), d),
        "slow": lambda d: slow(args, d),
        "stdout": lambda d: blocked_stdout(args, d),
    }
    only = [s for s in args.only.split(",") if s] or list(scenarios)
    netns_up()
    try:
        for name in only:
            if args.keep:
                d = os.path.join(args.keep, name)
                os.makedirs(d)
                produced, got, opt, t, rss, rc = scenarios[name](d)
            else:
                with tempfile.TemporaryDirectory() as d:
                    produced, got, opt, t, rss, rc = scenarios[name](d)
            result = {
                "scenario": name, "produced": produced, "received": got,
                "exported": t.get("records"), "not_sent": t.get("not_sent"),
                "options_not_sent": opt, "kernel_drops": t.get("kernel_drops"),
                "peak_rss_kib": rss, "exit_code": rc,
                "accounted": produced == got + t.get("not_sent", -1),
            }
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                print(f"{name:11} produced {produced:7} received {got:7} "
                      f"exported {result['exported']:7} not_sent {result['not_sent']:6} "
                      f"(options record: {'-' if opt is None else opt}) "
                      f"kernel drops {result['kernel_drops']} "
                      f"peak RSS {rss / 1024:.1f} MiB exit {rc} "
                      f"{'accounted' if result['accounted'] else 'NOT ACCOUNTED'}",
                      flush=True)
    finally:
        netns_down()


if __name__ == "__main__":
    main()
