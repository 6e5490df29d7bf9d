#!/usr/bin/env bash
# Builds podflow's container image, one image for every mode, as an OCI image-layout archive
# (`ctr images import`, `skopeo copy oci-archive:...`), without a container daemon.
#
#   scripts/image.sh OUT.tar [BINARY]
#
# BINARY defaults to target/release/podflow (build it first: cargo build --release --locked).
# The image holds that binary (debug sections stripped) with the one capability it needs as a
# file capability, the shared libraries it links and their licences, a passwd/group with the
# nonroot user, and config/podflow.toml; nothing else: no shell, no package manager.
#
# - USER 65532:65532. /usr/local/bin/podflow carries cap_net_raw as a file capability with
#   the permitted bit only: a non-root sidecar whose container adds NET_RAW gets it in its
#   permitted set at exec (Kubernetes has no ambient capabilities) and podflow raises it into
#   its effective set itself; exec never fails where the runtime's bounding set lacks it.
# - Reproducible: the same binary and commit give the same bytes. Timestamps are
#   SOURCE_DATE_EPOCH, by default the commit time of HEAD.
# - PODFLOW_IMAGE names the image (default ghcr.io/podflow/podflow:<version>).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)

[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
OUT=$1
BINARY=${2:-$REPO/target/release/podflow}
[ -x "$BINARY" ] || { echo "image.sh: $BINARY is not an executable; run cargo build --release --locked first" >&2; exit 2; }

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n 1)
REF=${PODFLOW_IMAGE:-ghcr.io/podflow/podflow:$VERSION}
REVISION=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || echo 0)}

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
# Line tables serve local debugging; the image ships symbols only (a panic still names its
# functions). objcopy output depends only on its input.
objcopy --strip-debug "$BINARY" "$STAGE/podflow"

# The Debian package that installed one of these paths (dpkg knows merged-/usr files by
# either name), without its architecture; empty if none.
package_of() {
  local p
  for p in "$@"; do
    dpkg-query -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1 && return
  done
}

entries=("$STAGE/podflow=/usr/local/bin/podflow")
# The dynamic loader and every library the binary links, at the paths they have on Debian 12
# (merged /usr: /lib is usr/lib), with the licence of the package each comes from.
interpreter=""
while read -r lib; do
  real=$(readlink -f "$lib")
  case "$lib" in
    */ld-linux*) interpreter=$lib ;;
  esac
  entries+=("$real=$real")
  pkg=$(package_of "$lib" "$real" "${real#/usr}")
  [ -f "/usr/share/doc/$pkg/copyright" ] &&
    entries+=("/usr/share/doc/$pkg/copyright=/usr/share/doc/$pkg/copyright")
done < <(ldd "$BINARY" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
[ -n "$interpreter" ] || { echo "image.sh: no dynamic loader in ldd's output for $BINARY" >&2; exit 1; }
interpreter_real=$(readlink -f "$interpreter")
entries+=(
  "link:/lib=usr/lib"
  "link:/lib64/$(basename "$interpreter")=$interpreter_real"
  "$REPO/LICENSE=/usr/share/doc/podflow/LICENSE"
  "$REPO/config/podflow.toml=/etc/podflow/podflow.toml"
  "text:/etc/passwd=root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
"
  "text:/etc/group=root:x:0:
nonroot:x:65532:
"
  "text:/etc/nsswitch.conf=hosts: files dns
"
  "dir:/home/nonroot"
)

python3 "$REPO/scripts/oci-image.py" --out "$OUT" --ref "$REF" \
  --user 65532:65532 \
  --entrypoint '["/usr/local/bin/podflow"]' \
  --expose 8443/tcp --expose 9477/tcp \
  --label "org.opencontainers.image.title=podflow" \
  --label "org.opencontainers.image.version=$VERSION" \
  --label "org.opencontainers.image.revision=$REVISION" \
  --label "org.opencontainers.image.licenses=Apache-2.0" \
  --file-cap /usr/local/bin/podflow=net_raw \
  "${entries[@]}"
