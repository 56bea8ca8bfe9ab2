# syntax=docker/dockerfile:1
#
# An nginx image (by default the official nginx:1.28.3) plus ngx_http_authentik_module.
#
#   docker build -t nginx-authentik:1.28.3 .
#   docker build --build-arg BASE_IMAGE=nginx:1.28 -t nginx-authentik:1.28 .
#   docker build --build-arg BASE_IMAGE=nginxinc/nginx-unprivileged:1.28.3 -t nginx-authentik:1.28.3-unprivileged .
#
# BASE_IMAGE is any Debian-based image of the official nginx packages (nginx:<version>,
# nginx:stable, nginx:mainline, nginxinc/nginx-unprivileged:<version>). Alpine (musl) images
# are refused at once.
#
# A dynamic module only loads into the nginx it was compiled for: the same version
# ("module ... version 1022001 instead of 1028003") and the same configure arguments
# ("module ... is not binary compatible"). So the build stage starts FROM the very image the
# module is for, reads that nginx's version and `nginx -V` configure arguments, and compiles
# nginx's source of that version with exactly those arguments (scripts/build-for-nginx), and
# the module against it. The final stage is the untouched base image plus three files.
#
# The official image's nginx.conf has no include for modules: the build stage adds
# `include /etc/nginx/modules-enabled/*.conf;` as its first line (main context, before
# `events {}`/`http {}`) and 50-mod-http-authentik.conf goes there, as on Debian. Other
# modules can be enabled the same way. Site configuration goes to /etc/nginx/conf.d/ as usual
# (see nginx-conf/ for examples).
#
# nginx source: the nginx-src crate's copy when Cargo.lock vendors that version (checksummed by
# Cargo.lock), else https://nginx.org/download/nginx-<version>.tar.gz, checked against
# NGINX_SOURCE_SHA256 or the line for that version in scripts/nginx-source.sha256; without one
# of them the build stops. Rust: Debian's rustc-web/cargo-web packages of the base image's
# release (1.96 in bookworm-security and trixie), checked against the workspace's rust-version.

ARG BASE_IMAGE=nginx:1.28.3

# ---------------------------------------------------------------------------------------------
# Build stage: the base image itself, so the same Debian release, glibc and `nginx -V`.
FROM ${BASE_IMAGE} AS build
# nginxinc/nginx-unprivileged runs as user 101; building needs root.
USER root
RUN if [ -f /etc/alpine-release ]; then \
        echo "error: $(. /etc/os-release; echo "$PRETTY_NAME") base image: Alpine (musl) images are not supported; use a Debian-based one such as nginx:1.28 or nginxinc/nginx-unprivileged:1.28" >&2; \
        exit 1; \
    fi; \
    command -v apt-get >/dev/null || { echo "error: the base image has no apt-get: a Debian-based nginx image is needed" >&2; exit 1; }
