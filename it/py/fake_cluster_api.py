#!/usr/bin/env python3
"""A Kubernetes API server for the mediator's tests: the four kinds its view is made of,
in the API server's wire format, changed by the test as it goes.

  GET /api/v1/pods, /api/v1/services, /api/v1/nodes,
      /apis/discovery.k8s.io/v1/endpointslices
      a list of the kind (metadata.resourceVersion, items), in pages of `limit` items
      with a `continue` token when asked; pods with fieldSelector=spec.nodeName=NAME are
      those of that node only (lists and watches); with watch=true and a resourceVersion,
      newline-delimited watch events (chunked) from that version on: every change made
      since, then each change as it is made, and an ERROR 410 Expired when the version is
      older than the history kept (after /control/expire or /control/compact)

and, for the test:

  POST /control/apply    {"kind": "pods", "type": "ADDED"|"MODIFIED"|"DELETED", "object": {...}}
                         changes the cluster (a new resourceVersion) and tells the watches
  POST /control/expire   forgets the history: every watch ends with 410, kube lists again
  POST /control/compact  forgets the history up to now, as the API server's compaction
                         does, after a BOOKMARK at the newest version to each watch that
                         asked for bookmarks, which then ends: a client that keeps the
                         bookmark's version resumes without 410, one that does not lists
                         again
  POST /control/outage   {"down": true|false}: while down, every list and watch of the
                         four kinds answers 503 and the watches open end
  GET  /control/stats    JSON per kind: lists, pages and watches served, bookmarks sent,
                         and items sent (in lists and watch events)

usage: fake_cluster_api.py STATE.json   (STATE: {"pods": [...], "services": [...], ...})
       Binds 127.0.0.1 on a free port, prints the port (one line) and serves until killed.
"""
import bisect
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATHS = {
    "/api/v1/pods": ("pods", "PodList", "v1", "Pod"),
    "/api/v1/services": ("services", "ServiceList", "v1", "Service"),
    "/api/v1/nodes": ("nodes", "NodeList", "v1", "Node"),
    "/apis/discovery.k8s.io/v1/endpointslices": (
        "endpointslices", "EndpointSliceList", "discovery.k8s.io/v1", "EndpointSlice"),
}
KINDS = {kind: (api, item_kind) for _, (kind, _, api, item_kind) in PATHS.items()}


class Cluster:
    def __init__(self, state):
        self.lock = threading.Condition()
        self.rv = 1000
        self.compacted = 0
        self.down = False
        # Bumped by /control/compact: each watch then sends a bookmark and ends.
        self.epoch = 0
        # continue token -> (kind, items, resourceVersion) of a list being paged
        self.pages = {}
        # kind -> {key: object}
        self.objects = {kind: {} for kind in KINDS}
        # (rv, kind, type, object), oldest first, and their rvs alone (for bisect)
        self.history = []
        self.history_rv = []
        self.stats = {kind: {"lists": 0, "pages": 0, "watches": 0, "bookmarks": 0,
                             "items": 0}
                      for kind in KINDS}
        for kind, items in state.items():
            for obj in items:
                self._store(kind, "ADDED", obj)

    @staticmethod
    def key(obj):
        md = obj["metadata"]
        return md.get("namespace", "") + "/" + md["name"]

    def _store(self, kind, type_, obj):
        self.rv += 1
        api, item_kind = KINDS[kind]
        obj = dict(obj, apiVersion=api, kind=item_kind)
        obj["metadata"] = dict(obj["metadata"], resourceVersion=str(self.rv))
        if type_ == "DELETED":
            self.objects[kind].pop(self.key(obj), None)
        else:
            self.objects[kind][self.key(obj)] = obj
        self.history.append((self.rv, kind, type_, obj))
        self.history_rv.append(self.rv)

    def since(self, rv, kind, node):
        """Watch events of `kind` after version `rv` (of pods on `node` when set)."""
        start = bisect.bisect_right(self.history_rv, rv)
        return [{"type": t, "object": o} for (_, k, t, o) in self.history[start:]
                if k == kind and on_node(o, node)]

    def apply(self, kind, type_, obj):
        with self.lock:
            self._store(kind, type_, obj)
            self.lock.notify_all()
            return self.rv


