#!/usr/bin/env bash
# Regenerates config/kustomize/podflow-sidecar from podflow's sidecar builder with the
# default configuration (no --config, no PODFLOW_* from the environment). it/kustomize.rs
# fails when the committed files differ from what this writes.
set -euo pipefail
cd "$(dirname "$0")/.."
for var in $(env | sed -n 's/^\(PODFLOW_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$var"
done
out=config/kustomize/podflow-sidecar
rm -rf "$out"
cargo run --quiet --locked -- kustomize-component --out "$out"
