#!/usr/bin/env bash
# Node-mode bench: how much of a replay into N pod namespaces at once one `podflow --mode
# node` captures, and at what CPU cost, next to one tcpdump per pod on the same input.
#
# Usage:  scripts/node-bench.sh [N]        as root, e.g.
#         sudo env "PATH=$PATH" scripts/node-bench.sh 10   (sudo's PATH may lack cargo)
#   N          pod namespaces (default 10, at most 200).
#   RATE       replay rate per namespace in packets/s; empty or 0 (default) = --topspeed.
#   LOOPS      times each tcpreplay sends the capture (tcpreplay --loop, default 5): with
#              the defaults, 10 x 5 x 148k = 7.4M frames per replay, 10 to 30 s each on
#              2 cores. The runtime grows with N x LOOPS.
#   SCALE      --scale of scripts/gen-flows.py (--seed 1) for the capture replayed into
#              every namespace (default 0.1: 148,146 frames, 116 MB); it is kept in
#              $BENCH_DIR (default /tmp/podflow-bench) for the next run.
#   PCAP       a capture to replay instead (Ethernet frames of at most MTU + 14 bytes).
#   MTU        MTU of the pod veth pairs (default 1500; the generator's largest frame is
#              1514 bytes).
#   PEER       tcpdump (default) or none: the second replay, with one
#              `tcpdump -p -i eth0 -w /dev/null` per pod namespace instead of podflow.
#   COLLECTOR  nfcapd, udp_sink (it/py/udp_sink.py, which only keeps the datagrams) or
#              auto (default: nfcapd when nfcapd and nfdump are installed).
#   REPLAY_SECS  longest replay (default 90 s); tcpreplay is interrupted after it.
#   PORT       first of two ports inside the node namespace: PORT for podflow's telemetry,
#              PORT+1 for the UDP collector (default 19481).
#
# The topology (a Calico-like node, all of it in namespaces made here, named pfnb-<pid>-*):
#   node       ip_forward=1; uplink eth0 10.253.9.1/24 to "remote" (10.253.9.2/24, route
#              to 10.253.1.0/24 via 10.253.9.1); default route via 10.253.9.2 (proxy ARP
#              answers only for addresses routed through another interface); per pod a
#              veth end vethp<i>, up, proxy_arp=1, route 10.253.1.<i>/32 dev vethp<i>.
#   pod <i>    eth0 10.253.1.<i>/32, a link route to 169.254.1.1, default via 169.254.1.1.
# A ping from pod 1 to the remote checks it before anything is measured. A temp directory
# of symlinks to /var/run/netns/<pod> is podflow's node.netns_dirs (no /proc scan), and a
# PodList JSON (the N pods on node-1 and the remote pod on node-2) its k8s.source.
#
# What happens:
#   1. podflow runs in the node namespace (`ip netns exec <node> podflow --mode node`, JSON
#      logs, telemetry on 127.0.0.1:PORT there) and exports IPFIX over UDP to nfcapd (or,
#      without nfcapd, it/py/udp_sink.py) on the node namespace's loopback, so that export
#      crosses no captured interface. The bench waits until /metrics shows
#      podflow_node_namespaces = N.
#   2. One tcpreplay per pod, all at once, inside the node namespace on vethp<i>: every
#      frame arrives on the pod's eth0 as received traffic, where podflow captures it
#      (observation point 2). The host ends vethp<i> are not captured (node.host_pod_veths
#      is false), so no frame is counted twice. The frames keep the generator's MAC
#      addresses: a veth delivers a frame whatever its destination MAC (the kernel marks it
#      PACKET_OTHERHOST), and packet sockets, promiscuous or not, see it; the pod's IP
#      stack drops it, so the pods answer nothing. No tcprewrite is needed.
#   3. After the replay, the counters are let settle (podflow reads the kernel's drop
#      counter once a second: both counters must stay still for 1.5 s); /metrics and
#      /proc/<pid> are read, podflow gets SIGTERM, and its exit status and final `done`
#      log line are checked (the script exits 2 when either is wrong).
#   4. PEER=tcpdump: the same replay again with one tcpdump per pod namespace (libpcap's
#      memory-mapped ring, 2 MiB by default, read a block of frames at a time; podflow
#      reads one frame per recvfrom from an 8 MiB socket buffer per interface), stopped
#      with SIGINT.
#
# How to read the report (one row per tool, all pods together):
#   sent       frames tcpreplay sent ("Successful packets"), summed over the namespaces.
#   received   RX packets of the pods' eth0 (`ip -s link`) over the replay.
#   captured   frames the tool read: podflow_capture_packets_total (every captured
#              interface, the node's uplink too, which is quiet); tcpdump "packets captured".
#              The pods and the node send a few IPv6 control frames of their own, so a
#              count can exceed sent by a handful.
#   drops      frames the kernel dropped because the tool did not read them in time:
#              podflow_capture_dropped_packets_total; tcpdump "dropped by kernel".
#   capt%      captured / sent; acct% (captured + drops) / sent: the share the tool knows
#              about. Below 100%, frames went missing uncounted (or were never delivered:
#              compare received).
#   cpu_s      user + system CPU seconds of the tool (/proc/PID/stat, all tcpdumps summed)
#              from just before the replay until the counters settled.
#   us/frame   cpu_s per captured frame, in microseconds.
#   rss_MB     peak resident memory (VmHWM); tcpdump: summed over its N processes.
#   kpps       frames sent / wall seconds of the whole replay (first start to last end).
# The ratio line is podflow's CPU per frame over tcpdump's (>1: podflow costs more). The
# header says how busy the CPUs were in the second before each replay, with the tool
# already idle in place: well above 0%, other work on the machine competed with the run.
# tcpreplay, the tool and everything else on the machine share its CPUs: at top speed the
# replay rate and the share captured depend on each other.
#
# Needs: root, cargo, git, python3, tcpreplay, tcpdump (PEER=tcpdump), curl, ip
# (iproute2); nfcapd + nfdump are used when present. Installs nothing. Only traffic
# inside the namespaces made here is sent.
set -euo pipefail

