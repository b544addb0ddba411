#!/usr/bin/env bash
# Generates the Go messages for every file under Protos/ into Protos/go/subsidypb (git-ignored:
# generated Go is never committed; CI generates it before `go test`, see README.md).
#
#   Protos/go/generate.sh
#
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-go (Debian: protoc-gen-go, the APIv2
# plugin from golang-google-protobuf, the same version as the runtime in golang-google-protobuf-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
protos_root=$(cd "$here/.." && pwd)
module=subsidyd.local/client
out="$here/subsidypb"
rm -rf "$out"
mkdir -p "$out"
cd "$protos_root"
mapfile -t protos < <(find foshan -name '*.proto' | LC_ALL=C sort)
# The .proto files set no go_package: map each to one Go package on the command line.
opts=()
for p in "${protos[@]}"; do opts+=("--go_opt=M$p=$module/subsidypb"); done
protoc -I . --go_out="$here" --go_opt=module="$module" "${opts[@]}" "${protos[@]}"
echo "generated Go for ${#protos[@]} files into $out"
