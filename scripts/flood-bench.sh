#!/usr/bin/env bash
# Flood bench: peak memory of podflow metering a SYN flood with one steady conversation
# through it (scripts/syn-flood.py), with the default flow table (flow.max_flows 262,144)
# unless set otherwise.
#
# Usage:  scripts/flood-bench.sh            (a capture file, no root)
#         LIVE=1 scripts/flood-bench.sh     (live, in network namespaces; root)
#   SYNS         distinct unanswered SYNs in the capture (default 2000000).
#   STEADY_EVERY one exchange of the steady conversation after every this many SYNs
#                (default 100000; the live mode uses none: its conversation is real).
#   PODFLOW_BIN  the podflow binary to measure (default: cargo build --release).
#   BENCH_DIR    where the generated capture is kept for the next run (/tmp/podflow-bench).
#
# File mode: for each collector, file (an IPFIX file) and stdout (JSON lines to `wc -l`),
# one run under /usr/bin/time -v prints: wall seconds, peak RSS, records written,
# evictions (of which noise), and the steady conversation's records with their packets
# against the capture's own count. Needs python3, /usr/bin/time; no root, no network.
#
# Live mode: a pod namespace (eth0) and a peer namespace (peer0) joined by a veth. podflow
# runs as a sidecar in the pod namespace with every default (ring of 4 MiB, 262,144 flows)
# but its collector, `podflow collect` over TCP in the peer namespace (its traffic crosses
# the veth and is left out of capture, export.exclude_export). A TCP connection from the
# pod to the peer sends a line every 100 ms while tcpreplay sends the SYNs at top speed
# out of peer0; then the connection is closed, podflow gets SIGTERM, and the run prints
# frames sent and received, podflow's totals line, its peak RSS (/usr/bin/time -v) and
# the connection's records at the collector against what tcpdump saw on eth0 (tshark).
# Needs root, iproute2, tcpreplay, tcpdump, tshark, socat, curl, python3, /usr/bin/time.
set -euo pipefail

SYNS=${SYNS:-2000000}
STEADY_EVERY=${STEADY_EVERY:-100000}
BENCH_DIR=${BENCH_DIR:-/tmp/podflow-bench}

die() { echo "flood-bench: $*" >&2; exit 1; }
note() { echo "flood-bench: $*" >&2; }
LIVE=${LIVE:-0}
case $LIVE in 0 | 1) ;; *) die "LIVE must be 0 or 1, got '$LIVE'" ;; esac
[ "$LIVE" = 0 ] || STEADY_EVERY=0
case $SYNS in '' | *[!0-9]* | 0) die "SYNS must be a positive integer, got '$SYNS'" ;; esac
case $STEADY_EVERY in '' | *[!0-9]*) die "STEADY_EVERY must be an integer" ;; esac
[ "$STEADY_EVERY" != 0 ] || [ "$LIVE" = 1 ] || die "STEADY_EVERY must be positive"
[ "$LIVE" = 0 ] || [ "$(id -u)" = 0 ] || die "LIVE=1 needs root (network namespaces)"
[ -x /usr/bin/time ] || die "missing /usr/bin/time (apt-get install -y time)"
command -v python3 >/dev/null || die "missing python3"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
if [ -z "${PODFLOW_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release --quiet --bin podflow)
  PODFLOW_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/podflow
fi
[ -x "$PODFLOW_BIN" ] || die "no podflow binary at $PODFLOW_BIN"

mkdir -p "$BENCH_DIR"
PCAP=$BENCH_DIR/syn-flood-$SYNS-$STEADY_EVERY.pcap
if [ ! -f "$PCAP.steady" ]; then
  python3 "$SCRIPT_DIR/syn-flood.py" "$PCAP" "$SYNS" "$STEADY_EVERY" >"$PCAP.steady.tmp"
  mv "$PCAP.steady.tmp" "$PCAP.steady"
fi
if [ "$LIVE" = 1 ]; then
  # shellcheck source=scripts/flood-live.sh
  . "$SCRIPT_DIR/flood-live.sh"
  exit
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "capture: $SYNS SYNs, $(cat "$PCAP.steady") in the steady conversation"
printf '%-7s %8s %8s %9s %9s %9s  %s\n' collector seconds rss_MB records evicted noise steady
for collector in file stdout; do
  target=stdout
  [ $collector = file ] && target="file:$WORK/out.ipfix"
  env -u RUST_LOG -u PODFLOW_BIN PODFLOW_CAPTURE__PCAP="$PCAP" PODFLOW_EXPORT__COLLECTOR="$target" \
    PODFLOW_K8S__LABELS_FILE=/nonexistent PODFLOW_K8S__ANNOTATIONS_FILE=/nonexistent \
    PODFLOW_LOG__FORMAT=text CI=true \
    /usr/bin/time -v -o "$WORK/time" "$PODFLOW_BIN" --mode sidecar 2>"$WORK/err" >"$WORK/out" ||
    die "podflow failed ($collector): $(tail -3 "$WORK/err")"
  done_line=$(grep ' done ' "$WORK/err" | tail -1)
  val() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$done_line"; }
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.1f", $2 / 1024}' "$WORK/time")
  secs=$(awk -F': ' '/Elapsed/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$WORK/time")
  steady=-
  if [ $collector = stdout ]; then
    steady=$(grep '"sourceIPv4Address":"10.1.0.1","destinationIPv4Address":"10.1.0.2"' "$WORK/out" |
      python3 -c 'import json, sys
recs = [json.loads(l) for l in sys.stdin]
n = sum(r["packetDeltaCount"] + r.get("reversePacketDeltaCount", 0) for r in recs)
print(f"{len(recs)} record(s), packets={n}")')
  fi
  printf '%-7s %8s %8s %9s %9s %9s  %s\n' $collector "$secs" "$rss" "$(val records)" \
    "$(val evicted)" "$(val evicted_noise)" "$steady"
done
