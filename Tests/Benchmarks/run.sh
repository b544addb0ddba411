#!/usr/bin/env bash
# The whole comparison in one command: builds what it needs, then measures subsidyd beside its
# anchors in the same run, interleaved over several rounds, and prints medians and ratios.
#
#   Tests/Benchmarks/run.sh [--rounds N] [--seconds S] [--sizes "100 10000"] [--large]
#                           [--applications N] [--app-sizes "10000 100000"] [--phases "…"]
#                           [--skip-build] [--smoke]
#
#   --rounds N        rounds of every measurement (default 3); medians are printed
#   --seconds S       seconds per round-trip measurement (default 3)
#   --sizes "A B"     prior ledger sizes for the approval phase (default "100 10000")
#   --large           also 100000 and 1000000 prior awards, and 1000000 applications (1M takes a while)
#   --applications N  applications filed and approved per round and size (default 500)
#   --app-sizes "A B" applications loaded for the quota and list phase (default "10000 100000")
#   --phases "…"      which of rpc, approvals, browse to run (default all three)
#   --smoke           one short round of everything, sizes "100", to check the harness works
#   --skip-build      reuse the release build and the scratch binaries already there
#   SUBSIDYD=PATH     measure this subsidyd binary instead of this tree's release build (another
#                     commit's, for a before/after run with the same harness)
#   BENCH_DIR=DIR     scratch and data directory (default .build-bench, on the repository's disk:
#                     the SQLite anchor and the daemon's files are on the same disk)
#
# Anchors (all built here): raw Unix-socket ping-pong in C (no protocol), raw SQLite WAL +
# synchronous=FULL single-row commits in C, and a Health.Check-shaped unary call served by gRPC C++
# over a Unix socket (Tests/Benchmarks/grpc). Nothing here is a test: no figure is asserted.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
here="$root/Tests/Benchmarks"

rounds=3 seconds=3 sizes="100 10000" applications=500 app_sizes="10000 100000" phases="rpc approvals browse" skip_build=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --large) sizes="$sizes 100000 1000000" app_sizes="$app_sizes 1000000"; shift ;;
    --applications) applications=$2; shift 2 ;;
    --app-sizes) app_sizes=$2; shift 2 ;;
    --phases) phases=$2; shift 2 ;;
    --smoke) rounds=1 seconds=0.5 sizes=100 applications=25 app_sizes=1000; shift ;;
    --skip-build) skip_build=1; shift ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

bench_dir=${BENCH_DIR:-$root/.build-bench}
bin="$bench_dir/bin"
mkdir -p "$bin"
results="$bench_dir/results-$(date -u +%Y%m%dT%H%M%SZ).txt"
: >"$results"

need=()
for pkg in libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libsqlite3-dev libprotobuf-c-dev libicu-dev pkg-config g++; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Shared machines serialise Swift builds on this lock (a no-op elsewhere).
swift_locked() { if command -v flock >/dev/null; then flock /tmp/swift-build.lock swift "$@"; else swift "$@"; fi; }

if [ "$skip_build" = 0 ]; then
  echo "== swift build -c release (subsidyd, subsidyd-bench; first time: several minutes)"
  for product in subsidyd subsidyd-bench; do
    swift_locked build -c release --product "$product" 2>&1 | { grep -Ev '^\[[0-9]+/[0-9]+\]' || true; }
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "swift build failed" >&2; exit 1; }
  done
  echo "== C and C++ anchors into $bin"
  gcc -O2 -pthread -o "$bin/uds_pingpong" "$here/c/uds_pingpong.c"
  gcc -O2 -pthread -o "$bin/subsidyd_health" "$here/c/subsidyd_health.c"
  gcc -O2 -o "$bin/sqlite_commits" "$here/c/sqlite_commits.c" -lsqlite3
  gcc -O2 -o "$bin/wait_ready" "$here/c/wait_ready.c"
  gcc -O2 -o "$bin/now_ns" "$here/c/now_ns.c"
  gen="$bench_dir/grpc-gen"
  mkdir -p "$gen"
  protoc -I "$here/grpc" --cpp_out="$gen" --grpc_out="$gen" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" "$here/grpc/health.proto"
  # shellcheck disable=SC2046
  g++ -O2 -std=c++17 -I"$gen" -o "$bin/grpc_server" "$here/grpc/server.cc" "$gen/health.pb.cc" "$gen/health.grpc.pb.cc" $(pkg-config --cflags --libs grpc++ protobuf)
  # shellcheck disable=SC2046
  g++ -O2 -std=c++17 -pthread -I"$gen" -o "$bin/grpc_client" "$here/grpc/client.cc" "$gen/health.pb.cc" "$gen/health.grpc.pb.cc" $(pkg-config --cflags --libs grpc++ protobuf)
