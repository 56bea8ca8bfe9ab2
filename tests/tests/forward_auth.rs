//! The forward-auth endpoints (docs/architecture.md §5, "Forward auth") with their real peers:
//! Traefik's contract as raw requests exactly as Traefik sends them (Traefik is not in
//! Debian), Debian's caddy 2.6 with `forward_auth`, and Debian's stock nginx (no module) with
//! authentik's `auth_request` configuration (`nginx-conf/auth-request-front.conf`); plus the
//! hostile cases: forged forwarded headers elsewhere, control bytes, open redirects.
//!
//! The logins run against the IdP of `tests/idp` (`cd tests/idp && npm ci`).

use authentik_core::fields::FIELDS;
use authentik_integration::front::Front;
use authentik_integration::idp::Idp;
use authentik_integration::navigate::{Browser, Url};
use authentik_integration::*;
use serde_json::json;

const TRAEFIK: &str = "/outpost.goauthentik.io/auth/traefik";
const CALLBACK: &str = "/outpost.goauthentik.io/callback";
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../nginx-conf");

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{EXAMPLES}/{name}"))
        .unwrap_or_else(|e| panic!("read nginx-conf/{name}: {e}"))
}

/// The module's nginx as an outpost: provider `app` (the standard one, external_host
/// http://app.company, token_request), `locations` in its one server.
fn outpost(provider_extra: &str, locations: &str) -> Nginx {
    Conf::new(
        provider(
            "app",
            &format!("token_request /_authentik_token;\n{provider_extra}"),
        ) + &server(&format!(
            "authentik app;\n\
                 location / {{ @PROXY@ }}\n\
                 location = /_authentik_token {{ internal; @PROXY@ }}\n\
                 {locations}"
        )),
    )
    .start()
}

/// Traefik's forwardAuth request for the client's `GET http://host uri` with the client's own
/// `headers` (copied, as Traefik copies them), as Traefik sends it with `trustForwardHeader`.
fn traefik_request(host: &str, uri: &str, headers: &[(&str, &str)]) -> Request {
    let mut r = Request::get(TRAEFIK).header("Host", "127.0.0.1:9000");
    for (name, value) in headers {
        r = r.header(name, value);
    }
    r.header("X-Forwarded-For", "192.0.2.7")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", uri)
        .header("X-Forwarded-Port", "80")
        .header("X-Forwarded-Server", "traefik-1")
        .header("X-Real-Ip", "192.0.2.7")
        .header("Accept-Encoding", "gzip")
}

const PAGE_LOAD: [(&str, &str); 3] = [
    ("User-Agent", "Mozilla/5.0"),
    ("Accept", "text/html,application/xhtml+xml"),
    ("Sec-Fetch-Mode", "navigate"),
];

/// Every identity header of the table is in `r`, and no client-sent value.
fn assert_identity(r: &Response, user: &str) {
    for spec in FIELDS {
        assert!(
            r.header(spec.header.name()).is_some(),
            "{} missing from {:?}",
            spec.header.name(),
            r.headers
        );
    }
    assert_eq!(r.header("X-authentik-username"), Some(user));
    assert!(
        !r.headers.iter().any(|(_, v)| v.contains("mallory")),
        "a client-sent value came back: {:?}",
        r.headers
    );
}

