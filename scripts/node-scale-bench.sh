#!/usr/bin/env bash
# Node mode at a node's scale: 110 pod namespaces (the kubelet's default maximum of pods
# per node) replayed at once, captured by one `podflow --mode node`, next to one tcpdump
# per pod. It is scripts/node-bench.sh with settings for that size, and a verdict on the
# goals: at most 4 capture threads, at most 128 MiB peak RSS, every frame accounted for
# (captured + kernel drops = sent) and at least 99.9% captured.
#
# Usage:  scripts/node-scale-bench.sh        as root, e.g.
#         sudo env "PATH=$PATH" scripts/node-scale-bench.sh
#   N      pod namespaces (default 110)
#   SCALE  --scale of the capture replayed into each pod (default 0.01: 15,193 frames)
#   LOOPS  times each replay sends it (default 1)
#   RATE   packets/s per pod (default 2000; 0 = top speed): 110 pods at 2,000 pps are
#          220,000 frames/s through the node, what two cores can replay
#   PEER   tcpdump (default) or none
# Every other setting of scripts/node-bench.sh (MTU, PORT, COLLECTOR, ...) passes through.
#
# Reads node-bench's report, prints it, then one line per goal with OK or MISSED; exits 2
# when node-bench failed, 3 when a goal was missed.
set -euo pipefail

export N=${N:-110} SCALE=${SCALE:-0.01} LOOPS=${LOOPS:-1} RATE=${RATE:-2000} PEER=${PEER:-tcpdump}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(mktemp /tmp/podflow-node-scale.XXXXXX)
trap 'rm -f "$OUT"' EXIT

status=0
"$SCRIPT_DIR/node-bench.sh" "$N" | tee "$OUT" || status=$?
[ "$status" -eq 0 ] || { echo "node-scale-bench: node-bench.sh failed (status $status)" >&2; exit 2; }

echo
awk '
  /^# podflow:/ { for (i = 1; i <= NF; i++) if ($i == "capture" && $(i + 1) ~ /^threads/) threads = $(i - 1) }
  $1 == "podflow" && $2 ~ /^[0-9]+$/ { sent = $2; capt = $4; drops = $5; rss = $10 }
  END {
    bad = 0
    ok = threads != "" && threads <= 4; bad += !ok
    printf "capture threads: %s (goal <= 4): %s\n", threads, ok ? "OK" : "MISSED"
    ok = rss != "" && rss <= 128; bad += !ok
    printf "peak RSS: %s MB (goal <= 128 MiB): %s\n", rss, ok ? "OK" : "MISSED"
    acct = sent > 0 ? 100 * (capt + drops) / sent : 0
    ok = acct >= 100; bad += !ok
    printf "accounted: %.3f%% (goal 100%%): %s\n", acct, ok ? "OK" : "MISSED"
    pct = sent > 0 ? 100 * capt / sent : 0
    ok = pct >= 99.9; bad += !ok
    printf "captured: %.3f%% (goal >= 99.9%%): %s\n", pct, ok ? "OK" : "MISSED"
    exit bad > 0 ? 3 : 0
  }' "$OUT"
