//! `Authorization: Basic` with authentik app passwords (docs/architecture.md, "Basic
//! credentials"), against the authentik-shaped IdP of `tests/idp/` and its
//! `client_credentials` grant: the exchange, the per-worker cache of successes and refusals
//! (counted at the IdP), `goauthentik.io/token`, authentik going away, the upstream's
//! `Authorization`, and hostile headers.
//!
//! Needs `tests/idp/node_modules` (`cd tests/idp && npm ci`; scripts/test does it).

use std::time::Duration;

use authentik_integration::idp::Idp;
use authentik_integration::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const GRANT: &str = "client_credentials";
const CHALLENGE: &str = "Basic realm=\"authentik\"";

struct Site {
    idp: Idp,
    ng: Nginx,
}

/// One worker (so its cache is the only one), the IdP's token location, `provider_extra` in
/// the provider and `location_extra` in `location /`.
fn site(provider_extra: &str, location_extra: &str) -> Site {
    let idp = Idp::start();
    let http = idp.provider("app", "http://app.test:@PORT@", provider_extra)
        + &format!(
            "server {{\n\
             listen 127.0.0.1:@PORT@;\n\
             server_name app.test;\n\
             large_client_header_buffers 4 128k;\n\
             add_header X-Authentik-Status $authentik_status always;\n\
             authentik app;\n\
             location / {{ {location_extra} @PROXY@ }}\n\
             location = /metrics {{ authentik off; authentik_metrics; }}\n\
             {token}\n\
             }}\n",
            token = idp.token_location()
        );
    let ng = Conf::new(http).start();
    Site { idp, ng }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// An API call with `Authorization: authorization`.
fn api(authorization: &str) -> Request {
    Request::get("/api/x")
        .header("Host", "app.test")
        .header("Authorization", authorization)
}

/// A page load with `Authorization: authorization`.
fn page(authorization: &str) -> Request {
    api(authorization)
        .header("Accept", "text/html")
        .header("Sec-Fetch-Mode", "navigate")
}

fn assert_basic_401(r: &Response, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.text());
    assert_eq!(r.header_all("WWW-Authenticate"), [CHALLENGE], "{what}");
    assert_eq!(r.header("Location"), None, "{what}: never a redirect");
}

fn metric(ng: &Nginx, line_start: &str) -> u64 {
    let text = ng
        .send(&Request::get("/metrics").header("Host", "app.test"))
        .text();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn app_password_is_exchanged_once_then_cached() {
    let s = site("", "");
    let header = basic("alice", &s.idp.app_password("alice"));
    let r = s.ng.send(&api(&header));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "ok");
    let up = r.upstream();
    assert_eq!(up.one("X-authentik-username"), "alice");
    assert_eq!(up.one("X-authentik-email"), "alice@example.test");
    assert!(
        !up.has("Authorization"),
        "the app password never reaches the upstream: {:?}",
        up.all("Authorization")
    );
    let requests = s.idp.token_requests();
    let exchange = requests.last().expect("one token request");
    assert_eq!(exchange["grant_type"], GRANT);
    assert_eq!(exchange["username"], "alice");
    assert_eq!(exchange["outcome"], "success");
    assert_eq!(
        exchange["client_auth"], "none",
        "no client secret: authentik's form"
    );

    // Page loads and API calls alike are answered from the worker's cache.
    for req in [api(&header), page(&header), api(&header)] {
        let r = s.ng.send(&req);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.upstream().one("X-authentik-username"), "alice");
    }
    assert_eq!(s.idp.token_requests_of(GRANT), 1, "cached: one exchange");
    let label = |l: &str| format!("authentik_basic_auth_total{{provider=\"app\",result=\"{l}\"}}");
    assert_eq!(metric(&s.ng, &label("exchanged")), 1);
    assert_eq!(metric(&s.ng, &label("cached")), 3);
}

