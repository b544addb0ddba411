#!/usr/bin/env python3
"""Prints run.sh's results as tables: medians over the rounds, each figure beside its anchor from
the same run, and the ratios issue 10 sets targets for. Reads the `key=value` lines run.sh wrote.

    report.py RESULTS.txt
"""
import re
import shlex
import statistics
import sys


def parse(path):
    records = []
    for line in open(path, encoding="utf-8"):
        words = shlex.split(line.strip())
        if not words:
            continue
        fields = {"_words": [w for w in words if "=" not in w]}
        for w in words:
            if "=" in w:
                key, value = w.split("=", 1)
                fields.setdefault(key, value)
        records.append(fields)
    return records


def median(records, key):
    values = [float(r[key]) for r in records if key in r and re.fullmatch(r"-?[0-9.]+", r[key])]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b else "—"


def main():
    records = parse(sys.argv[1])
    machine = next((r for r in records if "machine" in r["_words"]), None)
    if machine:
        print(f"machine: {machine.get('cpus')} cpus, {machine.get('model')}, {machine.get('mem_gib')} GiB, kernel {machine.get('kernel')}, "
              f"{machine.get('fs')}; gRPC {machine.get('grpc')}, SQLite {machine.get('sqlite')}; load at start {machine.get('load')}")
        print(f"subsidyd measured: {machine.get('subsidyd')}")
    rounds = max((int(r["round"]) for r in records if "round" in r), default=0)
    round_trips(records, rounds)
    approvals(records, rounds)
    browsing(records, rounds)


def round_trips(records, rounds):
    if not any("connections" in r for r in records):
        return
    print(f"\nRound trips, one call in flight per connection: medians of {rounds} interleaved rounds (latencies in µs, p50/p99/p999)")
    head = (f"{'conns':>5}  {'raw UDS /s':>10} {'p50/p99/p999':>16}  {'gRPC C++ /s':>11} {'p50/p99/p999':>16}  "
            f"{'subsidyd /s':>11} {'p50/p99/p999':>16}  {'÷gRPC':>6}  {'sd, C client /s':>15} {'p50/p99/p999':>16}  {'÷gRPC':>6}  "
            f"{'server CPU µs/call sd|gRPC':>26}")
    print(head)
    for connections in ("1", "8", "64"):
        row = {}
        for who in ("uds", "grpc", "subsidyd", "subsidyd-c"):
            rs = [r for r in records if who in r["_words"] and r.get("connections") == connections and "rate" in r]
            rate = median(rs, "rate")
            pct = "/".join(fmt(median(rs, k)) for k in ("p50_us", "p99_us", "p999_us"))
            calls = median(rs, "calls")
            cpu = median([{"c": str(float(r["server_cpu_s"]) * 1e6 / float(r["calls"]))} for r in rs if "server_cpu_s" in r and float(r["calls"])], "c")
            row[who] = (rate, pct, cpu, calls)
        print(f"{connections:>5}  {fmt(row['uds'][0]):>10} {row['uds'][1]:>16}  {fmt(row['grpc'][0]):>11} {row['grpc'][1]:>16}  "
              f"{fmt(row['subsidyd'][0]):>11} {row['subsidyd'][1]:>16}  {ratio(row['subsidyd'][0], row['grpc'][0]):>6}  "
              f"{fmt(row['subsidyd-c'][0]):>15} {row['subsidyd-c'][1]:>16}  {ratio(row['subsidyd-c'][0], row['grpc'][0]):>6}  "
              f"{fmt(row['subsidyd'][2], 1):>12} | {fmt(row['grpc'][2], 1):<11}")
    print("subsidyd /s: subsidyd-bench rpc (the Swift client library); sd, C client: Tests/Benchmarks/c/subsidyd_health.c "
          "(one thread and one blocking call per connection, like the gRPC anchor's client); server CPU is with the Swift client")
    rss = next((r for r in records if "rpc-daemon" in r["_words"]), None)
    if rss:
        print(f"peak RSS after the round trips: subsidyd {rss.get('peak_rss_mib')} MiB, gRPC C++ server {rss.get('grpc_server_peak_rss_mib')} MiB")