#[test]
fn traefik_allowed_gets_200_with_every_identity_header_and_no_body() {
    let ng = outpost("", "");
    let bearer = format!("Bearer {}", token());
    let r = ng.send(&traefik_request(
        "app.company",
        "/page?x=1",
        &[
            ("Authorization", &bearer),
            ("X-authentik-username", "mallory"),
            ("X_authentik_groups", "mallory"),
        ],
    ));
    assert_eq!(r.status, 200, "{:?}", r.headers);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Length"), Some("0"));
    assert_identity(&r, "akadmin");
    assert_eq!(
        r.header("X-authentik-groups"),
        Some("authentik Admins|users")
    );
    assert_eq!(r.header("X-Foo"), Some("bar"), "additionalHeaders");
    assert_eq!(r.authentik_status(), "ok");
    // Empty values are sent too: Traefik only replaces headers the auth server returns.
    let claims = claims_with(&[("email", json!(null)), ("groups", json!([]))]);
    let bearer = format!("Bearer {}", hs256(&claims));
    let r = ng.send(&traefik_request(
        "app.company",
        "/",
        &[("Authorization", &bearer)],
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-authentik-email"), Some(""));
    assert_eq!(r.header("X-authentik-groups"), Some(""));
    assert_eq!(
        ng.upstream_count(),
        0,
        "a forward-auth request reached the upstream"
    );
}

#[test]
fn traefik_without_a_session_302_for_page_loads_401_otherwise() {
    let ng = outpost("", "");
    let r = ng.send(&traefik_request("app.company", "/deep?x=1", &PAGE_LOAD));
    assert_eq!(r.status, 302, "{:?}", r.headers);
    let location = r.header("Location").unwrap();
    assert!(
        location.starts_with("https://authentik.company/application/o/authorize/?"),
        "{location}"
    );
    assert!(r
        .header_all("Set-Cookie")
        .iter()
        .any(|c| c.contains("_login_")));
    let api = ng.send(&traefik_request(
        "app.company",
        "/api",
        &[("Accept", "application/json"), ("Sec-Fetch-Mode", "cors")],
    ));
    assert_eq!(api.status, 401);
    assert!(api.header("Location").is_none());
    let post = ng.send(
        &traefik_request("app.company", "/form", &PAGE_LOAD).header("X-Forwarded-Method", "POST"),
    );
    // Repeated X-Forwarded-Method: not what Traefik sends, and refused.
    assert_eq!(post.status, 400);
    let mut post = Request::get(TRAEFIK);
    for (n, v) in PAGE_LOAD {
        post = post.header(n, v);
    }
    let post = ng.send(
        &post
            .header("X-Forwarded-Method", "POST")
            .header("X-Forwarded-Proto", "http")
            .header("X-Forwarded-Host", "app.company")
            .header("X-Forwarded-Uri", "/form"),
    );
    assert_eq!(post.status, 401);
    assert_eq!(ng.upstream_count(), 0);
}

#[test]
fn policy_denial_is_403_and_skip_path_is_200_without_identity() {
    let ng = outpost(
        "skip_path ^/public/;",
        "location /outpost.goauthentik.io/ {\n\
         authentik_require_group admins;\n\
         @PROXY@\n\
         }",
    );
    let bearer = format!("Bearer {}", token());
    let r = ng.send(&traefik_request(
        "app.company",
        "/page",
        &[("Authorization", &bearer)],
    ));
    assert_eq!(r.status, 403);
    assert!(r.header("X-authentik-username").is_none());
    let skipped = ng.send(&traefik_request(
        "app.company",
        "/public/a.css",
        &[("X-authentik-username", "mallory")],
    ));
    assert_eq!(skipped.status, 200);
    assert_eq!(skipped.authentik_status(), "skipped");
    assert!(
        !skipped
            .headers
            .iter()
            .any(|(n, _)| n.to_ascii_lowercase().starts_with("x-authentik-")
                && n != "X-Authentik-Status"),
        "{:?}",
        skipped.headers
    );
    for hostile in ["/public/../admin", "/public/%2e%2e/admin", "/private"] {
        let r = ng.send(&traefik_request("app.company", hostile, &PAGE_LOAD));
        assert_eq!(r.status, 302, "{hostile}");
    }
    assert_eq!(ng.upstream_count(), 0);
}

#[test]
fn authentik_require_applies_to_forward_auth() {
    let ng = outpost(
        "",
        "location /outpost.goauthentik.io/ {\n\
         authentik_require $authentik_claim_is_admin;\n\
         @PROXY@\n\
         }",
    );
    let admin = format!(
        "Bearer {}",
        hs256(&claims_with(&[("is_admin", json!(true))]))
    );
    let other = format!("Bearer {}", token());
    let r = ng.send(&traefik_request(
        "app.company",
        "/",
        &[("Authorization", &admin)],
    ));
    assert_eq!(r.status, 200);
    let r = ng.send(&traefik_request(
        "app.company",
        "/",
        &[("Authorization", &other)],
    ));
    assert_eq!(r.status, 403);
}

/// A browser behind a scripted Traefik: page requests go through the forward-auth endpoint as
/// Traefik sends them; the IdP is fetched directly.
struct Traefik<'a> {
    ng: &'a Nginx,
    host: String,
    browser: Browser,
}

impl Traefik<'_> {
    /// The browser's GET of `target` on the app: the forward-auth answer (a 2xx goes on to the
    /// app, which the test does not need: the identity headers are the answer).
    fn get(&mut self, target: &str) -> Response {
        let url = Url::parse(&format!("http://{}{target}", self.host)).unwrap();
        let mut headers: Vec<(String, String)> = self.browser.headers.clone();
        let cookies = self.browser.jar.for_url(&url);
        if !cookies.is_empty() {
            headers.push(("Cookie".into(), cookie_header(&cookies)));
        }
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let r = self.ng.send(&traefik_request(&self.host, target, &pairs));
        self.browser.jar.store(&url, &r);
        r
    }

    /// Log in from `target`: the 302 to authorize, the IdP (auto login), the callback through
    /// forward auth. The answer of the callback.
    fn login(&mut self, target: &str) -> Response {
        let r = self.get(target);
        assert_eq!(r.status, 302, "{:?}", r.headers);
        let walk = self
            .browser
            .navigate_until(r.header("Location").unwrap(), |u| u.path() == CALLBACK);
        let callback = walk
            .stopped_at
            .clone()
            .unwrap_or_else(|| panic!("never reached the callback:\n{}", walk.trace()));
        self.get(&callback.target)
    }
}