ARG NGINX_SOURCE_SHA256=

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates curl build-essential binutils pkg-config \
        clang libclang-dev libssl-dev libpcre2-dev zlib1g-dev \
        rustc-web cargo-web \
 && rm -rf /var/lib/apt/lists/*

# The exact version and configure arguments of this image's nginx. `nginx -V` prints them
# shell-quoted (e.g. --with-cc-opt='-g -O2 ...'), so they are read back with eval below.
# (scripts/official-image-configure-args.txt holds the value known for nginx:1.28.3, used by
# tests/deb/test-build-for-nginx.sh where no image is available; this reads the real one.)
RUN set -eu; \
    nginx -v 2>&1 | sed -n 's|^nginx version: nginx/||p' >/nginx-version; \
    nginx -V 2>&1 | sed -n 's/^configure arguments: //p' >/nginx-configure-args; \
    grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+' /nginx-version || { echo "error: no nginx version from nginx -v" >&2; exit 1; }; \
    for a in --modules-path=/usr/lib/nginx/modules --conf-path=/etc/nginx/nginx.conf; do \
        grep -q -- "$a" /nginx-configure-args || { echo "error: the base image's nginx is not configured with $a" >&2; exit 1; }; \
    done; \
    echo "nginx $(cat /nginx-version): $(cat /nginx-configure-args)"

WORKDIR /src
COPY . .
RUN set -eu; want=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml); have=$(cargo --version | awk '{print $2}'); \
    echo "cargo $have (rust-version $want)"; \
    [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" = "$want" ] \
        || { echo "error: cargo $have is older than the workspace's rust-version $want" >&2; exit 1; }

RUN set -eu; v=$(cat /nginx-version); \
    if grep -A1 '^name = "nginx-src"$' Cargo.lock | grep -q "+$v\"\$"; then \
        cargo fetch --locked; \
    else \
        sum=${NGINX_SOURCE_SHA256:-$(sed -n "s/^\([0-9a-f]\{64\}\)  nginx-$v\.tar\.gz\$/\1/p" scripts/nginx-source.sha256)}; \
        if [ -z "$sum" ]; then \
            echo "error: no checksum for nginx-$v.tar.gz: pass --build-arg NGINX_SOURCE_SHA256=<its sha256> or add it to scripts/nginx-source.sha256" >&2; \
            exit 1; \
        fi; \
        curl -fsSLO "https://nginx.org/download/nginx-$v.tar.gz"; \
        echo "$sum  nginx-$v.tar.gz" | sha256sum -c -; \
        mkdir -p /usr/src && tar -xzf "nginx-$v.tar.gz" -C /usr/src && rm "nginx-$v.tar.gz"; \
        echo "/usr/src/nginx-$v" >/nginx-source-dir; \
    fi

# Configure + make nginx with exactly those arguments, build the module against that tree,
# check its module signature against the image's own /usr/sbin/nginx, and `nginx -t` it there.
RUN set -eu; \
    eval "set -- $(cat /nginx-configure-args)"; \
    NGINX_SOURCE_DIR=$(cat /nginx-source-dir 2>/dev/null || true) \
        scripts/build-for-nginx "$(cat /nginx-version)" "$@" >/build-result; \
    module=$(sed -n 's/^module=//p' /build-result); \
    signature() { strings -a "$1" | grep -E '^[0-9]+,[0-9]+,[0-9]+,[01]{20,}$' | sed -n 1p; }; \
    echo "module: $(signature "$module")"; \
    echo "image:  $(signature /usr/sbin/nginx)"; \
    test "$(signature "$module")" = "$(signature /usr/sbin/nginx)"; \
    mkdir -p /out; \
    cp "$module" /out/ngx_http_authentik_module.so; \
    strip --strip-unneeded /out/ngx_http_authentik_module.so; \
    echo 'load_module /usr/lib/nginx/modules/ngx_http_authentik_module.so;' >/out/50-mod-http-authentik.conf; \
    { echo 'include /etc/nginx/modules-enabled/*.conf;'; cat /etc/nginx/nginx.conf; } >/out/nginx.conf; \
    chmod 644 /out/*; \
    install -m 644 /out/ngx_http_authentik_module.so /usr/lib/nginx/modules/; \
    install -D -m 644 /out/50-mod-http-authentik.conf /etc/nginx/modules-enabled/50-mod-http-authentik.conf; \
    cp /out/nginx.conf /etc/nginx/nginx.conf; \
    nginx -t

# ---------------------------------------------------------------------------------------------
# Final stage: the base image, only three files added (no RUN: its user, entrypoint and the
# ownership of its directories stay as they are).
FROM ${BASE_IMAGE}
COPY --from=build /out/ngx_http_authentik_module.so /usr/lib/nginx/modules/ngx_http_authentik_module.so
COPY --from=build /out/50-mod-http-authentik.conf /etc/nginx/modules-enabled/50-mod-http-authentik.conf
COPY --from=build /out/nginx.conf /etc/nginx/nginx.conf