def approvals(records, rounds):
    sizes = sorted({int(r["size"]) for r in records if "size" in r})
    if not sizes:
        return
    print(f"\nApprovals against a prefilled ledger (no cap binds): medians of {rounds} rounds, beside raw SQLite WAL+FULL single-row commits in the same rounds")
    print(f"{'prior awards':>12}  {'import rows/s':>13}  {'start ms':>8} {'after KILL':>10}  {'SQLite /s':>9}  "
          f"{'approve /s':>10} {'p50/p99/p999 µs':>22} {'÷SQLite':>7}  {'32 in flight /s':>15} {'p50/p99 µs':>13} {'÷SQLite':>7}  "
          f"{'in lists /s':>11} {'list p50/p99 ms':>15} {'÷SQLite':>7}  "
          f"{'submit /s':>9} {'p50/p99 µs':>13} {'÷SQLite':>7}  {'filing /s':>9}  "
          f"{'CPU s':>6} {'RSS MiB':>7} {'ledger MiB':>10}  check")
    first_rate = None
    for size in sizes:
        at = [r for r in records if r.get("size") == str(size)]
        prefill = next((r for r in at if "prefill" in r["_words"]), {})
        clean = next((r for r in at if "clean" in r["_words"]), {})
        killed = next((r for r in at if "after-sigkill" in r["_words"]), {})
        approves = [r for r in at if "approve" in r["_words"]]
        filings = [r for r in at if "filing" in r["_words"]]
        submits = [r for r in at if "submit" in r["_words"]]
        lists = [r for r in at if "approve-lists" in r["_words"]]
        wide = [r for r in at if "approve-wide" in r["_words"]]
        sqlite = [r for r in at if "sqlite" in r["_words"]]
        daemon = next((r for r in at if "daemon" in r["_words"]), {})
        check = next((r for r in at if "check" in r), {})
        rate = median(approves, "rate")
        first_rate = first_rate or rate
        pct = "/".join(fmt(median(approves, k)) for k in ("p50_us", "p99_us", "p999_us"))
        sq = median(sqlite, "rate")
        list_rate = median(lists, "rate")
        wide_rate = median(wide, "rate")
        wide_pct = "/".join(fmt(median(wide, k)) for k in ("p50_us", "p99_us"))
        submit_rate = median(submits, "rate")
        submit_pct = "/".join(fmt(median(submits, k)) for k in ("p50_us", "p99_us"))
        list_pct = "/".join(fmt(v / 1000 if v is not None else None) for v in (median(lists, "p50_us"), median(lists, "p99_us")))
        print(f"{size:>12,}  {fmt(median([prefill], 'rate')):>13}  {fmt(median([clean], 'ready_ms'), 1):>8} {fmt(median([killed], 'ready_ms'), 1):>10}  {fmt(sq):>9}  "
              f"{fmt(rate):>10} {pct:>22} {ratio(rate, sq):>7}  {fmt(wide_rate):>15} {wide_pct:>13} {ratio(wide_rate, sq):>7}  "
              f"{fmt(list_rate):>11} {list_pct:>15} {ratio(list_rate, sq):>7}  "
              f"{fmt(submit_rate):>9} {submit_pct:>13} {ratio(submit_rate, sq):>7}  {fmt(median(filings, 'rate')):>9}  "
              f"{daemon.get('cpu_s', '—'):>6} {daemon.get('peak_rss_mib', '—'):>7} {daemon.get('ledger_mib', '—'):>10}  "
              f"{check.get('check', '—')}, overcommit {check.get('overcommit', '—')}")
    if len(sizes) > 1 and first_rate:
        last = median([r for r in records if r.get("size") == str(sizes[-1]) and "approve" in r["_words"]], "rate")
        print(f"approvals/s at {sizes[-1]:,} prior awards ÷ at {sizes[0]:,}: {ratio(last, first_rate)} (target ≥ 0.8×)")


def browsing(records, rounds):
    sizes = sorted({int(r["apps"]) for r in records if "apps" in r})
    if not sizes:
        return
    print(f"\nWhat the bureaus read, against N applications in every district-decided state: medians of {rounds} rounds "
          "(p50/p99/p999 µs; targets: quota p99 < 5 ms, list p99 < 10 ms, start-up and recovery < 5 s)")
    print(f"{'applications':>12}  {'load rows/s':>11}  {'start ms':>8} {'after KILL':>10}  {'quota':>20}  {'city list':>20}  "
          f"{'district list':>20}  {'city search, a call':>20} {'calls/walk':>10}  {'CPU s':>6} {'RSS MiB':>7} {'files MiB':>9}  check")
    for size in sizes:
        at = [r for r in records if r.get("apps") == str(size)]
        load = next((r for r in at if "loaded" in r), {})
        clean = next((r for r in at if "clean" in r["_words"]), {})
        killed = next((r for r in at if "after-sigkill" in r["_words"]), {})
        daemon = next((r for r in at if "daemon" in r["_words"]), {})
        check = next((r for r in at if "check" in r), {})
        cells = []
        for kind in ("quota", "city-list", "district-list", "city-search"):
            rs = [r for r in at if kind in r["_words"]]
            cells.append("/".join(fmt(median(rs, k)) for k in ("p50_us", "p99_us", "p999_us")))
        rate = float(load["loaded"]) * 1000 / float(load["ms"]) if load.get("ms") and float(load["ms"]) else None
        print(f"{size:>12,}  {fmt(rate):>11}  {fmt(median([clean], 'ready_ms'), 1):>8} {fmt(median([killed], 'ready_ms'), 1):>10}  "
              f"{cells[0]:>20}  {cells[1]:>20}  {cells[2]:>20}  {cells[3]:>20} {fmt(median([r for r in at if 'city-search' in r['_words']], 'calls_per_walk')):>10}  {daemon.get('cpu_s', '—'):>6} {daemon.get('peak_rss_mib', '—'):>7} "
              f"{daemon.get('districts_mib', '—'):>9}  {check.get('check', '—')}")


if __name__ == "__main__":
    main()