#[test]
fn traefik_login_completes_through_forward_auth_and_signs_out_the_same_way() {
    let idp = Idp::builder().auto_login("akadmin").start();
    let app_port = free_port();
    let host = format!("app.test:{app_port}");
    let ng = Conf::new(
        idp.provider("app", &format!("http://{host}"), "")
            + &server(&format!(
                "large_client_header_buffers 4 32k;\n\
                 authentik app;\n\
                 location / {{ @PROXY@ }}\n{}",
                idp.token_location()
            )),
    )
    .start();
    let mut traefik = Traefik {
        ng: &ng,
        host: host.clone(),
        browser: Browser::new(&[idp.port]),
    };
    let done = traefik.login("/deep/page?x=1&y=%2F");
    assert_eq!(done.status, 302, "{:?} {}", done.headers, done.text());
    assert_eq!(
        done.header("Location"),
        Some(format!("http://{host}/deep/page?x=1&y=%2F").as_str())
    );
    let cookie = default_cookie_name(&idp.client_id);
    assert!(
        traefik.browser.jar.get(&cookie).is_some(),
        "no session cookie"
    );
    let r = traefik.get("/deep/page?x=1&y=%2F");
    assert_eq!(r.status, 200);
    assert_identity(&r, "akadmin");
    // Sign-out through forward auth, both ways the outpost knows.
    let out = traefik.get("/outpost.goauthentik.io/sign_out");
    assert_eq!(out.status, 302);
    assert!(out.header("Location").unwrap().contains("/end-session/"));
    assert!(
        traefik.browser.jar.get(&cookie).is_none(),
        "session not cleared"
    );
    assert_eq!(traefik.get("/x").status, 302);
    traefik.login("/");
    assert_eq!(traefik.get("/any?X-authentik-logout=true").status, 302);
    assert!(traefik.browser.jar.get(&cookie).is_none());
    assert_eq!(ng.upstream_count(), 0);
}