fi
release=$(swift build -c release --show-bin-path)
subsidyd=${SUBSIDYD:-$release/subsidyd}
for b in "$subsidyd" "$release/subsidyd-bench" "$bin/uds_pingpong" "$bin/subsidyd_health" "$bin/grpc_server" "$bin/grpc_client" "$bin/wait_ready"; do
  [ -x "$b" ] || { echo "missing $b: run without --skip-build" >&2; exit 1; }
done

daemon_pid=""
grpc_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
  [ -n "$grpc_pid" ] && kill -TERM "$grpc_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

clock_ticks=$(getconf CLK_TCK)
# CPU seconds (user + system) a process has used so far, from /proc/PID/stat.
cpu_of() { awk -v t="$clock_ticks" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }
# Peak resident set (VmHWM), in MiB.
peak_rss_of() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
record() { echo "$*" | tee -a "$results"; }

# The shipped programmes have all ended: the daemon files on the 2020 measures' last day (a
# binary from before --today existed files on the real one, as it did then).
pinned_day=()
"$subsidyd" --help 2>&1 | grep -q -- '--today' && pinned_day=(--today 2023-12-31)

# Starts subsidyd --dev on $1 and waits until the city socket answers Health.Check SERVING;
# sets `ready` to the start-up time as ready_ms=…. (Not to be called in $(…): the daemon's pid
# must reach this shell.)
start_daemon() {
  local data=$1 t0
  rm -f "$data/sockets/city.sock"  # a SIGKILLed daemon leaves its socket file behind
  t0=$("$bin/now_ns")
  "$subsidyd" --dev --data-dir "$data" "${pinned_day[@]}" --log-level warning >>"$bench_dir/subsidyd.log" 2>&1 &
  daemon_pid=$!
  ready=$("$bin/wait_ready" "$data/sockets/city.sock" "$t0" 600)
}
stop_daemon() { kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""; }

# The end of one size of a phase, on the running daemon for "$data": records its CPU since $cpu0,
# its peak RSS and $2 (file sizes) under the prefix $1 (size=… or apps=…); SIGKILLs it and records
# the start-up after that (the WAL replayed, the districts rolled forward); stops it and sets
# `check` from `subsidyd --check` (consistency, audit chains).
finish_size() {
  local prefix=$1 files=$2 log="$bench_dir/check-${1//=/-}.log"
  record "$prefix daemon cpu_s=$(awk -v a="$cpu0" -v b="$(cpu_of "$daemon_pid")" 'BEGIN { printf "%.3f", b - a }') peak_rss_mib=$(peak_rss_of "$daemon_pid") $files"
  kill -KILL "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""
  start_daemon "$data"
  record "$prefix startup after-sigkill $ready"
  stop_daemon
  if "$subsidyd" --dev --data-dir "$data" --check >"$log" 2>&1; then check=consistent; else check="INCONSISTENT (see $log)"; fi
}

echo "== machine"
record "machine subsidyd=$subsidyd cpus=$(nproc) model=\"$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)\" mem_gib=$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo) kernel=$(uname -r) fs=$(df -T "$bench_dir" | awk 'NR==2 { print $2 }') grpc=$(pkg-config --modversion grpc++) sqlite=$(pkg-config --modversion sqlite3) swift=\"$(swift --version 2>&1 | head -1)\" load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""

phase() { [[ " $phases " == *" $1 "* ]]; }

