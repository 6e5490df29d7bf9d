#!/usr/bin/env bash
# Builds the fuzz targets of podflow's parsers of untrusted input (fuzz/, cargo-fuzz with
# libFuzzer) and runs each in turn for SECONDS (default 10, a smoke run), one at a time.
# Fails when a target crashes, panics, leaks memory past the limit or hangs on one input.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     every target (cargo fuzz list), or those named
#
#   FUZZ_RUNS=N        also stop each target after N executions
#   FUZZ_SANITIZER=S   address (default), or none: faster, finds panics and hangs only
#   FUZZ_NICE=N        niceness of the fuzzers (default 15: the machine stays usable)
#   FUZZ_OPT_LEVEL=N   optimisation of the build (default 3). scripts/test.sh's smoke run
#                      takes 1: a third less build time, a fuzzer 1.2 to 4 times slower
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET, read only) and from
# what earlier runs found (fuzz/corpus/TARGET, where new inputs go; not committed). A
# crashing input is written to fuzz/artifacts/TARGET/ and the command that replays it is
# printed. At the end a table gives each target's executions, time and result, from
# libFuzzer's final statistics.
#
# Only a stable toolchain is needed: the sanitizer flag (-Zsanitizer) is unstable, and
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept it, with the AddressSanitizer runtime
# that stable toolchains ship. Debug assertions are on, so an integer overflow is a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
shift || true
sanitizer=${FUZZ_SANITIZER:-address}
niceness=${FUZZ_NICE:-15}
CARGO_FUZZ_VERSION=0.13.2

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
command -v c++ >/dev/null || {
  # libFuzzer itself is C++, built by libfuzzer-sys.
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq g++ >/dev/null
}

export RUSTC_BOOTSTRAP=1
# cargo fuzz builds the release profile of fuzz/; this sets its optimisation.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${FUZZ_OPT_LEVEL:-3}
fuzz=(cargo fuzz)
flags=(--sanitizer "$sanitizer" --debug-assertions)

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd fuzz && "${fuzz[@]}" list)
fi

logs=fuzz/logs
mkdir -p "$logs"
echo "== building the fuzz targets (sanitizer $sanitizer)"
start=$(date +%s)
if ! (cd fuzz && "${fuzz[@]}" build "${flags[@]}") >"$logs/build.log" 2>&1; then
  tail -n 40 "$logs/build.log" >&2
  echo "the fuzz targets do not build (log: $logs/build.log)" >&2
  exit 1
fi
echo "   built in $(($(date +%s) - start)) s"
libfuzzer=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
[ -n "${FUZZ_RUNS:-}" ] && libfuzzer+=(-runs="$FUZZ_RUNS")

# A number from libFuzzer's final statistics in the log of the target that just ran.
stat() { grep -o "stat::$1: *[0-9]*" "$log" | grep -o '[0-9]*$' | tail -n 1; }

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  seeds=()
  [ -d "fuzz/seeds/$t" ] && seeds=("seeds/$t")
  log="$logs/$t.log"
  echo "== $t: up to $seconds s"
  t0=$(date +%s)
  if (cd fuzz && nice -n "$niceness" "${fuzz[@]}" run "${flags[@]}" "$t" "corpus/$t" "${seeds[@]}" \
        -- "${libfuzzer[@]}" -artifact_prefix="artifacts/$t/") >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    failed+=("$t")
    grep -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY|.*Test unit written to)' "$log" | head -n 8 || true
    artifact=$(grep -o 'artifacts/[^ ]*' "$log" | tail -n 1 || true)
    [ -n "$artifact" ] && echo "   replay: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run ${flags[*]} $t $artifact)"
    echo "   log: $log"
  fi
  took=$(($(date +%s) - t0))
  summary+=("$(printf '%-18s %12s %8s %6s %7s  %s' "$t" "$(stat number_of_executed_units || echo -)" \
    "$(stat average_exec_per_sec || echo -)" "${took}s" "$(stat peak_rss_mb || echo -)" "$result")")
done

printf '\n%-18s %12s %8s %6s %7s  %s\n' target executions exec/s time rss_mb result
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found failures in: ${failed[*]}" >&2
  exit 1
fi
