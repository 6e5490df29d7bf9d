#!/usr/bin/env bash
# Mediator bench: podflow --mode mediator naming both ends of real records against a view
# of a large cluster, three measurements in one run.
#
#   1. One core: one exporter replays the records as fast as the mediator takes them,
#      and the figure is records per CPU second of the mediator (all its threads, user
#      and system): what one core's worth passes. The same for CESNET ipfixcol2 with its
#      forwarder output (TCP in, TCP out, no enrichment: it passes messages on) when
#      IPFIXCOL2 names its binary. Nothing is pinned: with the load and its collector on
#      the same two cores, records a second received says more of the machine than of
#      the tool, CPU seconds do not.
#   2. A large cluster: the view from a Kubernetes API (it/py/fake_cluster_api.py, the
#      wire format of lists in pages and watches) holding PODS pods, SERVICES Services
#      and NODES nodes; EXPORTERS exporters, one TCP session each, at RATE records a
#      second in all: records a second through, the latency the mediator adds (p50, p99),
#      peak RSS and per pod held, the API's lists and watches per kind.
#   3. Node pods against the same API: podflow --mode node (nothing to capture, only its
#      pod index) watching every pod of the cluster, then only its own node's pods
#      (k8s.own_node_only, what the chart sets when the mediator is on): peak RSS and pods
#      the API sent it.
#
# Usage:  scripts/mediator-bench.sh
#   SECS       seconds of sending in 1 and 2 (default 10)
#   PODS SERVICES NODES   the cluster of 2 and 3 (default 150000, 10000, 5000)
#   EXPORTERS  exporter sessions in 2 (default 1000)
#   RATE       records a second over all exporters in 2 (default 200000)
#   SCALE      --scale of scripts/gen-flows.py's capture the records come from (default 1)
#   IPFIXCOL2  path of an installed ipfixcol2 binary (its libraries in ../lib beside it);
#              unset: part 1 measures podflow alone. To build it from CESNET's sources
#              (github.com/CESNET/libfds and ipfixcol2; cmake, g++, liblz4-dev,
#              libzstd-dev, libxml2-dev, librdkafka-dev, libpcap-dev):
#                cmake -S libfds -B libfds/build -DCMAKE_INSTALL_PREFIX=$P && \
#                  make -C libfds/build -j2 install
#                cmake -S ipfixcol2 -B ipfixcol2/build -DCMAKE_INSTALL_PREFIX=$P \
#                  -DCMAKE_PREFIX_PATH=$P && make -C ipfixcol2/build -j2 install
#              then IPFIXCOL2=$P/bin/ipfixcol2.
#   PODFLOW_BIN  the podflow binary to measure (default: cargo build --release)
#   BENCH_DIR  where the generated capture is kept between runs (default /tmp/podflow-bench)
#
# How the records are made: scripts/gen-flows.py's capture metered by podflow --mode
# sidecar into an IPFIX file; scripts/bench-view.py makes the cluster holding those
# records' addresses, so that both ends of most records have a pod, a Service or a node
# to be named by. The load (examples/mediator_load.rs) stamps each record's
# flowEndMilliseconds when it sends it, and its collector reads the latency from the same
# field on arrival.
#
# Reading it: "received/s" counts records at the collector behind the tool; "lost" is
# sent less received (a forwarder that cannot keep up drops); the mediator also reports
# its own not_sent (records its queue or buffer let go, counted). Nothing here is a
# timed assertion: the figures are printed, side by side, for the README.
#
# Needs: cargo, python3, curl; no root, only loopback.
set -euo pipefail

SECS=${SECS:-10}
PODS=${PODS:-150000}
SERVICES=${SERVICES:-10000}
NODES=${NODES:-5000}
EXPORTERS=${EXPORTERS:-1000}
RATE=${RATE:-200000}
SCALE=${SCALE:-1}
BENCH_DIR=${BENCH_DIR:-/tmp/podflow-bench}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

note() { echo "mediator-bench: $*" >&2; }
die() { note "$*"; exit 1; }
for v in SECS PODS SERVICES NODES EXPORTERS RATE; do
  case ${!v} in '' | *[!0-9]* | 0) die "$v must be a positive integer, got '${!v}'" ;; esac
done
for c in python3 curl cargo; do
  command -v "$c" >/dev/null || die "missing $c"
done
if [ -n "${IPFIXCOL2:-}" ]; then
  [ -x "$IPFIXCOL2" ] || die "IPFIXCOL2=$IPFIXCOL2 is not an executable"
fi

# shellcheck source=scripts/bench-lib.sh
. "$REPO/scripts/bench-lib.sh"
make_workdir podflow-mediator-bench
build_release
clear_podflow_env
note "building examples/mediator_load (release)"
(cd "$REPO" && cargo build --release --example mediator_load) >&2 ||
  die "cargo build --release --example mediator_load failed"
LOAD="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/mediator_load"

