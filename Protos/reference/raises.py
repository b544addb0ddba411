"""Finds every place the Swift sources raise a per-request status, with the function it is in.

A raise site is one of:
  .invalidField("path", …) / SubsidyError.invalidField(…)   INVALID_ARGUMENT + FieldViolation
  a call passing `field: "path"` (USCC.parse, parseDate, InputLimits.check, …)  the same
  a conversion from the wire passing `wire: x, path: "path"` (Grade(wire:path:))  the same
  .precondition("subject", …)                               FAILED_PRECONDITION + PreconditionFailure
  .capExhausted(…)                                          RESOURCE_EXHAUSTED + CapViolation
  SubsidyError(.code, "message", details: [.field(path: "p", …)])   that code, with its detail if any
`invalidField(field, …)` with a variable is the callee's half of a `field:` (or `wire:, path:`) call
and is not a site of its own. Functions are found by `func name(` and `init(`; closures belong to the function
around them.

scan() maps "File.swift:function" to a set of Site(code, detail, key, message): detail is
"FieldViolation", "PreconditionFailure", "CapViolation" or ""; key the field path or subject and
message the literal message of a detail-less status (interpolations written `*`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

CODES = {
    "cancelled": "CANCELLED", "unknown": "UNKNOWN", "invalidArgument": "INVALID_ARGUMENT",
    "deadlineExceeded": "DEADLINE_EXCEEDED", "notFound": "NOT_FOUND", "alreadyExists": "ALREADY_EXISTS",
    "permissionDenied": "PERMISSION_DENIED", "resourceExhausted": "RESOURCE_EXHAUSTED",
    "failedPrecondition": "FAILED_PRECONDITION", "aborted": "ABORTED", "outOfRange": "OUT_OF_RANGE",
    "unimplemented": "UNIMPLEMENTED", "internal": "INTERNAL", "`internal`": "INTERNAL", "unavailable": "UNAVAILABLE",
    "dataLoss": "DATA_LOSS", "unauthenticated": "UNAUTHENTICATED",
}


class Site(NamedTuple):
    code: str
    detail: str
    key: str
    message: str = ""


_STR = r'"((?:[^"\\]|\\.)*)"'
_FUNC = re.compile(r"\b(?:func\s+(\w+)|(init)\??\s*[(<])")


def _key(text: str) -> str:
    """A literal with its interpolations written `*`."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("\\(", i):
            depth, i = 1, i + 2
            while i < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            out.append("*")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _strip_comments(text: str) -> str:
    """Comments replaced by spaces (offsets and line numbers kept); strings left alone."""
    out = list(text)
    i, n = 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"' or c == "\n":
                in_str = False
        elif c == '"':
            in_str = True
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = " "
            i = j
            continue
        elif text.startswith("/*", i):
            j = text.find("*/", i)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
            continue
        i += 1
    return "".join(out)


def _functions_by_line(text: str) -> list[str | None]:
    """For each line, the innermost named function whose body contains it."""
    result: list[str | None] = []
    stack: list[tuple[str, int]] = []
    depth = paren = 0
    pending: str | None = None
    for line in text.split("\n"):
        m = _FUNC.search(line)
        if m:
            pending = m.group(1) or m.group(2)
        result.append(stack[-1][0] if stack else pending)
        for ch in re.sub(_STR, '""', line):
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren -= 1
            elif ch == "{":
                depth += 1
                # A "{" inside parentheses (a default closure argument) opens no body.
                if pending is not None and paren == 0:
                    stack.append((pending, depth))
                    pending = None
            elif ch == "}":
                if stack and stack[-1][1] == depth:
                    stack.pop()
                depth -= 1
        if stack and result[-1] is None:
            result[-1] = stack[-1][0]
    return result


def _balanced(text: str, start: int) -> str:
    """The text from `start` (just after an opening parenthesis) to its closing one."""
    depth, i = 1, start
    in_str = False
    while i < len(text) and depth:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        i += 1
    return text[start:i - 1]


def scan_file(path: Path) -> dict[str, set[Site]]:
    text = _strip_comments(path.read_text(encoding="utf-8"))
    owner = _functions_by_line(text)
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())

    def where(offset: int) -> str | None:
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return owner[lo]

    out: dict[str, set[Site]] = {}

    def add(offset: int, site: Site) -> None:
        function = where(offset)
        if function:
            out.setdefault(function, set()).add(site)

    for m in re.finditer(r"\.invalidField\(\s*" + _STR, text):
        add(m.start(), Site("INVALID_ARGUMENT", "FieldViolation", _key(m.group(1))))
    for m in re.finditer(r"\bfield:\s*" + _STR, text):
        add(m.start(), Site("INVALID_ARGUMENT", "FieldViolation", _key(m.group(1))))
    for m in re.finditer(r"\bwire:\s*[\w.]+,\s*path:\s*" + _STR, text):
        add(m.start(), Site("INVALID_ARGUMENT", "FieldViolation", _key(m.group(1))))
    for m in re.finditer(r"\.precondition\(\s*" + _STR, text):
        add(m.start(), Site("FAILED_PRECONDITION", "PreconditionFailure", _key(m.group(1))))
    for m in re.finditer(r"(?<!func )\.?\bcapExhausted\(", text):
        if text[max(0, m.start() - 5):m.start()].strip().endswith("func"):
            continue
        add(m.start(), Site("RESOURCE_EXHAUSTED", "CapViolation", "*"))
    for m in re.finditer(r"SubsidyError\(\s*\.(`?\w+`?)\s*,", text):
        if m.group(1) not in CODES:
            continue
        args = _balanced(text, text.index("(", m.start()) + 1)
        message = re.search(_STR, args)
        detail = re.search(r"\.field\(path:\s*" + _STR, args)
        pre = re.search(r"\.precondition\(subject:\s*" + _STR, args)
        if detail:
            add(m.start(), Site(CODES[m.group(1)], "FieldViolation", _key(detail.group(1))))
        elif pre:
            add(m.start(), Site(CODES[m.group(1)], "PreconditionFailure", _key(pre.group(1))))
        else:
            add(m.start(), Site(CODES[m.group(1)], "", "", _key(message.group(1)) if message else ""))
    return out


def scan(root: Path, globs: list[str]) -> dict[str, set[Site]]:
    result: dict[str, set[Site]] = {}
    for pattern in globs:
        for path in sorted(root.glob(pattern)):
            if "/Generated/" in str(path):
                continue
            for function, sites in scan_file(path).items():
                result.setdefault(f"{path.name}:{function}", set()).update(sites)
    return result


SOURCES = ["Sources/SubsidyServer/Handlers/*.swift", "Sources/SubsidyStore/*.swift", "Sources/SubsidyCore/*.swift"]

if __name__ == "__main__":
    import sys

    repo = Path(__file__).resolve().parents[2]
    found = scan(repo, sys.argv[1:] or SOURCES)
    for name in sorted(found):
        print(name)
        for site in sorted(found[name]):
            print("   ", *site)
