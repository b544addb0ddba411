#!/usr/bin/env bash
# Regenerates Deploy/man/subsidyctl.1 from subsidyctl's own command definitions with
# swift-argument-parser's generate-manual tool, so the manual lists exactly the commands, options
# and help the binary has. With --check, fails if the committed page differs (CI runs that).
# subsidyd.8 stays hand-written: it is the operator's page (files, signals, configuration), not a
# list of flags. Install with Deploy/install.sh.
#
# The tool drops every non-ASCII character (its escaping keeps only ASCII), which left the page
# with "rename ()" where the help says "rename (更名)". So the tool reads subsidyctl's help through
# a wrapper that writes each non-ASCII character as an ASCII placeholder, and the placeholders
# become groff's \[uXXXX] escapes afterwards: man and mandoc show the Chinese again.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
check=no
[ "${1:-}" = "--check" ] && check=yes
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$root"
mkdir -p "$out/plugin"
# The plugin builds subsidyctl and the tool (its own page, with the Chinese lost, is not used).
swift package --allow-writing-to-package-directory generate-manual --configuration debug \
  --date 2026-12-04 --authors "the subsidyd authors" --output-directory "$out/plugin" >/dev/null
bin=$(swift build --configuration debug --show-bin-path)
mkdir -p "$out/bin"
cat > "$out/bin/subsidyctl" <<WRAPPER
#!/bin/sh
"$bin/subsidyctl" "\$@" | "$python" -c '
import json, sys
def ascii(v):
    if isinstance(v, str): return "".join(c if ord(c) < 128 else "@@u%04X@@" % ord(c) for c in v)
    if isinstance(v, list): return [ascii(x) for x in v]
    if isinstance(v, dict): return {k: ascii(x) for k, x in v.items()}
    return v
text = sys.stdin.read()
try:
    sys.stdout.write(json.dumps(ascii(json.loads(text))))
except ValueError:
    sys.stdout.write(ascii(text))
'
WRAPPER
chmod +x "$out/bin/subsidyctl"
# A fixed date: the page must not change with the day it is generated on (change it at a release).
"$bin/generate-manual-tool" "$out/bin/subsidyctl" --date 2026-12-04 --authors "the subsidyd authors" --output-directory "$out" >/dev/null
sed -i -E 's/@@u([0-9A-F]{4,6})@@/\\[u\1]/g' "$out/subsidyctl.1"
if grep -q '@@u' "$out/subsidyctl.1"; then echo "a placeholder survived in the page" >&2; exit 1; fi
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
