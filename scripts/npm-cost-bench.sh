#!/usr/bin/env bash
# What network performance and application identity cost: CPU per captured frame of a
# live replay with `flow.npm` and `flow.l7` on (the default) and off, each beside tcpdump
# in the same run of scripts/capture-bench.sh (same capture, same machine, same minute).
#
# Usage:  scripts/npm-cost-bench.sh [PCAP]     as root; ROUNDS (default 3) rounds, each one
#         run of capture-bench with the features on, then one with them off, so that a
#         change of load on the machine falls on both alike.
# Prints capture-bench's tables, then the median us/frame of podflow with the features on
# and off, tcpdump's in the same runs, and the ratio (the goal: on <= 1.2 x off).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "${ROUNDS:-3}"); do
  for setting in on off; do
    echo "== round $round: flow.npm and flow.l7 $setting"
    if [ "$setting" = off ]; then
      BENCH_PODFLOW_ENV="PODFLOW_FLOW__NPM=false PODFLOW_FLOW__L7=false" RUNS=1 \
        scripts/capture-bench.sh "$@" | tee -a "$out/$setting"
    else
      RUNS=1 scripts/capture-bench.sh "$@" | tee -a "$out/$setting"
    fi
  done
done
# The us/frame column of a tool's table in capture-bench's reports.
per_frame() { # file tool
  awk -v t="## $2" '$0 == t {p=1; next} /^## |^$/ {p=0} p && $1 ~ /^[0-9]+$/ && $9 != "n/a" {print $9}' "$1" |
    sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "n/a"}'
}
on=$(per_frame "$out/on" podflow)
off=$(per_frame "$out/off" podflow)
echo
echo "podflow us/frame, median of top-speed runs: on $on, off $off"
echo "tcpdump us/frame in the same runs: $(per_frame "$out/on" tcpdump) (on rounds), $(per_frame "$out/off" tcpdump) (off rounds)"
awk -v a="$on" -v b="$off" 'BEGIN { if (b > 0) printf "on / off = %.2f (goal <= 1.20)\n", a / b }'