# --- the records and the cluster ----------------------------------------------------
PCAP=$(generated_pcap "mediator-flows-$SCALE.pcap" --scale "$SCALE")
note "metering $PCAP into IPFIX records (podflow --mode sidecar)"
env PODFLOW_CAPTURE__PCAP="$PCAP" PODFLOW_EXPORT__COLLECTOR="file:$WORK/records.ipfix" \
  PODFLOW_TELEMETRY__LISTEN="" "$PODFLOW" --mode sidecar > /dev/null 2> "$WORK/sidecar.log" ||
  { tail -5 "$WORK/sidecar.log" >&2; die "podflow --mode sidecar failed on $PCAP"; }
note "making the cluster: $PODS pods, $SERVICES Services, $NODES nodes"
python3 "$REPO/scripts/bench-view.py" "$WORK/view.json" --list \
  --pods "$PODS" --services "$SERVICES" --nodes "$NODES"
python3 "$REPO/scripts/bench-view.py" "$WORK/state.json" \
  --pods "$PODS" --services "$SERVICES" --nodes "$NODES"

# Below the ephemeral range (32768 on), where the load's own connections take ports.
PORT_IN=19980 PORT_SINK=19981 PORT_TELEMETRY=19982

# kib PID FIELD: a /proc/PID/status figure in KiB.
kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# wait_log FILE TEXT SECONDS: waits until FILE holds TEXT.
wait_log() {
  local i
  for i in $(seq $(($3 * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  tail -5 "$1" >&2
  die "no '$2' in $1 within $3 s"
}

# json FILE KEY: a number from the load's JSON line (KEY may be latency_ms.p99).
json() {
  python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}

# mediator ENV...: starts podflow --mode mediator with ENV; sets MED.
mediator() {
  # Gone first: the wait below must not read the last run's lines.
  rm -f "$WORK/mediator.log"
  env "$@" PODFLOW_MEDIATOR__LISTEN="[\"tcp://127.0.0.1:$PORT_IN\"]" \
    PODFLOW_EXPORT__COLLECTOR="tcp://127.0.0.1:$PORT_SINK" \
    PODFLOW_EXPORT__RECONNECT_MAX_BACKOFF_SECS=1 \
    PODFLOW_TELEMETRY__LISTEN="127.0.0.1:$PORT_TELEMETRY" PODFLOW_LOG__FORMAT=text \
    "$PODFLOW" --mode mediator > /dev/null 2> "$WORK/mediator.log" &
  MED=$!
  PIDS+=("$MED")
}

stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}

# load OUT PORT PID [ARGS...]: the load against PORT, PID's CPU counted.
load() {
  local out=$1 port=$2 pid=$3
  shift 3
  "$LOAD" --file "$WORK/records.ipfix" --to "127.0.0.1:$port" \
    --sink "127.0.0.1:$PORT_SINK" --seconds "$SECS" --pid "$pid" "$@" > "$out" ||
    die "mediator_load failed"
}

header() {
  printf '%-10s %10s %10s %10s %10s %7s %7s %7s %7s %7s %s\n' tool sent received \
    received/s per_cpu_s lost p50_ms p99_ms cpu_s rss_MB note
}

row() { # TOOL JSON HWM_KIB NOTE
  local sent got
  sent=$(json "$2" records_sent) got=$(json "$2" records_received)
  printf '%-10s %10s %10s %10s %10s %7s %7s %7s %7s %7s %s\n' "$1" "$sent" "$got" \
    "$(json "$2" received_per_s)" "$(json "$2" records_per_cpu_s)" \
    "$(python3 -c "print(f'{100*max($sent-$got,0)/max($sent,1):.2f}%')")" \
    "$(json "$2" latency_ms.p50)" "$(json "$2" latency_ms.p99)" "$(json "$2" cpu_s)" \
    "$(($3 / 1024))" "$4"
}

# --- 1. one core ----------------------------------------------------------------------
note "1. one core: podflow --mode mediator (view from a file, $PODS pods)"
mediator PODFLOW_MEDIATOR__SOURCE="file:$WORK/view.json"
wait_log "$WORK/mediator.log" "mediator running" 300
load "$WORK/one-podflow.json" "$PORT_IN" "$MED"
hwm=$(kib "$MED" VmHWM)
stop "$MED"
not_sent=$(grep -o 'not_sent=[0-9]*' "$WORK/mediator.log" | tail -1)
{
  echo
  echo "# 1. one core, one exporter, ${SECS} s, records of gen-flows.py --scale $SCALE"
  header
  row podflow "$WORK/one-podflow.json" "$hwm" "$not_sent (enriching)"
} > "$WORK/report"
if [ -n "${IPFIXCOL2:-}" ]; then
  note "1. one core: ipfixcol2, forwarder output"
  cat > "$WORK/ipfixcol2.xml" <<EOF
<ipfixcol2>
  <inputPlugins><input><name>tcp</name><plugin>tcp</plugin>
    <params><localPort>$((PORT_IN + 10))</localPort><localIPAddress>127.0.0.1</localIPAddress></params>
  </input></inputPlugins>
  <outputPlugins><output><name>forwarder</name><plugin>forwarder</plugin>
    <params><mode>all</mode><protocol>tcp</protocol><premadeConnections>1</premadeConnections>
      <reconnectSecs>1</reconnectSecs>
      <hosts><host><address>127.0.0.1</address><port>$PORT_SINK</port></host></hosts></params>
  </output></outputPlugins>
</ipfixcol2>
EOF
  LD_LIBRARY_PATH="$(dirname "$(dirname "$(readlink -f "$IPFIXCOL2")")")/lib" \
    "$IPFIXCOL2" -c "$WORK/ipfixcol2.xml" 2> "$WORK/ipfixcol2.log" &
  IPX=$!
  PIDS+=("$IPX")
  sleep 1
  kill -0 "$IPX" 2>/dev/null || { tail -5 "$WORK/ipfixcol2.log" >&2; die "ipfixcol2 did not start"; }
  load "$WORK/one-ipfixcol2.json" $((PORT_IN + 10)) "$IPX"
  hwm=$(kib "$IPX" VmHWM)
  stop "$IPX"
  row ipfixcol2 "$WORK/one-ipfixcol2.json" "$hwm" "(passing messages on)" >> "$WORK/report"
  python3 - "$WORK/one-podflow.json" "$WORK/one-ipfixcol2.json" >> "$WORK/report" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
print(f"ratio podflow/ipfixcol2: {a['records_per_cpu_s'] / max(b['records_per_cpu_s'], 1):.2f}x "
      f"records per CPU second")
PY
fi

# --- 2. a large cluster through the API -----------------------------------------------
note "2. a large cluster: the fake API with $PODS pods, $EXPORTERS exporters at $RATE records/s"
python3 "$REPO/it/py/fake_cluster_api.py" "$WORK/state.json" > "$WORK/api.port" 2> "$WORK/api.log" &
PIDS+=("$!")
for _ in $(seq 600); do [ -s "$WORK/api.port" ] && break; sleep 0.1; done
[ -s "$WORK/api.port" ] || die "the fake API server did not start: $(tail -3 "$WORK/api.log")"
API="http://127.0.0.1:$(head -1 "$WORK/api.port")"
write_kubeconfig "$API" "$WORK/kubeconfig"
stats() { curl -sf "$API/control/stats"; }
started=$(date +%s.%N)
mediator KUBECONFIG="$WORK/kubeconfig" KUBERNETES_SERVICE_HOST= PODFLOW_MEDIATOR__SOURCE=kube
wait_log "$WORK/mediator.log" "the cluster view is synced" 600
synced=$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')")
rss_synced=$(kib "$MED" VmRSS)
load "$WORK/large.json" "$PORT_IN" "$MED" --exporters "$EXPORTERS" --rate "$RATE"
hwm=$(kib "$MED" VmHWM)
stats > "$WORK/api-stats.json"
stop "$MED"
not_sent=$(grep -o 'not_sent=[0-9]*' "$WORK/mediator.log" | tail -1)
{
  echo
  echo "# 2. $PODS pods, $SERVICES Services, $NODES nodes from the API; $EXPORTERS exporters at $RATE records/s for $SECS s"
  header
  row podflow "$WORK/large.json" "$hwm" "$not_sent"
  echo "view synced ${synced} s after start; RSS then $((rss_synced / 1024)) MB, peak $((hwm / 1024)) MB: $((hwm * 1024 / PODS)) bytes of peak per pod held"
  python3 - "$WORK/api-stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("API, per kind: " + "; ".join(
    f"{k} {v['lists']} list(s) in {v['pages']} pages, {v['watches']} watch(es), {v['items']} items"
    for k, v in sorted(s.items())))
PY
} >> "$WORK/report"

