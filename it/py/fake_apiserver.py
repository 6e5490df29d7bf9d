#!/usr/bin/env python3
"""A Kubernetes API server that knows one resource, the pods of a large cluster, made up
on the fly. It speaks what node mode's pod watch asks for, in the API server's wire format:

  GET /api/v1/pods?limit=N[&continue=TOKEN]
      a page of a PodList: metadata.resourceVersion, and while pods remain
      metadata.continue and metadata.remainingItemCount. Each page is written pod by pod
      as it is served (chunked), never held whole: 10,000 pods of 64 KiB are 650 MB.
  GET /api/v1/pods?watch=true&resourceVersion=RV[&allowWatchBookmarks=true]
      newline-delimited watch events: a BOOKMARK at the current resourceVersion every
      second while bookmarks are allowed; when the history is compacted past RV (at once,
      or later through /control/expire) an ERROR event carrying a Status 410 Expired, as
      the API server sends it, and the end of the stream.

and, for the test driving it:

  POST /control/expire   compacts the history: every watch ends with 410 Gone and the
                         next list is at a new resourceVersion
  GET  /control/stats    JSON: pods and bytes served, lists (complete), pages, watches

Pods: PODS pods over NODES nodes (node-0 ... node-{NODES-1}), pod i on node i % NODES,
address 10.x.y.z from i, in 50 namespaces, each owned by a ReplicaSet. Their annotations
take ANNOTATION_BYTES bytes of JSON: a kubectl last-applied-configuration of a Deployment
(its environment padded to the size) and a few small ones.

usage: fake_apiserver.py [--pods N] [--nodes N] [--annotation-bytes N]
       Binds 127.0.0.1 on a free port, prints the port (one line) and serves until killed.
"""
import argparse
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAMESPACES = 50
# Pods written into one HTTP chunk: ~1 MB of JSON at 64 KiB a pod.
PODS_PER_CHUNK = 16


class Cluster:
    """The made-up pods and what has been served of them."""

    def __init__(self, pods, nodes, annotation_bytes):
        self.pods = pods
        self.nodes = nodes
        self.lock = threading.Lock()
        # The current resourceVersion, and the oldest one a watch may resume from.
        self.rv = 100_000
        self.compacted = 0
        self.stats = {"pods": 0, "bytes": 0, "lists": 0, "pages": 0, "watches": 0, "expired": 0}
        self.small = {
            "kubectl.kubernetes.io/restartedAt": "2026-01-01T09:00:00Z",
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9090",
        }
        self.applied = self._last_applied(annotation_bytes)

    def _last_applied(self, annotation_bytes):
        """The last-applied-configuration value whose annotations JSON is annotation_bytes long."""
        base = len(json.dumps(self.small, separators=(",", ":")))
        key = "kubectl.kubernetes.io/last-applied-configuration"
        budget = max(0, annotation_bytes - base - len(json.dumps(key)) - 2)
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"annotations": {}, "name": "svc", "namespace": "team"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "svc"}},
                "template": {
                    "metadata": {"labels": {"app": "svc", "tier": "backend"}},
                    "spec": {"containers": [{"name": "app", "image": "registry.example/svc:1.4.2",
                                             "env": []}]},
                },
            },
        }
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        value = ""
        n = 0
        # Environment variables until the escaped value fills the budget.
        while True:
            env.append({"name": f"FEATURE_FLAG_{n:05d}", "value": f"enabled-for-tenant-{n:05d}"})
            candidate = json.dumps(deployment, separators=(",", ":")) + "\n"
            if len(json.dumps(candidate)) > budget:
                break
            value = candidate
            n += 1
        if not value:
            return ""
        # Pad the last bit with the value of one more variable.
        env.pop()
        env[-1]["value"] += "x" * (budget - len(json.dumps(value)))
        return json.dumps(deployment, separators=(",", ":")) + "\n"

    def pod_json(self, i):
        """Pod number i as the API server writes it."""
        ns = f"team-{i % NAMESPACES:02d}"
        rs = f"svc{i % 500:03d}-7c9d8f6b5"
        name = f"{rs}-{i:06d}"
        node = i % self.nodes
        ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        annotations = dict(self.small)
        if self.applied:
            annotations["kubectl.kubernetes.io/last-applied-configuration"] = self.applied
        pod = {
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {
                "name": name, "generateName": f"{rs}-", "namespace": ns,
                "uid": f"6f0c2a4e-0000-4000-8000-{i:012d}",
                "resourceVersion": str(1000 + i),
                "creationTimestamp": "2026-01-01T10:00:00Z",
                "labels": {"app": f"svc{i % 500:03d}", "pod-template-hash": "7c9d8f6b5",
                           "tier": "backend"},
                "annotations": annotations,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                     "uid": f"rs-{i % 500}", "controller": True,
                                     "blockOwnerDeletion": True}],
                "managedFields": [{
                    "manager": "kube-controller-manager", "operation": "Update",
                    "apiVersion": "v1", "time": "2026-01-01T10:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}}}},
                }, {
                    "manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                    "time": "2026-01-01T10:00:01Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:podIPs": {}}}, "subresource": "status",
                }],
            },
            "spec": {
                "nodeName": f"node-{node}", "restartPolicy": "Always",
                "serviceAccountName": "default",
                "containers": [{"name": "app", "image": "registry.example/svc:1.4.2",
                                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                "resources": {}, "terminationMessagePolicy": "File",
                                "imagePullPolicy": "IfNotPresent"}],
            },
            "status": {
                "phase": "Running",
                "hostIP": f"192.168.{node >> 8}.{node & 255}",
                "hostIPs": [{"ip": f"192.168.{node >> 8}.{node & 255}"}],
                "podIP": ip, "podIPs": [{"ip": ip}],
                "startTime": "2026-01-01T10:00:00Z", "qosClass": "BestEffort",
                "conditions": [{"type": "Ready", "status": "True",
                                "lastTransitionTime": "2026-01-01T10:00:05Z"}],
                "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0,
                                       "image": "registry.example/svc:1.4.2", "imageID": "",
                                       "started": True,
                                       "state": {"running": {"startedAt": "2026-01-01T10:00:04Z"}}}],
            },
        }
        return json.dumps(pod, separators=(",", ":"))

    def add(self, **counts):
        with self.lock:
            for k, v in counts.items():
                self.stats[k] += v


