#!/usr/bin/env bash
# Rewrites Swift files from the old generated names to the prefixed ones (issue 9): a message or
# enum `X` of foshan.subsidy.v1 becomes `Foshan_Subsidy_V1_X`, a method table `XMethods` becomes
# `Foshan_Subsidy_V1_X.Method` (and `XMethods.serviceName` `Foshan_Subsidy_V1_X.serviceName`).
# The names come from wire-renames.txt, which gen_swift.py writes from the descriptor set.
#
#   Protos/codegen/rename-wire-types.sh FILE...      (edits in place; GNU sed)
#
# What it renames, per file:
# - `SubsidyWire.X` always;
# - a bare `X` (not after a `.`, so `foshan.subsidy.v1.X` in a string stays) unless SubsidyCore
#   declares a type of the same name and the file imports SubsidyCore: there a bare `Measure` was
#   the domain's (the wire's had to be spelled `SubsidyWire.Measure`), and stays so;
# - the server's former typealiases: `WireApplication` → `Foshan_Subsidy_V1_Application`,
#   `CoreApplication` → `Application`.
# Review the diff: a bare name in prose or a string literal is renamed too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
table="$here/wire-renames.txt"
[ $# -gt 0 ] || { echo "usage: $0 FILE..." >&2; exit 2; }

# Top-level type names SubsidyCore declares (Application, Measure, Locality, ...).
core_types=$(grep -hoE '^public (struct|enum|final class|class|protocol|typealias) [A-Za-z_][A-Za-z0-9_]*' \
  "$root"/Sources/SubsidyCore/*.swift | awk '{print $NF}' | LC_ALL=C sort -u)

program() { # $1: yes if the file imports SubsidyCore
  echo 's/\bWireApplication\b/Foshan_Subsidy_V1_Application/g'
  echo 's/\bCoreApplication\b/Application/g'
  while read -r kind old new; do
    case "$kind" in
      type)
        echo "s/\\bSubsidyWire\\.$old\\b/$new/g"
        if [ "$1" = no ] || ! grep -qx "$old" <<<"$core_types"; then
          echo "s/(^|[^.[:alnum:]_])$old\\b/\\1$new/g"
        fi
        ;;
      service)
        echo "s/\\b(SubsidyWire\\.)?$old\\.serviceName\\b/$new.serviceName/g"
        echo "s/\\b(SubsidyWire\\.)?$old\\b/$new.Method/g"
        ;;
    esac
  done < <(grep -v '^#' "$table")
}

for file in "$@"; do
  imports_core=no
  grep -qE '^(@[a-zA-Z_]+ )*import SubsidyCore\b' "$file" && imports_core=yes
  sed -E -i -f <(program "$imports_core") "$file"
done
