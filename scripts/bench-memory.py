#!/usr/bin/env python3
"""The body of scripts/memory-check (which builds the module and calls this).

bench-memory.py --nginx BIN --module SO [--tokens N] [--requests N] [--cache N]
                [--cache-bytes SIZE] [--token-bytes N] [--reloads N]

1. Cache: N requests (default 1,000,000) cycling through T distinct valid sealed sessions
   (default 100,000), first with `authentik_cache 0` (scenario C), then with a cache of C
   entries (default 10,000) and SIZE bytes (default: the module's, 16m), sampling the worker's
   RSS after every 1/20 of the requests. With a cycle longer than the cache every request
   misses, so each one inserts an entry and evicts the oldest: RSS must stop growing once the
   cache is full, and the full cache must not take more than twice its byte bound (plus 8 MB of
   allocator slack). Bytes per entry = (RSS with the full cache - RSS without a cache) / the
   entries that fit.
   With --token-bytes N the credentials are bearer tokens of about N bytes each instead
   (default then: 4,000 tokens, 200,000 requests), the case the byte bound exists for: by
   entries alone, 10,000 tokens of 20 KB would hold about 700 MB per worker.
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


# The credentials file and how it is sent: ("ak_hs", sealed values) or ("bearer", tokens).
CREDENTIALS = {"kind": "ak_hs"}


def wrk(port, cookies, start, seconds, connections=8, delay_ms=0, pin=True):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", LUA,
           f"http://127.0.0.1:{port}/index.html", "--", cookies, CREDENTIALS["kind"],
           str(start), str(delay_ms)]
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
    size = f" {args.cache_bytes}" if args.cache_bytes and cache_entries else ""
    http_extra = f"authentik_cache {cache_entries}{size};\n" + HEADER_BUFFERS
    inst = start(name, args, base, html, keys, http_extra, pin)
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
    inst = start("reload", args, base, html, keys, HEADER_BUFFERS, pin)
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
        first = open(cookies).readline().strip()
        header = ({"Authorization": "Bearer " + first} if CREDENTIALS["kind"] == "bearer"
                  else {"Cookie": "theme=dark; ak_hs=" + first})
        status, _ = bench.request(port, "/index.html", header)
        return rows, status
    finally:
        load.terminate()
        load.wait()
        inst.stop()


# Room for a 20 KB bearer token in one request header.
HEADER_BUFFERS = "large_client_header_buffers 4 64k;"


def size_bytes(text):
    """An nginx size (`16m`, `512k`, `65536`) in bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.lower()
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def mint_big_tokens(keys, count, size):
    """COUNT distinct bearer tokens of about SIZE bytes each, one per line in keys/big.tokens."""
    mint = os.environ["AUTHENTIK_MINT"]
    base = [mint, "token", "--preset", "akadmin", "--set", "exp=now+86400",
            "--set", "preferred_username=user{n}", "--secret-file",
            os.path.join(keys, "client.secret")]
    plain = subprocess.run(base, check=True, capture_output=True, text=True).stdout.strip()
    pad = "p" * max(0, (size - len(plain)) * 3 // 4)
    path = os.path.join(keys, "big.tokens")
    with open(path, "w") as out:
        subprocess.run(base + ["--set", f"padding={pad}", "--count", str(count)], check=True,
                       stdout=out)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--tokens", type=int)
    ap.add_argument("--requests", type=int)
    ap.add_argument("--cache", type=int, default=10_000)
    ap.add_argument("--cache-bytes", help="the second argument of authentik_cache (16m)")
    ap.add_argument("--token-bytes", type=int, help="bearer tokens of this size")
    ap.add_argument("--reloads", type=int, default=1_000)
    ap.add_argument("--skip-cache", action="store_true")
    ap.add_argument("--skip-reload", action="store_true")
    args = ap.parse_args()
    big = args.token_bytes is not None
    args.tokens = args.tokens or (4_000 if big else 100_000)
    args.requests = args.requests or (200_000 if big else 1_000_000)
    bound = size_bytes(args.cache_bytes or "16m")
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
        if big:
            subprocess.run([os.path.join(HERE, "bench-keys"), keys], check=True)
            cookies = mint_big_tokens(keys, args.tokens, args.token_bytes)
            CREDENTIALS["kind"] = "bearer"
            what = "bearer tokens"
        else:
            subprocess.run([os.path.join(HERE, "bench-keys"), keys, "--many", str(args.tokens)],
                           check=True)
            cookies = os.path.join(keys, "many.cookies")
            what = "sealed sessions"
        size = os.path.getsize(cookies) / args.tokens
        print(f"minted {args.tokens:,} {what} ({size:.0f} bytes each) "
              f"in {time.time() - t0:.0f} s")
        html = os.path.join(base, "html")
        os.makedirs(html)
        with open(os.path.join(html, "index.html"), "w") as f:
            f.write(bench.STATIC)

        if not args.skip_cache:
            print(f"\n1. {args.requests:,} requests over {args.tokens:,} distinct {what}")
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
            print(f"RSS growth from {cached[quarter][0]:,} to {cached[-1][0]:,} requests: "
                  f"{growth / 1024:+.1f} MB with the cache, {plain_growth / 1024:+.1f} MB "
                  "without")
            print(f"the full cache takes {full / 1024:.1f} MB - {flat / 1024:.1f} MB = "
                  f"{(full - flat) / 1024:.1f} MB (bounds: {args.cache:,} entries, "
                  f"{bound / (1 << 20):.0f} MB)")
            if growth > 2048 or plain_growth > 2048:
                failures.append("RSS still grows once the cache is full")
            if (full - flat) * 1024 > 2 * bound + (8 << 20):
                failures.append("the full cache takes more than twice its byte bound")

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