#[test]
fn open_redirects_through_forwarded_host_or_uri_return_to_the_app() {
    let idp = Idp::builder().auto_login("akadmin").start();
    let host = format!("app.test:{}", free_port());
    let ng = Conf::new(
        idp.provider("app", &format!("http://{host}"), "")
            + &server(&format!(
                "large_client_header_buffers 4 32k;\nauthentik app;\nlocation / {{ @PROXY@ }}\n{}",
                idp.token_location()
            )),
    )
    .start();
    for (forwarded_host, target, back) in [
        ("evil.test", "/x", format!("http://{host}/x")),
        (
            host.as_str(),
            "//evil.test/x",
            format!("http://{host}//evil.test/x"),
        ),
        (
            host.as_str(),
            "/%2F%2Fevil.test",
            format!("http://{host}/%2F%2Fevil.test"),
        ),
    ] {
        let mut traefik = Traefik {
            ng: &ng,
            host: host.clone(),
            browser: Browser::new(&[idp.port]),
        };
        // The first request carries the hostile headers; the rest of the login is the app's.
        let url = Url::parse(&format!("http://{host}/")).unwrap();
        let r = ng.send(&traefik_request(forwarded_host, target, &PAGE_LOAD));
        assert_eq!(r.status, 302);
        traefik.browser.jar.store(&url, &r);
        let walk = traefik
            .browser
            .navigate_until(r.header("Location").unwrap(), |u| u.path() == CALLBACK);
        let callback = walk.stopped_at.clone().expect("the callback");
        let done = traefik.get(&callback.target);
        assert_eq!(done.status, 302, "{}", done.text());
        assert_eq!(
            done.header("Location"),
            Some(back.as_str()),
            "{forwarded_host} {target}"
        );
    }
}

#[test]
fn forged_forwarded_headers_are_ignored_outside_the_endpoints() {
    let ng = outpost("skip_path ^/public/;", "");
    for name in [
        "X-Forwarded-Uri",
        "X-Original-URL",
        "X-Original-URI",
        "X-Forwarded-Host",
    ] {
        let value = if name == "X-Original-URL" {
            "http://app.company/public/x"
        } else if name == "X-Forwarded-Host" {
            "public.company"
        } else {
            "/public/x"
        };
        let r = ng.send(&Request::get("/private").header(name, value));
        assert_eq!(r.status, 401, "{name}");
        assert_eq!(r.authentik_status(), "missing", "{name}");
    }
    assert_eq!(ng.upstream_count(), 0);
    // A page load's return URL is the request's own, whatever it forwards.
    let r = ng.send(
        &Request::get("/private")
            .header("Sec-Fetch-Mode", "navigate")
            .header("X-Forwarded-Host", "evil.test")
            .header("X-Forwarded-Uri", "/public/x"),
    );
    assert_eq!(r.status, 302);
    assert_eq!(r.authentik_status(), "missing");
    let seen = ng
        .send(
            &Request::get("/private")
                .bearer(&token())
                .header("X-Forwarded-Uri", "/public/x"),
        )
        .upstream();
    assert_eq!(seen.uri, "/private");
    assert_eq!(seen.one("X-Forwarded-Uri"), "/public/x");
    assert_eq!(seen.one("X-authentik-username"), "akadmin");
}

#[test]
fn control_bytes_in_forwarded_headers_get_400() {
    let ng = outpost("", "");
    let bearer = format!("Bearer {}", token());
    let base = |name: &str, value: &[u8]| {
        let mut r = Request::get(TRAEFIK).header("Authorization", &bearer);
        for (n, v) in [
            ("X-Forwarded-Method", &b"GET"[..]),
            ("X-Forwarded-Proto", b"http"),
            ("X-Forwarded-Host", b"app.company"),
            ("X-Forwarded-Uri", b"/x"),
        ] {
            r = r.header(n, if n == name { value } else { v });
        }
        r
    };
    // A CR inside a header value: nginx itself refuses the request.
    for name in ["X-Forwarded-Host", "X-Forwarded-Uri"] {
        let r = ng.send(&base(name, b"app.company\rSet-Cookie: x=1"));
        assert_eq!(r.status, 400, "{name}");
        assert!(r.header("Set-Cookie").is_none());
    }
    // Other control bytes, spaces, userinfo, non-ASCII: the module refuses them.
    for (name, value) in [
        ("X-Forwarded-Host", &b"app.company\x01"[..]),
        ("X-Forwarded-Host", b"app.company\x7f"),
        ("X-Forwarded-Host", b"user@evil.test"),
        ("X-Forwarded-Host", b"evil.test/x"),
        ("X-Forwarded-Uri", b"/x\x01y"),
        ("X-Forwarded-Uri", b"/x\ty"),
        ("X-Forwarded-Uri", b"/x%0d%0aSet-Cookie:%20x=1"),
        ("X-Forwarded-Uri", "/é".as_bytes()),
        ("X-Forwarded-Uri", b"x"),
        ("X-Forwarded-Proto", b"javascript"),
    ] {
        let r = ng.send(&base(name, value));
        assert_eq!(
            r.status,
            400,
            "{name}: {:?}",
            String::from_utf8_lossy(value)
        );
        assert!(r.header("X-authentik-username").is_none());
    }
    // An LF ends the header line: what follows is a header of its own.
    let r = ng.send(&base("X-Forwarded-Uri", b"/x\nX-Forwarded-Uri: /y"));
    assert_eq!(r.status, 400, "a repeated header");
    let log = ng.error_log();
    assert!(log.contains("forward auth (traefik):"), "{log}");
}

