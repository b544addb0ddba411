#!/usr/bin/env bash
# Generates the Python protobuf modules for every file under Protos/ into DIR
# (default: Protos/python/gen, which is git-ignored; generated Python is never committed).
#
#   Protos/python/generate.sh [DIR]
#
# Needs protoc (Debian: protobuf-compiler). The output needs the `protobuf` Python runtime
# (pip install 'protobuf==4.25.9'); point subsidy_client.py at DIR with SUBSIDY_PY_GEN=DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/Protos/python/gen}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root/Protos"
protos=$(find foshan -name '*.proto' | LC_ALL=C sort)
# shellcheck disable=SC2086
protoc --python_out="$out" -I. $protos
echo "generated Python for $(echo $protos | wc -w) files into $out"