N=${1:-10}
RATE=${RATE:-0}
LOOPS=${LOOPS:-5}
SCALE=${SCALE:-0.1}
PCAP=${PCAP:-}
MTU=${MTU:-1500}
PEER=${PEER:-tcpdump}
REPLAY_SECS=${REPLAY_SECS:-90}
PORT=${PORT:-19481}
COLLECTOR=${COLLECTOR:-auto}
BENCH_DIR=${BENCH_DIR:-/tmp/podflow-bench}

die() { echo "node-bench: $*" >&2; exit 1; }
note() { echo "node-bench: $*" >&2; }

[ $# -le 1 ] || die "usage: scripts/node-bench.sh [N]"
case $N in '' | *[!0-9]* | 0) die "N must be a positive integer, got '$N'" ;; esac
[ "$N" -le 200 ] || die "N must be at most 200, got $N"
case ${RATE:-0} in *[!0-9]*) die "RATE must be packets/s (0 = top speed), got '$RATE'" ;; esac
RATE=${RATE:-0}
case $LOOPS in '' | *[!0-9]* | 0) die "LOOPS must be a positive integer, got '$LOOPS'" ;; esac
case $SCALE in '' | *[!0-9.]*) die "SCALE must be a number, got '$SCALE'" ;; esac
case $MTU in '' | *[!0-9]*) die "MTU must be a number, got '$MTU'" ;; esac
case $PEER in tcpdump | none) ;; *) die "PEER must be tcpdump or none, got '$PEER'" ;; esac
case $REPLAY_SECS in '' | *[!0-9]* | 0) die "REPLAY_SECS must be a positive integer, got '$REPLAY_SECS'" ;; esac
case $PORT in '' | *[!0-9]*) die "PORT must be a number, got '$PORT'" ;; esac
case $COLLECTOR in auto | nfcapd | udp_sink) ;; *) die "COLLECTOR must be auto, nfcapd or udp_sink, got '$COLLECTOR'" ;; esac

# --- tools and privileges ----------------------------------------------------------
missing=()
need() { # command how-to-get-it
  command -v "$1" >/dev/null 2>&1 || missing+=("$1 ($2)")
}
need tcpreplay "apt-get install -y tcpreplay"
[ "$PEER" = none ] || need tcpdump "apt-get install -y tcpdump"
need ip "apt-get install -y iproute2"
need curl "apt-get install -y curl"
need python3 "apt-get install -y python3"
need git "apt-get install -y git"
need timeout "apt-get install -y coreutils"
need getconf "apt-get install -y libc-bin"
need cargo "install Rust with rustup; under sudo, keep PATH: sudo env \"PATH=\$PATH\" $0"
if [ "$(id -u)" -ne 0 ]; then
  note "needs root: it creates network namespaces and captures in them"
  note "run it as root, e.g. sudo env \"PATH=\$PATH\" $0 $*"
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'node-bench: missing tool: %s\n' "${missing[@]}" >&2
  die "install them first (apt-get install -y tcpreplay tcpdump curl iproute2); nothing is installed here"
