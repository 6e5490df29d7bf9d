#!/usr/bin/env bash
# What network performance and application identity cost: CPU per captured frame of a
# live replay with `flow.npm` and `flow.l7` on (the default) and off, each beside tcpdump
# in the same run of scripts/capture-bench.sh (same capture, same machine, same minute).
#
# Usage:  scripts/npm-cost-bench.sh [PCAP]     as root; RUNS (default 2) runs per setting.
# Prints capture-bench's tables for each setting, then the median us/frame of podflow with
# the features on and off and their ratio (the goal: on <= 1.2 x off).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for setting in on off; do
  echo "== flow.npm and flow.l7 $setting"
  if [ "$setting" = off ]; then
    PODFLOW_FLOW__NPM=false PODFLOW_FLOW__L7=false RUNS="${RUNS:-2}" \
      scripts/capture-bench.sh "$@" | tee "$out/$setting"
  else
    RUNS="${RUNS:-2}" scripts/capture-bench.sh "$@" | tee "$out/$setting"
  fi
done
# The us/frame column of podflow's table (its rows come before tcpdump's header).
per_frame() {
  awk '/^## podflow/ {p=1; next} /^## / {p=0} p && $1 !~ /^@/ && $1 != "run" && $9 != "n/a" {print $9}' "$1" |
    sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "n/a"}'
}
on=$(per_frame "$out/on")
off=$(per_frame "$out/off")
echo
echo "podflow us/frame, median of top-speed runs: on $on, off $off"
awk -v a="$on" -v b="$off" 'BEGIN { if (b > 0) printf "on / off = %.2f (goal <= 1.20)\n", a / b }'
