#!/usr/bin/env bash
# Throughput bench: podflow vs softflowd metering the same pcap file offline.
#
# Usage:  scripts/bench.sh [PCAP]
#   PCAP       capture to meter. Without it, the 1.6M-packet synthetic capture is made by
#              scripts/gen-flows.py --seed 1 (about 10 s, 1.3 GB) and kept in $BENCH_DIR
#              (default /tmp/podflow-bench) for the next run.
#   RUNS       runs per tool (default 3); the fastest wall time of each tool is reported.
#   BIFLOW     podflow's flow.biflow for the bench (default true, podflow's own default).
#              nfdump 1.7.1 adds RFC 5103 reverse counters into its Packets/Bytes totals
#              (not into its per-protocol lines), so the totals check works either way;
#              set BIFLOW=false to have one record per direction, like softflowd.
#   PORT       first of two loopback UDP ports for the collectors (default 19971, 19972).
#
# What happens, per run and per tool (runs of the two tools alternate):
#   a fresh nfcapd listens on 127.0.0.1 with a 64 MB socket buffer, the tool reads the
#   pcap and exports IPFIX over UDP to it, nfcapd drains its socket and is stopped, and
#   `nfdump -R DIR -I` gives the flows, packets and bytes that reached the collector.
#   podflow: flow timeouts left at their defaults, flow.max_flows=1000000.
#   softflowd: -v 10 -m 1000000 (a table that never fills), its default timeouts.
#
# How to read the table:
#   seconds  wall time of the metering process, best of RUNS (/usr/bin/time %e). It
#            includes start-up, reading the whole file and exporting every record.
#   Mpps     frames in the pcap / seconds (ARP and other non-IP frames included).
#   flows    flow records at the collector (last run). podflow with biflow=true sends one
#            record per biflow, softflowd one per direction; active timeout (60 s by
#            default) splits long flows, so podflow can have a few more than the truth.
#   packets, bytes  totals at the collector (last run); bytes are IP bytes.
#   rss_MB   peak resident memory of the metering process (/usr/bin/time %M).
#   check    collector totals vs the truth file (<pcap>.truth.json): sum of
#            ip_packets_by_proto and ip_bytes_total. Every run is checked.
#   The ratio line is podflow packets/s over softflowd packets/s (>1: podflow faster).
#   podflow exports as fast as it reads: if the collector dropped UDP datagrams (the
#   "collector UDP drops" note), the counts are spoiled by the collector, not the meter.
#
# Needs: cargo, git, python3, softflowd, nfcapd + nfdump, /usr/bin/time. Root is only
# needed to raise net.core.rmem_max (a failure is reported and ignored). Only loopback
# traffic is sent.
set -euo pipefail

RUNS=${RUNS:-3}
BIFLOW=${BIFLOW:-true}
PORT=${PORT:-19971}
BENCH_DIR=${BENCH_DIR:-/tmp/podflow-bench}
MAX_FLOWS=1000000
RCVBUF=67108864

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

case $RUNS in '' | *[!0-9]* | 0) die "RUNS must be a positive integer, got '$RUNS'" ;; esac
case $BIFLOW in true | false) ;; *) die "BIFLOW must be true or false, got '$BIFLOW'" ;; esac
case $PORT in '' | *[!0-9]*) die "PORT must be a number, got '$PORT'" ;; esac
[ $# -le 1 ] || die "usage: scripts/bench.sh [PCAP]"

# --- tools -------------------------------------------------------------------------
missing=()
need() { # command apt-package
  command -v "$1" >/dev/null 2>&1 || missing+=("$1 (apt-get install -y $2)")
}
need softflowd softflowd
need nfcapd nfdump
need nfdump nfdump
need python3 python3
need git git
need cargo "rustup / cargo"
need ss iproute2
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (apt-get install -y time)")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'bench: missing tool: %s\n' "${missing[@]}" >&2
  die "install them first, e.g. apt-get install -y softflowd nfdump time"
fi

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null) ||
  die "$SCRIPT_DIR is not inside a git checkout of podflow"
# shellcheck source=scripts/bench-lib.sh
. "$SCRIPT_DIR/bench-lib.sh"

# --- temp space and cleanup --------------------------------------------------------
make_workdir podflow-bench-run