fi
[ "$(id -u)" -eq 0 ] || exit 1
if [ "$COLLECTOR" != udp_sink ]; then
  if command -v nfcapd >/dev/null 2>&1 && command -v nfdump >/dev/null 2>&1; then
    COLLECTOR=nfcapd
  elif [ "$COLLECTOR" = nfcapd ]; then
    die "COLLECTOR=nfcapd needs nfcapd and nfdump (apt-get install -y nfdump)"
  else
    COLLECTOR=udp_sink
  fi
fi

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null) ||
  die "$SCRIPT_DIR is not inside a git checkout of podflow"
# shellcheck source=scripts/bench-lib.sh
. "$SCRIPT_DIR/bench-lib.sh"

# --- temp space and cleanup --------------------------------------------------------
make_workdir podflow-node-bench

# --- capture file ------------------------------------------------------------------
if [ -n "$PCAP" ]; then
  PCAP=$(readlink -f "$PCAP") || die "cannot resolve $PCAP"
  [ -r "$PCAP" ] || die "cannot read $PCAP"
else
  PCAP=$(generated_pcap "flows-scale$SCALE.pcap" --scale "$SCALE")
fi

replay_shape

# --- build -------------------------------------------------------------------------
build_release
clear_podflow_env

# --- namespaces --------------------------------------------------------------------
PREFIX="pfnb-$$"
NODE="$PREFIX-node"
REMOTE="$PREFIX-remote"
pod_ns() { echo "$PREFIX-pod$1"; }

new_ns() { # name
  NAMESPACES+=("$1") # first: a namespace is deleted even if the script stops right here
  ip netns add "$1"
  # New interfaces take these: no router solicitations nor duplicate address detection,
  # so that the links are quiet during the measurement.
  ip netns exec "$1" sysctl -qw net.ipv6.conf.default.router_solicitations=0 \
    net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.accept_ra=0
  ip -n "$1" link set lo up
}

note "making the node, the remote and $N pod namespaces ($PREFIX-*)"
new_ns "$NODE"
new_ns "$REMOTE"
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1
ip link add eth0 netns "$NODE" type veth peer name eth0 netns "$REMOTE"
ip -n "$NODE" addr add 10.253.9.1/24 dev eth0
ip -n "$REMOTE" addr add 10.253.9.2/24 dev eth0
ip -n "$NODE" link set eth0 up
ip -n "$REMOTE" link set eth0 up
ip -n "$REMOTE" route add 10.253.1.0/24 via 10.253.9.1
ip -n "$NODE" route add default via 10.253.9.2

NETNS_DIR="$WORK/netns"
mkdir -p "$NETNS_DIR"
for i in $(seq "$N"); do
  pod=$(pod_ns "$i")
  new_ns "$pod"
  ip link add eth0 netns "$pod" mtu "$MTU" type veth peer name "vethp$i" netns "$NODE" mtu "$MTU"
  ip -n "$pod" addr add "10.253.1.$i/32" dev eth0
  ip -n "$pod" link set eth0 up
  ip -n "$pod" route add 169.254.1.1 dev eth0 scope link
  ip -n "$pod" route add default via 169.254.1.1 dev eth0
  ip -n "$NODE" link set "vethp$i" up
  ip netns exec "$NODE" sysctl -qw "net.ipv4.conf.vethp$i.proxy_arp=1"
  ip -n "$NODE" route add "10.253.1.$i/32" dev "vethp$i"
  ln -s "/var/run/netns/$pod" "$NETNS_DIR/$pod"
done
ip netns exec "$(pod_ns 1)" ping -q -c 1 -W 2 10.253.9.2 > "$WORK/ping.log" 2>&1 ||
  { cat "$WORK/ping.log" >&2; die "pod 1 cannot reach the remote namespace: the topology is broken"; }
# Multicast listener reports follow the links coming up within a second or two.
sleep 2

