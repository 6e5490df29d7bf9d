#!/usr/bin/env bash
# Live-capture bench: how much of a fast replay podflow captures, next to tcpdump.
#
# Usage:  scripts/capture-bench.sh [PCAP]       as root, e.g.
#         sudo env "PATH=$PATH" scripts/capture-bench.sh   (sudo's PATH may lack cargo)
#   PCAP       capture to replay. Without it, the 1.6M-frame synthetic capture is made by
#              scripts/gen-flows.py --seed 1 (about 10 s, 1.3 GB) and kept in $BENCH_DIR
#              (default /tmp/podflow-bench), as scripts/bench.sh does.
#   RUNS       runs per tool at top speed (default 3); runs of the two tools alternate.
#   RATES      optional replay rates in packets/s, e.g. "100000 200000": one more run per
#              tool at each rate, with the replay cut to REPLAY_SECS seconds of frames.
#   REPLAY_SECS  longest replay (default 15 s); tcpreplay is interrupted after it.
#   MTU        MTU of the veth pair (default 9000); tcpreplay cannot send a frame larger
#              than the MTU plus its Ethernet header.
#   BENCH_PODFLOW_ENV  settings for podflow in this run, as PODFLOW_KEY=VALUE words, e.g.
#              "PODFLOW_FLOW__NPM=false PODFLOW_FLOW__L7=false" (PODFLOW_* variables of the
#              environment are ignored, so that none changes what is measured unseen).
#
# What happens, per run and per tool: a fresh pair of network namespaces is made, "pod"
# (interface eth0, 10.252.0.1/24, fd00:252::1/64) and "peer" (interface peer0, .2 and ::2),
# joined by a veth pair. The tool captures on eth0 in the pod namespace:
#   podflow  `podflow --mode sidecar` with live capture on eth0 (JSON logs, IPFIX export
#            to a file in the temp dir so that exporting adds no traffic, telemetry on
#            127.0.0.1:9477 inside the namespace), stopped with SIGTERM after the replay;
#            (file:/dev/null does not do: podflow's fdatasync of it fails with EINVAL)
#   tcpdump  `tcpdump -p -i eth0 -w /dev/null`, stopped with SIGINT after the replay.
# Then `tcpreplay --topspeed -i peer0 PCAP` runs in the peer namespace, so that every frame
# arrives on eth0 as received traffic. The namespaces are deleted after each run, and on
# exit in any case.
#
# How to read the tables (one per tool, one row per run):
#   sent       frames tcpreplay sent ("Successful packets").
#   received   RX packets of eth0 in the pod namespace (`ip -s link`), counted from just
#              before the tool started to just before it was stopped.
#   captured   frames the tool read. podflow: packets of its final `done` log line (frames
#              metered + frames ignored as not IP); tcpdump: "packets captured".
#   drops      frames the kernel dropped because the tool did not read them in time.
#              podflow: kernel_drops (PACKET_STATISTICS); tcpdump: "dropped by kernel".
#   capt%      captured / received: the share of the traffic that was really seen.
#   acct%      (captured + drops) / received: the share the tool knows about. Below 100%,
#              frames went missing without being counted as drops.
#   cpu_s      user + system CPU seconds of the tool (/proc/PID/stat), from just before
#              the replay to just before the stop signal: the cost of capturing the replay.
#   us/frame   cpu_s per captured frame, in microseconds.
#   pps        replay rate reported by tcpreplay ("Rated: ... pps").
# Both tools see the frames the pod itself sends on eth0 too (not in "received"): a few
# IPv6 control frames at most, so a share can read a hair above 100%; they are reported
# when there are any. The summary gives, per tool, the best and worst acct% and the
# highest replay rate that was fully captured (no drops, captured >= received).
# tcpreplay and the capturing tool share the host's CPUs: on a machine with few cores the
# replay rate and the share captured depend on each other.
#
# Needs: root, cargo, git, python3, tcpreplay, tcpdump, ip (iproute2). Installs
# nothing. Only traffic inside the two namespaces is sent.
set -euo pipefail

RUNS=${RUNS:-3}
RATES=${RATES:-}
REPLAY_SECS=${REPLAY_SECS:-15}
MTU=${MTU:-9000}
BENCH_DIR=${BENCH_DIR:-/tmp/podflow-bench}
TELEMETRY=127.0.0.1:9477
METRICS=""

die() { echo "capture-bench: $*" >&2; exit 1; }
note() { echo "capture-bench: $*" >&2; }

