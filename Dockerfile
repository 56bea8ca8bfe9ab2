# syntax=docker/dockerfile:1
#
# The official nginx image plus ngx_http_authentik_module.
#
#   docker build -t nginx-authentik:1.28.3 .
#   docker build --build-arg NGINX_VERSION=1.29.x -t nginx-authentik:1.29.x .   # another tag
#
# A dynamic module only loads into the nginx it was compiled for: the same version
# ("module ... version 1022001 instead of 1028003") and the same configure arguments
# ("module ... is not binary compatible"). So the build stage starts FROM the very image the
# module is for, reads that nginx's version and `nginx -V` configure arguments, and compiles
# nginx's source of that version with exactly those arguments (scripts/build-for-nginx), and
# the module against it. The final stage is the untouched official image plus the .so and a
# load_module line.
#
# The official image's nginx.conf has no include for modules: the final stage adds
# `include /etc/nginx/modules-enabled/*.conf;` as its first line (main context, before
# `events {}`/`http {}`) and puts 50-mod-http-authentik.conf there, as Debian does. Other
# modules can be enabled the same way. Site configuration goes to /etc/nginx/conf.d/ as usual
# (see nginx-conf/ for examples).

ARG NGINX_VERSION=1.28.3

# ---------------------------------------------------------------------------------------------
# Build stage: same Debian release and glibc as the final image, its own `nginx -V`.
FROM nginx:${NGINX_VERSION} AS build
ARG NGINX_VERSION
# Optional: sha256 of nginx-${NGINX_VERSION}.tar.gz, checked when the source is downloaded.
ARG NGINX_SOURCE_SHA256=

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates curl build-essential binutils pkg-config \
        clang libclang-dev libssl-dev libpcre2-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain stable
ENV PATH=/root/.cargo/bin:$PATH

# The exact version and configure arguments of this image's nginx. `nginx -V` prints them
# shell-quoted (e.g. --with-cc-opt='-g -O2 ...'), so they are read back with eval below.
# (scripts/official-image-configure-args.txt holds the value known for nginx:1.28.3, used by
# tests/deb/test-build-for-nginx.sh where no image is available; this reads the real one.)
RUN nginx -v 2>&1 | sed -n 's|^nginx version: nginx/||p' >/nginx-version \
 && nginx -V 2>&1 | sed -n 's/^configure arguments: //p' >/nginx-configure-args \
 && test "$(cat /nginx-version)" = "${NGINX_VERSION}" \
 && cat /nginx-version /nginx-configure-args

WORKDIR /src
COPY . .

# nginx source of that version. When the nginx-src crate in Cargo.lock vendors it (1.28.3 for
# nginx-src 1.28.5+1.28.3), build-for-nginx takes it from the cargo registry (checksummed by
# Cargo.lock); otherwise it is downloaded from nginx.org.
RUN set -eu; v=$(cat /nginx-version); \
    if grep -A1 '^name = "nginx-src"$' Cargo.lock | grep -q "+$v\"\$"; then \
        cargo fetch --locked; \
    else \
        curl -fsSLO "https://nginx.org/download/nginx-$v.tar.gz"; \
        if [ -n "${NGINX_SOURCE_SHA256}" ]; then \
            echo "${NGINX_SOURCE_SHA256}  nginx-$v.tar.gz" | sha256sum -c -; \
        fi; \
        mkdir -p /usr/src && tar -xzf "nginx-$v.tar.gz" -C /usr/src && rm "nginx-$v.tar.gz"; \
        echo "/usr/src/nginx-$v" >/nginx-source-dir; \
    fi

# Configure + make nginx with exactly those arguments, build the module against that tree,
# check its module signature against the image's own /usr/sbin/nginx.
RUN set -eu; \
    eval "set -- $(cat /nginx-configure-args)"; \
    NGINX_SOURCE_DIR=$(cat /nginx-source-dir 2>/dev/null || true) \
        scripts/build-for-nginx "$(cat /nginx-version)" "$@" >/build-result; \
    module=$(sed -n 's/^module=//p' /build-result); \
    signature() { strings -a "$1" | grep -E '^[0-9]+,[0-9]+,[0-9]+,[01]{20,}$' | sed -n 1p; }; \
    echo "module: $(signature "$module")"; \
    echo "image:  $(signature /usr/sbin/nginx)"; \
    test "$(signature "$module")" = "$(signature /usr/sbin/nginx)"; \
    mkdir -p /out && cp "$module" /out/ngx_http_authentik_module.so && strip --strip-unneeded /out/ngx_http_authentik_module.so

# ---------------------------------------------------------------------------------------------
# Final stage: the official image, only the .so added.
FROM nginx:${NGINX_VERSION}
COPY --from=build /out/ngx_http_authentik_module.so /usr/lib/nginx/modules/ngx_http_authentik_module.so
RUN mkdir -p /etc/nginx/modules-enabled \
 && echo 'load_module /usr/lib/nginx/modules/ngx_http_authentik_module.so;' \
        >/etc/nginx/modules-enabled/50-mod-http-authentik.conf \
 && sed -i '1i include /etc/nginx/modules-enabled/*.conf;' /etc/nginx/nginx.conf \
 && nginx -t