# The PodList podflow attributes namespaces and peers with.
python3 - "$N" > "$WORK/pods.json" <<'PY'
import json, sys
n = int(sys.argv[1])
def pod(name, uid, node, ip, host_ip):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "bench", "uid": uid,
                         "labels": {"app": name.rsplit("-", 1)[0]}},
            "spec": {"nodeName": node, "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "hostIP": host_ip, "podIP": ip,
                       "podIPs": [{"ip": ip}]}}
items = [pod(f"bench-{i}", f"00000000-0000-4000-8000-{i:012d}", "node-1",
             f"10.253.1.{i}", "10.253.9.1") for i in range(1, n + 1)]
items.append(pod("remote-0", "00000000-0000-4000-9000-000000000000", "node-2",
                 "10.253.9.2", "10.253.9.2"))
json.dump({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
           "items": items}, sys.stdout, indent=1)
PY

# --- helpers -----------------------------------------------------------------------
TELEMETRY="127.0.0.1:$PORT"
CPORT=$((PORT + 1))
TICKS=$(getconf CLK_TCK)

# user + system CPU clock ticks of a process.
cpu_ticks() { # pid
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*)}
  awk '{print $12 + $13}' <<< "$stat"
}
status_field() { # pid field (kB values without the unit; 0 when unknown)
  awk -v f="$2:" '$1 == f {v = $2} END {print v + 0}' "/proc/$1/status" 2>/dev/null || echo 0
}

metrics() {
  ip netns exec "$NODE" curl -sf --max-time 2 "http://$TELEMETRY/metrics" 2>/dev/null || true
}
metric() { # text name
  awk -v n="$2" '$1 == n {print $2; f = 1} END {if (!f) print ""}' <<< "$1"
}

# Sum of the pods' eth0 RX packets.
pods_rx() {
  local i s=0 rx
  for i in $(seq "$N"); do
    rx=$(ip -n "$(pod_ns "$i")" -s link show dev eth0 | awk '/^ *RX:/ {getline; print $2}')
    s=$((s + rx))
  done
  echo "$s"
}

# Replays the pcap into every pod at once; writes "sent failed seconds" to <prefix>.sum.
# (Run in this shell, not in a subshell, so that the cleanup knows every tcpreplay.)
replay_all() { # prefix
  local speed=(--topspeed) i pids=() t0 t1
  [ "$RATE" -eq 0 ] || speed=(--pps="$RATE")
  t0=$(date +%s.%N)
  for i in $(seq "$N"); do
    ip netns exec "$NODE" timeout -s INT "$REPLAY_SECS" \
      tcpreplay "${speed[@]}" --loop="$LOOPS" -i "vethp$i" "$PCAP" > "$1.$i" 2>&1 &
    pids+=("$!")
    PIDS+=("$!")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" ||
      note "tcpreplay into pod $((i + 1)) ended with status $? ($(grep -m1 -iE 'error|fatal' "$1.$((i + 1))" || tail -1 "$1.$((i + 1))"))"
    forget_pid "${pids[$i]}"
  done
  t1=$(date +%s.%N)
  awk -v t0="$t0" -v t1="$t1" '/Successful packets:/ {s += $3} /Failed packets:/ {f += $3}
       END {printf "%d %d %.3f\n", s, f, t1 - t0}' "$1".[0-9]* > "$1.sum"
}

# --- podflow -----------------------------------------------------------------------
COLLECTOR_PID=""
mkdir -p "$WORK/flows"
if [ "$COLLECTOR" = nfcapd ]; then
  ip netns exec "$NODE" nfcapd -w "$WORK/flows" -p "$CPORT" -b 127.0.0.1 -B 8388608 -t 3600 \
    > "$WORK/collector.log" 2>&1 &
else
  ip netns exec "$NODE" python3 "$REPO/it/py/udp_sink.py" 127.0.0.1 "$CPORT" "$WORK/flows/sink.ipfix" \
    > "$WORK/collector.log" 2>&1 &
fi
COLLECTOR_PID=$!
PIDS+=("$COLLECTOR_PID")
for _ in $(seq 50); do
  ip netns exec "$NODE" ss -Hlun "sport = :$CPORT" | grep -q . && break
  kill -0 "$COLLECTOR_PID" 2>/dev/null || { cat "$WORK/collector.log" >&2; die "$COLLECTOR did not start"; }
  sleep 0.1
