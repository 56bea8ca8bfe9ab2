//! The login flow over HTTP (docs/architecture.md §4–§6): nginx with the module, the authentik-shaped IdP
//! of `tests/idp/` and a scripted browser that follows the redirects between them.
//!
//! Covered: a full login and the session it leaves; every way a callback can go wrong (400,
//! never 200, never a redirect, and a log line naming the reason); bad token responses;
//! open-redirect attempts in `rd`; 302 for page loads versus 401 for everything else; 403
//! for a policy failure; chunked cookies from big tokens; sign-out; domain mode across
//! subdomains; ping.
//!
//! Needs `tests/idp/node_modules` (`cd tests/idp && npm ci`; scripts/test does it).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use authentik_core::conf::{PlainUnits, ProviderSettings};
use authentik_core::provider::Provider;
use authentik_integration::idp::Idp;
use authentik_integration::navigate::{encode, set_cookies, Browser, SetCookie, Url, Walk};
use authentik_integration::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

const CALLBACK: &str = "/outpost.goauthentik.io/callback";
const FAILED: &str = "login callback failed";

/// nginx + IdP for one test. `ext` is the provider's external_host.
struct Site {
    idp: Idp,
    ng: Nginx,
    ext: String,
    cookie: String,
}

/// Single mode: external_host `http://app.test:<port>`; `locations` goes in the server.
fn single(idp: Idp, provider_extra: &str, locations: &str) -> Site {
    let http = idp.provider("app", "http://app.test:@PORT@", provider_extra)
        + &format!(
            "server {{\n\
             listen 127.0.0.1:@PORT@;\n\
             server_name app.test;\n\
             large_client_header_buffers 4 32k;\n\
             add_header X-Authentik-Status $authentik_status always;\n\
             authentik app;\n\
             location / {{ @PROXY@ }}\n\
             {locations}\n\
             {token}\n\
             }}\n",
            token = idp.token_location()
        );
    let ng = Conf::new(http).start();
    let ext = format!("http://app.test:{}", ng.port);
    let cookie = default_cookie_name(&idp.client_id);
    Site {
        idp,
        ng,
        ext,
        cookie,
    }
}

/// Domain mode: external_host `http://auth.company.test:<port>`, cookie_domain company.test,
/// and one server block per host (auth, app1, app2), all on the same port. Only the auth
/// host has the token location. `X-Server` names the block that answered.
fn domain(idp: Idp) -> Site {
    let server = |name: &str, extra: &str| {
        format!(
            "server {{\n\
             listen 127.0.0.1:@PORT@;\n\
             server_name {name};\n\
             large_client_header_buffers 4 32k;\n\
             add_header X-Server {name} always;\n\
             authentik app;\n\
             location / {{ @PROXY@ }}\n\
             {extra}\n\
             }}\n"
        )
    };
    let http = idp.provider(
        "app",
        "http://auth.company.test:@PORT@",
        "mode domain; cookie_domain company.test;",
    ) + &server("auth.company.test", &idp.token_location())
        + &server("app1.company.test", "")
        + &server("app2.company.test", "");
    let ng = Conf::new(http).start();
    let ext = format!("http://auth.company.test:{}", ng.port);
    let cookie = default_cookie_name(&idp.client_id);
    Site {
        idp,
        ng,
        ext,
        cookie,
    }
}

impl Site {
    fn browser(&self) -> Browser {
        Browser::new(&[self.ng.port, self.idp.port])
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.ext)
    }

    /// `http://<host>:<nginx port><path>`
    fn on(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.ng.port)
    }

    /// Page-load `url` and follow the redirects up to the callback, which is not fetched.
    fn until_callback(&self, b: &mut Browser, url: &str) -> Url {
        let walk = b.navigate_until(url, |u| u.path() == CALLBACK);
        match walk.stopped_at {
            Some(u) if u.path() == CALLBACK => u,
            _ => panic!("the login never reached the callback:\n{}", walk.trace()),
        }
    }

    /// The provider as authentik-core builds it from this site's settings (the code the
    /// module runs), for crafting login-state cookies.
    fn core_provider(&self) -> Provider {
        let mut settings = ProviderSettings::new("app").expect("name");
        for (name, value) in [
            ("issuer", self.idp.issuer.as_str()),
            ("client_id", &self.idp.client_id),
            ("client_secret", &self.idp.client_secret),
            ("cookie_secret", COOKIE_SECRET),
            ("external_host", &self.ext),
            ("token_request", "/_authentik_token"),
        ] {
            settings.set(name, &[value], &PlainUnits).expect(name);
        }
        settings.build(0).expect("provider").0
    }

    fn token_request_count(&self) -> usize {
        self.idp.token_requests().len()
    }

    fn failure_lines(&self) -> Vec<String> {
        self.ng
            .error_log()
            .lines()
            .filter(|l| l.contains(FAILED))
            .map(str::to_string)
            .collect()
    }

    /// `r` is a rejected callback: 400, no redirect, no session; exactly one new
    /// "login callback failed" log line since `before` lines, naming one of `reasons`.
    fn assert_rejected(&self, what: &str, before: usize, r: &Response, reasons: &[&str]) {
        assert_eq!(r.status, 400, "{what}: {} {:?}", r.text(), r.headers);
        assert_eq!(r.header("Location"), None, "{what}: a 400 never redirects");
        for sc in set_cookies(r) {
            assert!(
                sc.name != self.cookie || sc.deletes(),
                "{what}: a failed callback set the session cookie: {sc:?}"
            );
        }
        let lines = self.failure_lines();
        assert_eq!(
            lines.len(),
            before + 1,
            "{what}: expected one new {FAILED:?} line, got {:?}",
            &lines[before.min(lines.len())..]
        );
        let line = &lines[before];
        assert!(
            reasons
                .iter()
                .any(|reason| line.contains(&format!("{FAILED}: {reason}"))),
            "{what}: the log line does not name one of {reasons:?}: {line}"
        );
    }

    /// Send `url` (a callback) with the browser and check it is rejected for `reasons`.
    fn reject(&self, b: &mut Browser, what: &str, url: &str, reasons: &[&str]) {
        let before = self.failure_lines().len();
        let r = b.get(url);
        self.assert_rejected(what, before, &r, reasons);
    }
}

/// The Set-Cookie named `name`; panics when absent.
fn cookie_named(r: &Response, name: &str) -> SetCookie {
    set_cookies(r)
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no Set-Cookie {name}: {:?}", r.header_all("Set-Cookie")))
}

