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
# - a bare `X` (not after a `.`, so `foshan.subsidy.v1.X` in a string stays), except where X is
#   also a SubsidyCore type (Application, Measure, Locality, ApplicationState, ApplicantRole,
#   SelectionLevel, LimitTrace) and the bare name may be the domain's:
#   - in Sources/SubsidyServer a bare `Measure` was the domain's (module typealiases said so; the
#     wire's was spelled `SubsidyWire.Measure`): it stays;
#   - in a file that imports SubsidyCore but not SubsidyWire it is the domain's: it stays;
#   - in a file that imports both, overloads decided: it stays, and the script lists the line
#     ("check:") for you to decide (the compiler will complain about the wire ones);
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

program() { # $1: yes if a bare name shared with SubsidyCore is (or may be) the domain's
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

shared=$(grep -v '^#' "$table" | awk '$1 == "type" {print $2}' | grep -xF "$core_types" | paste -sd'|' -)
for file in "$@"; do
  core=no wire=no server=no
  grep -qE '^(@[a-zA-Z_]+ )*import SubsidyCore\b' "$file" && core=yes
  grep -qE '^(@[a-zA-Z_]+ )*import SubsidyWire\b' "$file" && wire=yes
  case "$(cd "$(dirname "$file")" && pwd)/" in "$root"/Sources/SubsidyServer/*) server=yes ;; esac
  domain=no
  { [ "$server" = yes ] || [ "$core" = yes ]; } && domain=yes
  if [ "$server" = no ] && [ "$core" = yes ] && [ "$wire" = yes ] && [ -n "$shared" ]; then
    grep -nE "(^|[^.[:alnum:]_])($shared)\b" "$file" | grep -vE '^[0-9]+:[[:space:]]*//' \
      | sed "s|^|check: $file:|" >&2 || true
  fi
  sed -E -i -f <(program "$domain") "$file"
done
