#!/usr/bin/env bash
# Install libnginx-mod-http-authentik into this machine's stock Debian nginx and check it works:
# layout, nginx -t with the module enabled, a protected static file served by the stock
# /usr/sbin/nginx (own prefix and config, the package's modules-enabled wiring) with 401 without
# a session and 200 + the username with one, then remove / reinstall / purge.
#   tests/deb/test-package.sh [PATH.deb]     (as root; without an argument runs scripts/package-deb)
# The last line is "N passed, N failed".
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT" || exit 1
pkg=libnginx-mod-http-authentik
link=/etc/nginx/modules-enabled/50-mod-http-authentik.conf
available=/usr/share/nginx/modules-available/mod-http-authentik.conf
so=/usr/lib/nginx/modules/ngx_http_authentik_module.so

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
    [ -z "$nginx_pid" ] || nginx_stop "$nginx_pid"
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
port=$(free_port)
issuer=https://authentik.deb.test/application/o/deb/
client_id="deb-test-client"
client_secret=$(openssl rand -hex 32)
cookie_name=authentik_deb_test
nginx_prefix "$prefix"
mkdir -p "$prefix/html"
openssl rand -hex 32 >"$prefix/conf/cookie.secret"
chmod 600 "$prefix/conf/cookie.secret"
echo "protected content" >"$prefix/html/index.html"
# -p $prefix: "load_module modules/..." is relative to the prefix, as in Debian's
# /usr/share/nginx/modules -> /usr/lib/nginx/modules.
ln -s /usr/lib/nginx/modules "$prefix/modules"
cat >"$prefix/conf/nginx.conf" <<EOF
include /etc/nginx/modules-enabled/*.conf;
worker_processes 1;
$(nginx_main_lines "$prefix")
events { worker_connections 64; }
http {
    access_log $prefix/logs/access.log;
$(nginx_http_lines "$prefix")

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
check "own config: nginx -t (port $port)" nginx_run /usr/sbin/nginx "$prefix" -t -q
nginx_start /usr/sbin/nginx "$prefix" "http://127.0.0.1:$port/"
nginx_pid=$NGINX_PID
check "stock /usr/sbin/nginx starts with the module" test -n "$nginx_pid"

url="http://127.0.0.1:$port/index.html"
status=$(curl -s -o /dev/null -w '%{http_code}' "$url")
check "401 without a session (got $status)" test "$status" = 401

mint=$(mint_tool 2>"$prefix/mint.log") || tail -n 20 "$prefix/mint.log"
token=$("$mint" token --secret "$client_secret" --set iss="$issuer" --set aud="$client_id" \
    --set sub=deb-tester-id --set preferred_username=deb-tester --set exp=now+300 --set iat=now)
cookies=$("$mint" seal --cookie-secret-file "$prefix/conf/cookie.secret" --name "$cookie_name" "$token")
check "authentik-mint seals a token" test -n "$cookies"
cookie_header=$(paste -sd ';' <<<"$cookies" | sed 's/;/; /g')
response=$(curl -s -D - -H "Cookie: $cookie_header" "$url")
status=$(head -n1 <<<"$response" | awk '{print $2}')
user=$(grep -i '^X-User:' <<<"$response" | tr -d '\r' | sed 's/^[^:]*: *//')
check "200 with a session (got $status)" test "$status" = 200
check "X-User is deb-tester (got '$user')" test "$user" = deb-tester
check "the static file is served" grep -q "protected content" <<<"$response"

if [ -n "$nginx_pid" ]; then
    nginx_stop "$nginx_pid"
    check "own nginx stopped" bash -c '! kill -0 "$1" 2>/dev/null' _ "$nginx_pid"
    nginx_pid=
fi
if [ "$FAILED" -gt 0 ]; then
    echo "--- error.log"
    tail -n 20 "$prefix/logs/error.log" 2>/dev/null
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
