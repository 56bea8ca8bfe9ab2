#!/usr/bin/env python3
"""The body of scripts/bench (which builds the module and calls this). See BENCHMARKS.md.

bench-run.py --nginx BIN --module SO [--duration S] [--rounds N] [--connections N] [--smoke]

Starts the vendored nginx with one server per scenario, all serving the same small static file,
checks every scenario (200 with the credential; 401 without it where the module protects), then
runs wrk against them in interleaved rounds (A B C ... A B C ...) and prints, per scenario, the
medians over rounds of requests/s, p50 and p99 latency and the nginx worker's CPU time per
request, the ratios, and one line of pass/fail against docs/architecture.md §8's targets.

`authentik_cache` is an http-level setting, and an nginx has one `http {}`, so the uncached
scenarios (C, D, E) live in a second nginx started from the same binary, with its own
unprotected server A0 as their reference. Both workers are pinned to CPU 0 and wrk to CPU 1;
only one scenario is loaded at a time.
"""
import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ISSUER = "https://authentik.company/application/o/app/"
CLIENT_ID = "vMA9a8ZpHxerNIEzVACsbDMToHVSM9Qle10XqxWl"
PAGE = "/index.html"
# What every scenario serves: a small static page (nginx's own welcome page is 615 bytes).
STATIC = ("<!DOCTYPE html>\n<html><head><title>bench</title></head><body>\n" +
          "<p>" + "static page for scripts/bench. " * 16 + "</p>\n</body></html>\n")
OTHER_COOKIES_BEFORE = ("_ga=GA1.1.1234567890.1712345678; "
                        "csrftoken=Zx9bQ2wE4rT6yU8iO0pA1sD3fG5hJ7kL; theme=dark")
OTHER_COOKIES_AFTER = "_gid=GA1.2.987654321.1712345678; lang=en-GB"

TARGETS = [("B/A", 0.95), ("F/A", 0.95), ("C/A", 0.72), ("D/A", 0.28), ("H/AP", 0.90),
           ("R/B", 0.95)]
# The order scenarios run in within a round: each ratio's pair back to back.
RUN_ORDER = ["A", "B", "R", "AR", "F", "G", "N", "AP", "H", "A0", "C", "D", "E"]
# Back-channel logouts posted to the nginx of R before the run: each leaves two live entries
# in its revocation zone (the sid, and the jti against replays).
LOGOUTS = 5000
# (name, numerator, denominator); C, D and E are compared with A0, the unprotected server of
# their own nginx, and reported as C/A, D/A, E/A.
RATIOS = [("B/A", "B", "A"), ("C/A", "C", "A0"), ("D/A", "D", "A0"), ("E/A", "E", "A0"),
          ("F/A", "F", "A"), ("A/G", "A", "G"), ("B/G", "B", "G"), ("H/AP", "H", "AP"),
          ("R/A", "R", "AR"), ("R/B", "R", "B"), ("N/G", "N", "G")]


def logout_tokens(secret_file, count):
    """`count` back-channel logout tokens as authentik's Proxy Provider signs them (HS256),
    minted by authentik-mint: the i-th has sid bench-sid-<i> and its own jti."""
    events = json.dumps({"events": {"http://schemas.openid.net/event/backchannel-logout": {}}})
    out = subprocess.run(
        [os.environ["AUTHENTIK_MINT"], "token", "--secret-file", secret_file,
         "--count", str(count), "--claims", events, "--set", f"iss={ISSUER}",
         "--set", f"aud={CLIENT_ID}", "--set", "iat=now", "--set", "exp=now+120",
         "--set", "sid=bench-sid-{n}"],
        check=True, capture_output=True, text=True).stdout.split()
    if len(out) != count:
        sys.exit(f"authentik-mint printed {len(out)} logout tokens, expected {count}")
    return out


