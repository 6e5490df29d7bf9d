#!/usr/bin/env bash
# Measures `podflow --mode webhook` on this machine: POST /mutate over HTTPS on loopback
# with an AdmissionReview of a Deployment's pod that gets the sidecar.
#
#   1. wrk, unthrottled (2 threads, 32 connections): the most requests per second.
#   2. wrk with 1 connection: latency of back-to-back requests, one at a time.
#   3. a paced open-loop client (Python, below) at a fixed rate (default 1,000 requests/s):
#      wrk cannot hold a rate (wrk2 is not packaged in Debian). Latency is counted from the
#      moment each request was due, so a stall that delays the next requests is charged to
#      them too (no coordinated omission). The client is one Python thread on one
#      keep-alive connection; its own overhead (tens of microseconds) is in the figures.
#
# Needs: cargo, openssl, python3, and wrk (Debian package `wrk`, installed here with
# apt-get when missing and running as root).
#
# Usage: scripts/webhook-bench.sh [SECONDS] [RATE]     defaults: 15 s, 1000 requests/s
set -euo pipefail

SECONDS_PER_RUN=${1:-15}
RATE=${2:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing the Debian package wrk" >&2
        apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
    else
        echo "wrk is missing: install the Debian package wrk (apt-get install -y wrk)" >&2
        exit 1
    fi
fi
for tool in openssl python3 cargo; do
    command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/podflow

WORK=$(mktemp -d)
PID=
cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# A test CA and a P-256 server certificate for 127.0.0.1, as cert-manager would issue.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=podflow bench CA" -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=podflow-webhook.podflow.svc" -keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$WORK/san.ext"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
    -CAcreateserial -days 2 -extfile "$WORK/san.ext" -out "$WORK/tls.crt" 2>/dev/null

cat >"$WORK/review.json" <<'JSON'
{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"0df28fbd-5f5f-11e8-bc74-36e6bb280816","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"requestKind":{"group":"","version":"v1","kind":"Pod"},"requestResource":{"group":"","version":"v1","resource":"pods"},"namespace":"shop","operation":"CREATE","userInfo":{"username":"system:serviceaccount:kube-system:replicaset-controller","uid":"3f2b1a52-7a51-4a50-9a4e-0c1c5d6a2b11","groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"]},"object":{"kind":"Pod","apiVersion":"v1","metadata":{"generateName":"cart-7c9d8f6b5d-","namespace":"shop","creationTimestamp":null,"labels":{"app":"cart","pod-template-hash":"7c9d8f6b5d"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-20T10:12:00Z"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"cart-7c9d8f6b5d","uid":"6a1e7b0c-2f1d-4c55-8a8e-1b2c3d4e5f60","controller":true,"blockOwnerDeletion":true}]},"spec":{"volumes":[{"name":"kube-api-access-x2x9q","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],"containers":[{"name":"cart","image":"registry.example/shop/cart:1.4.2","ports":[{"containerPort":8080,"protocol":"TCP"}],"env":[{"name":"REDIS_URL","value":"redis://redis.shop:6379"}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"memory":"256Mi"}},"volumeMounts":[{"name":"kube-api-access-x2x9q","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"readinessProbe":{"httpGet":{"path":"/ready","port":8080,"scheme":"HTTP"},"periodSeconds":5,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","serviceAccount":"default","securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},"status":{}},"oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}}}
JSON

cat >"$WORK/post.lua" <<LUA
local f = io.open("$WORK/review.json", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
-- Any answer but 200 means the figures are not about /mutate doing its work.
response = function(status, headers, body)
    if status ~= 200 then
        io.stderr:write("unexpected status " .. status .. "\n")
    end
end
LUA

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
TELEMETRY=$(free_port)
env -u RUST_LOG \
    PODFLOW_WEBHOOK__LISTEN=127.0.0.1:$PORT \
    PODFLOW_WEBHOOK__TLS_CERT="$WORK/tls.crt" \
    PODFLOW_WEBHOOK__TLS_KEY="$WORK/tls.key" \
    PODFLOW_WEBHOOK__MATCH__LABELS__APP=cart \
    PODFLOW_EXPORT__COLLECTOR=udp://ipfix-collector.monitoring:4739 \
    PODFLOW_TELEMETRY__LISTEN=127.0.0.1:$TELEMETRY \
    PODFLOW_LOG__LEVEL=warn \
    "$BIN" --mode webhook &
PID=$!
for _ in $(seq 100); do
    curl -s --cacert "$WORK/ca.crt" -o /dev/null "https://127.0.0.1:$PORT/healthz" 2>/dev/null && break
    sleep 0.1
done
DECISION=$(curl -s --cacert "$WORK/ca.crt" -H 'Content-Type: application/json' \
    --data-binary @"$WORK/review.json" "https://127.0.0.1:$PORT/mutate" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["response"]; print("patched" if r.get("patch") else "NOT patched")')
echo "podflow $("$BIN" --version | awk '{print $2}'), $(nproc) CPUs, body $(wc -c <"$WORK/review.json") bytes, pod $DECISION"

URL=https://127.0.0.1:$PORT/mutate
echo
echo "== 1. wrk unthrottled: -t2 -c32 -d${SECONDS_PER_RUN}s"
wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/post.lua" "$URL" | sed -n '/Latency Distribution/,$p'
echo
echo "== 2. wrk one connection: -t1 -c1 -d${SECONDS_PER_RUN}s"
wrk -t1 -c1 -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/post.lua" "$URL" | sed -n '/Latency Distribution/,$p'
echo
echo "== 3. paced open loop: $RATE requests/s for ${SECONDS_PER_RUN}s, one keep-alive connection"
python3 - "$PORT" "$WORK/ca.crt" "$WORK/review.json" "$RATE" "$SECONDS_PER_RUN" <<'PY'
import socket, ssl, sys, time

port, ca, review, rate, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
body = open(review, "rb").read()
request = (
    f"POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    f"Content-Length: {len(body)}\r\n\r\n"
).encode() + body
context = ssl.create_default_context(cafile=ca)
sock = context.wrap_socket(socket.create_connection(("127.0.0.1", int(port))), server_hostname="127.0.0.1")
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buffer = b""

def answer():
    global buffer
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(rest) < length:
        rest += sock.recv(65536)
    buffer = rest[length:]
    return head.split(b" ")[1]

# Warm the connection, then send each request when it is due and time it from then.
for _ in range(200):
    sock.sendall(request); answer()
interval = 1.0 / rate
count = int(rate * seconds)
latencies, statuses = [], {}
start = time.perf_counter()
for i in range(count):
    due = start + i * interval
    now = time.perf_counter()
    if now < due:
        time.sleep(max(0.0, due - now - 0.0002))
        while time.perf_counter() < due:
            pass
    sock.sendall(request)
    status = answer()
    latencies.append(time.perf_counter() - due)
    statuses[status] = statuses.get(status, 0) + 1
elapsed = time.perf_counter() - start
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000
print(f"requests {count} in {elapsed:.2f} s = {count / elapsed:.0f}/s, statuses {dict((k.decode(), v) for k, v in statuses.items())}")
print(f"latency ms: p50 {pct(50):.3f}  p90 {pct(90):.3f}  p99 {pct(99):.3f}  p99.9 {pct(99.9):.3f}  max {latencies[-1] * 1000:.3f}")
PY
echo
echo "== server side: podflow_webhook_mutate_duration_seconds (request head to response)"
curl -s "http://127.0.0.1:$TELEMETRY/metrics" | grep -E '^podflow_webhook_(requests_total|mutate_duration_seconds_(count|sum))'
