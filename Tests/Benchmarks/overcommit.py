#!/usr/bin/env python3
"""Independent over-commit check for a benchmark's ledger: sums every cap scope's charges straight
from the SQLite file and compares each with the policy's limit. Reads only; never imports the
daemon's code. Prints `overcommit=N scopes=M` (N scopes over their limit), or `overcommit=skipped`
with the reason when the ledger's schema is not the one this reads (it sums the `charges` table).

    overcommit.py LEDGER.sqlite POLICY.toml
"""
import sqlite3
import sys
import tomllib


def limits(policy_path):
    with open(policy_path, "rb") as f:
        policy = tomllib.load(f)
    out = {}
    for measure, rule in policy.get("measure", {}).items():
        for cap_id, cap in rule.get("cap", {}).items():
            if "limit_yuan" in cap:
                out[f"{measure}.{cap_id}"] = ("amount", int(cap["limit_yuan"]) * 100)
            elif "limit_count" in cap:
                out[f"{measure}.{cap_id}"] = ("count", int(cap["limit_count"]))
    return out


def main():
    ledger, policy = sys.argv[1], sys.argv[2]
    caps = limits(policy)
    db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT cap_id, scope, SUM(amount_fen), SUM(count) FROM charges GROUP BY cap_id, scope").fetchall()
    except sqlite3.Error as error:
        print(f"overcommit=skipped ({error})")
        return
    over = []
    for cap_id, scope, amount, count in rows:
        kind, limit = caps.get(cap_id, (None, None))
        used = amount if kind == "amount" else count
        if kind and used > limit:
            over.append(f"{cap_id}[{scope}] {used} > {limit}")
    print(f"overcommit={len(over)} scopes={len(rows)}" + ("".join(f"\n  OVER: {o}" for o in over)))


if __name__ == "__main__":
    main()