def post_logouts(port, tokens):
    """POST each logout token over one keep-alive connection; the statuses seen."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    statuses = {}
    for token in tokens:
        conn.request("POST", "/outpost.goauthentik.io/backchannel_logout", "logout_token=" + token,
                     {"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        r.read()
        statuses[r.status] = statuses.get(r.status, 0) + 1
    conn.close()
    return statuses


def cookie_header(name, value):
    return f"{OTHER_COOKIES_BEFORE}; {name}={value}; {OTHER_COOKIES_AFTER}"


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def provider(name, keys, jwks=None):
    lines = [
        f"authentik_provider {name} {{",
        f"    issuer {ISSUER};",
        f"    client_id {CLIENT_ID};",
        f"    client_secret_file {keys}/client.secret;",
        f"    cookie_secret_file {keys}/cookie.secret;",
        "    external_host http://app.company;",
        f"    cookie_name ak_{name};",
    ]
    if jwks:
        lines.append(f"    jwks_file {keys}/{jwks};")
    lines.append("}")
    return "\n".join(lines)


def server(port, body):
    return f"server {{\n    listen 127.0.0.1:{port};\n{body}\n}}"


PROXY = ("proxy_pass http://backend; proxy_http_version 1.1; "
         "proxy_set_header Connection \"\";")


def nginx_conf(module, prefix, html, pin, http_body):
    affinity = "worker_cpu_affinity 01;\n" if pin else ""
    return f"""load_module {module};
