# shellcheck shell=bash
# The live mode of flood-bench.sh (LIVE=1), sourced by it once PODFLOW_BIN (the binary), PCAP (the SYNs,
# no conversation in them), SCRIPT_DIR, REPO, note and die are set. See flood-bench.sh.

for tool in ip tcpreplay tcpdump tshark socat curl; do
  command -v $tool >/dev/null || die "missing $tool"
done
# shellcheck source=scripts/bench-lib.sh
. "$SCRIPT_DIR/bench-lib.sh"
make_workdir podflow-flood-live
PODFLOW=$PODFLOW_BIN
unset PODFLOW_BIN # measured as PODFLOW; every other PODFLOW_* setting is dropped
clear_podflow_env

POD=pflf-pod-$$
PEER=pflf-peer-$$
POD_IP=10.250.0.1
PEER_IP=10.250.0.2
MTU=1500
replay_shape

# --- namespaces --------------------------------------------------------------------
pod_peer_netns "$POD" "$PEER" $MTU
ip -n "$POD" addr add $POD_IP/24 dev eth0
ip -n "$PEER" addr add $PEER_IP/24 dev peer0

# Starts a background process (the arguments), remembered for the cleanup; sets BG_PID.
background() {
  "$@" &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

# Stops a background process with SIGTERM (SIGKILL after 15 s) and waits for it.
stop_bg() { # pid
  local _
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}

# "rx_packets" of eth0 in the pod namespace.
rx_packets() {
  ip -n "$POD" -s link show dev eth0 | awk '/^ *RX:/ {getline; print $2}'
}

# --- the collector: podflow collect over TCP on the peer side ----------------------
# Its JSON lines go through a FIFO to grep, which keeps only the conversation's records
# (two million lines would fill the disk); its totals go to stderr.
mkfifo "$WORK/collect.fifo"
background grep -E '"(source|destination)TransportPort":5001,' "$WORK/collect.fifo" \
  >"$WORK/steady.jsonl"
GREP_PID=$BG_PID
background ip netns exec "$PEER" "$PODFLOW" collect --listen "tcp://$PEER_IP:4739" \
  >"$WORK/collect.fifo" 2>"$WORK/collect.err"
COLLECT_PID=$BG_PID
for _ in $(seq 100); do
  ip netns exec "$PEER" ss -Hltn "sport = :4739" | grep -q . && break
  kill -0 "$COLLECT_PID" 2>/dev/null || { cat "$WORK/collect.err" >&2; die "podflow collect exited"; }
  sleep 0.05
done

# --- podflow, the sidecar, every default but its collector --------------------------
# `ip netns exec` and env exec; /usr/bin/time forks podflow and reports its peak RSS.
background ip netns exec "$POD" env PODFLOW_EXPORT__COLLECTOR="tcp://$PEER_IP:4739" \
  PODFLOW_TELEMETRY__LISTEN=127.0.0.1:9477 PODFLOW_LOG__FORMAT=json NO_COLOR=1 \
  PODFLOW_K8S__LABELS_FILE=/nonexistent PODFLOW_K8S__ANNOTATIONS_FILE=/nonexistent \
  /usr/bin/time -v -o "$WORK/time" "$PODFLOW" --mode sidecar \
  >"$WORK/podflow.out" 2>"$WORK/podflow.log"
TIME_PID=$BG_PID
PF_PID=
for _ in $(seq 100); do
  PF_PID=$(cat "/proc/$TIME_PID/task/$TIME_PID/children" 2>/dev/null || true)
  PF_PID=${PF_PID%% *}
  [ -n "$PF_PID" ] && break
  sleep 0.05
done
[ -n "$PF_PID" ] || die "podflow did not start"
PIDS=("$PF_PID" "${PIDS[@]}") # stopped before /usr/bin/time, which then exits
ready=0
for _ in $(seq 100); do
  ip netns exec "$POD" curl -sf http://127.0.0.1:9477/readyz >/dev/null && { ready=1; break; }
  kill -0 "$PF_PID" 2>/dev/null || break
  sleep 0.1
done
[ $ready = 1 ] || { tail -5 "$WORK/podflow.log" >&2; die "podflow was not ready within 10 s"; }

# --- ground truth: tcpdump on eth0, the conversation only (filtered in the kernel) ---
background ip netns exec "$POD" tcpdump -p -Z root -i eth0 -B 4096 -U -w "$WORK/wire.pcap" \
  'tcp port 5001' >/dev/null 2>"$WORK/tcpdump.err"
TCPDUMP_PID=$BG_PID
for _ in $(seq 100); do
  grep -q 'listening on' "$WORK/tcpdump.err" && break
  sleep 0.05
done

# --- the steady connection: a line every 100 ms, closed (FIN both ways) on SIGTERM --
background ip netns exec "$PEER" socat -u "TCP-LISTEN:5001,bind=$PEER_IP,reuseaddr" OPEN:/dev/null
SERVER_PID=$BG_PID
sleep 0.3
background ip netns exec "$POD" python3 -c '
import signal, socket, sys, time
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
s = socket.create_connection((sys.argv[1], 5001), timeout=5)
n = 0
while not stop:
    s.sendall(b"steady-%d\n" % n)
    n += 1
    time.sleep(0.1)
s.shutdown(socket.SHUT_WR)
s.recv(1)  # the server closes its side in turn
s.close()
print(n)
' "$PEER_IP" >"$WORK/steady.lines"
CLIENT_PID=$BG_PID
sleep 1

# --- the flood -----------------------------------------------------------------------
rx0=$(rx_packets)
ip netns exec "$PEER" tcpreplay --topspeed -i peer0 "$PCAP" >"$WORK/replay" 2>&1 ||
  die "tcpreplay failed: $(tail -3 "$WORK/replay")"
sent=$(awk '/Successful packets:/ {print $3}' "$WORK/replay")
rate=$(awk '/^Rated:/ {for (i = 1; i < NF; i++) if ($(i + 1) ~ /^pps/) print $i}' "$WORK/replay")
# Let the ring drain and the conversation go on a little past the flood.
sleep 2
rx1=$(rx_packets)
stop_bg "$CLIENT_PID"
# The FINs, then the linger of a closed flow.
sleep 3
stop_bg "$SERVER_PID"
stop_bg "$TCPDUMP_PID"

# Where records were lost, if any: before SIGTERM (the flood's evictions) or after it.
before=$(ip netns exec "$POD" curl -sf http://127.0.0.1:9477/metrics |
  awk '$1 ~ /^podflow_export_records(_not_sent)?_total$/ {v[$1] = $2}
       END {printf "records=%d not_sent=%d", v["podflow_export_records_total"], v["podflow_export_records_not_sent_total"]}')

# --- SIGTERM: podflow ends every flow, drains to the collector, prints its totals ----
kill -TERM "$PF_PID"
PF_EXIT=0
wait "$TIME_PID" || PF_EXIT=$?
forget_pid "$TIME_PID"
forget_pid "$PF_PID"
[ "$PF_EXIT" = 0 ] || note "podflow exited with status $PF_EXIT: $(tail -3 "$WORK/podflow.log")"
sleep 0.5
stop_bg "$COLLECT_PID"
wait "$GREP_PID" 2>/dev/null || true
forget_pid "$GREP_PID"

# --- the figures ---------------------------------------------------------------------
done_line=$(done_fields "$WORK/podflow.log")
[ -n "$done_line" ] || die "no totals line in podflow's log: $(tail -3 "$WORK/podflow.log")"
rss=$(awk -F': ' '/Maximum resident/ {printf "%.1f", $2 / 1024}' "$WORK/time")
echo "flood: $sent frames sent by tcpreplay --topspeed ($rate pps), $((rx1 - rx0)) received on eth0"
echo "podflow (defaults: flow.max_flows 262144, capture.ring_bytes 4 MiB): exit $PF_EXIT"
echo "  $done_line"
echo "  before SIGTERM (/metrics): $before"
{ grep -E '"level":"(WARN|ERROR)"' "$WORK/podflow.log" || true; } | sed 's/^/  /' | tail -5
echo "  peak RSS ${rss} MB (/usr/bin/time -v, MB = 2^20 bytes)"
echo "collector: $(tail -1 "$WORK/collect.err")"
echo "steady connection: $(cat "$WORK/steady.lines") lines sent"
python3 - "$WORK/steady.jsonl" "$POD_IP" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
fwd = [0, 0]
rev = [0, 0]
for r in recs:
    pod_first = r["sourceIPv4Address"] == sys.argv[2]
    a, b = (fwd, rev) if pod_first else (rev, fwd)
    a[0] += r["packetDeltaCount"]
    a[1] += r["octetDeltaCount"]
    b[0] += r.get("reversePacketDeltaCount", 0)
    b[1] += r.get("reverseOctetDeltaCount", 0)
reasons = ",".join(str(r["flowEndReason"]) for r in recs)
print(f"  at the collector: {len(recs)} record(s) (flowEndReason {reasons or '-'}): "
      f"pod->peer {fwd[0]} packets {fwd[1]} bytes, peer->pod {rev[0]} packets {rev[1]} bytes")
PY
tshark -r "$WORK/wire.pcap" -T fields -e ip.src -e ip.len 2>/dev/null |
  awk -v pod=$POD_IP '$1 == pod {fp++; fb += $2} $1 != pod {rp++; rb += $2}
    END {printf "  tcpdump on eth0:  pod->peer %d packets %d bytes, peer->pod %d packets %d bytes\n", fp, fb, rp, rb}'
