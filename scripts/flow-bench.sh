#!/usr/bin/env bash
# Flow-heavy bench: a million one-packet UDP flows (a SYN flood or a port scan looks like
# this) metered from a file by podflow and by softflowd in the same run, and the flow
# table's memory per live flow.
#
# Usage:  scripts/flow-bench.sh
#   FLOWS      flows in the capture (default 1000000), one IPv4 UDP packet each, every
#              one with its own 5-tuple, all within one second: no flow times out, every
#              one is held until the end of the file and then ended at once.
#   RUNS       runs per tool (default 3); the fastest wall time of each is reported.
#   PORT       first of two loopback UDP ports for the collectors (default 19981, 19982).
#   BENCH_DIR  where the generated capture is kept for the next run (/tmp/podflow-bench).
#
# What happens:
#   1. speed and peak memory: per run and per tool (runs alternate), a fresh nfcapd on
#      127.0.0.1 (64 MB socket buffer), the tool meters the file and exports IPFIX over
#      UDP to it, `nfdump -I` counts what arrived.
#        podflow    capture.pcap, flow.max_flows = FLOWS, flow.biflow = false (softflowd's
#                   one record per direction; with one packet per flow it is the same)
#        softflowd  -r FILE -v 10 -m FLOWS -d
#   2. table memory per live flow: podflow reads the capture from a FIFO that stays open
#      after the last frame, so that every flow is live and none is exported yet; once
#      its resident memory has stopped growing (VmRSS still for 1 s), that is read, then
#      the FIFO is closed. The same with a capture of no frame gives the baseline:
#      (RSS with FLOWS flows - RSS with none) / FLOWS is the table's memory per flow.
#
# How to read the report:
#   seconds  wall time of the process (best of RUNS): start, reading, ending every flow,
#            exporting every record.
#   kflows/s FLOWS / seconds.
#   records  flow records at the collector (last run); FLOWS when nothing was lost.
#   rss_MB   peak resident memory (/usr/bin/time %M), best run's.
#   The ratio lines are podflow over softflowd: speed (>1: podflow faster) and peak RSS
#   (<1: podflow smaller).
#
# Needs: cargo, git, python3, softflowd, nfcapd + nfdump, /usr/bin/time. Root only to
# raise net.core.rmem_max (a failure is reported and ignored). Only loopback traffic.
set -euo pipefail

FLOWS=${FLOWS:-1000000}
RUNS=${RUNS:-3}
PORT=${PORT:-19981}
BENCH_DIR=${BENCH_DIR:-/tmp/podflow-bench}
RCVBUF=67108864

die() { echo "flow-bench: $*" >&2; exit 1; }
note() { echo "flow-bench: $*" >&2; }

case $FLOWS in '' | *[!0-9]* | 0) die "FLOWS must be a positive integer, got '$FLOWS'" ;; esac
case $RUNS in '' | *[!0-9]* | 0) die "RUNS must be a positive integer, got '$RUNS'" ;; esac
case $PORT in '' | *[!0-9]*) die "PORT must be a number, got '$PORT'" ;; esac
[ $# -eq 0 ] || die "usage: scripts/flow-bench.sh (settings in the environment)"

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (apt-get install -y $2)"); }
need softflowd softflowd
need nfcapd nfdump
need nfdump nfdump
need python3 python3
need git git
need cargo "rustup / cargo"
need ss iproute2
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (apt-get install -y time)")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'flow-bench: missing tool: %s\n' "${missing[@]}" >&2
  die "install them first"
fi

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null) ||
  die "$SCRIPT_DIR is not inside a git checkout of podflow"
# shellcheck source=scripts/bench-lib.sh
. "$SCRIPT_DIR/bench-lib.sh"
make_workdir podflow-flow-bench

# --- the captures ------------------------------------------------------------------
# one_packet_flows N OUT: N IPv4 UDP frames, each its own flow, 1 us apart (classic pcap,
# Ethernet). Kept in BENCH_DIR; a finished file has OUT.done beside it.
one_packet_flows() {
  if [ -f "$2" ] && [ -f "$2.done" ]; then
    note "reusing $2"
    return
  fi
  note "generating $2 ($1 one-packet flows)"
  mkdir -p "$(dirname "$2")"
  rm -f "$2.done"
  python3 - "$1" "$2" <<'PY'
import struct, sys
n, out = int(sys.argv[1]), sys.argv[2]
eth = bytes.fromhex("020000000002" "020000000001" "0800")
payload = b"\x00" * 18
def csum(h):
    s = sum(struct.unpack("!10H", h))
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
t0 = 1_700_000_000
with open(out, "wb", buffering=1 << 20) as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        # source 10.(i>>16).(i>>8).(i) spread over 10.0.0.0/8, ports from i too: every
        # 5-tuple differs.
        src = 0x0a000000 | (i & 0xffffff)
        dst = 0xc0a80001
        sport = 1024 + (i % 60000)
        dport = 53 + (i // 60000) % 1000
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        frame = eth + ip + udp
        ts = t0 * 1_000_000 + i
        f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)))
        f.write(frame)
PY
  touch "$2.done"
}
PCAP="$(readlink -f "$BENCH_DIR")/udp-flows-$FLOWS.pcap"
EMPTY="$(readlink -f "$BENCH_DIR")/udp-flows-0.pcap"
one_packet_flows "$FLOWS" "$PCAP"
one_packet_flows 0 "$EMPTY"

build_release
clear_podflow_env

# --- collector (start_collector and stop_collector are bench-lib.sh's) --------------
sysctl -qw net.core.rmem_max=$RCVBUF 2>/dev/null ||
  note "could not raise net.core.rmem_max; nfcapd may drop UDP"