case $RUNS in '' | *[!0-9]* | 0) die "RUNS must be a positive integer, got '$RUNS'" ;; esac
case $REPLAY_SECS in '' | *[!0-9]* | 0) die "REPLAY_SECS must be a positive integer, got '$REPLAY_SECS'" ;; esac
case $MTU in '' | *[!0-9]*) die "MTU must be a number, got '$MTU'" ;; esac
for r in $RATES; do
  case $r in *[!0-9]* | 0) die "RATES must be packets/s numbers, got '$r'" ;; esac
done
[ $# -le 1 ] || die "usage: scripts/capture-bench.sh [PCAP]"

# --- tools and privileges ----------------------------------------------------------
missing=()
need() { # command how-to-get-it
  command -v "$1" >/dev/null 2>&1 || missing+=("$1 ($2)")
}
need tcpreplay "apt-get install -y tcpreplay"
need tcpdump "apt-get install -y tcpdump"
need ip "apt-get install -y iproute2"
need python3 "apt-get install -y python3"
need git "apt-get install -y git"
need timeout "apt-get install -y coreutils"
need cargo "install Rust with rustup; under sudo, keep PATH: sudo env \"PATH=\$PATH\" $0"
if [ "$(id -u)" -ne 0 ]; then
  note "needs root: it creates network namespaces and captures in them"
  note "run it as root, e.g. sudo env \"PATH=\$PATH\" $0 $*"
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'capture-bench: missing tool: %s\n' "${missing[@]}" >&2
  die "install them first (apt-get install -y tcpreplay tcpdump iproute2); nothing is installed here"
fi
[ "$(id -u)" -eq 0 ] || exit 1

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null) ||
  die "$SCRIPT_DIR is not inside a git checkout of podflow"
# shellcheck source=scripts/bench-lib.sh
. "$SCRIPT_DIR/bench-lib.sh"

# --- temp space and cleanup --------------------------------------------------------
make_workdir podflow-capture-bench

# --- capture file ------------------------------------------------------------------
if [ $# -eq 1 ]; then
  PCAP=$(readlink -f "$1") || die "cannot resolve $1"
  [ -r "$PCAP" ] || die "cannot read $PCAP"
else
  PCAP=$(generated_pcap flows-1.6M.pcap)
fi

replay_shape

# --- build -------------------------------------------------------------------------
build_release
clear_podflow_env

# --- namespaces --------------------------------------------------------------------
# Makes the pod/peer pair named in POD and PEER.
make_netns() {
  pod_peer_netns "$POD" "$PEER" "$MTU"
  ip -n "$POD" addr add 10.252.0.1/24 dev eth0
  ip -n "$POD" addr add fd00:252::1/64 dev eth0 nodad
  ip -n "$PEER" addr add 10.252.0.2/24 dev peer0
  ip -n "$PEER" addr add fd00:252::2/64 dev peer0 nodad
  # Multicast listener reports follow the link coming up within a second or two.
  sleep 2
}

drop_netns() {
  local ns keep=() n
  for ns in "$POD" "$PEER"; do ip netns del "$ns" 2>/dev/null || true; done
  for n in "${NAMESPACES[@]+"${NAMESPACES[@]}"}"; do
    [ "$n" = "$POD" ] || [ "$n" = "$PEER" ] || keep+=("$n")
  done
  NAMESPACES=("${keep[@]+"${keep[@]}"}")
}

# "rx_packets tx_packets" of eth0 in the pod namespace.
link_counts() {
  ip -n "$POD" -s link show dev eth0 |
    awk '/^ *RX:/ {getline; rx = $2} /^ *TX:/ {getline; tx = $2} END {print rx, tx}'
}

# user + system CPU clock ticks of a process.
cpu_ticks() { # pid
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*)}
  awk '{print $12 + $13}' <<< "$stat"
}
TICKS=$(getconf CLK_TCK)

# --- the tools ---------------------------------------------------------------------
# GET of a telemetry path inside the pod namespace; fails unless the answer is 200.
telemetry_get() { # path
  ip netns exec "$POD" python3 -c '
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.stdout.write(r.read().decode())
' "http://$TELEMETRY$1" 2>/dev/null
}
metrics() { telemetry_get /metrics || true; }
metric() { # text name
  awk -v n="$2" '$1 == n {print $2; f = 1} END {if (!f) print ""}' <<< "$1"
}