# --- capture file and its truth ----------------------------------------------------
if [ $# -eq 1 ]; then
  PCAP=$(readlink -f "$1") || die "cannot resolve $1"
  [ -r "$PCAP" ] || die "cannot read $PCAP"
else
  PCAP=$(generated_pcap flows-1.6M.pcap)
fi
TRUTH="$PCAP.truth.json"

# --- build -------------------------------------------------------------------------
build_release

# Reads "frames ip_packets ip_bytes uniflows biflows" from the truth file.
truth_fields() {
  python3 - "$1" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
print(t["frames"], sum(t["ip_packets_by_proto"].values()), t["ip_bytes_total"],
      t.get("uni_flows_5tuple", "?"), t.get("bi_flows", "?"))
PY
}


HAVE_TRUTH=false
if [ -f "$TRUTH" ]; then
  read -r FRAMES T_PKTS T_BYTES T_UNI T_BI < <(truth_fields "$TRUTH") ||
    die "cannot read $TRUTH"
  HAVE_TRUTH=true
elif command -v capinfos >/dev/null 2>&1; then
  FRAMES=$(capinfos -c -M -T -r "$PCAP" 2>/dev/null | awk -F'\t' '{print $2}')
else
  read -r FRAMES _ < <(pcap_shape "$PCAP")
  [ "$FRAMES" != "?" ] || FRAMES=""
fi
[ -n "${FRAMES:-}" ] || { note "cannot count the frames of $PCAP: Mpps will be n/a"; FRAMES=0; }

# --- collector ---------------------------------------------------------------------
if sysctl -qw net.core.rmem_max=$RCVBUF 2>/dev/null; then :; else
  note "could not raise net.core.rmem_max (now $(sysctl -n net.core.rmem_max 2>/dev/null || echo '?')); nfcapd may drop UDP"
fi

# --- the runs ----------------------------------------------------------------------
clear_podflow_env

run_podflow() { # port log
  env PODFLOW_CAPTURE__PCAP="$PCAP" \
    PODFLOW_EXPORT__COLLECTOR="udp://127.0.0.1:$1" \
    PODFLOW_FLOW__MAX_FLOWS=$MAX_FLOWS \
    PODFLOW_FLOW__BIFLOW="$BIFLOW" \
    NO_COLOR=1 \
    /usr/bin/time -f "%e %M" -o "$2.time" "$PODFLOW" --mode sidecar > "$2" 2>&1
}
run_softflowd() { # port log
  # No -c: with -r the control socket is not needed.
  /usr/bin/time -f "%e %M" -o "$2.time" \
    softflowd -r "$PCAP" -n "127.0.0.1:$1" -v 10 -d -m $MAX_FLOWS -A milli \
    -p "$WORK/softflowd.pid" > "$2" 2>&1
}

TOOLS=(podflow softflowd)
declare -A TOOL_PORT=([podflow]=$PORT [softflowd]=$((PORT + 1)))
declare -A BAD_RUNS=([podflow]=0 [softflowd]=0) DROPS=([podflow]=0 [softflowd]=0)
declare -A LAST

cat "$PCAP" > /dev/null # page cache warm for every run
note "metering $PCAP: $RUNS run(s) per tool, podflow flow.biflow=$BIFLOW"
for run in $(seq "$RUNS"); do
  for tool in "${TOOLS[@]}"; do
    port=${TOOL_PORT[$tool]}
    dir="$WORK/$tool.$run"
    log="$WORK/$tool.$run.log"
    start_collector "$dir" "$port"
    if ! "run_$tool" "$port" "$log"; then
      tail -20 "$log" >&2
      die "$tool failed on run $run (log above)"
    fi
    stop_collector "$port"
    DROPS[$tool]=$((DROPS[$tool] + COLLECTOR_DROPS))
    read -r secs rss < "$log.time"
    echo "$secs $rss" >> "$WORK/$tool.times"
    read -r f p b < <(collector_totals "$dir")
    LAST[$tool]="$f $p $b"
    if $HAVE_TRUTH && { [ "$p" != "$T_PKTS" ] || [ "$b" != "$T_BYTES" ]; }; then
      BAD_RUNS[$tool]=$((BAD_RUNS[$tool] + 1))
      note "$tool run $run: collector has $p packets / $b bytes, truth $T_PKTS / $T_BYTES"
    fi
    note "$tool run $run: ${secs}s, $f flows, $p packets, $b bytes at the collector"
    rm -rf "$dir"
  done
done

# --- report ------------------------------------------------------------------------
best() { sort -n "$WORK/$1.times" | head -1; }
all_secs() { awk '{printf "%s%s", sep, $1; sep=" "}' "$WORK/$1.times"; }

echo
printf '# pcap: %s (%s frames)\n' "$PCAP" "$FRAMES"
if $HAVE_TRUTH; then
  printf '# truth: %s IP packets, %s IP bytes, %s uniflows, %s biflows\n' \
    "$T_PKTS" "$T_BYTES" "$T_UNI" "$T_BI"
else
  printf '# truth: none (%s not found); totals are not checked\n' "$TRUTH"
fi
printf '# host: %s, %s cores; runs per tool: %s (best wall time shown)\n' "$(hostname)" "$(nproc)" "$RUNS"
if [ "$BIFLOW" = true ]; then
  printf '# podflow records: biflows (flow.biflow=true, RFC 5103 reverse counters)\n'
else
  printf '# podflow records: one per direction (flow.biflow=false)\n'
fi
printf '# softflowd records: one per direction\n'
printf '%-10s %8s %7s %8s %10s %12s %7s  %s\n' tool seconds Mpps flows packets bytes rss_MB check
declare -A SECS
for tool in "${TOOLS[@]}"; do
  read -r secs rss < <(best "$tool")
  SECS[$tool]=$secs
  read -r f p b <<< "${LAST[$tool]}"
  if ! $HAVE_TRUTH; then check="n/a"
  elif [ "${BAD_RUNS[$tool]}" -eq 0 ]; then check="OK"
  else check="MISMATCH(${BAD_RUNS[$tool]}/$RUNS runs)"; fi
  awk -v t="$tool" -v s="$secs" -v n="$FRAMES" -v f="$f" -v p="$p" -v b="$b" -v r="$rss" -v c="$check" 'BEGIN{
    mpps = (s > 0 && n > 0) ? sprintf("%.3f", n / s / 1e6) : "n/a"
    printf "%-10s %8.2f %7s %8s %10s %12s %7.1f  %s\n", t, s, mpps, f, p, b, r / 1024, c }'
