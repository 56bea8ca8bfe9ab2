#!/usr/bin/env python3
"""The body of scripts/memory-check (which builds the module and calls this).

bench-memory.py --nginx BIN --module SO [--tokens N] [--requests N] [--cache N] [--reloads N]

1. Cache: N requests (default 1,000,000) cycling through T distinct valid sealed sessions
   (default 100,000), first with `authentik_cache 0` (scenario C), then with a cache of C
   entries (default 10,000), sampling the worker's RSS after every 1/20 of the requests. With a
   cycle longer than the cache every request misses, so each one inserts an entry and evicts the
   oldest: RSS must stop growing once the cache is full. Bytes per entry = (RSS with the full
   cache - RSS without a cache) / entries.
2. Reloads: R `nginx -s reload` cycles (default 1,000) under a light load; the master's RSS and
   a fresh worker's RSS at 0, 1/4, 1/2, 3/4 and all of them must not grow.
"""
import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial

print = partial(print, flush=True)  # noqa: A001 (progress lines while the runs go on)

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_run", os.path.join(HERE, "bench-run.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

LUA = os.path.join(HERE, "bench-cookies.lua")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wrk(port, cookies, start, seconds, connections=8, delay_ms=0, pin=True):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", LUA,
           f"http://127.0.0.1:{port}/index.html", "--", cookies, "ak_hs", str(start),
           str(delay_ms)]
    if pin:
        cmd = ["taskset", "-c", "1"] + cmd
    return cmd