# Starts podflow capturing eth0 in the pod namespace; sets TOOL_PID.
start_podflow() { # log
  env PODFLOW_CAPTURE__INTERFACES='["eth0"]' \
    PODFLOW_EXPORT__COLLECTOR="file:$1.ipfix" \
    PODFLOW_TELEMETRY__LISTEN="$TELEMETRY" \
    PODFLOW_LOG__FORMAT=json \
    NO_COLOR=1 \
    ${BENCH_PODFLOW_ENV:-} \
    ip netns exec "$POD" "$PODFLOW" --mode sidecar > "$1.out" 2> "$1" &
  TOOL_PID=$!
  PIDS+=("$TOOL_PID")
  local _
  for _ in $(seq 100); do
    kill -0 "$TOOL_PID" 2>/dev/null || { tail -20 "$1" >&2; die "podflow exited at start"; }
    telemetry_get /readyz >/dev/null && return 0
    sleep 0.1
  done
  tail -20 "$1" >&2
  die "podflow was not ready within 10 s"
}

# Waits until podflow's frame counter stops moving (at most about 3 s), keeps the last
# scrape in METRICS.
settle_podflow() {
  local last="" now _
  for _ in $(seq 10); do
    sleep 0.3
    METRICS=$(metrics)
    now=$(metric "$METRICS" podflow_capture_packets_total)
    [ -n "$now" ] && [ "$now" = "$last" ] && break
    last=$now
  done
}

# Stops podflow; writes "captured drops source" to <log>.result.
stop_podflow() { # log
  terminate_podflow "$TOOL_PID"
  rm -f "$1.ipfix"
  local fields
  fields=$(done_fields "$1")
  if [ -n "$fields" ]; then
    echo "$(done_field packets "$fields") $(done_field kernel_drops "$fields") log" > "$1.result"
  else
    # No `done` line (the drain timed out, say): the scrape taken before SIGTERM.
    echo "$(metric "$METRICS" podflow_capture_packets_total) $(metric "$METRICS" podflow_capture_dropped_packets_total) metrics" > "$1.result"
  fi
}

start_tcpdump() { # log
  ip netns exec "$POD" tcpdump -p -i eth0 -w /dev/null > "$1.out" 2> "$1" &
  TOOL_PID=$!
  PIDS+=("$TOOL_PID")
  local _
  for _ in $(seq 100); do
    kill -0 "$TOOL_PID" 2>/dev/null || { cat "$1" >&2; die "tcpdump exited at start"; }
    grep -q 'listening on' "$1" && return 0
    sleep 0.1
  done
  die "tcpdump did not start listening within 10 s"
}

settle_tcpdump() { sleep 1; }

stop_tcpdump() { # log
  kill -INT "$TOOL_PID"
  local _
  for _ in $(seq 50); do kill -0 "$TOOL_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$TOOL_PID" 2>/dev/null || true
  wait "$TOOL_PID" 2>/dev/null || true
  forget_pid "$TOOL_PID"
  awk '/packets captured/ {c = $1} /dropped by kernel/ {d = $1} END {print c, d, "tcpdump"}' "$1" > "$1.result"
}

# Replays the pcap from the peer namespace; prints "sent pps failed".
replay() { # rate(0 = top speed) log
  local speed=(--topspeed)
  if [ "$1" -gt 0 ]; then
    speed=(--pps="$1" --limit=$(($1 * REPLAY_SECS)))
  fi
  ip netns exec "$PEER" timeout -s INT $((REPLAY_SECS + 2)) \
    tcpreplay "${speed[@]}" -i peer0 "$PCAP" > "$2" 2>&1 ||
    note "tcpreplay ended with status $? (log: $(grep -m1 -iE 'error|fatal' "$2" || tail -1 "$2"))"
  awk '/Successful packets:/ {s = $3} /Failed packets:/ {f = $3}
       /^Rated:/ {for (i = 1; i < NF; i++) if ($(i + 1) ~ /^pps/) p = $i}
       END {print (s == "" ? 0 : s), (p == "" ? 0 : p), (f == "" ? 0 : f)}' "$2" 2>/dev/null
}

