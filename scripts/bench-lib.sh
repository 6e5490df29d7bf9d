# shellcheck shell=bash
# Shared by the benchmark scripts, which source it once they have defined note and die
# and set REPO (the repository), then call make_workdir.

# generated_pcap NAME [GENERATOR ARGS...]: prints the path of $BENCH_DIR/NAME, made by
# scripts/gen-flows.py --seed 1 [ARGS] unless a finished one is there. The generator writes
# NAME.truth.json once the capture is complete, so its presence marks a finished capture;
# a capture is reused only when its truth names the generator as it is now (its sha256),
# so that a capture left by an older generator is made again.
BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
generated_pcap() {
  local name=$1 gen="$BENCH_LIB_DIR/gen-flows.py" out made
  shift
  [ -f "$gen" ] || die "no PCAP given and the generator is missing: expected $gen"
  mkdir -p "$BENCH_DIR"
  out="$(readlink -f "$BENCH_DIR")/$name"
  if [ -f "$out" ] && [ -f "$out.truth.json" ]; then
    made=$(python3 - "$out.truth.json" "$gen" <<'PY'
import hashlib, json, sys
try:
    made = json.load(open(sys.argv[1])).get("generator_sha256")
except (OSError, ValueError):
    made = None
now = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
print("same" if made == now else "other")
PY
)
  else
    made=none
  fi
  if [ "$made" = same ]; then
    note "reusing $out"
  else
    [ "$made" = other ] && note "$out was made by another version of gen-flows.py"
    rm -f "$out.truth.json"
    note "generating $out (scripts/gen-flows.py --seed 1 $*; the full size takes about 10 s)"
    python3 "$gen" --out "$out" --seed 1 "$@" > "$WORK/gen.log" ||
      { tail -5 "$WORK/gen.log" >&2; die "gen-flows.py failed"; }
  fi
  echo "$out"
}

