//! Sessions end when authentik ends them (docs/architecture.md, "Renewal" and "Revocation"):
//! nginx with the module, the authentik-shaped IdP of `tests/idp/` issuing refresh tokens with
//! a short access-token lifetime, and a scripted browser.
//!
//! Covered: renewal in the request (page loads, fetch-style requests and websocket upgrades
//! alike, the new cookie on the proxied response); a refused renewal ends the session; the IdP
//! down or failing keeps the current token until its `exp` and never past it; the IdP's
//! back-channel logout ends the session on every worker, across a reload and a killed worker;
//! sign-out revokes the session here too; hostile logout requests change nothing.
//!
//! Needs `tests/idp/node_modules` (`cd tests/idp && npm ci`; scripts/test does it).

use std::time::{Duration, Instant};

use authentik_integration::idp::Idp;
use authentik_integration::navigate::{set_cookies, Browser, Url};
use authentik_integration::procs::{acknowledge_killed_worker, wait_workers, worker_pids};
use authentik_integration::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

const BACKCHANNEL: &str = "/outpost.goauthentik.io/backchannel_logout";
const FORM: &str = "application/x-www-form-urlencoded";

struct Site {
    idp: Idp,
    ng: Nginx,
    ext: String,
    cookie: String,
}

/// nginx (`workers` processes) in front of the echo app, provider `app` with `extra`
/// settings, and an IdP whose access tokens live `ttl` seconds.
fn site(ttl: u64, workers: usize, extra: &str) -> Site {
    let idp = Idp::builder()
        .auto_login("akadmin")
        .env("IDP_TOKEN_TTL", ttl.to_string())
        .start();
    let http = idp.provider("app", "http://app.test:@PORT@", extra)
        + &format!(
            "server {{\n\
             listen 127.0.0.1:@PORT@;\n\
             server_name app.test;\n\
             large_client_header_buffers 4 32k;\n\
             add_header X-Authentik-Status $authentik_status always;\n\
             authentik app;\n\
             location / {{ @PROXY@ }}\n\
             location = /metrics {{ authentik off; authentik_metrics; }}\n\
             {token}\n\
             }}\n",
            token = idp.token_location()
        );
    let ng = Conf::new(http).workers(workers).start();
    let ext = format!("http://app.test:{}", ng.port);
    let cookie = default_cookie_name(&idp.client_id);
    let uri = format!("http://127.0.0.1:{}{BACKCHANNEL}", ng.port);
    let r = idp.get(&format!(
        "/-/test/backchannel?uri={}",
        navigate_encode(&uri)
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    Site {
        idp,
        ng,
        ext,
        cookie,
    }
}

fn navigate_encode(value: &str) -> String {
    authentik_integration::navigate::encode(value)
}

impl Site {
    fn browser(&self) -> Browser {
        Browser::new(&[self.ng.port, self.idp.port])
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.ext)
    }

    /// A browser that has logged in (the walk ends on the app with 200).
    fn login(&self) -> Browser {
        let mut b = self.browser();
        let walk = b.navigate(&self.url("/page"));
        assert_eq!(walk.last().response.status, 200, "{}", walk.trace());
        assert!(b.jar.get(&self.cookie).is_some(), "{}", walk.trace());
        b
    }

    fn refresh_grants(&self) -> usize {
        self.idp
            .token_requests()
            .iter()
            .filter(|r| r["grant_type"] == "refresh_token")
            .count()
    }

    /// `path` with the session of `b`, as a fetch() sends it (no page-load headers).
    fn fetch(&self, b: &mut Browser, path: &str, extra: &[(&str, &str)]) -> Response {
        let saved = std::mem::take(&mut b.headers);
        let url = Url::parse(&self.url(path)).expect("url");
        let r = b.request("GET", &url, extra);
        b.headers = saved;
        r
    }

    /// The session cookies of `b` as a Cookie header's pairs.
    fn session_pairs(&self, b: &Browser) -> Vec<(String, String)> {
        b.jar.for_url(&Url::parse(&self.url("/")).expect("url"))
    }

    fn idp_admin(&self, path: &str) -> Value {
        let r = self.idp.get(&format!("/-/test/{path}"));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        serde_json::from_slice(&r.body).expect("IdP admin JSON")
    }

    /// A valid logout token for akadmin's IdP session, as the IdP would send it.
    fn logout_token(&self) -> String {
        let v = self.idp_admin("logout-token?user=akadmin");
        v["logout_token"]
            .as_str()
            .or_else(|| v.as_str())
            .unwrap_or_else(|| panic!("no logout_token in {v}"))
            .to_string()
    }

    fn post_logout(&self, content_type: &str, body: &[u8]) -> Response {
        self.ng.send(
            &Request::new("POST", BACKCHANNEL)
                .header("Host", "app.test")
                .header("Content-Type", content_type)
                .body(body),
        )
    }
}

/// Wait until `secs` seconds have passed since `since`.
fn wait_until(since: Instant, secs: f64) {
    let target = since + Duration::from_secs_f64(secs);
    let now = Instant::now();
    if target > now {
        std::thread::sleep(target - now);
    }
}

fn session_set(r: &Response, cookie: &str) -> bool {
    set_cookies(r)
        .iter()
        .any(|c| c.name == cookie && !c.deletes() && !c.value.is_empty())
}

fn session_cleared(r: &Response, cookie: &str) -> bool {
    set_cookies(r)
        .iter()
        .any(|c| c.name == cookie && c.deletes())
}

fn upstream_user(r: &Response) -> String {
    let seen = Seen::parse(&r.body).unwrap_or_else(|| panic!("not the echo app: {}", r.text()));
    seen.one("X-authentik-username").to_string()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

fn logout_header() -> Value {
    json!({"alg": "HS256", "typ": "logout+jwt"})
}

fn sign(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use ring::hmac;
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn send_raw(port: u16, bytes: &[u8]) -> Response {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    stream.write_all(bytes).expect("send");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    Response::parse(&raw, false).unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(&raw)))
}

fn form(token: &str) -> Vec<u8> {
    format!("logout_token={token}").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// refresh
// ---------------------------------------------------------------------------------------------

#[test]
fn an_expired_session_is_renewed_in_the_request_for_page_loads_fetches_and_websockets() {
    let s = site(3, 1, "leeway 1s;");
    let login = Instant::now();
    let mut b = s.login();
    let first = b.jar.get(&s.cookie).expect("session").to_string();
    assert_eq!(s.refresh_grants(), 0, "no renewal at login");

    // Past exp: a page load is renewed in place, not redirected.
    wait_until(login, 4.5);
    let url = Url::parse(&s.url("/after/expiry")).expect("url");
    let r = b.request("GET", &url, &[]);
    assert_eq!(r.status, 200, "{} {:?}", r.text(), r.headers);
    assert_eq!(upstream_user(&r), "akadmin");
    assert!(
        session_set(&r, &s.cookie),
        "the proxied response carries the renewed session: {:?}",
        r.header_all("Set-Cookie")
    );
    assert_eq!(s.refresh_grants(), 1);
    let renewed = b.jar.get(&s.cookie).expect("session").to_string();
    assert_ne!(renewed, first);
    // The renewed session is cached: no second renewal right away.
    assert_eq!(s.fetch(&mut b, "/api/x", &[]).status, 200);
    assert_eq!(s.refresh_grants(), 1);

    // A fetch() after the next expiry: renewed, never a 401.
    wait_until(login, 9.5);
    let r = s.fetch(&mut b, "/api/data", &[("Accept", "application/json")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(upstream_user(&r), "akadmin");
    assert!(session_set(&r, &s.cookie));
    assert_eq!(s.refresh_grants(), 2);

    // A websocket upgrade after the next: renewed and passed on.
    wait_until(login, 14.5);
    let upgrade = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let r = s.fetch(&mut b, "/ws", &upgrade);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(upstream_user(&r), "akadmin");
    assert!(session_set(&r, &s.cookie));
    assert_eq!(s.refresh_grants(), 3);

    // What the renewal sent: the refresh grant with client authentication.
    let last = s.idp.token_requests().pop().expect("a request");
    assert_eq!(last["grant_type"], "refresh_token");
    let log = s.ng.error_log();
    assert!(
        !log.contains(&s.idp.client_secret),
        "the client secret in the log"
    );
}

#[test]
fn refresh_interval_renews_a_valid_session() {
    let s = site(300, 1, "refresh_interval 2s;");
    let login = Instant::now();
    let mut b = s.login();
    assert_eq!(s.fetch(&mut b, "/a", &[]).status, 200);
    assert_eq!(s.refresh_grants(), 0);
    wait_until(login, 3.0);
    let r = s.fetch(&mut b, "/b", &[]);
    assert_eq!(r.status, 200);
    assert!(session_set(&r, &s.cookie));
    assert_eq!(
        s.refresh_grants(),
        1,
        "renewed although the token is valid for 300 s"
    );
}

#[test]
fn refresh_off_never_renews() {
    let s = site(3, 1, "leeway 1s; refresh off;");
    let login = Instant::now();
    let mut b = s.login();
    wait_until(login, 4.5);
    let r = s.fetch(&mut b, "/a", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(s.refresh_grants(), 0);
}

#[test]
fn a_refused_renewal_ends_the_session_with_what_a_request_without_one_gets() {
    let s = site(3, 1, "leeway 1s;");
    let login = Instant::now();
    let mut b = s.login();
    let copy = s.session_pairs(&b);
    s.idp.token_mode("invalid_grant", false);
    wait_until(login, 4.5);
    let before = s.ng.upstream_count();
    let r = s.fetch(&mut b, "/api", &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(session_cleared(&r, &s.cookie), "{:?}", r.headers);
    // A page load with the same cookie: the login starts again.
    let page = Request::get("/page")
        .header("Host", "app.test")
        .header("Sec-Fetch-Mode", "navigate")
        .header("Accept", "text/html")
        .cookies(&copy);
    let r = s.ng.send(&page);
    assert_eq!(r.status, 302);
    let location = r.header("Location").expect("Location");
    assert!(location.starts_with(&s.idp.origin), "{location}");
    assert!(session_cleared(&r, &s.cookie));
    assert_eq!(s.ng.upstream_count(), before, "nothing reached the app");
}

#[test]
fn the_idp_failing_keeps_the_current_token_until_its_exp_and_never_past_it() {
    // TTL 8 s, leeway 6 s: renewal is due 2 s after login, the token expires at 8 s.
    let s = site(8, 1, "leeway 6s;");
    let login = Instant::now();
    let mut b = s.login();
    s.idp.token_mode("server_error", false);
    wait_until(login, 3.0);
    let r = s.fetch(&mut b, "/a", &[]);
    assert_eq!(
        r.status,
        200,
        "the current token is still valid: {}",
        r.text()
    );
    assert_eq!(upstream_user(&r), "akadmin");
    assert!(!session_set(&r, &s.cookie) && !session_cleared(&r, &s.cookie));
    let warns: Vec<String> =
        s.ng.error_log()
            .lines()
            .filter(|l| l.contains("[warn]") && l.contains("renew"))
            .map(str::to_string)
            .collect();
    assert!(
        !warns.is_empty(),
        "one warn line per failure:\n{}",
        s.ng.error_log()
    );
    let refresh = s.session_pairs(&b);
    for line in &warns {
        assert!(!line.contains(&s.idp.client_secret), "{line}");
        for (_, value) in &refresh {
            assert!(!line.contains(value.as_str()), "{line}");
        }
    }
    // Past exp (8 s; the leeway does not extend a failing renewal): refused, cookie kept.
    wait_until(login, 9.0);
    let r = s.fetch(&mut b, "/b", &[]);
    assert_eq!(r.status, 401, "never past exp: {}", r.text());
    assert!(
        !session_cleared(&r, &s.cookie),
        "the session is not ended by an outage"
    );
    // authentik is back (after the renewal hold): the session is renewed.
    s.idp.token_mode("ok", false);
    wait_until(login, 9.0 + 10.5);
    let r = s.fetch(&mut b, "/c", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(session_set(&r, &s.cookie));
}

#[test]
fn authentik_unreachable_during_renewal_is_an_outage_not_a_logout() {
    // The token location points at a port nothing listens on.
    let dead = free_port();
    // Log in through a live IdP first, then move the token location to the dead port.
    let s = site(3, 1, "leeway 1s;");
    let login = Instant::now();
    let mut b = s.login();
    let idp_port = s.idp.port;
    let conf = s.ng.conf_text.replace(
        &format!("proxy_pass http://127.0.0.1:{idp_port}/application/o/token/"),
        &format!("proxy_pass http://127.0.0.1:{dead}/application/o/token/"),
    );
    assert_ne!(conf, s.ng.conf_text, "the token location was found");
    std::fs::write(&s.ng.conf_path, conf).expect("write conf");
    s.ng.reload();
    wait_until(login, 4.5);
    let r = s.fetch(&mut b, "/a", &[]);
    assert_eq!(r.status, 401, "expired and not renewable: {}", r.text());
    assert!(
        !session_cleared(&r, &s.cookie),
        "an outage keeps the cookie"
    );
    assert_ne!(r.status, 500);
    assert_eq!(s.refresh_grants(), 0);
}

// ---------------------------------------------------------------------------------------------
// back-channel logout
// ---------------------------------------------------------------------------------------------

#[test]
fn the_idp_ending_a_session_ends_it_on_every_worker_across_reload_and_a_killed_worker() {
    let s = site(300, 2, "");
    let mut b = s.login();
    let copy = s.session_pairs(&b);
    assert_eq!(s.fetch(&mut b, "/a", &[]).status, 200);

    let ended = s.idp_admin("end-session?user=akadmin");
    let text = ended.to_string();
    assert!(
        text.contains("200"),
        "the IdP delivered the logout and nginx said 200: {text}"
    );
    let log = s.idp_admin("backchannel-log");
    assert!(log.to_string().contains(BACKCHANNEL), "{log}");

    let refused = |what: &str| {
        let before = s.ng.upstream_count();
        // Fresh connections: with two workers both serve some of them.
        for _ in 0..20 {
            let r =
                s.ng.send(&Request::get("/a").header("Host", "app.test").cookies(&copy));
            assert_eq!(r.status, 401, "{what}: {}", r.text());
            assert!(session_cleared(&r, &s.cookie), "{what}");
        }
        assert_eq!(
            s.ng.upstream_count(),
            before,
            "{what}: nothing reached the app"
        );
    };
    refused("after the logout");
    let r = b.navigate(&s.url("/page"));
    assert!(
        r.hops[0].response.status == 302
            && r.hops[0]
                .location()
                .is_some_and(|l| l.starts_with(&s.idp.origin)),
        "the next page load goes to login:\n{}",
        r.trace()
    );

    s.ng.reload();
    refused("after nginx -s reload");

    let workers = worker_pids(&s.ng);
    assert_eq!(workers.len(), 2);
    // SAFETY: signalling a worker of our own nginx.
    unsafe { libc::kill(workers[0], libc::SIGKILL) };
    wait_workers(&s.ng, 2, &workers[..1], Duration::from_secs(10));
    acknowledge_killed_worker(&s.ng, workers[0]);
    refused("after kill -9 of a worker");
}

#[test]
fn sign_out_revokes_the_session_so_a_copy_of_the_cookie_stops_working() {
    let s = site(300, 1, "");
    let mut b = s.login();
    let copy = s.session_pairs(&b);
    let r = b.get(&s.url("/outpost.goauthentik.io/sign_out"));
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("Location").expect("Location");
    assert!(location.contains("/end-session/"), "{location}");
    assert!(session_cleared(&r, &s.cookie));
    let r =
        s.ng.send(&Request::get("/a").header("Host", "app.test").cookies(&copy));
    assert_eq!(
        r.status,
        401,
        "a copy of the signed-out cookie: {}",
        r.text()
    );
}

#[test]
fn hostile_logout_requests_get_400_405_or_413_and_end_nothing() {
    let s = site(300, 1, "");
    let mut b = s.login();
    let copy = s.session_pairs(&b);
    let valid = s.logout_token();
    let claims = claims_of(&valid);
    assert!(claims["sid"].is_string(), "{claims}");
    let secret = s.idp.client_secret.as_bytes();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        sign(&logout_header(), &c, secret)
    };
    let now = now();
    let cases: Vec<(&str, String, Vec<u8>, u16)> = vec![
        (
            "forged (another secret)",
            FORM.into(),
            form(&sign(&logout_header(), &claims, b"not-the-client-secret")),
            400,
        ),
        (
            "expired",
            FORM.into(),
            form(&with(&|c| {
                c["iat"] = json!(now - 3600);
                c["exp"] = json!(now - 3480);
            })),
            400,
        ),
        (
            "issued in the future",
            FORM.into(),
            form(&with(&|c| c["iat"] = json!(now + 3600))),
            400,
        ),
        (
            "with a nonce",
            FORM.into(),
            form(&with(&|c| c["nonce"] = json!("n"))),
            400,
        ),
        (
            "without events",
            FORM.into(),
            form(&with(&|c| {
                drop(c.as_object_mut().unwrap().remove("events"))
            })),
            400,
        ),
        (
            "another event",
            FORM.into(),
            form(&with(&|c| c["events"] = json!({"urn:other": {}}))),
            400,
        ),
        (
            "wrong aud",
            FORM.into(),
            form(&with(&|c| c["aud"] = json!("another-client"))),
            400,
        ),
        (
            "wrong iss",
            FORM.into(),
            form(&with(&|c| c["iss"] = json!("https://evil.test/"))),
            400,
        ),
        (
            "neither sid nor sub",
            FORM.into(),
            form(&with(&|c| {
                let o = c.as_object_mut().unwrap();
                o.remove("sid");
                o.remove("sub");
            })),
            400,
        ),
        (
            "without jti",
            FORM.into(),
            form(&with(&|c| drop(c.as_object_mut().unwrap().remove("jti")))),
            400,
        ),
        (
            "alg none",
            FORM.into(),
            form(&format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            )),
            400,
        ),
        (
            "sid not a string",
            FORM.into(),
            form(&with(&|c| c["sid"] = json!(42))),
            400,
        ),
        ("not a JWT", FORM.into(), form("garbage"), 400),
        (
            "JSON body",
            "application/json".into(),
            json!({ "logout_token": valid }).to_string().into_bytes(),
            400,
        ),
        (
            "two logout_token fields",
            FORM.into(),
            format!("logout_token={valid}&logout_token={valid}").into_bytes(),
            400,
        ),
        ("no logout_token", FORM.into(), b"token=x".to_vec(), 400),
        (
            "oversized",
            FORM.into(),
            [form(&valid), b"&pad=".to_vec(), vec![b'a'; 70 * 1024]].concat(),
            413,
        ),
    ];
    for (what, content_type, body, status) in &cases {
        let r = s.post_logout(content_type, body);
        assert_eq!(r.status, *status, "{what}: {}", r.text());
        if *status == 400 {
            let error: Value = serde_json::from_slice(&r.body)
                .unwrap_or_else(|_| panic!("{what}: not the spec's JSON error: {}", r.text()));
            assert_eq!(error["error"], "invalid_request", "{what}: {error}");
            assert!(error["error_description"].is_string(), "{what}: {error}");
        }
    }
    // Without Content-Length (chunked), over 64 KB: 413 too.
    let chunked = [form(&valid), b"&pad=".to_vec(), vec![b'a'; 70 * 1024]].concat();
    let mut raw = format!(
        "POST {BACKCHANNEL} HTTP/1.1\r\nHost: app.test\r\nContent-Type: {FORM}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        chunked.len()
    )
    .into_bytes();
    raw.extend_from_slice(&chunked);
    raw.extend_from_slice(b"\r\n0\r\n\r\n");
    let r = send_raw(s.ng.port, &raw);
    assert_eq!(r.status, 413, "chunked oversized: {}", r.text());
    // Another method: 405 naming POST.
    let r =
        s.ng.send(&Request::get(BACKCHANNEL).header("Host", "app.test"));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));

    // None of that ended the session.
    assert_eq!(s.fetch(&mut b, "/still", &[]).status, 200);

    // The real one does, once; replaying it is refused.
    let r = s.post_logout(FORM, &form(&valid));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let r = s.post_logout(FORM, &form(&valid));
    assert_eq!(r.status, 400, "replayed: {}", r.text());
    let r =
        s.ng.send(&Request::get("/a").header("Host", "app.test").cookies(&copy));
    assert_eq!(r.status, 401);
    let log = s.ng.error_log();
    assert!(!log.contains(&valid), "a logout token in the error log");

    // What the metrics say: one accepted, every 400 refused, two live entries (sid, jti).
    let metrics =
        s.ng.send(&Request::get("/metrics").header("Host", "app.test"))
            .text();
    let value = |line: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line} in\n{metrics}"))
    };
    let refused = cases.iter().filter(|c| c.3 == 400).count() as u64 + 1;
    assert_eq!(
        value("authentik_backchannel_logouts_total{provider=\"app\",result=\"accepted\"}"),
        1
    );
    assert_eq!(
        value("authentik_backchannel_logouts_total{provider=\"app\",result=\"refused\"}"),
        refused
    );
    assert_eq!(value("authentik_revocation_entries"), 2);
    assert_eq!(value("authentik_revocation_capacity"), 21_833);
}

#[test]
fn a_sub_only_logout_refuses_the_users_earlier_tokens_and_not_later_ones() {
    let s = site(300, 1, "");
    let b = s.login();
    let copy = s.session_pairs(&b);
    let claims = claims_of(&s.logout_token());
    let mut sub_only = claims.clone();
    sub_only.as_object_mut().unwrap().remove("sid");
    sub_only["jti"] = json!("sub-only-logout");
    // Issued a second after the session's tokens, so they are "before" it.
    std::thread::sleep(Duration::from_millis(1100));
    sub_only["iat"] = json!(now());
    let token = sign(&logout_header(), &sub_only, s.idp.client_secret.as_bytes());
    assert_eq!(s.post_logout(FORM, &form(&token)).status, 200);
    let r =
        s.ng.send(&Request::get("/a").header("Host", "app.test").cookies(&copy));
    assert_eq!(r.status, 401, "{}", r.text());
    // A login after the logout is not affected.
    std::thread::sleep(Duration::from_millis(1100));
    let mut again = s.browser();
    let walk = again.navigate(&s.url("/page"));
    assert_eq!(walk.last().response.status, 200, "{}", walk.trace());
}
