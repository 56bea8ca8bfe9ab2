#!/usr/bin/env bash
# Install libnginx-mod-http-authentik into this machine's stock Debian nginx and check it works:
# layout, nginx -t with the module enabled, a protected static file served by the stock
# /usr/sbin/nginx (own prefix and config, the package's modules-enabled wiring) with 401 without
# a session and 200 + the username with one, then remove / reinstall / purge.
#   tests/deb/test-package.sh [PATH.deb]     (as root; without an argument runs scripts/package-deb)
# The last line is "N passed, N failed".
set -uo pipefail
unset NGINX
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
pkg=libnginx-mod-http-authentik
link=/etc/nginx/modules-enabled/50-mod-http-authentik.conf
available=/usr/share/nginx/modules-available/mod-http-authentik.conf
so=/usr/lib/nginx/modules/ngx_http_authentik_module.so

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
# check NAME COMMAND...: one assertion.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}
finish() {
    printf '# pass %d\n# fail %d\n' "$passed" "$failed" # the summary scripts/test-extra counts
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}
# apt-get with its output in $prefix/apt.log (shown when it fails); waits for the dpkg lock.
apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q "$@" >>"$prefix/apt.log" 2>&1 9>&- || {
        tail -n 20 "$prefix/apt.log"
        return 1
    }
}

if [ "$(id -u)" != 0 ]; then
    not_ok "must run as root (installs a package)"
    finish
fi

# It installs and purges a system package: one run at a time on this machine (the lock's fd 9
# is closed for the commands this starts, so that no daemon keeps it).
exec 9>/run/lock/authentik-deb-test.lock
if ! flock -w 1800 9; then
    not_ok "another tests/deb/test-package.sh holds /run/lock/authentik-deb-test.lock"
    finish
fi
prefix=$(mktemp -d /tmp/authentik-deb-test-XXXXXX)
chmod 755 "$prefix"
nginx_pid=
cleanup() {
    if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -QUIT "$nginx_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$nginx_pid" 2>/dev/null
    fi
    # Leave the machine as it was if an assertion stopped us half way.
    if dpkg -s "$pkg" >/dev/null 2>&1 || [ -e "$link" ] || [ -L "$link.removed" ]; then
        apt_get purge "$pkg" >/dev/null
    fi
    rm -rf "$prefix"
}
trap cleanup EXIT

deb=${1:-}
if [ -z "$deb" ]; then
    deb=$(scripts/package-deb 2>"$prefix/package-deb.log" 9>&- | tail -n1)
    if [ ! -f "$deb" ]; then
        tail -n 40 "$prefix/package-deb.log"
        not_ok "scripts/package-deb builds the package"
        finish
    fi
fi
deb=$(realpath "$deb")
check "the package file exists: $deb" test -f "$deb"
[ -f "$deb" ] || finish

# --- the package itself ---------------------------------------------------------------------
contents=$(dpkg-deb -c "$deb")
check "ships $so" grep -q " \./usr/lib/nginx/modules/ngx_http_authentik_module.so$" <<<"$contents"
check "ships $available" grep -q " \.$available$" <<<"$contents"
check "ships the copyright" grep -q "/usr/share/doc/$pkg/copyright$" <<<"$contents"
check "ships changelog.Debian.gz" grep -q "/usr/share/doc/$pkg/changelog.Debian.gz$" <<<"$contents"
if [ -f README.md ]; then
    check "ships README.md" grep -qE "/usr/share/doc/$pkg/README\.md(\.gz)?$" <<<"$contents"