# pcap_shape FILE: prints "FRAMES LARGEST" (frame count, largest frame in bytes) of a
# classic libpcap file of either byte order and time unit, or "? ?" for anything else.
pcap_shape() {
  python3 - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    magic = f.read(24)[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        fmt = "<I"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        fmt = ">I"
    else:
        print("? ?")
        sys.exit(0)
    n = largest = 0
    while True:
        h = f.read(16)
        if len(h) < 16:
            break
        size = struct.unpack(fmt, h[8:12])[0]
        largest = max(largest, size)
        f.seek(size, 1)
        n += 1
print(n, largest)
PY
}

# build_release: builds the release binary (--locked, or without it when Cargo.lock is
# out of date with Cargo.toml) and sets PODFLOW to it. With PODFLOW_BIN set, that binary
# is measured instead and nothing is built (to compare two builds).
build_release() {
  if [ -n "${PODFLOW_BIN:-}" ]; then
    PODFLOW=$(readlink -f "$PODFLOW_BIN")
    [ -x "$PODFLOW" ] || die "PODFLOW_BIN=$PODFLOW_BIN is not an executable"
    note "measuring $PODFLOW (PODFLOW_BIN); nothing built"
    # podflow reads every PODFLOW_* variable as configuration, and knows no key "bin".
    unset PODFLOW_BIN
    return
  fi
  note "building podflow (release)"
  if ! (cd "$REPO" && cargo build --release --locked --bin podflow) 2>&1 | tee "$WORK/build.log" >&2; then
    if grep -q -- '--locked' "$WORK/build.log"; then
      note "Cargo.lock is out of date with Cargo.toml; building without --locked"
      (cd "$REPO" && cargo build --release --bin podflow) >&2 || die "cargo build --release failed"
    else
      die "cargo build --release --locked failed (see above); if the code is being edited, try again later"
    fi
  fi
  PODFLOW="${CARGO_TARGET_DIR:-$REPO/target}/release/podflow"
  [ -x "$PODFLOW" ] || die "no binary at $PODFLOW after the build"
}

# write_kubeconfig URL FILE: a kubeconfig naming the API server at URL (no credentials), as
# kubectl would read it.
write_kubeconfig() {
  cat >"$2" <<EOF
apiVersion: v1
kind: Config
current-context: fake
clusters: [{name: fake, cluster: {server: "$1"}}]
users: [{name: fake, user: {}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
EOF
}

# make_workdir PREFIX: makes the scratch directory WORK (/tmp/PREFIX.XXXXXX) and arranges
# that, however the script ends, the processes in PIDS are stopped (SIGTERM, then SIGKILL
# after 3 s), the namespaces in NAMESPACES deleted and WORK removed.
make_workdir() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()       # processes started here and still running
  NAMESPACES=() # namespaces made here and not yet deleted
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

cleanup() {
  local pid ns _
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for ns in "${NAMESPACES[@]+"${NAMESPACES[@]}"}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$WORK"
}

# forget_pid PID: PID has been stopped by the script itself.
forget_pid() {
  local p keep=()
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

# pod_peer_netns POD PEER MTU: two namespaces (in NAMESPACES, for the cleanup), quiet (no
# router solicitations, duplicate address detection nor router advertisements), joined by
# a veth pair of that MTU, eth0 in POD and peer0 in PEER, both up; no address.
pod_peer_netns() {
  local ns
  for ns in "$1" "$2"; do
    ip netns add "$ns"
    NAMESPACES+=("$ns")
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.router_solicitations=0 \
      net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.accept_ra=0
    ip -n "$ns" link set lo up
  done
  ip link add eth0 netns "$1" mtu "$3" type veth peer name peer0 netns "$2" mtu "$3"
  ip -n "$1" link set eth0 up
  ip -n "$2" link set peer0 up
}

# replay_shape: sets FRAMES and LARGEST of $PCAP (see pcap_shape) and warns when a frame
# is larger than the veth MTU + 14 lets through.
replay_shape() {
  # shellcheck disable=SC2034  # FRAMES is the caller's
  read -r FRAMES LARGEST < <(pcap_shape "$PCAP")
  if [ "$LARGEST" != "?" ] && [ "$LARGEST" -gt $((MTU + 14)) ]; then
    note "the largest frame of $PCAP is $LARGEST bytes, more than MTU $MTU + 14: tcpreplay will fail on it (set MTU=...)"
  fi
}

# clear_podflow_env: inherited PODFLOW_* settings would silently change what is measured.
clear_podflow_env() {
  local v
  for v in $(compgen -e | grep '^PODFLOW_' || true); do
    note "ignoring $v from the environment"
    unset "$v"
  done
}

# terminate_podflow PID: SIGTERM, up to 15 s to finish (it ends every flow and drains the
# exporter), then SIGKILL; sets PF_EXIT to its exit status.
# shellcheck disable=SC2034  # PF_EXIT is the caller's
terminate_podflow() {
  local _
  kill -TERM "$1"
  for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then
    note "podflow did not exit within 15 s of SIGTERM; killing it"
    kill -KILL "$1" 2>/dev/null || true
  fi
  PF_EXIT=0
  wait "$1" 2>/dev/null || PF_EXIT=$?
  forget_pid "$1"
}

# done_fields LOG: the totals of podflow's last "done" log line (JSON logs) as
# "packets=N ignored=N kernel_drops=N flows=N records=N not_sent=N evicted=N evicted_noise=N";
# empty without one.
done_fields() {
  python3 - "$1" <<'PY'
import json, sys
found = None
for line in open(sys.argv[1], errors="replace"):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    f = o.get("fields", o)
    if f.get("message") == "done":
        found = f
if found:
    print(" ".join(f"{k}={found[k]}" for k in ("packets", "ignored", "kernel_drops", "flows",
                                              "records", "not_sent", "evicted",
                                              "evicted_noise") if k in found))
PY
}

# done_field NAME FIELDS: the value of NAME in done_fields' output.
done_field() {
  sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<< "$2"
}

# --- an nfcapd collector on loopback (bench.sh, flow-bench.sh) ----------------------

# "rx_queue drops" of the socket bound to 127.0.0.1:port, from /proc/net/udp.
udp_sock_state() { # port
  local rx drops
  read -r rx drops < <(awk -v p="$(printf '0100007F:%04X' "$1")" \
    '$2 == p { split($5, q, ":"); print q[2], $NF; f = 1; exit } END { if (!f) print "0 0" }' /proc/net/udp)
  echo "$((16#$rx)) $drops"
}

# start_collector DIR PORT: nfcapd on 127.0.0.1:PORT writing to DIR, with a socket
# buffer of RCVBUF bytes (the caller's); sets COLLECTOR_PID.
start_collector() { # dir port
  mkdir -p "$1"
  if ss -Hlun "sport = :$2" | grep -q .; then
    die "UDP port $2 is already in use; choose another base with PORT=..."
  fi
  nfcapd -w "$1" -p "$2" -b 127.0.0.1 -B $RCVBUF -t 3600 > "$1.log" 2>&1 &
  COLLECTOR_PID=$!
  PIDS+=("$COLLECTOR_PID")
  local _
  for _ in $(seq 100); do
    ss -Hlun "sport = :$2" | grep -q . && return 0
    kill -0 "$COLLECTOR_PID" 2>/dev/null || { cat "$1.log" >&2; die "nfcapd did not start"; }
    sleep 0.05
  done
  die "nfcapd did not listen on 127.0.0.1:$2"
}

# Lets nfcapd empty its socket, keeps the kernel's drop count in COLLECTOR_DROPS and
# stops nfcapd (it writes its file on SIGTERM).
stop_collector() { # port
  local _ rx drops
  for _ in $(seq 200); do
    read -r rx drops < <(udp_sock_state "$1")
    [ "$rx" -eq 0 ] && break
    sleep 0.05
  done
  sleep 0.3
  read -r rx drops < <(udp_sock_state "$1")
  COLLECTOR_DROPS=$drops
  kill "$COLLECTOR_PID"
  wait "$COLLECTOR_PID" 2>/dev/null || true
  forget_pid "$COLLECTOR_PID"
}

# "flows packets bytes" summed over the nfcapd files in dir.
collector_totals() { # dir
  nfdump -R "$1" -I 2>/dev/null |
    awk '/^Flows:/{f=$2} /^Packets:/{p=$2} /^Bytes:/{b=$2} END{print (f==""?0:f), (p==""?0:p), (b==""?0:b)}'
}