# One measurement: fresh namespaces, the tool, the replay. Appends a row to $WORK/<tool>.
measure() { # tool label rate
  local tool=$1 label=$2 rate=$3 log="$WORK/$1.$2"
  POD="pfcb-pod-$$-$tool-$label"
  PEER="pfcb-peer-$$-$tool-$label"
  POD=${POD//@/r}
  PEER=${PEER//@/r}
  make_netns
  local rx0 tx0 rx1 tx1 cpu0 cpu1 sent pps failed captured drops source
  read -r rx0 tx0 < <(link_counts)
  "start_$tool" "$log"
  cpu0=$(cpu_ticks "$TOOL_PID")
  read -r sent pps failed < <(replay "$rate" "$log.replay")
  "settle_$tool"
  cpu1=$(cpu_ticks "$TOOL_PID")
  read -r rx1 tx1 < <(link_counts)
  "stop_$tool" "$log"
  read -r captured drops source < "$log.result"
  drop_netns
  [ "$failed" -eq 0 ] ||
    note "$tool $label: tcpreplay failed to send $failed frames (larger than MTU $MTU?)"
  [ $((tx1 - tx0)) -eq 0 ] ||
    note "$tool $label: the pod sent $((tx1 - tx0)) frames on eth0 during the run"
  [ "$source" != metrics ] ||
    note "$tool $label: no 'done' line in podflow's log; counts from /metrics before SIGTERM"
  if grep -qE '"level":"(WARN|ERROR)"' "$log" 2>/dev/null; then
    note "$tool $label: podflow logged warnings:"
    grep -E '"level":"(WARN|ERROR)"' "$log" | tail -3 | sed 's/^/  /' >&2
  fi
  echo "$label $sent $((rx1 - rx0)) ${captured:-?} ${drops:-?} $(((cpu1 - cpu0))) $pps" >> "$WORK/$tool"
  note "$tool $label: sent $sent, received $((rx1 - rx0)), captured ${captured:-?}, drops ${drops:-?}"
}

# --- the runs ----------------------------------------------------------------------
TOOLS=(podflow tcpdump)
note "warming the page cache with $PCAP"
cat "$PCAP" > /dev/null
note "replaying $PCAP ($FRAMES frames): $RUNS run(s) per tool at top speed${RATES:+, and at $RATES pps}"
for run in $(seq "$RUNS"); do
  for tool in "${TOOLS[@]}"; do measure "$tool" "$run" 0; done
done
for rate in $RATES; do
  for tool in "${TOOLS[@]}"; do measure "$tool" "@$rate" "$rate"; done
done

# --- report ------------------------------------------------------------------------
echo
printf '# pcap: %s (%s frames, largest %s bytes)\n' "$PCAP" "$FRAMES" "$LARGEST"
printf '# host: %s, %s cores, kernel %s; veth MTU %s\n' "$(hostname)" "$(nproc)" "$(uname -r)" "$MTU"
for tool in "${TOOLS[@]}"; do
  echo
  echo "## $tool"
  awk -v hz="$TICKS" 'BEGIN {
      printf "%-8s %9s %9s %9s %8s %8s %8s %7s %8s %9s\n", "run", "sent", "received", "captured", "drops", "capt%", "acct%", "cpu_s", "us/frame", "pps" }
    function pct(a, b) { return (b > 0 && a != "?") ? sprintf("%.2f", 100 * a / b) : "n/a" }
    {
      cpu = $6 / hz
      per = ($4 != "?" && $4 > 0) ? sprintf("%.2f", 1e6 * cpu / $4) : "n/a"
      acct = ($4 == "?" || $5 == "?") ? "?" : $4 + $5
      printf "%-8s %9s %9s %9s %8s %8s %8s %7.2f %8s %9.0f\n", $1, $2, $3, $4, $5, pct($4, $3), pct(acct, $3), cpu, per, $7
    }' "$WORK/$tool"
done
echo
for tool in "${TOOLS[@]}"; do
  awk -v t="$tool" '
    { acct = ($4 == "?" || $5 == "?" || $3 == 0) ? -1 : 100 * ($4 + $5) / $3
      capt = ($4 == "?" || $3 == 0) ? -1 : 100 * $4 / $3
      if (acct >= 0) {
        if (best == "" || acct > best) { best = acct; bestrun = $1 }
        if (worst == "" || acct < worst) { worst = acct; worstrun = $1 }
      }
      if (capt >= 0) {
        if (cbest == "" || capt > cbest) cbest = capt
        if (cworst == "" || capt < cworst) cworst = capt
      }
      if ($4 != "?" && $5 == 0 && $4 >= $3 && $3 > 0 && $7 > peak) { peak = $7; peakrun = $1 }
    }
    END {
      line = sprintf("%s: acct%% best %s (run %s), worst %s (run %s); capt%% best %s, worst %s; ", t,
        best == "" ? "n/a" : sprintf("%.2f", best), bestrun,
        worst == "" ? "n/a" : sprintf("%.2f", worst), worstrun,
        cbest == "" ? "n/a" : sprintf("%.2f", cbest), cworst == "" ? "n/a" : sprintf("%.2f", cworst))
      if (peak > 0) line = line sprintf("peak rate fully captured %.0f pps (run %s)", peak, peakrun)
      else line = line "no run was fully captured"
      print line
    }' "$WORK/$tool"
done
