#!/usr/bin/env bash
# scripts/build-for-nginx against nginx 1.28.3 configured like the official nginx:1.28.3 image
# (scripts/official-image-configure-args.txt): the module's signature equals the nginx binary's,
# `nginx -V` shows exactly those arguments, the .so loads into that binary with a provider and
# answers 401 without a session, and a module built for Debian's nginx 1.22.1 is refused.
#   tests/deb/test-build-for-nginx.sh [DEBIAN_MODULE]
# Without DEBIAN_MODULE, `scripts/build debian` provides one. The last line is
# "N passed, N failed". Compiles nginx (~2 min) and the module in release (~2 min) the first time.
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT" || exit 1
version=1.28.3
args_file=scripts/official-image-configure-args.txt
need_cargo

prefix=$(mktemp -d /tmp/authentik-bfn-test-XXXXXX)
chmod 755 "$prefix"
nginx_pid=
cleanup() {
    [ -z "$nginx_pid" ] || nginx_stop "$nginx_pid"
    rm -rf "$prefix"
}
trap cleanup EXIT

# The arguments, shell-quoted as `nginx -V` prints them.
args_line=$(grep -v "^#" "$args_file")
args=()
eval "args=($args_line)"
check "$args_file holds ${#args[@]} arguments" test "${#args[@]}" -gt 10

if ! out=$(scripts/build-for-nginx "$version" "${args[@]}" 2>"$prefix/build.log"); then
    tail -n 40 "$prefix/build.log"
    not_ok "scripts/build-for-nginx $version <official image arguments>"
    finish
fi
ok "scripts/build-for-nginx $version <official image arguments>"
module=$(sed -n 's/^module=//p' <<<"$out")
nginx_bin=$(sed -n 's/^nginx=//p' <<<"$out")
check "module=$module exists" test -f "$module"
check "nginx=$nginx_bin exists" test -x "$nginx_bin"

signature() { strings -a "$1" | grep -E '^[0-9]+,[0-9]+,[0-9]+,[01]{20,}$' | sed -n 1p; }
mod_sig=$(signature "$module")
bin_sig=$(signature "$nginx_bin")
echo "# module signature: $mod_sig"
echo "# nginx signature:  $bin_sig"
check "the module's signature equals the nginx binary's" test -n "$mod_sig" -a "$mod_sig" = "$bin_sig"

info=$("$nginx_bin" -V 2>&1)
check "nginx -V: nginx/$version" grep -qx "nginx version: nginx/$version" <<<"$info"
configured=$(sed -n 's/^configure arguments: //p' <<<"$info")
check "nginx -V shows exactly the arguments of $args_file" test "$configured" = "$args_line"

# --- load the .so into that binary ------------------------------------------------------------
# --prefix=/etc/nginx, --user=nginx, temp/pid/lock/log paths under /var and /run are compiled
# in: always -p/-c/-e, and every path set in the config; `user` only matters as root.
port=$(free_port)
user_line=
[ "$(id -u)" = 0 ] && user_line="user nobody nogroup;"
nginx_prefix "$prefix"
mkdir -p "$prefix/html"
echo "protected" >"$prefix/html/index.html"
write_conf() { # write_conf MODULE FILE
    cat >"$2" <<EOF
load_module $1;
$user_line
worker_processes 1;
$(nginx_main_lines "$prefix")
events { worker_connections 64; }
http {
    access_log $prefix/logs/access.log;
$(nginx_http_lines "$prefix")

    authentik_provider app {
        issuer https://authentik.example.test/application/o/app/;
        client_id build-for-nginx-test;
        client_secret $(openssl rand -hex 32);
        cookie_secret $(openssl rand -hex 32);
        external_host http://127.0.0.1:$port;
    }

    server {
        listen 127.0.0.1:$port;
        root $prefix/html;
        location / {
            authentik app;
            add_header X-User \$authentik_username always;
        }
    }
}
EOF
}
write_conf "$module" "$prefix/conf/nginx.conf"
check "nginx -t: the .so loads with load_module, authentik_provider and authentik accepted" \
    nginx_run "$nginx_bin" "$prefix" -t -q
nginx_start "$nginx_bin" "$prefix" "http://127.0.0.1:$port/"
nginx_pid=$NGINX_PID
check "nginx $version starts with the module" test -n "$nginx_pid"
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/index.html")
check "401 without a session (got $status)" test "$status" = 401
if [ -n "$nginx_pid" ]; then
    nginx_stop "$nginx_pid"
    check "nginx stopped" bash -c '! kill -0 "$1" 2>/dev/null' _ "$nginx_pid"
    nginx_pid=
fi

# --- what a mismatch looks like ---------------------------------------------------------------
debian_module=${1:+$(realpath "$1")}
if [ -z "$debian_module" ]; then
    debian_module=$(scripts/build debian 2>"$prefix/build-debian.log" | sed -n 's/^module=//p')
fi
if [ -f "$debian_module" ]; then
    write_conf "$debian_module" "$prefix/conf/debian.conf"
    mismatch=$("$nginx_bin" -p "$prefix/" -c "$prefix/conf/debian.conf" -e "$prefix/logs/error.log" -t 2>&1)
    echo "# $(grep emerg <<<"$mismatch")"
    check "the module built for Debian's nginx 1.22.1 is refused: version 1022001 instead of 1028003" \
        grep -q 'version 1022001 instead of 1028003' <<<"$mismatch"
else
    tail -n 20 "$prefix/build-debian.log" 2>/dev/null
    not_ok "a module built for Debian's nginx to load"
fi

finish
