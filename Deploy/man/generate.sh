#!/usr/bin/env bash
# Regenerates Deploy/man/subsidyctl.1 from subsidyctl's own command definitions with
# swift-argument-parser's GenerateManual plugin, so the manual lists exactly the commands, options
# and help the binary has. With --check, fails if the committed page differs (CI runs that).
# subsidyd.8 stays hand-written: it is the operator's page (files, signals, configuration), not a
# list of flags. Install with Deploy/install.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
check=no
[ "${1:-}" = "--check" ] && check=yes
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$root"
# A fixed date: the page must not change with the day it is generated on (change it at a release).
swift package --allow-writing-to-package-directory generate-manual --configuration debug \
  --date 2026-12-04 --authors "the subsidyd authors" --output-directory "$out" >/dev/null
if [ "$check" = yes ]; then
  if ! cmp -s "$out/subsidyctl.1" "$root/Deploy/man/subsidyctl.1"; then
    diff -u "$root/Deploy/man/subsidyctl.1" "$out/subsidyctl.1" | head -40 || true
    echo "Deploy/man/subsidyctl.1 is stale: run Deploy/man/generate.sh and commit it" >&2
    exit 1
  fi
  echo "manual page is up to date"
else
  cp "$out/subsidyctl.1" "$root/Deploy/man/subsidyctl.1"
  echo "regenerated Deploy/man/subsidyctl.1"
fi
