#!/usr/bin/env bash
# Checks the generated integrator references (Protos/MEASURES.md, Protos/METHODS.md): the
# generators' own tests, then that both files are what the generators write from today's policy
# files, protos and Swift sources, and that every status the sources raise is attributed to the
# methods that reach it. CI runs this; regenerate with the two scripts without --check.
# PYTHON: a Python 3.11+ (tomllib); default python3.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${PYTHON:-python3}"
out=$("$py" -m unittest discover -s "$here" -p 'test_*.py' 2>&1) || { printf '%s\n' "$out"; echo "Protos/reference: tests failed"; exit 1; }
"$py" "$here/measures.py" --check
"$py" "$here/methods.py" --check
