# shellcheck shell=bash
# The toolkit of scripts/ and tests/deb, sourced, never run:
#
#   source "$(dirname "$0")/lib.sh"            (tests/deb: "$(dirname "$0")/../../scripts/lib.sh")
#
# It sets ROOT (the repository) and umask 022, unsets NGINX (nginx reads it as a list of inherited sockets)
# and defines:
#
#   need_pkgs PKG...          install the Debian packages that are missing (root)
#   need_cargo                put a cargo that meets the workspace's rust-version first on PATH:
#                             rustup's (~/.cargo/bin) wins, then one on PATH, else Debian's
#                             rust-web toolchain is installed
#   use_vendored_target       export the target dir and NGX_CONFIGURE_ARGS of the vendored build
#   mint_tool                 build tests/src/bin/authentik-mint.rs, print its path
#   free_port                 a loopback TCP port nobody listens on
#   nginx_prefix DIR          an nginx prefix: DIR/conf, DIR/logs, DIR/temp
#   nginx_main_lines DIR      pid, lock_file and error_log lines (main context) in DIR/logs
#   nginx_http_lines DIR      the *_temp_path lines (http context) in DIR/temp
#   nginx_run BIN DIR ARGS... BIN -p DIR/ -c DIR/conf/nginx.conf -e DIR/logs/error.log ARGS...
#   nginx_start BIN DIR [URL] nginx -t, then start it (daemon off, a child of this shell) and
#                             wait for URL to answer (or the pid file); sets NGINX_PID
#   nginx_stop PID...         stop nginx masters (QUIT, then KILL after 5 s)
#   ok / not_ok / check / verdict / finish
#                             the pass/fail counters (PASSED, FAILED) and the summary
#   run_step NAME COMMAND...  run one step of a test run, log it, count its tests (a step that
#                             says `skipped: REASON` counts as neither passed nor failed)
#   count_log LOG             add the results a log reports to PASSED and FAILED
#
# Nothing here sets shell options: the sourcing script chooses -e or not.

[ -n "${AUTHENTIK_LIB_SH:-}" ] && return 0
AUTHENTIK_LIB_SH=1
# nginx workers run as nobody: what the scripts and tests create (prefixes, pages, temp
# directories) must be readable by them, also where root's umask is 077.
umask 022
unset NGINX
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ---------------------------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------------------------

pkg_installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

# apt-get update once per run (and at most every 6 hours across runs).
apt_update() {
    local stamp=/var/lib/apt/periodic/authentik-update-stamp
    [ "${AUTHENTIK_APT_UPDATED:-0}" = 1 ] && return 0
    if [ "${1:-}" != --force ] && [ -n "$(find "$stamp" -mmin -360 2>/dev/null)" ]; then
        return 0
    fi
    echo "apt-get update" >&2
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 9>&- || return 1
    mkdir -p "${stamp%/*}" && touch "$stamp"
    export AUTHENTIK_APT_UPDATED=1
}

# Services that packages start on install (nginx, caddy: both on port 80) stay stopped: without
# a policy-rc.d of the machine's own, one that refuses to start them is in place meanwhile.
apt_install() {
    local policy=/usr/sbin/policy-rc.d rc=0 log
    [ -e "$policy" ] && policy=
    if [ -n "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
    fi
    log=$(mktemp /tmp/authentik-apt.XXXXXX)
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "$@" >"$log" 2>&1 9>&- || rc=$?
    [ -z "$policy" ] || rm -f "$policy"
    [ "$rc" -eq 0 ] || { tail -n 30 "$log" >&2; echo "apt-get install $* failed" >&2; }
    rm -f "$log"
    return "$rc"
}

need_pkgs() {
    local p missing=()
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run as root to install them)" >&2
        return 1
    fi
    echo "installing ${missing[*]}" >&2
    apt_update || return 1
    apt_install "${missing[@]}" || { apt_update --force && apt_install "${missing[@]}"; }
}

# ---------------------------------------------------------------------------------------------
# The Rust toolchain
# ---------------------------------------------------------------------------------------------