# --- 3. node pods: the whole cluster or their own node --------------------------------
node_run() { # OWN_NODE_ONLY
  local before after pid
  before=$(stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["pods"]["items"])')
  rm -f "$WORK/node.log"
  env KUBECONFIG="$WORK/kubeconfig" KUBERNETES_SERVICE_HOST= PODFLOW_K8S__NODE_NAME=node-0 \
    PODFLOW_K8S__OWN_NODE_ONLY="$1" PODFLOW_NODE__NETNS_DIRS='[]' \
    PODFLOW_NODE__SCAN_PROCESSES=false PODFLOW_NODE__CAPTURE_HOST=false \
    PODFLOW_NODE__RUNTIME_ENDPOINT= PODFLOW_TELEMETRY__LISTEN= PODFLOW_LOG__FORMAT=text \
    "$PODFLOW" --mode node > /dev/null 2> "$WORK/node.log" &
  pid=$!
  PIDS+=("$pid")
  wait_log "$WORK/node.log" "pod index synced" 600
  sleep 1
  after=$(stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["pods"]["items"])')
  printf '%-22s %10s %10s %10s\n' "own_node_only=$1" \
    "$(grep -o 'pod index synced.*pods=[0-9]*' "$WORK/node.log" | grep -o '[0-9]*$')" \
    $((after - before)) $(($(kib "$pid" VmHWM) / 1024))
  stop "$pid"
}
note "3. node pods: the whole cluster's pods, then their own node's"
{
  echo
  echo "# 3. one node pod (node-0) against the same API"
  printf '%-22s %10s %10s %10s\n' watch indexed received rss_MB
  node_run false
  node_run true
} >> "$WORK/report"

cat "$WORK/report"