def continue_token(rv, start):
    """An opaque continue token shaped like the API server's."""
    key = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{start:09d}\u0000"})
    return base64.urlsafe_b64encode(key.encode()).decode()


def token_start(token):
    """(rv, first pod) of a continue token."""
    v = json.loads(base64.urlsafe_b64decode(token.encode()))
    return v["rv"], int(v["start"].rstrip("\u0000"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster = None  # set by main

    def log_message(self, *args):
        pass

    def _json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def do_POST(self):
        c = self.cluster
        if self.path == "/control/expire":
            with c.lock:
                c.rv += 1000
                c.compacted = c.rv
                c.stats["expired"] += 1
            self._json(200, {"resourceVersion": str(c.rv)})
        else:
            self._json(404, {"kind": "Status", "status": "Failure", "code": 404})

    def do_GET(self):
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/control/stats":
            with self.cluster.lock:
                self._json(200, dict(self.cluster.stats))
        elif url.path != "/api/v1/pods":
            self._json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": "NotFound", "code": 404})
        elif q.get("watch") in ("true", "1"):
            self.watch(q)
        else:
            self.list(q)

    def list(self, q):
        c = self.cluster
        limit = int(q.get("limit", "0")) or c.pods
        with c.lock:
            rv = c.rv
        start = 0
        if q.get("continue"):
            rv, start = token_start(q["continue"])
        end = min(c.pods, start + limit)
        meta = {"resourceVersion": str(rv)}
        if end < c.pods:
            meta["continue"] = continue_token(rv, end)
            meta["remainingItemCount"] = c.pods - end
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        head = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": meta})
        sent = 0
        chunk = [head[:-1].encode() + b',"items":[']
        for i in range(start, end):
            chunk.append((b"," if i > start else b"") + c.pod_json(i).encode())
            if len(chunk) >= PODS_PER_CHUNK:
                data = b"".join(chunk)
                self._chunk(data)
                sent += len(data)
                chunk = []
        chunk.append(b"]}")
        data = b"".join(chunk)
        self._chunk(data)
        sent += len(data)
        self.wfile.write(b"0\r\n\r\n")
        c.add(pods=end - start, bytes=sent, pages=1, lists=int(end == c.pods))

    def watch(self, q):
        c = self.cluster
        c.add(watches=1)
        rv = int(q.get("resourceVersion") or c.rv)
        bookmarks = q.get("allowWatchBookmarks") == "true"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + int(q.get("timeoutSeconds", "290"))
        next_bookmark = time.monotonic() + 1
        try:
            while time.monotonic() < deadline:
                with c.lock:
                    current, compacted = c.rv, c.compacted
                if rv < compacted:
                    status = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure",
                              "message": f"too old resource version: {rv} ({compacted})",
                              "reason": "Expired", "code": 410}
                    self._chunk(json.dumps({"type": "ERROR", "object": status}).encode() + b"\n")
                    break
                if bookmarks and time.monotonic() >= next_bookmark:
                    mark = {"kind": "Pod", "apiVersion": "v1",
                            "metadata": {"resourceVersion": str(current)}}
                    self._chunk(json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n")
                    next_bookmark = time.monotonic() + 1
                time.sleep(0.05)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pods", type=int, default=10_000)
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--annotation-bytes", type=int, default=65536)
    a = p.parse_args()
    Handler.cluster = Cluster(a.pods, a.nodes, a.annotation_bytes)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
