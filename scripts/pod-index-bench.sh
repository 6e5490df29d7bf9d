#!/usr/bin/env bash
# Pod index bench: the memory of node mode's pod index at a cluster's scale. A fake API
# server (it/py/fake_apiserver.py, its own process) makes up PODS pods over 100 nodes,
# each with ANNOTATION_BYTES of annotations (a kubectl last-applied-configuration and a
# few small ones), and serves them as the API server does: pages of `limit` pods with
# `continue` and `remainingItemCount`, then a watch with bookmarks. `podflow --mode node`
# on node-0 (100 of the pods at the default size), with nothing to capture, lists them
# all; then the API server compacts its history, the watch ends with 410 Gone and podflow
# lists again.
#
# Usage:  scripts/pod-index-bench.sh [PODS] [ANNOTATION_BYTES]
#   PODS              pods in the cluster (default 10000)
#   ANNOTATION_BYTES  JSON size of each pod's annotations (default 65536)
#   PODFLOW_BIN       the podflow binary to measure (default: cargo build --release)
#
# Prints the pods and bytes served, the pods in the index, and podflow's peak RSS (VmHWM)
# and current RSS after the first list and after the relist, against the chart's memory
# limit of node pods (512 MiB); exits 3 when the peak is not under half of it. Needs
# python3 and curl; no root, no network but loopback.
set -euo pipefail

PODS=${1:-10000}
ANNOTATION_BYTES=${2:-65536}
LIMIT_MIB=512

note() { echo "pod-index-bench: $*" >&2; }
die() { note "$*"; exit 1; }
case $PODS in '' | *[!0-9]* | 0) die "PODS must be a positive integer, got '$PODS'" ;; esac
case $ANNOTATION_BYTES in '' | *[!0-9]*) die "ANNOTATION_BYTES must be an integer, got '$ANNOTATION_BYTES'" ;; esac
command -v python3 >/dev/null || die "missing python3"
command -v curl >/dev/null || die "missing curl"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$SCRIPT_DIR/bench-lib.sh"
make_workdir podflow-pod-index

build_release
unset PODFLOW_BIN
clear_podflow_env

python3 "$REPO/it/py/fake_apiserver.py" --pods "$PODS" --annotation-bytes "$ANNOTATION_BYTES" \
  --nodes 100 >"$WORK/port" 2>"$WORK/api.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
PORT=$(head -1 "$WORK/port")
[ -n "$PORT" ] || die "the fake API server did not start: $(cat "$WORK/api.err")"
API=http://127.0.0.1:$PORT
write_kubeconfig "$API" "$WORK/kubeconfig"

# Node mode with the pod watch as its only work: no namespace directory, no process scan,
# no host interfaces.
env -u RUST_LOG -u KUBERNETES_SERVICE_HOST KUBECONFIG="$WORK/kubeconfig" CI=true \
  PODFLOW_K8S__NODE_NAME=node-0 PODFLOW_NODE__NETNS_DIRS='[]' \
  PODFLOW_NODE__SCAN_PROCESSES=false PODFLOW_NODE__CAPTURE_HOST=false \
  PODFLOW_TELEMETRY__LISTEN= PODFLOW_LOG__FORMAT=text \
  "$PODFLOW" --mode node >/dev/null 2>"$WORK/podflow.err" &
PF=$!
PIDS+=("$PF")

# wait_log TEXT: waits (up to 10 minutes) for podflow's log line containing TEXT; prints
# its pods= count and the seconds waited.
wait_log() {
  local t0=$SECONDS line
  while :; do
    line=$(grep -s -m1 "$1" "$WORK/podflow.err" || true)
    [ -n "$line" ] && break
    kill -0 "$PF" 2>/dev/null || die "podflow exited: $(tail -5 "$WORK/podflow.err")"
    [ $((SECONDS - t0)) -lt 600 ] || die "no '$1' within 10 minutes: $(tail -5 "$WORK/podflow.err")"
    sleep 0.1
  done
  echo "$(sed -n 's/.* pods=\([0-9]*\).*/\1/p' <<<"$line") $((SECONDS - t0))"
}
kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$PF/status"; }
stat() { curl -sf "$API/control/stats" | python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }

read -r INDEXED SECS < <(wait_log "pod index synced")
PEAK1=$(kib VmHWM) NOW1=$(kib VmRSS)
PODS1=$(stat pods) BYTES1=$(stat bytes) PAGES1=$(stat pages)
curl -sf -X POST "$API/control/expire" >/dev/null || die "the fake API server did not expire its watches"
read -r REINDEXED RESECS < <(wait_log "pod index relisted")
PEAK2=$(kib VmHWM) NOW2=$(kib VmRSS)
PODS2=$(stat pods) BYTES2=$(stat bytes)

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
pct() { awk -v k="$1" -v l="$LIMIT_MIB" 'BEGIN { printf "%.0f%%", 100 * k / 1024 / l }'; }
echo "cluster: $PODS pods over 100 nodes, $ANNOTATION_BYTES bytes of annotations each; podflow on node-0"
echo "first list: $PODS1 pods, $BYTES1 bytes in $PAGES1 pages served; $INDEXED pods in the index after ${SECS} s"
echo "  peak RSS $(mib "$PEAK1") MiB ($(pct "$PEAK1") of the ${LIMIT_MIB} MiB limit), RSS now $(mib "$NOW1") MiB"
echo "relist after 410 Gone: $((PODS2 - PODS1)) pods, $((BYTES2 - BYTES1)) bytes served; $REINDEXED pods in the index after ${RESECS} s"
echo "  peak RSS $(mib "$PEAK2") MiB ($(pct "$PEAK2") of the ${LIMIT_MIB} MiB limit), RSS now $(mib "$NOW2") MiB"
if [ "$PEAK2" -lt $((LIMIT_MIB * 1024 / 2)) ]; then
  echo "peak RSS under half the chart's limit: OK"
else
  echo "peak RSS under half the chart's limit: MISSED"
  exit 3
fi