done

LOG="$WORK/podflow.log"
note "starting podflow --mode node in $NODE"
env PODFLOW_K8S__SOURCE="file:$WORK/pods.json" \
  PODFLOW_K8S__NODE_NAME=node-1 \
  PODFLOW_NODE__NETNS_DIRS="[\"$NETNS_DIR\"]" \
  PODFLOW_NODE__SCAN_PROCESSES=false \
  PODFLOW_TELEMETRY__LISTEN="$TELEMETRY" \
  PODFLOW_EXPORT__COLLECTOR="udp://127.0.0.1:$CPORT" \
  PODFLOW_LOG__FORMAT=json \
  NO_COLOR=1 \
  ip netns exec "$NODE" "$PODFLOW" --mode node > "$WORK/podflow.out" 2> "$LOG" &
PF_PID=$!
PIDS+=("$PF_PID")
M=""
for _ in $(seq 300); do
  kill -0 "$PF_PID" 2>/dev/null || { tail -20 "$LOG" >&2; die "podflow exited at start"; }
  M=$(metrics)
  [ "$(metric "$M" podflow_node_namespaces)" = "$N" ] &&
    [ "$(metric "$M" podflow_node_interfaces)" -ge "$N" ] 2>/dev/null && break
  sleep 0.1
done
[ "$(metric "$M" podflow_node_namespaces)" = "$N" ] ||
  { tail -20 "$LOG" >&2; die "podflow did not capture $N namespaces within 30 s (podflow_node_namespaces = $(metric "$M" podflow_node_namespaces))"; }
NS_WITH_POD=$(metric "$M" podflow_node_namespaces_with_pod)
IFACES=$(metric "$M" podflow_node_interfaces)
note "podflow captures $N namespaces ($NS_WITH_POD with a pod), $IFACES interfaces"

cat "$PCAP" > /dev/null # page cache warm for both replays
# Other work on the machine takes CPU from the replay and the tools: the report shows how
# busy the CPUs were over the second before each replay (podflow idle or tcpdumps idle).
cpu_busy() { # percent of all CPUs busy over one second
  local a b
  a=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " ")
    busy = y[1] - x[1]; all = busy + y[2] - x[2]
    pct = all > 0 ? 100 * busy / all : 0
    printf "%.0f", pct}'
}
BUSY_PF=$(cpu_busy)
M=$(metrics)
P0=$(metric "$M" podflow_capture_packets_total)
D0=$(metric "$M" podflow_capture_dropped_packets_total)
I0=$(metric "$M" podflow_capture_ignored_packets_total)
RX0=$(pods_rx)
CPU0=$(cpu_ticks "$PF_PID")
if [ "$RATE" -eq 0 ]; then SPEED="top speed"; else SPEED="$RATE pps"; fi
note "replaying $PCAP ($FRAMES frames, $LOOPS times) into $N pods at once, $SPEED per pod"
replay_all "$WORK/replay.podflow"
read -r PF_SENT PF_FAILED PF_SECS < "$WORK/replay.podflow.sum"
note "sent $PF_SENT frames in $PF_SECS s"
# Counters settle: podflow publishes its frame counts every 100 ms but reads the kernel's
# drop counter only once a second, so both must stay still for 1.5 s (at most 10 s).
last="" still=0
for _ in $(seq 40); do
  sleep 0.25
  M=$(metrics)
  now="$(metric "$M" podflow_capture_packets_total) $(metric "$M" podflow_capture_dropped_packets_total)"
  if [ "$now" = "$last" ] && [ "$now" != " " ]; then
    still=$((still + 1))
    [ "$still" -lt 6 ] || break
  else
    still=0
  fi
  last=$now
