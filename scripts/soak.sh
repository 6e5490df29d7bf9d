#!/usr/bin/env bash
# Export outage soak: builds the release binary, then runs scripts/soak.py (as root), which
# prints for each scenario the flows produced, the records the collector received, what
# podflow counted as not sent, and its peak RSS.
#
#   scripts/soak.sh                          the full soak: 500 flows/s, a 30 s outage
#   scripts/soak.sh --rate 200 --outage 5    smaller (any soak.py option)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin podflow
exec python3 scripts/soak.py --podflow target/release/podflow "$@"