rust_version() { sed -n 's/^rust-version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n1; }

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# cargo_ok PATH: PATH is a cargo at least as new as the workspace's rust-version.
cargo_ok() {
    local have
    [ -n "$1" ] && [ -x "$1" ] || return 1
    have=$("$1" --version 2>/dev/null | awk '{print $2}')
    [ -n "$have" ] && version_ge "${have%%-*}" "$(rust_version)"
}

# rustup's toolchain of exactly the declared rust-version is used when it is installed (the
# version the project is built and tested with), else rustup's default.
find_cargo() {
    local bin="${CARGO_HOME:-$HOME/.cargo}/bin" pinned
    if [ -z "${RUSTUP_TOOLCHAIN:-}" ] && [ -x "$bin/rustup" ]; then
        pinned=$("$bin/rustup" toolchain list 2>/dev/null | awk '{print $1}' \
            | grep -E "^$(rust_version | sed 's/\./\\./g')(\.0)?-" | head -n1)
        [ -z "$pinned" ] || export RUSTUP_TOOLCHAIN=$pinned
    fi
    if cargo_ok "$bin/cargo"; then
        [ "${PATH%%:*}" = "$bin" ] || PATH="$bin:$PATH"
        export PATH
        return 0
    fi
    cargo_ok "$(command -v cargo)"
}

need_cargo() {
    find_cargo && return 0
    echo "no cargo >= $(rust_version) in ${CARGO_HOME:-$HOME/.cargo}/bin or on PATH:" \
        "installing Debian's rust-web toolchain" >&2
    need_pkgs rustc-web cargo-web rustfmt-web rust-web-clippy || return 1
    hash -r
    find_cargo && return 0
    echo "$(command -v cargo || echo cargo): $(cargo --version 2>/dev/null) is older than" \
        "the workspace's rust-version $(rust_version)" >&2
    return 1
}

# The target directory and nginx configure arguments of the vendored build (scripts/build
# vendored). Every other cargo command of a test run uses the same ones, so that nothing is
# built twice: cargo test, clippy (which would otherwise rebuild nginx-sys and so nginx).
VENDORED_TARGET="$ROOT/target/vendored"
VENDORED_CONFIGURE_ARGS="--with-compat --with-debug --with-http_auth_request_module"
use_vendored_target() {
    export CARGO_TARGET_DIR="$VENDORED_TARGET" NGX_CONFIGURE_ARGS="$VENDORED_CONFIGURE_ARGS"
}

# The scripts' token and cookie tool (tests/src/bin/authentik-mint.rs), built in the vendored
# target directory; prints its path.
mint_tool() {
    need_cargo || return 1
    (use_vendored_target && cargo build -q -p authentik-integration --bin authentik-mint) >&2 || return 1
    echo "$VENDORED_TARGET/debug/authentik-mint"
}

# ---------------------------------------------------------------------------------------------
# Ports and nginx
# ---------------------------------------------------------------------------------------------

port_in_use() {
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

# Below the kernel's ephemeral range (32768-60999), so no outgoing connection holds it.
free_port() {
    local p _
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    echo "no free port found" >&2
    return 1
}

nginx_prefix() {
    mkdir -p "$1/conf" "$1/logs" "$1/temp" && chmod 755 "$1" "$1/conf" "$1/logs" "$1/temp"
}

nginx_main_lines() {
    printf 'pid %s/logs/nginx.pid;\nlock_file %s/logs/nginx.lock;\nerror_log %s/logs/error.log info;\n' \
        "$1" "$1" "$1"
}

nginx_http_lines() {
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do
        printf '    %s_temp_path %s/temp/%s;\n' "$t" "$1" "$t"
    done
}

nginx_run() {
    local bin=$1 dir=$2
    shift 2
    "$bin" -p "$dir/" -c "$dir/conf/nginx.conf" -e "$dir/logs/error.log" "$@"
}

nginx_start() {
    local bin=$1 dir=$2 url=${3:-} _
    NGINX_PID=
    if ! nginx_run "$bin" "$dir" -t -q >"$dir/logs/nginx-t.log" 2>&1; then
        cat "$dir/logs/nginx-t.log" >&2
        return 1
    fi
    # The binary itself, not nginx_run: $! must be the master's pid, not a subshell's.
    "$bin" -p "$dir/" -c "$dir/conf/nginx.conf" -e "$dir/logs/error.log" -g 'daemon off;' \
        </dev/null >>"$dir/logs/stderr.log" 2>&1 9>&- &
    NGINX_PID=$!
    for _ in $(seq 1 300); do
        kill -0 "$NGINX_PID" 2>/dev/null || break
        if [ -n "$url" ]; then
            curl -s -o /dev/null --max-time 2 "$url" && return 0
        elif [ -s "$dir/logs/nginx.pid" ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "nginx did not start ($dir):" >&2
    tail -n 20 "$dir/logs/stderr.log" "$dir/logs/error.log" >&2 2>/dev/null
    nginx_stop "$NGINX_PID"
    NGINX_PID=
    return 1
}

nginx_stop() {
    local pid child _
    for pid in "$@"; do kill -QUIT "$pid" 2>/dev/null; done
    for pid in "$@"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            for child in $(pgrep -P "$pid" 2>/dev/null); do kill -KILL "$child" 2>/dev/null; done
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    return 0
}

# ---------------------------------------------------------------------------------------------
# Counters
# ---------------------------------------------------------------------------------------------

PASSED=0
FAILED=0
FAILED_STEPS=()
SKIPPED_STEPS=()

ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }

# check NAME COMMAND...: one assertion, passing when COMMAND succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# verdict NAME STATUS DETAIL: one assertion, passing when STATUS is 0.
verdict() {
    if [ "$2" -eq 0 ]; then ok "$1: $3"; else not_ok "$1: $3"; fi
}

# The summary: "# pass N" / "# fail N" (counted by scripts/test) and "N passed, N failed";
# exits 0 when nothing failed.
finish() {
    printf '# pass %d\n# fail %d\n\n%d passed, %d failed\n' "$PASSED" "$FAILED" "$PASSED" "$FAILED"
    [ "$FAILED" -eq 0 ]
    exit
}

# count_log LOG: cargo's "test result:" lines and the "# pass N" / "# fail N" lines.
count_log() {
    local p f
    p=$(grep -ahoE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$1" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
    f=$(grep -ahoE '[0-9]+ failed;' "$1" | awk '{s+=$1} END {print s+0}')
    p=$((p + $(grep -ahoE '^# pass [0-9]+' "$1" | awk '{s+=$3} END {print s+0}')))
    f=$((f + $(grep -ahoE '^# fail [0-9]+' "$1" | awk '{s+=$3} END {print s+0}')))
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
}

# run_step NAME COMMAND...: run COMMAND (STEP_TIMEOUT seconds at most, when set), show and keep
# its output in $LOGDIR/NAME.log, count its tests. A step that prints no test summary counts as
# one test; a failing step counts as one failure when its tests did not report one. Failed steps
# are listed in FAILED_STEPS. A step that succeeds with a `skipped: REASON` line and no summary
# counts as neither: it prints `# skipped NAME: REASON` and is listed in SKIPPED_STEPS.
run_step() {
    local name=$1 log rc reason before_p=$PASSED before_f=$FAILED
    shift
    log="${LOGDIR:-$ROOT/target/test-logs}/$name.log"
    mkdir -p "${log%/*}"
    printf '\n==> %s\n' "$name"
    if [ -n "${STEP_TIMEOUT:-}" ]; then
        timeout --kill-after=30 "$STEP_TIMEOUT" "$@" 2>&1 | tee "$log"
    else
        "$@" 2>&1 | tee "$log"
    fi
    rc=${PIPESTATUS[0]}
    count_log "$log"
    # The extra count is printed too, for a run that counts this one's output (scripts/test-extra).
    if [ "$rc" -ne 0 ]; then
        FAILED_STEPS+=("$name (exit $rc)")
        [ "$FAILED" -eq "$before_f" ] && { FAILED=$((FAILED + 1)); echo "# fail 1"; }
    elif [ "$PASSED" -eq "$before_p" ] && [ "$FAILED" -eq "$before_f" ] \
        && reason=$(grep -am1 "^skipped: " "$log"); then
        SKIPPED_STEPS+=("$name (${reason#skipped: })")
        echo "# skipped $name: ${reason#skipped: }"
    elif [ "$PASSED" -eq "$before_p" ] && [ "$FAILED" -eq "$before_f" ]; then
        PASSED=$((PASSED + 1))
        echo "# pass 1"
    fi
    return 0
}