#[test]
fn wrong_password_is_a_cached_basic_401_never_a_redirect() {
    let s = site("", "");
    let header = basic("alice", "not-the-app-password");
    for (i, req) in [page(&header), page(&header), api(&header), page(&header)]
        .iter()
        .enumerate()
    {
        let r = s.ng.send(req);
        assert_basic_401(&r, &format!("request {i}"));
        assert_eq!(r.authentik_status(), "invalid");
    }
    assert_eq!(
        s.idp.token_requests_of(GRANT),
        1,
        "the refusal is cached: authentik is asked once"
    );
    assert_eq!(s.ng.upstream_count(), 0);
    // The login password is not an app password.
    let r = s.ng.send(&api(&basic("alice", "alice-password")));
    assert_basic_401(&r, "login password");
    // Another user's app password is not this user's.
    let r = s.ng.send(&api(&basic("alice", &s.idp.app_password("bob"))));
    assert_basic_401(&r, "bob's app password");
    let log = s.ng.error_log();
    assert!(
        log.contains("app password of user \"alice\" refused"),
        "{log}"
    );
    assert!(
        !log.contains("not-the-app-password"),
        "no password in the log"
    );
}

#[test]
fn token_username_is_a_bearer_token_without_an_exchange() {
    let s = site("", "");
    let jwt = s.idp.access_token("carol");
    let before = s.idp.token_requests_of(GRANT);
    let r = s.ng.send(&api(&basic("goauthentik.io/token", &jwt)));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert_eq!(up.one("X-authentik-username"), "carol");
    assert_eq!(up.one("X-authentik-jwt"), jwt);
    assert!(!up.has("Authorization"));
    assert_eq!(s.idp.token_requests_of(GRANT), before, "no exchange");
    let forged = format!("{}x", &jwt[..jwt.len() - 1]);
    assert_basic_401(
        &s.ng.send(&page(&basic("goauthentik.io/token", &forged))),
        "a forged token",
    );
}

#[test]
fn authentik_down_refuses_new_credentials_and_keeps_cached_ones() {
    let mut s = site("", "");
    let alice = basic("alice", &s.idp.app_password("alice"));
    let bob = basic("bob", &s.idp.app_password("bob"));
    assert_eq!(s.ng.send(&api(&alice)).status, 200);
    s.idp.stop();
    let r = s.ng.send(&api(&alice));
    assert_eq!(r.status, 200, "cached: {}", r.text());
    assert_eq!(r.upstream().one("X-authentik-username"), "alice");
    assert_basic_401(&s.ng.send(&api(&bob)), "bob, authentik down");
    assert_basic_401(&s.ng.send(&page(&bob)), "bob again");
    let log = s.ng.error_log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[warn]") && l.contains("app password of user \"bob\" not checked"))
        .collect();
    assert_eq!(warnings.len(), 1, "held, not asked per request:\n{log}");
}

#[test]
fn the_upstream_gets_the_module_basic_header_or_none() {
    let s = site(
        "basic_auth_user_attribute basic_user; basic_auth_password_attribute basic_password;",
        "",
    );
    let r =
        s.ng.send(&api(&basic("akadmin", &s.idp.app_password("akadmin"))));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream().one("Authorization"),
        format!(
            "Basic {}",
            STANDARD.encode("akadmin@example.test:akadmin-basic-secret")
        ),
        "authentik's \"Set HTTP-Basic Authentication\" replaces the client's"
    );

    let s = site("", "authentik_set_headers off;");
    let r = s.ng.send(&api(&basic("bob", &s.idp.app_password("bob"))));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert!(
        !up.has("Authorization"),
        "stripped even without identity headers"
    );
    assert!(!up.has("X-authentik-username"));
}

#[test]
fn basic_off_ignores_the_header() {
    let s = site("basic off;", "");
    let r =
        s.ng.send(&api(&basic("alice", &s.idp.app_password("alice"))));
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header_all("WWW-Authenticate"),
        ["Bearer realm=\"authentik\""]
    );
    assert_eq!(s.idp.token_requests_of(GRANT), 0);
    // A page load is sent to the login, as without credentials.
    let r = s.ng.send(&page(&basic("alice", "x")));
    assert_eq!(r.status, 302);
}