#[test]
fn nginx_endpoint_answers_200_401_403_never_302() {
    let ng = outpost("skip_path ^/public/;", "");
    let endpoint = "/outpost.goauthentik.io/auth/nginx";
    let page = |r: Request| PAGE_LOAD.iter().fold(r, |r, (n, v)| r.header(n, v));
    let r = ng.send(&page(
        Request::get(endpoint).header("X-Original-URL", "https://app.company/page"),
    ));
    assert_eq!(r.status, 401);
    assert!(r.header("Location").is_none());
    let r = ng.send(&page(
        Request::get(endpoint)
            .header("Host", "app.company")
            .header("X-Original-URI", "/public/x"),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.authentik_status(), "skipped");
    let r = ng.send(
        &Request::get(endpoint)
            .bearer(&token())
            .header("X-Original-URL", "https://app.company/page"),
    );
    assert_eq!(r.status, 200);
    assert_identity(&r, "akadmin");
    assert_eq!(ng.send(&Request::get(endpoint)).status, 400);
    assert_eq!(ng.upstream_count(), 0);
}

#[test]
fn envoy_reads_the_path_after_its_endpoint() {
    let ng = outpost("skip_path ^/public/;", "");
    let r = ng.send(&Request::get(
        "/outpost.goauthentik.io/auth/envoy/public/x?y=1",
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.authentik_status(), "skipped");
    let r = ng.send(&Request::get("/outpost.goauthentik.io/auth/envoy/app").bearer(&token()));
    assert_eq!(r.status, 200);
    assert_identity(&r, "akadmin");
    let r = ng.send(&Request::get("/outpost.goauthentik.io/auth/envoy/app"));
    assert_eq!(r.status, 401);
    assert_eq!(ng.upstream_count(), 0);
}

/// The Caddyfile of nginx-conf/, for the test: the site on a loopback port, forward_auth to
/// `outpost`, the app at `app`.
fn caddyfile(outpost: &str, app: &str) -> String {
    let site = example("Caddyfile")
        .replace(
            "app.company {",
            "http://app.test:@PORT@ {\n\tbind 127.0.0.1",
        )
        .replace("10.0.0.5:9000", outpost)
        .replace("127.0.0.1:8080", app);
    format!("{{\n\tadmin off\n\tauto_https off\n}}\n{site}")
}

#[test]
fn caddy_forward_auth_passes_the_identity_and_drops_client_headers() {
    let ng = outpost("", "");
    let caddy = Front::caddy(&caddyfile(
        &format!("127.0.0.1:{}", ng.port),
        &ng.echo.addr(),
    ));
    let host = format!("app.test:{}", caddy.port);
    let r = caddy.send(
        &Request::get("/page?x=1")
            .header("Host", &host)
            .bearer(&token())
            .header("X-authentik-username", "mallory")
            .header("X-Authentik-Groups", "mallory"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = r.upstream();
    assert_eq!(seen.uri, "/page?x=1");
    assert_eq!(seen.one("X-Authentik-Username"), "akadmin");
    assert_eq!(seen.one("X-Authentik-Groups"), "authentik Admins|users");
    assert_eq!(seen.one("X-Authentik-Meta-App"), "app");
    assert!(
        !seen
            .authentik_headers()
            .iter()
            .any(|(_, v)| v.contains("mallory")),
        "{:?}",
        seen.authentik_headers()
    );
    // The echo app counts the proxied request, the outpost's own forward-auth requests never.
    assert_eq!(ng.upstream_count(), 1);
    let anonymous = caddy.send(
        &PAGE_LOAD
            .iter()
            .fold(Request::get("/page").header("Host", &host), |r, (n, v)| {
                r.header(n, v)
            }),
    );
    assert_eq!(anonymous.status, 302, "{:?}", anonymous.headers);
    assert!(anonymous
        .header("Location")
        .unwrap()
        .starts_with("https://authentik.company/application/o/authorize/?"));
    let api = caddy.send(&Request::get("/api").header("Host", &host));
    assert_eq!(api.status, 401);
    assert_eq!(ng.upstream_count(), 1);
}

/// nginx-conf/auth-request-front.conf for the test: on a loopback port without TLS (so its
/// redirects keep the port), the outpost at `outpost`, the app at `app`.
fn stock_front(outpost: &str, app: &str) -> String {
    example("auth-request-front.conf")
        .lines()
        .filter(|l| !l.trim_start().starts_with("ssl_certificate"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("listen 443 ssl;", "listen 127.0.0.1:@PORT@;")
        .replace("port_in_redirect off;", "port_in_redirect on;")
        .replace("10.0.0.5:9000", outpost)
        .replace("127.0.0.1:8080", app)
        .replace("app.company", "app.test")
}

#[test]
fn stock_nginx_auth_request_logs_in_end_to_end() {
    let idp = Idp::builder().auto_login("akadmin").start();
    let front_port = free_port();
    let host = format!("app.test:{front_port}");
    let ng = Conf::new(
        idp.provider("app", &format!("http://{host}"), "")
            + &server(&format!(
                "large_client_header_buffers 4 32k;\n\
                 authentik app;\n\
                 location /outpost.goauthentik.io/ {{ @PROXY@ }}\n\
                 {}",
                idp.token_location()
            )),
    )
    .start();
    let conf = stock_front(&format!("127.0.0.1:{}", ng.port), &ng.echo.addr());
    // The front listens where external_host points.
    let front = Front::stock_nginx_on(Some(front_port), &conf);
    let mut b = Browser::new(&[front_port, idp.port]);
    let walk = b.navigate(&format!("http://{host}/deep/page?x=1"));
    let last = walk.last();
    assert_eq!(
        last.response.status,
        200,
        "{}\n{}",
        walk.trace(),
        front.logs()
    );
    assert_eq!(last.url.target, "/deep/page?x=1");
    let seen = last.response.upstream();
    assert_eq!(seen.one("X-authentik-username"), "akadmin");
    assert_eq!(seen.one("X-authentik-groups"), "authentik Admins|users");
    // The app saw the page, nothing of the outpost's.
    assert_eq!(seen.uri, "/deep/page?x=1");
    let again = b.get(&format!("http://{host}/other"));
    assert_eq!(again.status, 200);
    // A client's own identity header is replaced by the outpost's.
    let forged = b.request(
        "GET",
        &Url::parse(&format!("http://{host}/x")).unwrap(),
        &[("X-authentik-username", "mallory")],
    );
    assert_eq!(forged.upstream().one("X-authentik-username"), "akadmin");
    // Without the session: the error_page sends the browser to this nginx's /start.
    let r = Front::send(
        &front,
        &Request::get("/x")
            .header("Host", &host)
            .header("Sec-Fetch-Mode", "navigate"),
    );
    assert_eq!(r.status, 302);
    assert!(r
        .header("Location")
        .unwrap()
        .contains("/outpost.goauthentik.io/start?rd="));
}