def on_node(obj, node):
    return node is None or obj.get("spec", {}).get("nodeName") == node


def node_selector(kind, q):
    """The node of a pods request's fieldSelector=spec.nodeName=NAME, else None."""
    selector = q.get("fieldSelector", "")
    if kind == "pods" and selector.startswith("spec.nodeName="):
        return selector[len("spec.nodeName="):]
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster = None

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
        self.wfile.flush()

    def do_POST(self):
        c = self.cluster
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")) or 0)
        if self.path == "/control/apply":
            change = json.loads(body)
            rv = c.apply(change["kind"], change["type"], change["object"])
            self._json(200, {"resourceVersion": str(rv)})
        elif self.path == "/control/outage":
            with c.lock:
                c.down = bool(json.loads(body)["down"])
                c.lock.notify_all()
            self._json(200, {})
        elif self.path == "/control/compact":
            with c.lock:
                c.epoch += 1
                c.compacted = c.rv
                c.lock.notify_all()
            self._json(200, {})
        elif self.path == "/control/expire":
            with c.lock:
                c.compacted = c.rv + 1
                c.lock.notify_all()
            self._json(200, {})
        else:
            self._json(404, {"kind": "Status", "status": "Failure", "code": 404})

    def do_GET(self):
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/control/stats":
            with self.cluster.lock:
                return self._json(200, self.cluster.stats)
        if url.path not in PATHS:
            return self._json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                    "reason": "NotFound", "code": 404})
        kind, list_kind, api, _ = PATHS[url.path]
        if self.cluster.down:
            return self._json(503, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                    "reason": "ServiceUnavailable", "code": 503,
                                    "message": "the API server is away"})
        if q.get("watch") in ("true", "1"):
            return self.watch(kind, q)
        c = self.cluster
        with c.lock:
            token = q.get("continue")
            if token and token in c.pages:
                _, items, rv = c.pages.pop(token)
            else:
                node = node_selector(kind, q)
                items = [o for o in c.objects[kind].values() if on_node(o, node)]
                rv = c.rv
                c.stats[kind]["lists"] += 1
            c.stats[kind]["pages"] += 1
            limit = int(q.get("limit") or 0)
            metadata = {"resourceVersion": str(rv)}
            if limit and len(items) > limit:
                items, rest = items[:limit], items[limit:]
                token = f"{kind}-{rv}-{len(c.pages)}-{len(rest)}"
                c.pages[token] = (kind, rest, rv)
                metadata["continue"] = token
                metadata["remainingItemCount"] = len(rest)
            c.stats[kind]["items"] += len(items)
        self._json(200, {"kind": list_kind, "apiVersion": api,
                         "metadata": metadata, "items": items})

    def watch(self, kind, q):
        c = self.cluster
        rv = int(q.get("resourceVersion") or 0)
        node = node_selector(kind, q)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        with c.lock:
            c.stats[kind]["watches"] += 1
            epoch = c.epoch
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + int(q.get("timeoutSeconds", "290"))
        try:
            while time.monotonic() < deadline:
                with c.lock:
                    if c.down:
                        break
                    if c.epoch != epoch and bookmarks:
                        api, item_kind = KINDS[kind]
                        mark = {"kind": item_kind, "apiVersion": api,
                                "metadata": {"resourceVersion": str(c.rv)}}
                        # What the watch has not sent yet comes first.
                        events = c.since(rv, kind, node)
                        events.append({"type": "BOOKMARK", "object": mark})
                        c.stats[kind]["bookmarks"] += 1
                        gone = True
                    elif rv < c.compacted:
                        status = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Failure", "reason": "Expired", "code": 410,
                                  "message": f"too old resource version: {rv} ({c.compacted})"}
                        events = [{"type": "ERROR", "object": status}]
                        gone = True
                    else:
                        events = c.since(rv, kind, node)
                        c.stats[kind]["items"] += len(events)
                        gone = False
                        rv = c.rv
                        if not events:
                            c.lock.wait(0.2)
                for e in events:
                    self._chunk(json.dumps(e).encode() + b"\n")
                if gone:
                    break
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    with open(sys.argv[1]) as f:
        state = json.load(f)
    Handler.cluster = Cluster(state)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
