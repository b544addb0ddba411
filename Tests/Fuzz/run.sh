#!/usr/bin/env bash
# Builds the libFuzzer targets (address sanitizer) and runs one of them.
#
#   Tests/Fuzz/run.sh TARGET [RUNS] [extra libFuzzer flags...]
#
# TARGET: frame-decoder | envelope | requests | json | amounts  (or the full name, fuzz-json)
# RUNS:   executions to run (-runs=N); default 1000000. 0 or "forever" runs until stopped.
#
# Starts from the committed seeds in corpus/TARGET and the saved crashes in regressions/TARGET;
# new interesting inputs go to $FUZZ_OUT/TARGET/corpus (default /work/main/fuzz-out, gitignored),
# crashes to $FUZZ_OUT/TARGET/ as crash-<sha1>. Copy a crash you fixed into regressions/TARGET/.
# Environment: FUZZ_SCRATCH (build dir, default <repo>/.build-fuzz), FUZZ_NO_BUILD=1 to skip the build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${1:?usage: run.sh TARGET [RUNS] [libFuzzer flags...]}"
target="${target#fuzz-}"
runs="${2:-1000000}"
shift $(( $# >= 2 ? 2 : 1 ))
case "$target" in
    frame-decoder|envelope|requests|json|amounts) ;;
    *) echo "unknown target '$target' (frame-decoder, envelope, requests, json, amounts)" >&2; exit 2 ;;
esac
[[ "$runs" == forever ]] && runs=-1
[[ "$runs" == 0 ]] && runs=-1

scratch="${FUZZ_SCRATCH:-$repo/.build-fuzz}"
out="${FUZZ_OUT:-$repo/fuzz-out}/$target"

if [[ "${FUZZ_NO_BUILD:-0}" != 1 ]]; then
    # Global flags: every Swift module (ours and SwiftNIO) is instrumented for coverage and ASan.
    # -parse-as-library: the harnesses have no top-level code; libFuzzer provides main().
    swift build --package-path "$here" -c release --scratch-path "$scratch" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
        --product "fuzz-$target" >&2
fi
binary="$scratch/release/fuzz-$target"

mkdir -p "$out/corpus"
seeds=("$here/corpus/$target")
[[ -d "$here/regressions/$target" ]] && seeds+=("$here/regressions/$target")

# The Swift backtracer can hang after an ASan report; ASan/libFuzzer print what is needed.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
exec "$binary" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/" "$@" "$out/corpus" "${seeds[@]}"