def run_wrk(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    r = bench.parse_wrk(out)
    return r


def start(name, args, base, html, keys, http_extra, pin):
    body = "\n".join([http_extra, bench.provider("hs", keys), "",
                      bench.server(args.port_for(name), "    authentik hs;")])
    inst = bench.Nginx(name, args.nginx, args.module, base, pin, body, html)
    inst.start([args.port_for(name)])
    return inst


def cache_phase(name, cache_entries, args, base, html, keys, cookies, pin):
    inst = start(name, args, base, html, keys, f"authentik_cache {cache_entries};", pin)
    try:
        worker = inst.worker()
        port = args.port_for(name)
        step = args.requests // 20
        samples = [(0, rss_kb(worker))]
        served = 0
        bad = 0
        rate = 0.0
        while served < args.requests:
            # wrk runs for a time, not a count: size each run from the last one's rate so
            # there are about 20 samples.
            seconds = 2 if not rate else max(1, round(min(step, args.requests - served) / rate))
            r = run_wrk(wrk(port, cookies, served % args.tokens, seconds, pin=pin))
            rate = r["rps"]
            served += r["requests"]
            bad += r["non2xx"] + r["errors"]
            samples.append((served, rss_kb(worker)))
            print(f"  {name}: {served:>9,} requests  worker RSS {samples[-1][1] / 1024:8.1f} MB"
                  f"  ({r['rps']:.0f} req/s)", flush=True)
        if worker not in bench.children(inst.proc.pid):
            print(f"  {name}: the worker was replaced (crash?)")
            bad += 1
        return samples, bad
    finally:
        inst.stop()


def reload_phase(args, base, html, keys, cookies, pin):
    inst = start("reload", args, base, html, keys, "", pin)
    port = args.port_for("reload")
    load = subprocess.Popen(wrk(port, cookies, 0, 3600, connections=4, delay_ms=20, pin=pin),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    rows = []
    try:
        master = inst.proc.pid
        marks = sorted({0, args.reloads // 4, args.reloads // 2, 3 * args.reloads // 4,
                        args.reloads})
        workers = set(bench.children(master))
        for i in range(args.reloads + 1):
            if i in marks:
                time.sleep(1.0)  # the fresh worker serves the light load for a while
                newest = max(bench.children(master))
                rows.append((i, rss_kb(master), rss_kb(newest), len(bench.children(master))))
                print(f"  after {i:>5} reloads: master RSS {rows[-1][1] / 1024:7.1f} MB, "
                      f"fresh worker RSS {rows[-1][2] / 1024:7.1f} MB, "
                      f"{rows[-1][3]} worker(s) alive", flush=True)
            if i == args.reloads:
                break
            subprocess.run(inst.cmd("-s", "reload"), check=True, capture_output=True)
            deadline = time.time() + 10
            while time.time() < deadline:  # until the new worker is up
                now = set(bench.children(master))
                if now - workers:
                    workers = now
                    break
                time.sleep(0.005)
            else:
                raise SystemExit(f"no new worker after reload {i + 1}")
        status, _ = bench.request(port, "/index.html", {"Cookie": "theme=dark; ak_hs=" +
                                                        open(cookies).readline().strip()})
        return rows, status
    finally:
        load.terminate()
        load.wait()
        inst.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--tokens", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--cache", type=int, default=10_000)
    ap.add_argument("--reloads", type=int, default=1_000)
    ap.add_argument("--skip-cache", action="store_true")
    ap.add_argument("--skip-reload", action="store_true")
    args = ap.parse_args()
    args.nginx, args.module = os.path.abspath(args.nginx), os.path.abspath(args.module)
    ports = dict(zip(["nocache", "cache", "reload"], bench.free_ports(3)))
    args.port_for = ports.get

    base = tempfile.mkdtemp(prefix="authentik-memory.")
    os.chmod(base, 0o755)
    pin = (os.cpu_count() or 1) >= 2 and subprocess.run(
        ["taskset", "-c", "1", "true"]).returncode == 0
    failures = []
    try:
        keys = os.path.join(base, "keys")
        t0 = time.time()
        subprocess.run([os.path.join(HERE, "bench-keys"), keys, "--many", str(args.tokens)],
                       check=True)
        cookies = os.path.join(keys, "many.cookies")
        size = os.path.getsize(cookies) / args.tokens
        print(f"minted {args.tokens:,} sealed sessions ({size:.0f} bytes each) "
              f"in {time.time() - t0:.0f} s")
        html = os.path.join(base, "html")
        os.makedirs(html)
        with open(os.path.join(html, "index.html"), "w") as f:
            f.write(bench.STATIC)

        if not args.skip_cache:
            print(f"\n1. {args.requests:,} requests over {args.tokens:,} distinct sessions")
            plain, bad0 = cache_phase("nocache", 0, args, base, html, keys, cookies, pin)
            cached, bad1 = cache_phase("cache", args.cache, args, base, html, keys, cookies,
                                       pin)
            if bad0 or bad1:
                failures.append(f"{bad0 + bad1} requests were not answered 200")
            print()
            print(f"{'requests':>10} {'RSS, no cache':>14} {'RSS, cache ' + str(args.cache):>18}")
            for (n, a), (_, b) in zip(plain, cached):
                print(f"{n:>10,} {a / 1024:>11.1f} MB {b / 1024:>15.1f} MB")
            # Once full (after `cache` misses) the cache must not grow: compare the RSS after
            # the first quarter of the run with the end.
            quarter = len(cached) // 4
            growth = cached[-1][1] - cached[quarter][1]
            plain_growth = plain[-1][1] - plain[quarter][1]
            full = sorted(b for _, b in cached[quarter:])[len(cached[quarter:]) // 2]
            flat = sorted(a for _, a in plain[quarter:])[len(plain[quarter:]) // 2]
            per_entry = (full - flat) * 1024 / args.cache
            print(f"RSS growth from {cached[quarter][0]:,} to {cached[-1][0]:,} requests: "
                  f"{growth / 1024:+.1f} MB with the cache, {plain_growth / 1024:+.1f} MB "
                  "without")
            print(f"bytes per cache entry: ({full / 1024:.1f} MB - {flat / 1024:.1f} MB) / "
                  f"{args.cache:,} = {per_entry:,.0f} bytes")
            if growth > 2048 or plain_growth > 2048:
                failures.append("RSS still grows once the cache is full")

        if not args.skip_reload:
            print(f"\n2. {args.reloads:,} reloads under a light load")
            rows, status = reload_phase(args, base, html, keys, cookies, pin)
            if status != 200:
                failures.append(f"after the reloads a valid session got {status}")
            first = rows[1] if len(rows) > 1 else rows[0]
            master_growth = rows[-1][1] - first[1]
            worker_growth = rows[-1][2] - first[2]
            print(f"from {first[0]} to {rows[-1][0]} reloads: master {master_growth:+,} kB, "
                  f"fresh worker {worker_growth:+,} kB")
            if master_growth > 1024 or worker_growth > 1024:
                failures.append("memory grows with reloads")
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print()
    print("memory: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