done
CPU1=$(cpu_ticks "$PF_PID")
RX1=$(pods_rx)
PF_CPU_TOTAL=$CPU1
PF_RSS=$(status_field "$PF_PID" VmHWM)
PF_THREADS=$(status_field "$PF_PID" Threads)
# Threads that read packets: named capture-* (the node thread, which only opens sockets,
# is node-capture).
PF_CAPTURE_THREADS=$(cat /proc/"$PF_PID"/task/*/comm 2>/dev/null | grep -c '^capture' || true)
PF_CAPT=$(($(metric "$M" podflow_capture_packets_total) - ${P0:-0}))
PF_DROPS=$(($(metric "$M" podflow_capture_dropped_packets_total) - ${D0:-0}))
PF_IGN=$(($(metric "$M" podflow_capture_ignored_packets_total) - ${I0:-0}))
PF_RECORDS=$(metric "$M" podflow_export_records_total)
PF_NS_ERR=$(metric "$M" podflow_node_namespace_errors_total)
[ -n "$PF_NS_ERR" ] || PF_NS_ERR=$(metric "$M" podflow_node_namespace_errors)
PF_NS_END=$(metric "$M" podflow_node_namespaces)
echo "podflow $PF_SENT $((RX1 - RX0)) $PF_CAPT $PF_DROPS $((CPU1 - CPU0)) ${PF_RSS:-0} $PF_SECS" > "$WORK/rows"

note "stopping podflow (SIGTERM)"
terminate_podflow "$PF_PID"
DONE_LINE=$(done_fields "$LOG")
# The done line counts from podflow's start, /metrics from just before the replay: with
# nothing captured outside the replay they differ by the baseline only.
DONE_PACKETS=$(done_field packets "$DONE_LINE")
DONE_DROPS=$(done_field kernel_drops "$DONE_LINE")
if [ -n "$DONE_PACKETS" ] && [ -n "$DONE_DROPS" ] &&
  { [ $((DONE_PACKETS - ${P0:-0})) -ne "$PF_CAPT" ] || [ $((DONE_DROPS - ${D0:-0})) -ne "$PF_DROPS" ]; }; then
  note "podflow's done line counts $((DONE_PACKETS - ${P0:-0})) frames and $((DONE_DROPS - ${D0:-0})) drops since the replay began, /metrics after the replay $PF_CAPT and $PF_DROPS"
fi
WARNINGS=$(grep -cE '"level":"(WARN|ERROR)"' "$LOG" || true)

# The collector empties its socket, then stops (nfcapd writes its file on SIGTERM).
sleep 1
kill "$COLLECTOR_PID" 2>/dev/null || true
wait "$COLLECTOR_PID" 2>/dev/null || true
forget_pid "$COLLECTOR_PID"
AT_COLLECTOR="n/a"
if [ "$COLLECTOR" = nfcapd ]; then
  AT_COLLECTOR=$(nfdump -R "$WORK/flows" -I 2>/dev/null |
    awk '/^Flows:/ {f = $2} /^Packets:/ {p = $2} END {printf "%s flows, %s packets", (f == "" ? 0 : f), (p == "" ? 0 : p)}')
else
  AT_COLLECTOR="$(stat -c %s "$WORK/flows/sink.ipfix" 2>/dev/null || echo 0) bytes of IPFIX"
fi

# --- peer: one tcpdump per pod namespace -------------------------------------------
if [ "$PEER" = tcpdump ]; then
  TD_PIDS=()
  for i in $(seq "$N"); do
    ip netns exec "$(pod_ns "$i")" tcpdump -p -i eth0 -w /dev/null \
      > "$WORK/tcpdump.$i.out" 2> "$WORK/tcpdump.$i" &
    TD_PIDS+=("$!")
    PIDS+=("$!")
  done
  for i in $(seq "$N"); do
    for _ in $(seq 100); do
      grep -q 'listening on' "$WORK/tcpdump.$i" && break
      kill -0 "${TD_PIDS[$((i - 1))]}" 2>/dev/null || { cat "$WORK/tcpdump.$i" >&2; die "tcpdump in pod $i exited at start"; }
      sleep 0.1
    done
    grep -q 'listening on' "$WORK/tcpdump.$i" || die "tcpdump in pod $i did not start listening within 10 s"
  done
  td_cpu() { local p s=0; for p in "${TD_PIDS[@]}"; do s=$((s + $(cpu_ticks "$p"))); done; echo "$s"; }
  RX0=$(pods_rx)
  BUSY_TD=$(cpu_busy)
  CPU0=$(td_cpu)
  note "replaying again, with one tcpdump per pod"
  replay_all "$WORK/replay.tcpdump"
  read -r TD_SENT TD_FAILED TD_SECS < "$WORK/replay.tcpdump.sum"
  note "sent $TD_SENT frames in $TD_SECS s"
  sleep 1
  CPU1=$(td_cpu)
  RX1=$(pods_rx)
  TD_RSS=0
  for p in "${TD_PIDS[@]}"; do TD_RSS=$((TD_RSS + $(status_field "$p" VmHWM))); done
  for p in "${TD_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${TD_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    forget_pid "$p"
  done
  read -r TD_CAPT TD_DROPS < <(awk '/packets captured/ {c += $1} /dropped by kernel/ {d += $1}
    END {print c + 0, d + 0}' "$WORK"/tcpdump.[0-9]*)
  echo "tcpdump $TD_SENT $((RX1 - RX0)) $TD_CAPT $TD_DROPS $((CPU1 - CPU0)) $TD_RSS $TD_SECS" >> "$WORK/rows"
  [ "$TD_FAILED" -eq 0 ] || note "tcpdump replay: tcpreplay failed to send $TD_FAILED frames"
fi
[ "$PF_FAILED" -eq 0 ] || note "podflow replay: tcpreplay failed to send $PF_FAILED frames (larger than MTU $MTU?)"

# --- report ------------------------------------------------------------------------
echo
printf '# node bench: %s pod namespaces, each replayed %s (%s frames, largest %s bytes) %s times at %s\n' \
  "$N" "$PCAP" "$FRAMES" "$LARGEST" "$LOOPS" "$SPEED"
printf '# host: %s, %s cores, kernel %s; veth MTU %s; CPUs busy in the second before the replay: %s%% (podflow), %s%% (tcpdump)\n' \
  "$(hostname)" "$(nproc)" "$(uname -r)" "$MTU" "$BUSY_PF" "${BUSY_TD:-n/a}"
printf '# podflow: %s namespaces (%s with a pod), %s interfaces, %s threads of which %s capture threads; collector %s on the node loopback\n' \
  "$N" "$NS_WITH_POD" "$IFACES" "$PF_THREADS" "$PF_CAPTURE_THREADS" "$COLLECTOR"
awk -v hz="$TICKS" 'BEGIN {
    printf "%-8s %10s %10s %10s %9s %7s %7s %7s %8s %7s %7s\n", "tool", "sent", "received",
      "captured", "drops", "capt%", "acct%", "cpu_s", "us/frame", "rss_MB", "kpps" }
  function pct(a, b) { return b > 0 ? sprintf("%.2f", 100 * a / b) : "n/a" }
  {
    cpu = $6 / hz
    per = $4 > 0 ? sprintf("%.2f", 1e6 * cpu / $4) : "n/a"
    kpps = $8 > 0 ? $2 / $8 / 1000 : 0
    printf "%-8s %10d %10d %10d %9d %7s %7s %7.2f %8s %7.1f %7.1f\n", $1, $2, $3, $4, $5,
      pct($4, $2), pct($4 + $5, $2), cpu, per, $7 / 1024, kpps
    us[$1] = $4 > 0 ? 1e6 * cpu / $4 : 0
  }
  END {
    if (us["podflow"] > 0 && us["tcpdump"] > 0)
      printf "\npodflow/tcpdump CPU per captured frame: %.2fx\n", us["podflow"] / us["tcpdump"]
  }' "$WORK/rows"
echo
printf 'podflow: %s frames ignored (not IP); CPU since start %.2f s; %s flow records exported before SIGTERM\n' \
  "$PF_IGN" "$(awk -v t="$PF_CPU_TOTAL" -v hz="$TICKS" 'BEGIN {print t / hz}')" "${PF_RECORDS:-?}"
printf 'podflow: namespaces at the end of the replay %s, namespace errors %s\n' "${PF_NS_END:-?}" "${PF_NS_ERR:-?}"
if [ "$PF_EXIT" -eq 0 ] && [ -n "$DONE_LINE" ]; then
  printf 'podflow: exit 0 after SIGTERM; done: %s\n' "$DONE_LINE"
else
  printf 'podflow: exit %s after SIGTERM; done line: %s\n' "$PF_EXIT" "${DONE_LINE:-MISSING}"
fi
printf 'collector (%s): %s\n' "$COLLECTOR" "$AT_COLLECTOR"
if [ "$WARNINGS" -gt 0 ]; then
  echo "podflow logged $WARNINGS warning/error line(s), the last:"
  grep -E '"level":"(WARN|ERROR)"' "$LOG" | tail -5 | sed 's/^/  /'
fi
[ "$PF_EXIT" -eq 0 ] && [ -n "$DONE_LINE" ] || exit 2