#[test]
fn clients_without_credentials_are_offered_basic() {
    let s = site("", "");
    // curl, git, WebDAV: no Sec-Fetch-Mode; both challenges, so they can answer with Basic.
    let r =
        s.ng.send(&Request::get("/repo.git/info/refs").header("Host", "app.test"));
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header_all("WWW-Authenticate"),
        ["Bearer realm=\"authentik\"", CHALLENGE]
    );
    // A browser's fetch gets no Basic challenge (no password dialog for scripts).
    let r = s.ng.send(
        &Request::get("/api/x")
            .header("Host", "app.test")
            .header("Sec-Fetch-Mode", "cors"),
    );
    assert_eq!(
        r.header_all("WWW-Authenticate"),
        ["Bearer realm=\"authentik\""]
    );
}

#[test]
fn hostile_basic_headers_are_401_without_asking_authentik() {
    let s = site("", "");
    let b64 = |plain: &[u8]| format!("Basic {}", STANDARD.encode(plain));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no colon", b64(b"alice").into_bytes()),
        ("invalid base64", b"Basic !!not*base64!!".to_vec()),
        ("base64 without padding", b"Basic YWxpY2U6cHc".to_vec()),
        ("empty", b"Basic".to_vec()),
        ("only spaces", b"Basic    ".to_vec()),
        ("NUL in the username", b64(b"ali\0ce:pw").into_bytes()),
        ("NUL in the password", b64(b"alice:p\0w").into_bytes()),
        (
            "newline in the password",
            b64(b"alice:p\r\nX-Evil: 1").into_bytes(),
        ),
        ("empty username", b64(b":pw").into_bytes()),
        ("empty password", b64(b"alice:").into_bytes()),
        ("not UTF-8", b64(b"\xff\xfe:\xfd").into_bytes()),
        (
            "64 KB",
            format!("Basic {}", "QUFB".repeat(16 * 1024)).into_bytes(),
        ),
        (
            "64 KB decoded with a colon",
            b64(format!("alice:{}", "p".repeat(64 * 1024)).as_bytes()).into_bytes(),
        ),
    ];
    for (what, value) in &cases {
        for req in [
            Request::get("/x")
                .header("Host", "app.test")
                .header("Authorization", value),
            Request::get("/x")
                .header("Host", "app.test")
                .header("Sec-Fetch-Mode", "navigate")
                .header("Accept", "text/html")
                .header("Authorization", value),
        ] {
            let r = s.ng.send(&req);
            assert_basic_401(&r, what);
        }
    }
    // A raw NUL byte in the header line is refused by nginx itself.
    let r = s.ng.send(
        &Request::get("/x")
            .header("Host", "app.test")
            .header("Authorization", b"Basic YWxp\0Y2U6cHc="),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(s.idp.token_requests_of(GRANT), 0, "authentik never asked");
    assert_eq!(s.ng.upstream_count(), 0);
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !s.ng.error_log().contains("QUFBQUFB"),
        "no credentials in the log"
    );
}

#[test]
fn forward_auth_endpoints_take_app_passwords() {
    let s = site("", "");
    let endpoint = "/outpost.goauthentik.io/auth/nginx";
    let original = format!("http://app.test:{}/repo.git", s.ng.port);
    let ask = |authorization: &str| {
        s.ng.send(
            &Request::get(endpoint)
                .header("Host", "app.test")
                .header("X-Original-URL", &original)
                .header("Authorization", authorization),
        )
    };
    let good = basic("alice", &s.idp.app_password("alice"));
    for _ in 0..3 {
        let r = ask(&good);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("X-authentik-username"), Some("alice"));
    }
    assert_eq!(
        s.idp.token_requests_of(GRANT),
        1,
        "cached across forward-auth requests"
    );
    assert_basic_401(&ask(&basic("alice", "wrong")), "wrong app password");
    assert_eq!(s.ng.upstream_count(), 0, "the endpoint answers itself");
}