if phase rpc; then
echo "== round trips: raw UDS, gRPC C++ over UDS, subsidyd Health.Check (Swift client, C client) ($rounds rounds × $seconds s, one call in flight per connection)"
rpc_data="$bench_dir/data-rpc"
rm -rf "$rpc_data" && mkdir -p "$rpc_data"
start_daemon "$rpc_data"
"$bin/grpc_server" "$bench_dir/grpc.sock" >/dev/null &
grpc_pid=$!
for _ in $(seq 1 100); do [ -S "$bench_dir/grpc.sock" ] && break; sleep 0.05; done
for round in $(seq 1 "$rounds"); do
  # The order rotates each round, so no contender always runs first (or after the same one).
  order=("uds grpc subsidyd subsidyd-c" "grpc subsidyd-c subsidyd uds" "subsidyd uds subsidyd-c grpc")
  for connections in 1 8 64; do
    for who in ${order[$(( (round - 1) % 3 ))]}; do
      case $who in
        uds) line=$("$bin/uds_pingpong" "$bench_dir/uds.sock" "$connections" "$seconds") ;;
        grpc)
          c0=$(cpu_of "$grpc_pid")
          line=$("$bin/grpc_client" "$bench_dir/grpc.sock" "$connections" "$seconds")
          line="$line server_cpu_s=$(awk -v a="$c0" -v b="$(cpu_of "$grpc_pid")" 'BEGIN { printf "%.3f", b - a }')" ;;
        subsidyd)
          c0=$(cpu_of "$daemon_pid")
          line=$("$release/subsidyd-bench" rpc --data-dir "$rpc_data" --connections "$connections" --seconds "$seconds")
          line="$line server_cpu_s=$(awk -v a="$c0" -v b="$(cpu_of "$daemon_pid")" 'BEGIN { printf "%.3f", b - a }')" ;;
        subsidyd-c) line=$("$bin/subsidyd_health" "$rpc_data/sockets/city.sock" "$connections" "$seconds") ;;
      esac
      record "round=$round $line"
    done
  done
done
record "rpc-daemon peak_rss_mib=$(peak_rss_of "$daemon_pid") grpc_server_peak_rss_mib=$(peak_rss_of "$grpc_pid")"
kill -TERM "$grpc_pid"; wait "$grpc_pid" 2>/dev/null || true; grpc_pid=""
stop_daemon
fi

if phase approvals; then
echo "== approvals at ledger sizes: $sizes ($rounds rounds × $applications applications, beside raw SQLite commits)"
for size in $sizes; do
  data="$bench_dir/data-$size"
  rm -rf "$data" && mkdir -p "$data"
  start_daemon "$data"
  record "size=$size $("$release/subsidyd-bench" prefill --data-dir "$data" --awards "$size")"
  stop_daemon
  # Start-up on a ledger of this size after a clean stop.
  start_daemon "$data"
  record "size=$size startup clean $ready"
  cpu0=$(cpu_of "$daemon_pid")
  for round in $(seq 1 "$rounds"); do
    record "size=$size round=$round $("$bin/sqlite_commits" "$bench_dir" "$seconds")"
    # Filing, then approvals one call each (8 in flight), in lists, one call each with 32 in
    # flight: each line recorded with its size and round.
    "$release/subsidyd-bench" approve --data-dir "$data" --applications "$applications" --run-tag "$round" --wide-concurrency 32 \
      | while IFS= read -r line; do record "size=$size round=$round $line"; done
  done
  finish_size "size=$size" "ledger_mib=$(du -m "$data/city-ledger.sqlite" | cut -f1)"
  # Beside the daemon's own check, an independent sum of every cap scope against the policy's limits.
  record "size=$size check=$check $(python3 "$here/overcommit.py" "$data/city-ledger.sqlite" "$root/Deploy/policy/foshan-2020.toml")"
done
fi

if phase browse; then
echo "== quota status and lists at application counts: $app_sizes ($rounds rounds × $seconds s per kind of call)"
for size in $app_sizes; do
  data="$bench_dir/apps-$size"
  rm -rf "$data" && mkdir -p "$data"
  # One start creates and migrates the files; the loader writes into them with the daemon stopped.
  start_daemon "$data"
  stop_daemon
  record "apps=$size $("$release/subsidyd-bench" applications --data-dir "$data" --count "$size")"
  start_daemon "$data"
  record "apps=$size startup clean $ready"
  cpu0=$(cpu_of "$daemon_pid")
  for round in $(seq 1 "$rounds"); do
    "$release/subsidyd-bench" browse --data-dir "$data" --seconds "$seconds" \
      | while IFS= read -r line; do record "apps=$size round=$round $line"; done
  done
  finish_size "apps=$size" "districts_mib=$(du -cm "$data"/districts/*.sqlite | tail -1 | cut -f1)"
  record "apps=$size check=$check"
done
fi

echo
python3 "$here/report.py" "$results"
echo "(raw lines: $results)"