daemon off;
master_process on;
worker_processes 1;
{affinity}pid {prefix}/logs/nginx.pid;
lock_file {prefix}/logs/nginx.lock;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
access_log off;
client_body_temp_path {prefix}/temp/client_body;
proxy_temp_path {prefix}/temp/proxy;
fastcgi_temp_path {prefix}/temp/fastcgi;
uwsgi_temp_path {prefix}/temp/uwsgi;
scgi_temp_path {prefix}/temp/scgi;
root {html};
{http_body}
}}
"""


class Scenario:
    def __init__(self, key, title, instance, port, headers, protected, path=PAGE):
        self.key, self.title, self.instance, self.port = key, title, instance, port
        self.headers, self.protected, self.path = headers, protected, path
        self.runs = []

    def url(self):
        return f"http://127.0.0.1:{self.port}{self.path}"


class Nginx:
    def __init__(self, name, binary, module, base, pin, http_body, html, callgrind=False):
        self.name, self.binary, self.callgrind = name, binary, callgrind
        self.prefix = os.path.join(base, name)
        for sub in ("conf", "logs", "temp"):
            os.makedirs(os.path.join(self.prefix, sub), exist_ok=True)
        self.conf = os.path.join(self.prefix, "conf/nginx.conf")
        text = nginx_conf(module, self.prefix, html, pin and not callgrind, http_body)
        if callgrind:  # one process, so callgrind sees the requests
            text = text.replace("master_process on;", "master_process off;")
        with open(self.conf, "w") as f:
            f.write(text)
        self.proc = None

    def cmd(self, *extra):
        cmd = [self.binary, "-p", self.prefix + "/", "-c", self.conf,
               "-e", os.path.join(self.prefix, "logs/error.log"), *extra]
        if self.callgrind and not extra:
            cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                   f"--callgrind-out-file={self.prefix}/callgrind.out.%p"] + cmd
        return cmd

    def start(self, ports):
        env = {k: v for k, v in os.environ.items() if k != "NGINX"}
        test = subprocess.run(self.cmd("-t"), env=env, capture_output=True, text=True)
        if test.returncode != 0:
            raise SystemExit(f"nginx -t failed for {self.name}:\n{test.stderr}")
        self.stderr = open(os.path.join(self.prefix, "logs/stderr.log"), "w")
        self.proc = subprocess.Popen(self.cmd(), env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr,
                                     start_new_session=True)
        deadline = time.time() + (120 if self.callgrind else 10)
        for port in ports:
            while True:
                if self.proc.poll() is not None:
                    raise SystemExit(f"nginx {self.name} exited:\n{self.log()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise SystemExit(f"nginx {self.name} does not listen on {port}")
                    time.sleep(0.05)

    def worker(self):
        """Pid of the (single) worker process."""
        if self.callgrind:
            return self.proc.pid
        deadline = time.time() + 10
        while time.time() < deadline:  # the master listens before it forks the worker
            workers = children(self.proc.pid)
            if workers:
                return workers[0]
            time.sleep(0.02)
        raise SystemExit(f"nginx {self.name} has no worker process")

    def log(self):
        out = []
        for name in ("logs/error.log", "logs/stderr.log"):
            try:
                with open(os.path.join(self.prefix, name)) as f:
                    out.append(f.read()[-3000:])
            except OSError:
                pass
        return "\n".join(out)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # The workers are in the master's process group; none may outlive it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def children(pid):
    """Pids of the processes whose parent is pid, in ascending order."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(p))
    return sorted(out)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def request(port, path, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def response_header(port, path, headers, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.getheader(name)
    finally:
        conn.close()


UNIT = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def to_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * UNIT[m.group(2)] if m else float("nan")


def parse_wrk(out):
    result = {"rps": 0.0, "p50": float("nan"), "p99": float("nan"), "non2xx": 0, "errors": 0,
              "requests": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        result["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            result[key] = to_us(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        result["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        result["errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"(\d+) requests in", out)
    if m:
        result["requests"] = int(m.group(1))
    return result


def wrk_command(scenario, duration, connections):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in scenario.headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(scenario.url())
    return cmd


def run_wrk(scenario, duration, connections, pin, worker_pid):
    cmd = wrk_command(scenario, duration, connections)
    if pin:
        cmd = ["taskset", "-c", "1"] + cmd
    hz = os.sysconf("SC_CLK_TCK")
    before = cpu_ticks(worker_pid)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    used = (cpu_ticks(worker_pid) - before) / hz
    result = parse_wrk(out)
    result["cpu_us"] = used * 1e6 / result["requests"] if result["requests"] else float("nan")
    result["raw"] = out
    return result


def callgrind_ir(scenario, inst, count):
    """Instructions the nginx process executes per request of `scenario`, under callgrind."""
    pid = str(inst.proc.pid)

    def send(n):
        conn = http.client.HTTPConnection("127.0.0.1", scenario.port, timeout=60)
        for _ in range(n):
            conn.request("GET", scenario.path, headers=scenario.headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise SystemExit(f"{scenario.key}: status {resp.status} under callgrind")
        conn.close()
    ctl = lambda *a: subprocess.run(["callgrind_control", *a, pid],  # noqa: E731
                                    check=True, capture_output=True)
    ctl("-i", "on")
    send(max(50, count // 10))
    ctl("-z")
    send(count)
    before = set(os.listdir(inst.prefix))
    ctl("-d", scenario.key)
    dumps = sorted(set(os.listdir(inst.prefix)) - before)
    total = 0
    for name in dumps:
        with open(os.path.join(inst.prefix, name)) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    total = int(line.split()[1])
    ctl("-i", "off")
    return total / count, [os.path.join(inst.prefix, d) for d in dumps]


def cpu_busy(seconds=1.0):
    """Fraction of all CPUs busy over `seconds` (before a run: what others are doing)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1 - (i1 - i0) / max(1, t1 - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--duration", type=float, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", help="comma-separated scenario keys to run (for profiling)")
    ap.add_argument("--hold", type=float, default=0,
                    help="after the checks, keep nginx running this many seconds (profiling)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--callgrind", type=int, default=0, metavar="N",
                    help="instead of wrk: nginx under callgrind, instructions per request "
                         "over N requests per scenario (steady on a busy machine)")
    args = ap.parse_args()
    args.nginx, args.module = os.path.abspath(args.nginx), os.path.abspath(args.module)
    if args.smoke:
        args.duration, args.rounds = 1, 1
    duration = max(1, int(round(args.duration)))

    base = tempfile.mkdtemp(prefix="authentik-bench.")
    os.chmod(base, 0o755)  # the workers run as nobody and read html/
    instances = []
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"CHECK FAILED: {what}", flush=True)
        return ok

    def cleanup(*_):
        for inst in instances:
            inst.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    def on_signal(signum, _frame):
        cleanup()
        sys.exit(128 + signum)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        keys = os.path.join(base, "keys")
        subprocess.run([os.path.join(HERE, "bench-keys"), keys], check=True)
        read = lambda name: open(os.path.join(keys, name)).read().strip()  # noqa: E731
        html = os.path.join(base, "html")
        os.makedirs(html)
        with open(os.path.join(html, "index.html"), "w") as f:
            f.write(STATIC)

        pin = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
        if pin:
            pin = subprocess.run(["taskset", "-c", "1", "true"]).returncode == 0
        (pA, pB, pF, pG, pH, pAP, pFwd, pBack, pA0, pC, pD, pE, pAR, pR, pN,
         pOut) = free_ports(16)

        whoami = ('location = /whoami { return 200 "$http_x_authentik_username|'
                  '$http_x_authentik_groups|$http_x_authentik_meta_version\\n"; }')
        cached = "\n".join([
            provider("hs", keys),
            f"upstream fwdauth {{ server 127.0.0.1:{pFwd}; keepalive 32; }}",
            f"upstream backend {{ server 127.0.0.1:{pBack}; keepalive 32; }}",
            server(pA, ""),
            server(pB, "    authentik hs;"),
            server(pF, "    authentik hs;"),
            server(pG, "    auth_request /_fwd;\n"
                       "    location = /_fwd { internal; proxy_pass http://fwdauth/; "
                       "proxy_http_version 1.1; proxy_set_header Connection \"\"; "
                       "proxy_pass_request_body off; }"),
            server(pH, f"    authentik hs;\n    location / {{ {PROXY} }}"),
            server(pAP, f"    location / {{ {PROXY} }}"),
            server(pFwd, "    location / { return 200; }"),
            # N: authentik's documented auth_request front end (nginx-conf/auth-request-front.conf)
            # to this nginx's /outpost.goauthentik.io/auth/nginx, the module answering there.
            f"upstream outpost {{ server 127.0.0.1:{pOut}; keepalive 32; }}",
            server(pN, "    auth_request /outpost.goauthentik.io/auth/nginx;\n"
                       "    auth_request_set $ak_user $upstream_http_x_authentik_username;\n"
                       "    add_header X-User $ak_user;\n"
                       "    location /outpost.goauthentik.io { proxy_pass http://outpost; "
                       "proxy_http_version 1.1; proxy_set_header Connection \"\"; "
                       "proxy_set_header X-Original-URL $scheme://$http_host$request_uri; "
                       "proxy_pass_request_body off; proxy_set_header Content-Length \"\"; }"),
            server(pOut, "    authentik hs;\n    location /outpost.goauthentik.io/ { }"),
            server(pBack, "    " + whoami),
        ])
        uncached = "\n".join([
            "authentik_cache 0;",
            provider("hs", keys), provider("rs", keys, "rs.jwks"),
            provider("es", keys, "es.jwks"),
            server(pA0, ""),
            server(pC, "    authentik hs;"),
            server(pD, "    authentik rs;"),
            server(pE, "    authentik es;"),
        ])
        revoked = "\n".join([
            provider("hs", keys),
            server(pAR, ""),
            server(pR, "    authentik hs;"),
        ])
        cg = bool(args.callgrind)
        main_nginx = Nginx("cached", args.nginx, args.module, base, pin, cached, html, cg)
        instances.append(main_nginx)
        main_nginx.start([pA, pB, pF, pG, pH, pAP, pFwd, pBack, pN, pOut])
        nocache = Nginx("uncached", args.nginx, args.module, base, pin, uncached, html, cg)
        instances.append(nocache)
        nocache.start([pA0, pC, pD, pE])
        revocations = Nginx("revocations", args.nginx, args.module, base, pin, revoked, html, cg)
        instances.append(revocations)
        revocations.start([pAR, pR])
        statuses = post_logouts(pR, logout_tokens(os.path.join(keys, "client.secret"), LOGOUTS))
        check(statuses == {200: LOGOUTS},
              f"R: {LOGOUTS} back-channel logouts answered {statuses}, expected all 200")

        hs_cookie = {"Cookie": cookie_header("ak_hs", read("hs.cookie"))}
        scenarios = [
            Scenario("A", "unprotected static file", main_nginx, pA, hs_cookie, False),
            Scenario("B", "session cookie, cached", main_nginx, pB, hs_cookie, True),
            Scenario("C", "session cookie, no cache, HS256", nocache, pC, hs_cookie, True),
            Scenario("D", "session cookie, no cache, RS256", nocache, pD,
                     {"Cookie": cookie_header("ak_rs", read("rs.cookie"))}, True),
            Scenario("E", "session cookie, no cache, ES256", nocache, pE,
                     {"Cookie": cookie_header("ak_es", read("es.cookie"))}, True),
            Scenario("F", "bearer token HS256, cached", main_nginx, pF,
                     {"Authorization": "Bearer " + read("hs.token")}, True),
            Scenario("G", "auth_request to a do-nothing outpost", main_nginx, pG, hs_cookie,
                     False),
            Scenario("N", "auth_request to this nginx's /auth/nginx, cached", main_nginx, pN,
                     hs_cookie, True),
            Scenario("H", "session cookie, cached, proxied with 12 headers", main_nginx, pH,
                     hs_cookie, True),
            Scenario("AP", "unprotected, proxied the same way", main_nginx, pAP, hs_cookie,
                     False),
            Scenario("A0", "unprotected, in the uncached nginx (reference of C, D, E)",
                     nocache, pA0, hs_cookie, False),
            Scenario("R", f"session cookie, cached, {2 * LOGOUTS} live revocations", revocations,
                     pR, hs_cookie, True),
            Scenario("AR", "unprotected, in the nginx of R", revocations, pAR, hs_cookie, False),
        ]
        if args.only:
            keep = set(args.only.split(","))
            scenarios = [s for s in scenarios if s.key in keep]

        # Every scenario must answer 200 with its credential, and a protected one 401 without.
        for s in scenarios:
            status, _ = request(s.port, s.path, s.headers)
            check(status == 200, f"{s.key}: {status} with its credential, expected 200")
            if s.protected:
                status, _ = request(s.port, s.path, {"Cookie": OTHER_COOKIES_BEFORE})
                check(status == 401, f"{s.key}: {status} without a credential, expected 401")
        # The upstream of H sees the identity headers; the one of AP does not.
        status, body = request(pH, "/whoami", hs_cookie)
        check(status == 200 and body.startswith(b"akadmin|authentik Admins|users|ngx_http_"),
              f"H: upstream saw {status} {body!r}, expected akadmin's identity headers")
        status, body = request(pAP, "/whoami", hs_cookie)
        check(status == 200 and body == b"||\n", f"AP: upstream saw {status} {body!r}")
        # N's front end got the user from the outpost's answer.
        user = response_header(pN, PAGE, hs_cookie, "X-User")
        check(user == "akadmin", f"N: the auth_request answer named {user!r}, expected akadmin")

        workers = {id(inst): inst.worker() for inst in instances}
        if args.hold:
            print("holding: " + ", ".join(
                f"{inst.name} worker pid {workers[id(inst)]}" for inst in instances))
            for s in scenarios:
                print(f"  {s.key}: {shlex.join(wrk_command(s, args.hold, args.connections))}")
            time.sleep(args.hold)

        if args.callgrind:
            print(f"{'':3} {'scenario':58} {'instr/req':>10} {'× A':>6}")
            ref = {}
            for s in sorted(scenarios, key=lambda s: s.key not in ("A", "A0")):
                ir, dumps = callgrind_ir(s, s.instance, args.callgrind)
                if s.key in ("A", "A0"):
                    ref[s.instance.name] = ir
                base_ir = ref.get(s.instance.name)
                rel = f"{base_ir / ir:.2f}" if base_ir else "-"
                print(f"{s.key:3} {s.title:58} {ir:10.0f} {rel:>6}  {' '.join(dumps)}",
                      flush=True)
            return 1 if failed else 0
        busy = cpu_busy()
        print(f"# machine: {os.cpu_count()} CPUs, {busy * 100:.0f}% busy before the run; "
              f"nginx workers pinned to CPU 0 and wrk to CPU 1: {'yes' if pin else 'no'}; "
              f"wrk -t1 -c{args.connections} -d{duration}s, {args.rounds} round(s)", flush=True)
        if not args.smoke:
            for s in scenarios:  # warm-up: caches, keepalive pools, page cache
                run_wrk(s, 1, args.connections, pin, workers[id(s.instance)])
        # Each ratio's two scenarios run back to back, so they share the machine's state.
        order = [x for k in RUN_ORDER for x in scenarios if x.key == k]
        for rnd in range(args.rounds):
            for s in order:
                r = run_wrk(s, duration, args.connections, pin, workers[id(s.instance)])
                s.runs.append(r)
                ok = r["requests"] > 0 and r["non2xx"] == 0 and r["errors"] == 0
                if args.smoke:
                    check(ok, f"{s.key}: wrk saw {r['requests']} requests, {r['non2xx']} "
                              f"non-2xx, {r['errors']} socket errors")
                elif not ok:
                    print(f"warning: {s.key} round {rnd + 1}: {r['non2xx']} non-2xx, "
                          f"{r['errors']} socket errors", flush=True)
            if not args.smoke:
                print(f"# round {rnd + 1}/{args.rounds}: " + " ".join(
                    f"{s.key}={s.runs[-1]['rps']:.0f}" for s in order), flush=True)
        # Nothing unexpected in the error logs (a 401 is logged at info, below "warn").
        for inst in instances:
            log = open(os.path.join(inst.prefix, "logs/error.log")).read()
            bad = [l for l in log.splitlines()
                   if re.search(r"\[(alert|crit|emerg|error)\]", l)]
            check(not bad, f"{inst.name}: error log has {bad[:3]}")

        report(scenarios, args, busy)
    finally:
        cleanup()

    if args.smoke:
        # scripts/test-extra counts "# pass/fail N"; the last line is the plain summary.
        print(f"# pass {passed}\n# fail {failed}")
        print(f"smoke: {passed} passed, {failed} failed")
    elif failed:
        print(f"bench checks: {passed} passed, {failed} failed")
    return 1 if failed else 0


def med(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def report(scenarios, args, busy):
    """The table, the ratios and the verdict line.

    A ratio is the median over rounds of the ratio within each round (its two scenarios ran
    back to back); the table shows the median of each figure over rounds. The same ratios are
    also given from the nginx worker's CPU time per request (user + system), which does not
    count time the worker spent waiting for a CPU that other processes had: on a busy machine
    it is the steadier figure.
    """
    by = {s.key: s for s in scenarios}
    rps = {s.key: med(r["rps"] for r in s.runs) for s in scenarios}
    cpu = {s.key: med(r["cpu_us"] for r in s.runs) for s in scenarios}
    g = rps.get("G")
    print()
    print(f"{'':3} {'scenario':58} {'req/s':>9} {'p50 µs':>8} {'p99 µs':>8} "
          f"{'cpu µs/req':>10} {'× G':>6}")
    for s in scenarios:
        p50 = med(r["p50"] for r in s.runs)
        p99 = med(r["p99"] for r in s.runs)
        vs_g = f"{rps[s.key] / g:.2f}" if g else "-"
        print(f"{s.key:3} {s.title:58} {rps[s.key]:9.0f} {p50:8.0f} {p99:8.0f} "
              f"{cpu[s.key]:10.1f} {vs_g:>6}")

    def per_round(num, den, field, invert=False):
        if num not in by or den not in by:
            return None
        pairs = zip(by[num].runs, by[den].runs)
        if invert:  # CPU time per request: the cheaper scenario is the faster one
            values = [d[field] / n[field] for n, d in pairs if n[field] and n[field] == n[field]]
        else:
            values = [n[field] / d[field] for n, d in pairs if d[field]]
        return med(values) if values else None

    ratios = {name: per_round(n, d, "rps") for name, n, d in RATIOS}
    cratios = {name: per_round(n, d, "cpu_us", True) for name, n, d in RATIOS}
    print()
    print("ratios of req/s (C/A, D/A, E/A against A0, the unprotected server of the same "
          "nginx): " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items() if v is not None))
    print("same from worker CPU µs/request: " +
          ", ".join(f"{k} {v:.2f}" for k, v in cratios.items() if v is not None))
    if all(k in cpu for k in ("A", "B", "G", "N")):
        # Forward auth: the in-process decision plus the hop (G's cost over A's).
        bound = cpu["B"] + cpu["G"] - cpu["A"]
        print(f"forward auth (N): {cpu['N']:.1f} µs/request of worker CPU; the in-process path "
              f"plus the hop, B + (G - A): {bound:.1f} µs/request: "
              f"{'within' if cpu['N'] <= bound else 'above'}")
    if args.smoke:
        return

    def verdicts(values):
        out = []
        for name, target in TARGETS:
            value = values.get(name)
            if value is None:
                out.append((f"{name} not measured", False))
            else:
                ok = value >= target
                out.append((f"{name} {value:.3f} {'>=' if ok else '<'} {target:.2f}", ok))
        return out
    by_rps, by_cpu = verdicts(ratios), verdicts(cratios)
    all_pass = all(ok for _, ok in by_rps)
    note = f"; machine {busy * 100:.0f}% busy before the run" if busy > 0.1 else ""
    print(f"targets: {'PASS' if all_pass else 'FAIL'} (req/s: " +
          ", ".join(text for text, _ in by_rps) + "; worker CPU time: " +
          ", ".join(text for text, _ in by_cpu) +
          f" {'all met' if all(ok for _, ok in by_cpu) else 'not all met'}{note})")


if __name__ == "__main__":
    sys.exit(main())