run_podflow() { # port log
  env PODFLOW_CAPTURE__PCAP="$PCAP" \
    PODFLOW_EXPORT__COLLECTOR="udp://127.0.0.1:$1" \
    PODFLOW_FLOW__MAX_FLOWS="$FLOWS" \
    PODFLOW_FLOW__BIFLOW=false \
    NO_COLOR=1 \
    /usr/bin/time -f "%e %M" -o "$2.time" "$PODFLOW" --mode sidecar > "$2" 2>&1
}
run_softflowd() { # port log
  /usr/bin/time -f "%e %M" -o "$2.time" \
    softflowd -r "$PCAP" -n "127.0.0.1:$1" -v 10 -d -m "$FLOWS" -A milli \
    -p "$WORK/softflowd.pid" > "$2" 2>&1
}

TOOLS=(podflow softflowd)
declare -A TOOL_PORT=([podflow]=$PORT [softflowd]=$((PORT + 1)))
declare -A LAST
cat "$PCAP" > /dev/null
note "metering $PCAP: $RUNS run(s) per tool"
for run in $(seq "$RUNS"); do
  for tool in "${TOOLS[@]}"; do
    port=${TOOL_PORT[$tool]}
    dir="$WORK/$tool.$run"
    log="$WORK/$tool.$run.log"
    start_collector "$dir" "$port"
    "run_$tool" "$port" "$log" || { tail -20 "$log" >&2; die "$tool failed on run $run"; }
    stop_collector "$port"
    read -r secs rss < "$log.time"
    echo "$secs $rss" >> "$WORK/$tool.times"
    read -r LAST[$tool] _ _ < <(collector_totals "$dir")
    note "$tool run $run: ${secs}s, peak RSS $((rss / 1024)) MB, ${LAST[$tool]} records at the collector"
    rm -rf "$dir"
  done
done

# --- table memory per live flow ----------------------------------------------------
# rss_with_flows FILE: podflow's VmRSS (kB) once it has read FILE from a FIFO kept open.
rss_with_flows() {
  local fifo="$WORK/feed" pid feeder rss last="" still=0 _
  rm -f "$fifo"
  mkfifo "$fifo"
  env PODFLOW_CAPTURE__PCAP="$fifo" PODFLOW_EXPORT__COLLECTOR="file:$WORK/rss.ipfix" \
    PODFLOW_FLOW__MAX_FLOWS="$FLOWS" PODFLOW_FLOW__BIFLOW=false NO_COLOR=1 \
    "$PODFLOW" --mode sidecar > "$WORK/rss.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  # The feeder writes the file, then holds the FIFO open until it is killed.
  { cat "$1"; exec sleep 600; } > "$fifo" &
  feeder=$!
  PIDS+=("$feeder")
  for _ in $(seq 600); do
    sleep 0.25
    rss=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$pid/status" 2>/dev/null || echo "")
    [ -n "$rss" ] || die "podflow ended while reading the FIFO: $(tail -3 "$WORK/rss.log")"
    if [ "$rss" = "$last" ]; then
      still=$((still + 1))
      [ "$still" -lt 4 ] || break
    else
      still=0
    fi
    last=$rss
  done
  echo "$rss"
  kill "$feeder" 2>/dev/null || true
  wait "$feeder" 2>/dev/null || true
  forget_pid "$feeder"
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}
note "table memory: RSS with $FLOWS live flows, and with none"
RSS_N=$(rss_with_flows "$PCAP")
RSS_0=$(rss_with_flows "$EMPTY")

# --- report ------------------------------------------------------------------------
best() { sort -n "$WORK/$1.times" | head -1; }
echo
printf '# capture: %s (%s one-packet IPv4 UDP flows)\n' "$PCAP" "$FLOWS"
printf '# host: %s, %s cores; runs per tool: %s (best wall time shown)\n' "$(hostname)" "$(nproc)" "$RUNS"
printf '%-10s %8s %9s %9s %8s\n' tool seconds kflows/s records rss_MB
declare -A SECS RSS
for tool in "${TOOLS[@]}"; do
  read -r secs rss < <(best "$tool")
  SECS[$tool]=$secs
  RSS[$tool]=$rss
  awk -v t="$tool" -v s="$secs" -v n="$FLOWS" -v r="$rss" -v c="${LAST[$tool]}" 'BEGIN{
    printf "%-10s %8.2f %9.0f %9s %8.1f\n", t, s, (s > 0 ? n / s / 1000 : 0), c, r / 1024 }'
done
echo
awk -v a="${SECS[podflow]}" -v b="${SECS[softflowd]}" -v ra="${RSS[podflow]}" -v rb="${RSS[softflowd]}" 'BEGIN{
  printf "podflow/softflowd speed: %s\n", (a > 0 ? sprintf("%.2fx", b / a) : "n/a")
  printf "podflow/softflowd peak RSS: %s\n", (rb > 0 ? sprintf("%.2fx", ra / rb) : "n/a") }'
awk -v n="$RSS_N" -v z="$RSS_0" -v f="$FLOWS" 'BEGIN{
  printf "podflow RSS with %d live flows: %.1f MB, with none: %.1f MB; table memory per live flow: %.0f B\n",
    f, n / 1024, z / 1024, (n - z) * 1024 / f }'
for tool in "${TOOLS[@]}"; do
  [ "${LAST[$tool]}" = "$FLOWS" ] || echo "$tool: ${LAST[$tool]} records at the collector, not $FLOWS (collector drops?)"
done