fn login_cookies(r: &Response, session: &str) -> Vec<SetCookie> {
    let prefix = format!("{session}_login_");
    set_cookies(r)
        .into_iter()
        .filter(|c| c.name.starts_with(&prefix))
        .collect()
}

/// A callback URL with the given query arguments (`None` leaves it out).
fn callback_url(ext: &str, code: Option<&str>, state: Option<&str>) -> String {
    let mut url = format!("{ext}{CALLBACK}?X-authentik-auth-callback=true");
    if let Some(code) = code {
        url.push_str(&format!("&code={}", encode(code)));
    }
    if let Some(state) = state {
        url.push_str(&format!("&state={}", encode(state)));
    }
    url
}

/// The payload of a JWT, parsed.
fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url payload"))
        .expect("JSON payload")
}

fn assert_walk_ok(walk: &Walk, user: &str) -> Seen {
    let last = walk.last();
    assert_eq!(
        last.response.status,
        200,
        "the login did not end at the app:\n{}\n{}",
        walk.trace(),
        last.response.text()
    );
    let up = last.response.upstream();
    assert_eq!(up.one("X-authentik-username"), user, "{}", walk.trace());
    up
}

// ---------------------------------------------------------------------------------------------
// the whole flow
// ---------------------------------------------------------------------------------------------

#[test]
fn full_login_sets_the_session_and_later_requests_never_call_the_idp() {
    let site = single(Idp::builder().auto_login("akadmin").start(), "", "");
    let mut b = site.browser();
    let walk = b.navigate(&site.url("/some/page?x=1&y=%2F"));

    // 1. The page load is sent to authentik's authorize endpoint with a fresh login state.
    let start = &walk.hops[0];
    assert_eq!(start.response.status, 302, "{}", walk.trace());
    assert_eq!(
        start.response.header("WWW-Authenticate"),
        None,
        "a redirect is not a 401"
    );
    let authorize = Url::parse(start.location().expect("Location")).expect("absolute Location");
    assert_eq!(authorize.origin(), site.idp.origin);
    assert_eq!(authorize.path(), "/application/o/authorize/");
    let arg = |n: &str| {
        authorize
            .arg(n)
            .unwrap_or_else(|| panic!("authorize URL lacks {n}: {authorize}"))
    };
    assert_eq!(arg("client_id"), site.idp.client_id);
    assert_eq!(
        arg("redirect_uri"),
        site.url("/outpost.goauthentik.io/callback?X-authentik-auth-callback=true")
    );
    assert_eq!(arg("response_type"), "code");
    assert!(arg("scope").split(' ').any(|s| s == "openid"));
    assert_eq!(arg("code_challenge_method"), "S256");
    assert_eq!(arg("code_challenge").len(), 43, "base64url SHA-256");
    assert!(arg("state").len() >= 32 && arg("nonce").len() >= 32);
    let logins = login_cookies(&start.response, &site.cookie);
    assert_eq!(logins.len(), 1, "{:?}", start.response.headers);
    let login = &logins[0];
    let tag = &login.name[site.cookie.len() + "_login_".len()..];
    assert!(
        tag.len() == 12 && tag.bytes().all(|c| c.is_ascii_hexdigit()),
        "{}",
        login.name
    );
    assert_eq!(login.attr("path"), Some("/"));
    assert_eq!(login.attr("httponly"), Some(""));
    assert_eq!(login.attr("samesite"), Some("Lax"));
    assert_eq!(login.attr("max-age"), Some("600"));
    assert_eq!(login.attr("secure"), None, "external_host is http");
    assert_eq!(login.attr("domain"), None, "single mode");

    // 2. The callback sets the session, clears the login state and returns to the page.
    let cb = walk
        .hop(CALLBACK)
        .unwrap_or_else(|| panic!("no callback:\n{}", walk.trace()));
    assert_eq!(cb.url.arg("state"), Some(arg("state")));
    assert_eq!(cb.response.status, 302, "{}", cb.response.text());
    assert_eq!(
        cb.location(),
        Some(site.url("/some/page?x=1&y=%2F").as_str())
    );
    let session = cookie_named(&cb.response, &site.cookie);
    assert!(!session.value.is_empty() && !session.deletes());
    assert_eq!(session.attr("path"), Some("/"));
    assert_eq!(session.attr("httponly"), Some(""));
    assert_eq!(session.attr("samesite"), Some("Lax"));
    // With offline_access the IdP issues a refresh token: the session outlives the access
    // token and is renewed in the request; without one it ends with the access token.
    let max_age: i64 = session.attr("max-age").expect("Max-Age").parse().unwrap();
    let ttl = site.idp.info["token_ttl"].as_i64().unwrap();
    if arg("scope").split(' ').any(|s| s == "offline_access") {
        assert_eq!(
            max_age,
            authentik_core::login::SESSION_WITH_REFRESH_MAX_AGE,
            "ttl {ttl}"
        );
    } else {
        assert!(
            max_age > ttl - 30 && max_age <= ttl,
            "Max-Age {max_age}, ttl {ttl}"
        );
    }
    assert!(cookie_named(&cb.response, &login.name).deletes());

    // 3. The page itself, with the identity.
    let up = assert_walk_ok(&walk, "akadmin");
    assert_eq!(up.uri, "/some/page?x=1&y=%2F");
    assert_eq!(up.one("X-authentik-email"), "akadmin@example.test");
    assert_eq!(walk.last().response.authentik_status(), "ok");
    assert_eq!(site.ng.upstream_count(), 1, "the callback is never proxied");
    assert!(b.jar.get(&site.cookie).is_some());
    assert!(b
        .jar
        .named_like(&format!("{}_login_", site.cookie))
        .is_empty());

    // One code exchange, with PKCE, the registered redirect URI and the secret in the body.
    let requests = site.idp.token_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let t = &requests[0];
    assert_eq!(t["grant_type"], "authorization_code", "{t}");
    assert_eq!(t["code_verifier"], true, "{t}");
    assert_eq!(t["client_auth"], "client_secret_post", "{t}");
    assert_eq!(t["redirect_uri"], arg("redirect_uri").as_str(), "{t}");

    // 4. Later requests use the cookie alone: no request reaches the IdP.
    for path in ["/other", "/some/page?x=2"] {
        let r = b.get(&site.url(path));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.upstream().one("X-authentik-username"), "akadmin");
    }
    let r = site.ng.send(
        &Request::get("/api/thing")
            .header("Host", format!("app.test:{}", site.ng.port))
            .header("Accept", "application/json")
            .header("X-Requested-With", "XMLHttpRequest")
            .cookies(&b.jar.for_url(&Url::parse(&site.url("/")).unwrap())),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(site.token_request_count(), 1, "no second code exchange");
    assert_eq!(site.ng.upstream_count(), 4);
    assert!(site.failure_lines().is_empty());
}