done
echo
awk -v a="${SECS[podflow]}" -v b="${SECS[softflowd]}" 'BEGIN{
  if (a > 0 && b > 0) printf "podflow/softflowd packets/s: %.2fx\n", b / a
  else print "podflow/softflowd packets/s: n/a (a wall time rounds to 0 s; use a larger pcap)" }'
if $HAVE_TRUTH; then
  read -r f p b <<< "${LAST[podflow]}"
  if [ "${BAD_RUNS[podflow]}" -eq 0 ]; then
    printf 'podflow totals at the collector vs truth: OK (packets %s = %s, bytes %s = %s, all %s runs)\n' \
      "$p" "$T_PKTS" "$b" "$T_BYTES" "$RUNS"
  else
    printf 'podflow totals at the collector vs truth: MISMATCH in %s of %s runs (last run: packets %s vs %s, bytes %s vs %s)\n' \
      "${BAD_RUNS[podflow]}" "$RUNS" "$p" "$T_PKTS" "$b" "$T_BYTES"
  fi
fi
for tool in "${TOOLS[@]}"; do
  printf '%s: wall seconds per run: %s; collector UDP drops: %s\n' "$tool" "$(all_secs "$tool")" "${DROPS[$tool]}"
done
# grep -c exits 1 when it counts nothing: not a failure here.
warns=$({ grep -hc -E 'WARN|ERROR' "$WORK"/podflow.*.log || true; } | awk '{s+=$1} END{print s+0}')
if [ "$warns" -gt 0 ]; then
  echo "podflow logged $warns warning/error line(s); last run's:"
  grep -h -E 'WARN|ERROR' "$WORK/podflow.$RUNS.log" | tail -5 | sed 's/^/  /'
fi
if $HAVE_TRUTH && [ "${BAD_RUNS[podflow]}" -ne 0 ]; then
  exit 2
fi
