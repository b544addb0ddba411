#!/usr/bin/env python3
"""One tenant's flood of heavy requests against another tenant's latency, with and without the
per-tenant compute turns (`max_concurrent_compute_per_tenant`), in one run.

The city pipelines Quotes of a CLUSTER_PILOT_FOLLOW_ON listing 5,000 served enterprises (32 in
flight, from threads of this process) while chancheng's ListApplications is timed beside it
(the 2020 programme has ended, so each quote is refused once its 210 KB request is decoded and
its programme checked: the cost is all before any store work, where the store permits do not
reach):
first alone, then during the flood. Each configuration gets a fresh `subsidyd --config` on
/dev/shm. Figures, not a test: nothing here asserts a time.

    .venv/bin/python Tests/Benchmarks/tenant_flood.py .build/release/subsidyd
"""
import os, sys, time, threading, subprocess, tempfile

from subsidy_client import Client
from subsidy_client.uscc import make_uscc
from foshan.subsidy.v1 import types_pb2, district_pb2


def run(BIN, TURNS):
    base = tempfile.mkdtemp(prefix="flood-", dir="/dev/shm")
    uid = os.getuid()
    conf = f'''data_dir = "{base}/data"
    runtime_dir = "{base}/run"
    runtime_dir_mode = "0755"

    [limits]
    min_free_disk_bytes = 0
    requests_per_second = 1000000
    request_burst = 1000000
    max_concurrent_compute_per_tenant = {TURNS}
    '''
    names = {"chancheng": "禅城区", "nanhai": "南海区", "shunde": "顺德区", "gaoming": "高明区", "sanshui": "三水区", "city": "佛山市"}
    for t, n in names.items():
        sock = "city.sock" if t == "city" else f"district/{t}.sock"
        sec = "city" if t == "city" else f"district.{t}"
        conf += f'\n[{sec}]\ndisplay_name = "{n}"\nsocket = "{sock}"\nsocket_mode = "0600"\nallowed_uids = [{uid}]\nallowed_gids = []\n'
    os.makedirs(base + "/data", mode=0o700)
    open(base + "/subsidyd.toml", "w").write(conf)
    log = open(base + "/log", "w")
    p = subprocess.Popen([BIN, "--config", base + "/subsidyd.toml"], stdout=log, stderr=log)
    city_sock, ch_sock = base + "/run/city.sock", base + "/run/district/chancheng.sock"
    for _ in range(200):
        if os.path.exists(ch_sock): break
        time.sleep(0.05)
    time.sleep(0.5)
    served = [make_uscc("914406050000%04d" % i) for i in range(5000)]
    app = types_pb2.Application(measure=types_pb2.CLUSTER_PILOT_FOLLOW_ON,
        funding_year=2022, enterprise_uscc=make_uscc("9144060500009999"), project_name="集群后续", pilot_id="P-07",
        served_enterprises=served, provincial_voucher_enterprises=served)
    req = district_pb2.QuoteRequest(application=app, decision_date="2022-10-01")
    stop = threading.Event()
    errors = {}
    def flood():
        with Client(city_sock) as c:
            while not stop.is_set():
                try:
                    c.city.quote(req, timeout_ms=60000)
                except Exception as e:
                    errors[str(e)[:120]] = errors.get(str(e)[:120], 0) + 1
    threads = [threading.Thread(target=flood) for _ in range(32)]
    lat = []
    def measure(seconds):
        out = []
        with Client(ch_sock) as c:
            end = time.time() + seconds
            while time.time() < end:
                t = time.perf_counter(); c.district.list_applications(district_pb2.ListApplicationsRequest()); out.append((time.perf_counter() - t) * 1000)
                time.sleep(0.02)
        return out
    base_lat = measure(3)
    for t in threads: t.start()
    time.sleep(1)
    flood_lat = measure(8)
    stop.set()
    for t in threads: t.join()
    p.terminate(); p.wait()
    def fmt(xs): xs = sorted(xs); return "p50 %.1f ms, p99 %.1f ms, max %.1f ms (n=%d)" % (xs[len(xs)//2], xs[int(len(xs)*0.99)], xs[-1], len(xs))
    print(f"max_concurrent_compute_per_tenant={TURNS}: chancheng ListApplications alone: {fmt(base_lat)}; during the city's quote flood (32 in flight): {fmt(flood_lat)}")
    print("flood outcomes:", dict(list(errors.items())[:3]))
    subprocess.run(["rm", "-rf", base])


if __name__ == "__main__":
    binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/subsidyd"
    # 0: the default (one turn fewer than the processors); 1000: no gate to speak of.
    for turns in ("0", "1000"):
        run(binary, turns)