#[test]
fn two_tabs_logging_in_at_once_both_succeed() {
    let site = single(Idp::builder().auto_login("akadmin").start(), "", "");
    let mut b = site.browser();
    let first = site.until_callback(&mut b, &site.url("/tab/one"));
    let second = site.until_callback(&mut b, &site.url("/tab/two"));
    assert_ne!(first.arg("state"), second.arg("state"));
    assert_eq!(
        b.jar.named_like(&format!("{}_login_", site.cookie)).len(),
        2,
        "each tab keeps its own login-state cookie"
    );
    // Finished in the opposite order.
    for (cb, path) in [(&second, "/tab/two"), (&first, "/tab/one")] {
        let r = b.get(&cb.to_string());
        assert_eq!(r.status, 302, "{path}: {}", r.text());
        assert_eq!(r.header("Location"), Some(site.url(path).as_str()));
        assert!(!cookie_named(&r, &site.cookie).deletes());
    }
    assert!(b
        .jar
        .named_like(&format!("{}_login_", site.cookie))
        .is_empty());
    assert_eq!(site.token_request_count(), 2);
}

// ---------------------------------------------------------------------------------------------
// callbacks that must fail
// ---------------------------------------------------------------------------------------------

#[test]
fn forged_tampered_and_incomplete_callbacks_get_400() {
    let site = single(Idp::builder().auto_login("akadmin").start(), "", "");
    let mut b = site.browser();
    let cb = site.until_callback(&mut b, &site.url("/page"));
    let code = cb.arg("code").expect("code");
    let state = cb.arg("state").expect("state");
    let prefix = format!("{}_login_", site.cookie);
    let login = b.jar.named_like(&prefix)[0].clone();

    // A state nobody started: there is no login-state cookie for it.
    site.reject(
        &mut b,
        "forged state",
        &callback_url(
            &site.ext,
            Some(&code),
            Some("forged-state-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ),
        &["no login-state cookie for this state"],
    );
    // A forged state whose cookie carries the real login's sealed value: the name is bound
    // into the seal, so it cannot be moved.
    let forged = "forged-state-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    let forged_name = site.core_provider().login_state_cookie_name(forged);
    assert!(forged_name.starts_with(&prefix));
    let moved = Request::get(&format!(
        "{CALLBACK}?X-authentik-auth-callback=true&code={}&state={forged}",
        encode(&code)
    ))
    .header("Host", format!("app.test:{}", site.ng.port))
    .header("Cookie", format!("{forged_name}={}", login.value));
    let before = site.failure_lines().len();
    let r = site.ng.send(&moved);
    site.assert_rejected(
        "forged state with a moved cookie",
        before,
        &r,
        &["login-state cookie is invalid"],
    );

    // The right state with its cookie altered.
    let before = site.failure_lines().len();
    let r = site.ng.send(
        &Request::get(&cb.target)
            .header("Host", &cb.authority)
            .header(
                "Cookie",
                format!("{}={}", login.name, tamper_value(&login.value)),
            ),
    );
    site.assert_rejected(
        "tampered login-state cookie",
        before,
        &r,
        &["login-state cookie is invalid"],
    );

    // The right state without its cookie (another browser, or cookies blocked).
    let mut other = site.browser();
    site.reject(
        &mut other,
        "state without its cookie",
        &cb.to_string(),
        &["no login-state cookie for this state"],
    );
    // No code, no state, both empty.
    site.reject(
        &mut b,
        "missing code",
        &callback_url(&site.ext, None, Some(&state)),
        &["no code parameter"],
    );
    site.reject(
        &mut b,
        "empty code",
        &callback_url(&site.ext, Some(""), Some(&state)),
        &["no code parameter"],
    );
    site.reject(
        &mut b,
        "missing state",
        &callback_url(&site.ext, Some(&code), None),
        &["no state parameter"],
    );
    site.reject(
        &mut b,
        "no arguments",
        &site.url(CALLBACK),
        &["no state parameter", "no code parameter"],
    );
    assert_eq!(
        site.token_request_count(),
        0,
        "none of these reached the IdP"
    );
    assert_eq!(site.ng.upstream_count(), 0);

    // The untouched callback still works: the rejections were about the changes.
    let r = b.get(&cb.to_string());
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(r.header("Location"), Some(site.url("/page").as_str()));
    assert!(!cookie_named(&r, &site.cookie).deletes());
}

#[test]
fn a_replayed_callback_gets_400() {
    let site = single(Idp::builder().auto_login("akadmin").start(), "", "");
    let mut b = site.browser();
    let cb = site.until_callback(&mut b, &site.url("/page"));
    let login = b.jar.named_like(&format!("{}_login_", site.cookie))[0].clone();
    let r = b.get(&cb.to_string());
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(site.token_request_count(), 1);

    // The same state and code again, with the login-state cookie the browser had: the
    // state opens, and authentik refuses the used code.
    let mut attacker = site.browser();
    attacker.jar.cookies.push(login.clone());
    site.reject(
        &mut attacker,
        "replay with the login cookie",
        &cb.to_string(),
        &["code exchange failed with status 400"],
    );
    assert_eq!(site.token_request_count(), 2);
    assert!(attacker.jar.get(&site.cookie).is_none());
    // The same in the original browser, whose login cookie was cleared by the callback.
    site.reject(
        &mut b,
        "replay in the same browser",
        &cb.to_string(),
        &["no login-state cookie for this state"],
    );
    assert_eq!(site.token_request_count(), 2);
}

#[test]
fn an_expired_login_state_gets_400() {
    // Waiting 10 minutes is not an option: the login-state cookie is made by authentik-core
    // (the code the module runs) for the same provider settings, created 601 s ago.
    let site = single(Idp::builder().auto_login("akadmin").start(), "", "");
    let provider = site.core_provider();
    let now = now() as u64;
    let craft = |created: u64| {
        let start = provider
            .start_login(site.url("/page"), created, std::iter::empty())
            .expect("start_login");
        let state = Url::parse(&start.location).unwrap().arg("state").unwrap();
        let sc = SetCookie::parse(&start.cookies[0]).unwrap();
        (state, format!("{}={}", sc.name, sc.value))
    };
    let send = |state: &str, cookie: &str| {
        site.ng.send(
            &Request::get(&format!(
                "{CALLBACK}?X-authentik-auth-callback=true&code=some-code&state={}",
                encode(state)
            ))
            .header("Host", format!("app.test:{}", site.ng.port))
            .header("Cookie", cookie),
        )
    };

    let (state, cookie) = craft(now - 601);
    let before = site.failure_lines().len();
    let r = send(&state, &cookie);
    site.assert_rejected("expired login", before, &r, &["login state expired"]);
    let (state, cookie) = craft(now + 3600);
    let before = site.failure_lines().len();
    let r = send(&state, &cookie);
    site.assert_rejected(
        "login created in the future",
        before,
        &r,
        &["login state expired"],
    );
    assert_eq!(site.token_request_count(), 0);

    // Control: the same cookie made now passes the state checks and reaches the exchange,
    // which fails on the made-up code.
    let (state, cookie) = craft(now);
    let before = site.failure_lines().len();
    let r = send(&state, &cookie);
    site.assert_rejected(
        "fresh crafted login",
        before,
        &r,
        &["code exchange failed with status 400"],
    );
    assert_eq!(site.token_request_count(), 1);
}

#[test]
fn the_provider_answering_access_denied_gets_400() {
    // No auto login: the IdP shows its form, and the user aborts it.
    let site = single(Idp::start(), "", "");
    let mut b = site.browser();
    let walk = b.navigate(&site.url("/page"));
    let form = walk.last();
    assert_eq!(form.response.status, 200, "{}", walk.trace());
    assert!(
        form.url.path().starts_with("/interaction/"),
        "{}",
        walk.trace()
    );
    let abort = format!("{}{}/abort", site.idp.origin, form.url.path());
    let walk = b.navigate_until(&abort, |u| u.path() == CALLBACK);
    let cb = walk.stopped_at.expect("back to the callback");
    assert_eq!(cb.arg("error").as_deref(), Some("access_denied"), "{cb}");
    assert!(cb.arg("code").is_none());
    site.reject(
        &mut b,
        "access_denied",
        &cb.to_string(),
        &["the provider returned error \"access_denied\""],
    );
    // Also with a made-up state, and with an error and a code at once.
    site.reject(
        &mut b,
        "error without state",
        &format!(
            "{}?X-authentik-auth-callback=true&error=access_denied",
            site.url(CALLBACK)
        ),
        &["the provider returned error \"access_denied\""],
    );
    site.reject(
        &mut b,
        "error with a code",
        &format!(
            "{}&error=server_error&error_description=x",
            callback_url(&site.ext, Some("c"), cb.arg("state").as_deref())
        ),
        &["the provider returned error \"server_error\""],
    );
    assert_eq!(site.token_request_count(), 0);
    assert_eq!(site.ng.upstream_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// token endpoint answers
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_token_responses_get_400() {
    let site = single(Idp::builder().auto_login("akadmin").start(), "", "");
    let cases: &[(&str, &[&str])] = &[
        ("invalid_grant", &["code exchange failed with status 400"]),
        ("server_error", &["code exchange failed with status 500"]),
        ("garbage", &["token response is not valid JSON with tokens"]),
        ("bad_signature", &["token rejected: bad_signature"]),
        ("wrong_key", &["token rejected: bad_signature"]),
        ("wrong_issuer", &["token rejected: wrong_issuer"]),
        ("wrong_audience", &["token rejected: wrong_audience"]),
        ("expired", &["token rejected: token expired"]),
        ("not_yet_valid", &["token rejected: not_yet_valid"]),
        ("alg_none", &["token rejected: algorithm_not_allowed"]),
        ("nonce_mismatch", &["id_token nonce does not match"]),
        (
            "no_id_token",
            &["token response is not valid JSON with tokens"],
        ),
    ];
    let mut exchanges = 0;
    for (mode, reasons) in cases {
        site.idp.token_mode(mode, true);
        let mut b = site.browser();
        let before = site.failure_lines().len();
        let walk = b.navigate(&site.url("/page"));
        let last = walk.last();
        assert_eq!(last.url.path(), CALLBACK, "{mode}:\n{}", walk.trace());
        site.assert_rejected(mode, before, &last.response, reasons);
        assert!(b.jar.get(&site.cookie).is_none(), "{mode}");
        exchanges += 1;
        assert_eq!(site.token_request_count(), exchanges, "{mode}");
    }

    // The fail-token switch, which stays on until switched off.
    site.idp.fail_token(true);
    for _ in 0..2 {
        let mut b = site.browser();
        let before = site.failure_lines().len();
        let walk = b.navigate(&site.url("/page"));
        site.assert_rejected(
            "fail-token",
            before,
            &walk.last().response,
            &["code exchange failed with status 400"],
        );
    }
    site.idp.fail_token(false);
    assert_eq!(site.ng.upstream_count(), 0);

    // And a normal login afterwards.
    let walk = site.browser().navigate(&site.url("/page"));
    assert_walk_ok(&walk, "akadmin");
}

#[test]
fn an_opaque_access_token_seals_the_id_token() {
    let site = single(Idp::builder().auto_login("akadmin").start(), "", "");
    site.idp.token_mode("opaque_access_token", true);
    let mut b = site.browser();
    let walk = b.navigate(&site.url("/page"));
    let up = assert_walk_ok(&walk, "akadmin");
    let jwt = up.one("X-authentik-jwt");
    let claims = jwt_payload(jwt);
    assert_eq!(claims["aud"], site.idp.client_id.as_str(), "{claims}");
    assert!(
        claims.get("nonce").is_some() && claims.get("at_hash").is_some(),
        "the session holds the id_token: {claims}"
    );
    assert!(
        claims.get("scope").is_none(),
        "not an access token: {claims}"
    );
    // The session keeps working.
    let r = b.get(&site.url("/again"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-jwt"), jwt);
    assert_eq!(site.token_request_count(), 1);
}

// ---------------------------------------------------------------------------------------------
// rd: no open redirects
// ---------------------------------------------------------------------------------------------

/// Log in through `/start?rd=<rd>` and return the callback's Location.
fn login_via_start(site: &Site, host_url: &str, rd: &str) -> String {
    let mut b = site.browser();
    let walk = b.navigate_until(
        &format!("{host_url}/outpost.goauthentik.io/start?rd={}", encode(rd)),
        |_| false,
    );
    let start = &walk.hops[0];
    assert_eq!(start.response.status, 302, "rd {rd:?}:\n{}", walk.trace());
    let to = Url::parse(start.location().unwrap()).unwrap();
    assert_eq!(
        to.origin(),
        site.idp.origin,
        "rd {rd:?}: /start goes to authentik"
    );
    let cb = walk
        .hop(CALLBACK)
        .unwrap_or_else(|| panic!("rd {rd:?}: no callback:\n{}", walk.trace()));
    assert_eq!(cb.response.status, 302, "rd {rd:?}: {}", cb.response.text());
    assert!(!cookie_named(&cb.response, &site.cookie).deletes());
    cb.location().expect("Location").to_string()
}

const EVIL_EVERYWHERE: &[&str] = &[
    "//evil.test/",
    "///evil.test/",
    "https://evil.test/",
    "http://evil.test/",
    "https://app.test.evil.test/",
    "https://user@evil.test/",
    "/\\evil.test",
    "\\\\evil.test",
    "https:evil.test",
    " https://evil.test/",
    "javascript:alert(1)",
    "data:text/html,x",
    "evil.test",
];

#[test]
fn rd_never_leaves_the_app_in_single_mode() {
    let site = single(Idp::builder().auto_login("akadmin").start(), "", "");
    let port = site.ng.port;
    let fallback = site.url("/");
    let mut evil: Vec<String> = EVIL_EVERYWHERE.iter().map(|s| s.to_string()).collect();
    evil.extend([
        format!("http://app.test.evil.test:{port}/"),
        format!("http://app.test:{port}@evil.test/"),
        format!("http://evil.test\\@app.test:{port}/"),
        format!("http://evil.test#@app.test:{port}/"),
        format!("https://app.test:{port}/"),
        "http://app.test:1/".to_string(),
        "http://app.test/".to_string(),
        format!("http://sub.app.test:{port}/"),
    ]);
    for rd in &evil {
        let location = login_via_start(&site, &site.ext, rd);
        assert_eq!(
            location, fallback,
            "rd {rd:?} must fall back to external_host"
        );
    }
    // Kept: paths on the app and URLs on the app's own origin.
    for (rd, expected) in [
        (
            "/kept/path?a=1&b=%2F".to_string(),
            site.url("/kept/path?a=1&b=%2F"),
        ),
        (site.url("/full?x=1"), site.url("/full?x=1")),
        // As a browser reads it: the host lowercased.
        (
            format!("http://APP.test:{port}/case"),
            format!("http://app.test:{port}/case"),
        ),
    ] {
        assert_eq!(
            login_via_start(&site, &site.ext, &rd),
            expected,
            "rd {rd:?}"
        );
    }
    // Without rd: external_host.
    let mut b = site.browser();
    let walk = b.navigate(&site.url("/outpost.goauthentik.io/start"));
    assert_eq!(
        walk.hop(CALLBACK).unwrap().location(),
        Some(fallback.as_str())
    );
    assert_walk_ok(&walk, "akadmin");
}

#[test]
fn rd_never_leaves_the_cookie_domain_in_domain_mode() {
    let site = domain(Idp::builder().auto_login("akadmin").start());
    let port = site.ng.port;
    let fallback = site.url("/");
    let mut evil: Vec<String> = EVIL_EVERYWHERE.iter().map(|s| s.to_string()).collect();
    evil.extend([
        "https://evil-company.test/".to_string(),
        "https://company.test.evil.com/".to_string(),
        format!("http://company.test.evil.test:{port}/"),
        format!("http://evilcompany.test:{port}/"),
        format!("http://app1.company.test:{port}@evil.test/"),
        format!("http://evil.test\\@app1.company.test:{port}/"),
        "https://company.test@evil.test/".to_string(),
        "https://evil.test/.company.test".to_string(),
        "https://evil.test?.company.test".to_string(),
    ]);
    for rd in &evil {
        let location = login_via_start(&site, &site.ext, rd);
        assert_eq!(
            location, fallback,
            "rd {rd:?} must fall back to external_host"
        );
    }
    // Kept: any host in the cookie domain, and paths (on external_host).
    for (rd, expected) in [
        (
            format!("http://app2.company.test:{port}/x?y=1"),
            format!("http://app2.company.test:{port}/x?y=1"),
        ),
        (
            format!("http://deep.app1.company.test:{port}/"),
            format!("http://deep.app1.company.test:{port}/"),
        ),
        (
            format!("http://company.test:{port}/"),
            format!("http://company.test:{port}/"),
        ),
        ("/path?q=1".to_string(), site.url("/path?q=1")),
    ] {
        assert_eq!(
            login_via_start(&site, &site.ext, &rd),
            expected,
            "rd {rd:?}"
        );
    }
    // /start on an app host works the same way.
    let location = login_via_start(
        &site,
        &site.on("app1.company.test", ""),
        "https://evil.test/",
    );
    assert_eq!(location, fallback);
}

// ---------------------------------------------------------------------------------------------
// 302 for page loads, 401 for the rest
// ---------------------------------------------------------------------------------------------

#[test]
fn page_loads_get_302_and_everything_else_401() {
    // No IdP needed: nothing here completes a login.
    let token = "location = /_authentik_token { internal; return 500; }";
    let http = provider("app", "token_request /_authentik_token;")
        + &provider("bearer", "")
        + &server(&format!(
            "authentik app;\n\
             location / {{ @PROXY@ }}\n\
             location /api/ {{ authentik_unauthenticated 401; @PROXY@ }}\n\
             location /always/ {{ authentik_unauthenticated redirect; @PROXY@ }}\n\
             location /bearer/ {{ authentik bearer; @PROXY@ }}\n\
             location /bearer-redirect/ {{ authentik bearer; authentik_unauthenticated redirect; @PROXY@ }}\n\
             {token}"
        ));
    let ng = Conf::new(http).start();
    let cookie = default_cookie_name(CLIENT_ID);
    const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

    let check = |what: &str, req: Request, expect: u16| {
        let r = ng.send(&req);
        assert_eq!(r.status, expect, "{what}: {} {:?}", r.text(), r.headers);
        let logins = login_cookies(&r, &cookie);
        if expect == 302 {
            let location = r.header("Location").unwrap_or("");
            assert!(
                location
                    .starts_with("https://authentik.company/application/o/authorize/?client_id="),
                "{what}: {location}"
            );
            assert_eq!(logins.len(), 1, "{what}: a login-state cookie");
            assert_eq!(r.header("WWW-Authenticate"), None, "{what}");
        } else {
            assert_eq!(
                r.header("WWW-Authenticate"),
                Some("Bearer realm=\"authentik\""),
                "{what}"
            );
            assert_eq!(r.header("Location"), None, "{what}");
            assert!(logins.is_empty(), "{what}: no login state for a 401");
        }
    };

    // auto
    let get = |p: &str| Request::get(p);
    check(
        "page load (Sec-Fetch-Mode: navigate)",
        get("/page")
            .header("Sec-Fetch-Mode", "navigate")
            .header("Accept", HTML),
        302,
    );
    check(
        "navigate with Accept */*",
        get("/page")
            .header("Sec-Fetch-Mode", "navigate")
            .header("Accept", "*/*"),
        302,
    );
    check(
        "old browser (Accept: text/html, no Sec-Fetch-Mode)",
        get("/page").header("Accept", HTML),
        302,
    );
    check(
        "HEAD page load",
        Request::new("HEAD", "/page").header("Sec-Fetch-Mode", "navigate"),
        302,
    );
    check(
        "XHR",
        get("/page")
            .header("Accept", HTML)
            .header("X-Requested-With", "XMLHttpRequest"),
        401,
    );
    check(
        "fetch (Sec-Fetch-Mode: cors)",
        get("/page")
            .header("Sec-Fetch-Mode", "cors")
            .header("Accept", "*/*"),
        401,
    );
    check(
        "fetch asking for HTML",
        get("/page")
            .header("Sec-Fetch-Mode", "cors")
            .header("Accept", HTML),
        401,
    );
    check(
        "no-cors subresource",
        get("/img.png")
            .header("Sec-Fetch-Mode", "no-cors")
            .header("Accept", "image/*"),
        401,
    );
    check(
        "POST form",
        Request::new("POST", "/form")
            .header("Sec-Fetch-Mode", "navigate")
            .header("Accept", HTML)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("a=1"),
        401,
    );
    check(
        "OPTIONS",
        Request::new("OPTIONS", "/page").header("Accept", HTML),
        401,
    );
    check(
        "websocket upgrade",
        get("/ws")
            .header("Sec-Fetch-Mode", "websocket")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade, close") // close: the raw client reads to EOF
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13"),
        401,
    );
    check(
        "upgrade on a navigation",
        get("/ws")
            .header("Sec-Fetch-Mode", "navigate")
            .header("Accept", HTML)
            .header("Upgrade", "websocket"),
        401,
    );
    check(
        "API (Accept: application/json)",
        get("/api-ish").header("Accept", "application/json"),
        401,
    );
    check(
        "curl (Accept: */*)",
        get("/page").header("Accept", "*/*"),
        401,
    );
    check("no Accept at all", get("/page"), 401);

    // authentik_unauthenticated 401: even page loads.
    check(
        "401 forced for a page load",
        get("/api/x")
            .header("Sec-Fetch-Mode", "navigate")
            .header("Accept", HTML),
        401,
    );
    // authentik_unauthenticated redirect: even XHR, fetch and JSON.
    check(
        "redirect forced for XHR",
        get("/always/x")
            .header("Accept", "application/json")
            .header("X-Requested-With", "XMLHttpRequest"),
        302,
    );
    check(
        "redirect forced for fetch",
        get("/always/x").header("Sec-Fetch-Mode", "cors"),
        302,
    );
    // A provider without token_request cannot log in: 401, also when redirect is forced.
    check(
        "no token_request, page load",
        get("/bearer/x")
            .header("Sec-Fetch-Mode", "navigate")
            .header("Accept", HTML),
        401,
    );
    check(
        "no token_request, redirect forced",
        get("/bearer-redirect/x")
            .header("Sec-Fetch-Mode", "navigate")
            .header("Accept", HTML),
        401,
    );
    assert_eq!(ng.upstream_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// 403
// ---------------------------------------------------------------------------------------------

#[test]
fn a_policy_failure_is_403_never_a_redirect() {
    let site = single(
        Idp::builder().auto_login("alice").start(),
        "",
        "location /admin/ { authentik_require_group \"authentik Admins\"; @PROXY@ }",
    );
    let mut b = site.browser();
    // The login returns to /admin/, which alice may not see: 403, and the walk stops.
    let walk = b.navigate(&site.url("/admin/"));
    assert_eq!(
        walk.hop(CALLBACK).map(|h| h.response.status),
        Some(302),
        "{}",
        walk.trace()
    );
    let last = walk.last();
    assert_eq!(
        last.url.to_string(),
        site.url("/admin/"),
        "{}",
        walk.trace()
    );
    assert_eq!(last.response.status, 403, "{}", last.response.text());
    assert_eq!(last.response.header("Location"), None);
    assert_eq!(last.response.authentik_status(), "forbidden");
    // Logged in, page load, XHR or JSON: 403 every time, no new login.
    for extra in [
        vec![],
        vec![("X-Requested-With", "XMLHttpRequest")],
        vec![("Accept", "application/json")],
    ] {
        let url = Url::parse(&site.url("/admin/users")).unwrap();
        let r = b.request("GET", &url, &extra);
        assert_eq!(r.status, 403, "{extra:?}: {}", r.text());
        assert_eq!(r.header("Location"), None, "{extra:?}");
        assert!(login_cookies(&r, &site.cookie).is_empty(), "{extra:?}");
    }
    // She is logged in: other paths work.
    let r = b.get(&site.url("/home"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-username"), "alice");
    assert_eq!(site.token_request_count(), 1);
    assert_eq!(site.ng.upstream_count(), 1);
}

// ---------------------------------------------------------------------------------------------
// big tokens, sign-out
// ---------------------------------------------------------------------------------------------

/// The session Set-Cookies of `r` in chunk order, checked for the chunk layout.
fn session_chunks(r: &Response, name: &str) -> Vec<SetCookie> {
    let first = cookie_named(r, name);
    let count = match first.value.split_once('.') {
        Some((n, _)) => n.parse::<usize>().expect("chunk count"),
        None => 1,
    };
    let mut chunks = vec![first];
    for i in 1..count {
        chunks.push(cookie_named(r, &format!("{name}_{i}")));
    }
    assert!(
        set_cookies(r)
            .iter()
            .all(|c| c.name != format!("{name}_{count}")),
        "no chunk past the count"
    );
    chunks
}

fn assert_clears_every_chunk(r: &Response, name: &str, domain: Option<&str>) {
    for i in 0..8 {
        let chunk = if i == 0 {
            name.to_string()
        } else {
            format!("{name}_{i}")
        };
        let c = cookie_named(r, &chunk);
        assert_eq!(c.value, "", "{chunk}");
        assert_eq!(c.attr("max-age"), Some("0"), "{chunk}");
        assert_eq!(c.attr("path"), Some("/"), "{chunk}");
        assert_eq!(c.attr("domain"), domain, "{chunk}");
    }
}

#[test]
fn big_tokens_log_in_with_chunked_cookies_and_sign_out_clears_them() {
    let site = single(
        Idp::builder()
            .auto_login("akadmin")
            .env("BIG_CLAIMS", "6000")
            .start(),
        "",
        "",
    );
    let mut b = site.browser();
    let walk = b.navigate(&site.url("/page"));
    let cb = walk
        .hop(CALLBACK)
        .unwrap_or_else(|| panic!("no callback:\n{}", walk.trace()));
    assert_eq!(cb.response.status, 302, "{}", cb.response.text());
    let chunks = session_chunks(&cb.response, &site.cookie);
    assert!(chunks.len() >= 2, "a >6 KB token is chunked: {chunks:?}");
    assert!(chunks[0].value.starts_with(&format!("{}.", chunks.len())));
    for h in cb.response.header_all("Set-Cookie") {
        assert!(h.len() < 4096, "a Set-Cookie over 4 KB: {} bytes", h.len());
    }
    // The browser sends them back in one Cookie header.
    let up = assert_walk_ok(&walk, "akadmin");
    let jwt = up.one("X-authentik-jwt");
    assert!(jwt.len() > 6000, "{} bytes", jwt.len());
    let r = b.get(&site.url("/again"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-jwt"), jwt);
    assert_eq!(site.token_request_count(), 1);

    // Sign out: 302 to the end-session URL, every chunk cleared.
    let walk = b.navigate_until(&site.url("/outpost.goauthentik.io/sign_out"), |u| {
        u.port != Some(site.ng.port)
    });
    let out = &walk.hops[0].response;
    assert_eq!(out.status, 302, "{}", out.text());
    assert_eq!(
        out.header("Location"),
        Some(format!("{}end-session/", site.idp.issuer).as_str())
    );
    assert_clears_every_chunk(out, &site.cookie, None);
    assert!(b.jar.named_like(&site.cookie).is_empty(), "{:?}", b.jar);
    // Logged out: the next page load starts a new login.
    let r = b.get(&site.url("/page"));
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(site.ng.upstream_count(), 2);
}

#[test]
fn sign_out_redirects_to_end_session_and_clears_every_chunk() {
    let http = provider("app", "token_request /t;")
        + &provider(
            "dom",
            "token_request /t; mode domain; cookie_domain company.test;",
        )
        .replace(
            &format!("external_host {EXTERNAL_HOST};"),
            "external_host http://auth.company.test;",
        )
        + &provider(
            "custom",
            "end_session_url https://authentik.company/if/flow/default-invalidation-flow/;",
        )
        + &server("authentik app; location / { @PROXY@ } location = /t { internal; proxy_pass http://127.0.0.1:9/; }")
        + "server { listen 127.0.0.1:@PORT@; server_name d.company.test; authentik dom; \
           location / { @PROXY@ } }\n\
           server { listen 127.0.0.1:@PORT@; server_name custom.test; authentik custom; \
           location / { @PROXY@ } }\n";
    let ng = Conf::new(http).start();
    let cookie = default_cookie_name(CLIENT_ID);
    let sign_out = |host: &str, with_session: bool| {
        let mut req = Request::get("/outpost.goauthentik.io/sign_out").header("Host", host);
        if with_session {
            req = req.cookies(&session(&token()));
        }
        ng.send(&req)
    };
    for with_session in [false, true] {
        let r = sign_out("localhost", with_session);
        assert_eq!(r.status, 302, "{}", r.text());
        assert_eq!(
            r.header("Location"),
            Some(format!("{ISSUER}end-session/").as_str())
        );
        assert_clears_every_chunk(&r, &cookie, None);

        let r = sign_out("d.company.test", with_session);
        assert_eq!(r.status, 302, "{}", r.text());
        assert_eq!(
            r.header("Location"),
            Some(format!("{ISSUER}end-session/").as_str())
        );
        assert_clears_every_chunk(&r, &cookie, Some("company.test"));

        let r = sign_out("custom.test", with_session);
        assert_eq!(r.status, 302, "{}", r.text());
        assert_eq!(
            r.header("Location"),
            Some("https://authentik.company/if/flow/default-invalidation-flow/")
        );
        assert_clears_every_chunk(&r, &cookie, None);
    }
    assert_eq!(ng.upstream_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// domain mode
// ---------------------------------------------------------------------------------------------

#[test]
fn domain_mode_login_on_one_app_works_on_the_others() {
    let site = domain(Idp::builder().auto_login("akadmin").start());
    let port = site.ng.port;
    let mut b = site.browser();
    let page = site.on("app1.company.test", "/page?x=1");
    let walk = b.navigate(&page);

    let start = &walk.hops[0];
    assert_eq!(start.response.status, 302, "{}", walk.trace());
    assert_eq!(start.response.header("X-Server"), Some("app1.company.test"));
    let authorize = Url::parse(start.location().unwrap()).unwrap();
    assert_eq!(
        authorize.arg("redirect_uri"),
        Some(site.url("/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"))
    );
    let logins = login_cookies(&start.response, &site.cookie);
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].attr("domain"), Some("company.test"));

    // The callback runs on the auth host, which got the login cookie through its Domain.
    let cb = walk
        .hop(CALLBACK)
        .unwrap_or_else(|| panic!("no callback:\n{}", walk.trace()));
    assert_eq!(cb.url.host, "auth.company.test");
    assert_eq!(cb.response.status, 302, "{}", cb.response.text());
    assert_eq!(cb.response.header("X-Server"), Some("auth.company.test"));
    let session = cookie_named(&cb.response, &site.cookie);
    assert!(!session.deletes());
    assert_eq!(session.attr("domain"), Some("company.test"));
    let cleared = cookie_named(&cb.response, &logins[0].name);
    assert!(cleared.deletes());
    assert_eq!(cleared.attr("domain"), Some("company.test"));

    // The session works on every app in the domain; the IdP is not asked again.
    for host in [
        "app2.company.test",
        "app1.company.test",
        "auth.company.test",
    ] {
        let r = b.get(&site.on(host, "/other"));
        assert_eq!(r.status, 200, "{host}: {}", r.text());
        assert_eq!(r.header("X-Server"), Some(host));
        assert_eq!(r.upstream().one("X-authentik-username"), "akadmin");
    }
    assert_eq!(site.token_request_count(), 1);

    // Sign-out on an app clears the domain cookies; the next page load logs in again.
    let r = b.get(&site.on("app2.company.test", "/outpost.goauthentik.io/sign_out"));
    assert_eq!(r.status, 302, "{}", r.text());
    assert_clears_every_chunk(&r, &site.cookie, Some("company.test"));
    let r = b.get(&site.on("app1.company.test", "/other"));
    assert_eq!(r.status, 302, "{}", r.text());

    // Last: the callback returned to the page the login started on, port included.
    assert_eq!(
        cb.location(),
        Some(page.as_str()),
        "domain mode must return to the original URL (port {port} included):\n{}",
        walk.trace()
    );
    assert_walk_ok(&walk, "akadmin");
}

// ---------------------------------------------------------------------------------------------
// ping
// ---------------------------------------------------------------------------------------------

#[test]
fn ping_answers_204_with_no_body() {
    let http = provider("app", "") + &server("authentik app; location / { @PROXY@ }");
    let ng = Conf::new(http).start();
    for req in [
        Request::get("/outpost.goauthentik.io/ping"),
        Request::get("/outpost.goauthentik.io/ping").header("Accept", "text/html"),
        Request::new("HEAD", "/outpost.goauthentik.io/ping"),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", ng.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&req.to_bytes()).unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
        assert!(head.starts_with("HTTP/1.1 204 "), "{text}");
        assert_eq!(body, "", "a 204 has no body: {text:?}");
        let lower = head.to_ascii_lowercase();
        assert!(!lower.contains("\r\nlocation:"), "{head}");
        assert!(!lower.contains("\r\nset-cookie:"), "{head}");
        assert!(!lower.contains("\r\ntransfer-encoding:"), "{head}");
    }
    assert_eq!(ng.upstream_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// the code exchange itself failing
// ---------------------------------------------------------------------------------------------

/// Send `url` (on nginx) with the browser's cookies and return the raw response bytes; an
/// empty vector when nginx closed the connection without answering.
fn send_raw(b: &Browser, port: u16, url: &Url) -> Vec<u8> {
    let req = Request::get(&url.target)
        .header("Host", &url.authority)
        .cookies(&b.jar.for_url(url));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&req.to_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    raw
}

/// A callback whose code exchange breaks in nginx must still answer 400 with the log line.
fn assert_raw_rejected(what: &str, raw: &[u8], ng: &Nginx, reason: &str) {
    let text = String::from_utf8_lossy(raw);
    assert!(
        text.starts_with("HTTP/1.1 400 "),
        "{what}: expected a 400, got {:?}\nerror log:\n{}",
        text.chars().take(300).collect::<String>(),
        ng.error_log()
    );
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(!head.contains("\r\nlocation:"), "{what}: {head}");
    let lines: Vec<String> = ng
        .error_log()
        .lines()
        .filter(|l| l.contains(FAILED))
        .map(str::to_string)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("{FAILED}: {reason}"))),
        "{what}: no {FAILED:?} line naming {reason:?}: {lines:?}"
    );
}

#[test]
fn a_token_response_too_big_for_the_subrequest_buffer_gets_400() {
    // A token location without `subrequest_output_buffer_size` (docs/architecture.md §6's snippet has none):
    // nginx's default buffer (4k/8k) cannot hold two ~7 KB tokens, so the subrequest fails.
    // The callback must still fail the docs/architecture.md §5 way: 400 and a log line.
    let idp = Idp::builder()
        .auto_login("akadmin")
        .env("BIG_CLAIMS", "6000")
        .start();
    let token = idp
        .token_location()
        .replace("subrequest_output_buffer_size 64k;\n", "");
    let http = idp.provider("app", "http://app.test:@PORT@", "")
        + &format!(
            "server {{\n\
             listen 127.0.0.1:@PORT@;\n\
             server_name app.test;\n\
             large_client_header_buffers 4 32k;\n\
             authentik app;\n\
             location / {{ @PROXY@ }}\n\
             {token}\n\
             }}\n"
        );
    let ng = Conf::new(http).start();
    let mut b = Browser::new(&[ng.port, idp.port]);
    let walk = b.navigate_until(&format!("http://app.test:{}/page", ng.port), |u| {
        u.path() == CALLBACK
    });
    let cb = walk.stopped_at.expect("the callback");
    let raw = send_raw(&b, ng.port, &cb);
    assert_eq!(idp.token_requests().len(), 1, "the exchange was made");
    assert_raw_rejected("token response too big", &raw, &ng, "code exchange failed");
    assert_eq!(ng.upstream_count(), 0);
}

#[test]
fn an_unreachable_token_endpoint_gets_400() {
    // authentik goes away between the authorize step and the callback.
    let idp = Idp::builder().auto_login("akadmin").start();
    let http = idp.provider("app", "http://app.test:@PORT@", "")
        + &format!(
            "server {{\n\
             listen 127.0.0.1:@PORT@;\n\
             server_name app.test;\n\
             authentik app;\n\
             location / {{ @PROXY@ }}\n\
             {token}\n\
             }}\n",
            token = idp.token_location()
        );
    let ng = Conf::new(http).start();
    let mut b = Browser::new(&[ng.port, idp.port]);
    let walk = b.navigate_until(&format!("http://app.test:{}/page", ng.port), |u| {
        u.path() == CALLBACK
    });
    let cb = walk.stopped_at.expect("the callback");
    drop(idp);
    let raw = send_raw(&b, ng.port, &cb);
    assert_raw_rejected("token endpoint down", &raw, &ng, "code exchange failed");
    assert_eq!(ng.upstream_count(), 0);
}