fi
examples=0
for f in nginx-conf/*; do
    [ -f "$f" ] || continue
    grep -qE "/usr/share/doc/$pkg/examples/$(basename "$f")(\.gz)?$" <<<"$contents" || { echo "# missing example $f"; examples=1; }
done
check "ships nginx-conf/* as examples" test "$examples" = 0
abi=$(sed -n 's/^nginx:abi=//p' /usr/share/nginx/src/debian/libnginx-mod.abisubstvars 2>/dev/null)
[ -n "$abi" ] || abi=$(apt-cache show nginx | grep -o 'nginx-abi-[^, ]*' | head -n1)
depends=$(dpkg-deb -f "$deb" Depends)
check "Depends on $abi and libc6 ($depends)" \
    bash -c '[[ ", $1," == *", $2,"* && $1 == *libc6* ]]' _ "$depends" "$abi"
mkdir -p "$prefix/deb"
dpkg-deb -x "$deb" "$prefix/deb"
check "the module in the package is stripped (no .symtab)" \
    bash -c '! readelf -S "$1" | grep -q "\.symtab"' _ "$prefix/deb$so"

# --- install ----------------------------------------------------------------------------------
# Start from a machine without the package (and without a leftover .removed link).
if dpkg -s "$pkg" >/dev/null 2>&1 || [ -L "$link.removed" ]; then apt_get purge "$pkg"; fi
# nginx's "nginx-reload" trigger only reloads the system service when it is running, and
# policy-rc.d / no init keeps it from being started: the service is not part of this test.
check "apt-get install ./$(basename "$deb")" apt_get install "$deb"
check "$so installed" test -f "$so"
check "$link -> $available" bash -c '[ -L "$1" ] && [ "$(readlink "$1")" = "$2" ]' _ "$link" "$available"
check "$available loads the module" grep -qx 'load_module modules/ngx_http_authentik_module.so;' "$available"
check "nginx -t passes with the module enabled" nginx -t -q
check "nginx -T loads the module through modules-enabled" \
    bash -c 'nginx -T 2>/dev/null | grep -q "^load_module modules/ngx_http_authentik_module.so;"'

# --- a protected static file, served by the stock nginx with its own prefix and config --------
port=
for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if [ -z "$(ss -Hltn "sport = :$p")" ]; then port=$p; break; fi
done
issuer=https://authentik.deb.test/application/o/deb/
client_id="deb-test-client"
client_secret=$(openssl rand -hex 32)
cookie_name=authentik_deb_test
mkdir -p "$prefix/html" "$prefix/tmp" "$prefix/conf"
openssl rand -hex 32 >"$prefix/conf/cookie.secret"
chmod 600 "$prefix/conf/cookie.secret"
echo "protected content" >"$prefix/html/index.html"
# -p $prefix: "load_module modules/..." is relative to the prefix, as in Debian's
# /usr/share/nginx/modules -> /usr/lib/nginx/modules.
ln -s /usr/lib/nginx/modules "$prefix/modules"
cat >"$prefix/conf/nginx.conf" <<EOF
include /etc/nginx/modules-enabled/*.conf;
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/error.log info;
events { worker_connections 64; }
http {
    access_log $prefix/access.log;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;

    authentik_provider deb {
        issuer $issuer;
        client_id $client_id;
        client_secret $client_secret;
        cookie_secret_file $prefix/conf/cookie.secret;
        cookie_name $cookie_name;
        external_host http://127.0.0.1:$port;
    }

    server {
        listen 127.0.0.1:$port;
        root $prefix/html;
        location / {
            authentik deb;
            add_header X-User \$authentik_username always;
        }
    }
}
EOF
run_nginx() { /usr/sbin/nginx -p "$prefix" -c "$prefix/conf/nginx.conf" -e "$prefix/error.log" "$@" 9>&-; }
check "own config: nginx -t (port $port)" run_nginx -t -q
if run_nginx; then
    for _ in $(seq 50); do [ -s "$prefix/nginx.pid" ] && break; sleep 0.1; done
    nginx_pid=$(cat "$prefix/nginx.pid" 2>/dev/null)
fi
check "stock /usr/sbin/nginx starts with the module" test -n "$nginx_pid"

url="http://127.0.0.1:$port/index.html"
status=$(curl -s -o /dev/null -w '%{http_code}' "$url")
check "401 without a session (got $status)" test "$status" = 401

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
payload=$(printf '{"iss":"%s","sub":"deb-tester-id","aud":"%s","exp":%d,"iat":%d,"preferred_username":"deb-tester"}' \
    "$issuer" "$client_id" $((now + 300)) "$now" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$client_secret" -binary | b64url)
printf '%s.%s.%s' "$header" "$payload" "$signature" >"$prefix/token"
cookies=$(cargo run -q -p authentik-core --example seal_session -- \
    "$prefix/conf/cookie.secret" "$cookie_name" <"$prefix/token" 2>"$prefix/seal.log")
check "seal_session seals the token" test -n "$cookies"
cookie_header=$(paste -sd ';' <<<"$cookies" | sed 's/;/; /g')
response=$(curl -s -D - -H "Cookie: $cookie_header" "$url")
status=$(head -n1 <<<"$response" | awk '{print $2}')
user=$(grep -i '^X-User:' <<<"$response" | tr -d '\r' | sed 's/^[^:]*: *//')
check "200 with a session (got $status)" test "$status" = 200
check "X-User is deb-tester (got '$user')" test "$user" = deb-tester
check "the static file is served" grep -q "protected content" <<<"$response"

if [ -n "$nginx_pid" ]; then
    kill -QUIT "$nginx_pid"
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    check "own nginx stopped" bash -c '! kill -0 "$1" 2>/dev/null' _ "$nginx_pid"
fi
if [ "$failed" -gt 0 ]; then
    echo "--- error.log"
    tail -n 20 "$prefix/error.log" 2>/dev/null
fi

# --- remove, reinstall, purge -----------------------------------------------------------------
check "apt-get remove" apt_get remove "$pkg"
check "$so removed" test ! -e "$so"
check "no $link after remove" test ! -e "$link" -a ! -L "$link"
check "no dangling *.conf link in /etc/nginx/modules-enabled" bash -c '! find /etc/nginx/modules-enabled -xtype l -name "*.conf" | grep -q .'
check "nginx -t passes after remove" nginx -t -q
# Debian's prerm keeps the admin's choice as $link.removed (not included: not *.conf) so that
# a reinstall enables the module again; purge deletes it.
check "$link.removed kept until purge (Debian's convention)" test -L "$link.removed"
check "reinstall after remove" apt_get install "$deb"
check "reinstall enables the module again" bash -c '[ -L "$1" ] && [ ! -L "$1.removed" ]' _ "$link"
check "nginx -t passes after reinstall" nginx -t -q
check "apt-get purge" apt_get purge "$pkg"
check "purge leaves no link in /etc/nginx/modules-enabled" \
    bash -c '! ls -A /etc/nginx/modules-enabled | grep -q "mod-http-authentik"'
check "no dangling link in /etc/nginx/modules-enabled" bash -c '! find /etc/nginx/modules-enabled -xtype l | grep -q .'
check "nginx -t passes after purge" nginx -t -q
check "the package is gone" bash -c "! dpkg -s $pkg >/dev/null 2>&1"

finish
