//! Faults that must not hurt logged-in users or let anyone in (the quick, deterministic
//! checks; `scripts/soak` runs the long ones under load):
//!
//! * a worker killed with SIGKILL is replaced by the master, and sessions keep working
//!   (they are stateless);
//! * `nginx -s reload` keeps sessions working;
//! * a session from one nginx works on another that shares the provider's secrets, and not
//!   on one with another cookie secret;
//! * tokens whose `exp`/`nbf`/`iat` are off by less than `leeway` are accepted, beyond it
//!   refused, and a cached verdict never outlives `exp`;
//! * with the identity provider hanging or dead, logged-in requests still get 200 and a login
//!   callback fails cleanly with 400 once nginx's proxy timeouts run out.

use std::process::Command;
use std::time::{Duration, Instant};

use authentik_integration::idp::Idp;
use authentik_integration::navigate::{Browser, Url};
use authentik_integration::procs::{acknowledge_killed_worker, master_pid, wait_workers};
use authentik_integration::*;
use serde_json::json;

fn site(extra: &str) -> Nginx {
    let http = provider("app", extra) + &server("authentik app; location / { @PROXY@ }");
    Conf::new(http).start()
}

fn assert_session_works(ng: &Nginx, cookies: &[(String, String)], what: &str) {
    let r = ng.send(&Request::get("/x").cookies(cookies));
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    assert_eq!(
        r.upstream().one("X-authentik-username"),
        "akadmin",
        "{what}"
    );
}

#[test]
fn a_worker_killed_with_sigkill_is_replaced_and_sessions_survive() {
    let ng = site("");
    let cookies = session(&token());
    let bearer = token();
    assert_session_works(&ng, &cookies, "before any kill");
    let mut restarts = 0;
    for round in 1..=3 {
        let old = wait_workers(&ng, 1, &[], Duration::from_secs(10));
        // SAFETY: signalling a worker of our own nginx.
        unsafe { libc::kill(old[0], libc::SIGKILL) };
        let new = wait_workers(&ng, 1, &old, Duration::from_secs(10));
        restarts += 1;
        acknowledge_killed_worker(&ng, old[0]);
        // The new worker has an empty token cache: it opens and verifies from scratch.
        assert_session_works(&ng, &cookies, &format!("after kill {round}"));
        let r = ng.send(&Request::get("/x").bearer(&bearer));
        assert_eq!(r.status, 200, "bearer after kill {round}: {}", r.text());
        let r = ng.send(
            &Request::get("/x")
                .cookies(&[(default_cookie_name(CLIENT_ID), tamper_value(&cookies[0].1))]),
        );
        assert_eq!(r.status, 401, "tampered after kill {round}");
        eprintln!(
            "kill -9 round {round}: worker {} replaced by {}",
            old[0], new[0]
        );
    }
    let log = ng.error_log();
    assert_eq!(
        log.matches("exited on signal").count(),
        0,
        "a worker died that the test did not kill:\n{log}"
    );
    eprintln!(
        "worker restarts: {restarts}; master {} kept running",
        master_pid(&ng)
    );
    assert_eq!(ng.upstream_count(), 3 * 2 + 1);
}

#[test]
fn sessions_survive_reloads() {
    let ng = site("skip_path ^/public/;");
    let cookies = session(&token());
    for round in 1..=3 {
        let old = wait_workers(&ng, 1, &[], Duration::from_secs(10));
        let out = Command::new(env::nginx_bin())
            .arg("-p")
            .arg(format!("{}/", ng.prefix().display()))
            .arg("-c")
            .arg(&ng.conf_path)
            .arg("-e")
            .arg(ng.prefix().join("logs/error.log"))
            .args(["-s", "reload"])
            .env_remove("NGINX")
            .output()
            .expect("nginx -s reload");
        assert!(
            out.status.success(),
            "reload: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_workers(&ng, 1, &old, Duration::from_secs(10));
        assert_session_works(&ng, &cookies, &format!("after reload {round}"));
        assert_eq!(ng.get("/private").status, 401, "after reload {round}");
        assert_eq!(ng.get("/public/x").status, 200, "after reload {round}");
    }
}

/// Two nginx instances with the same provider secrets (and a third with another cookie
/// secret): a real login on the first gives a session the second accepts.
#[test]
fn a_session_from_one_instance_works_on_another_sharing_the_secrets() {
    let idp = Idp::builder().auto_login("akadmin").start();
    let conf = |cookie_secret: &str| {
        let http = idp
            .provider("app", "http://127.0.0.1:@PORT@", "")
            .replace(COOKIE_SECRET, cookie_secret)
            + &server(&format!(
                "authentik app; location / {{ @PROXY@ }}\n{}",
                idp.token_location()
            ));
        Conf::new(http).start()
    };
    let a = conf(COOKIE_SECRET);
    let b = conf(COOKIE_SECRET);
    let c = conf("another-cookie-secret-at-least-32-bytes-long");

    let mut browser = Browser::new(&[a.port, idp.port]);
    let walk = browser.navigate(&format!("http://127.0.0.1:{}/dashboard?x=1", a.port));
    let last = walk.last();
    assert_eq!(last.response.status, 200, "login on A:\n{}", walk.trace());
    assert_eq!(last.url.target, "/dashboard?x=1", "{}", walk.trace());
    let name = default_cookie_name(&idp.client_id);
    let sessions: Vec<(String, String)> = browser
        .jar
        .named_like(&name)
        .into_iter()
        .filter(|c| !c.name.contains("_login_"))
        .map(|c| (c.name.clone(), c.value.clone()))
        .collect();
    assert!(!sessions.is_empty(), "no session cookie after the login");

    for (label, ng) in [("A", &a), ("B", &b)] {
        let r = ng.send(&Request::get("/page").cookies(&sessions));
        assert_eq!(r.status, 200, "session on {label}: {}", r.text());
        let up = r.upstream();
        assert_eq!(up.one("X-authentik-username"), "akadmin", "{label}");
        assert_eq!(up.one("X-authentik-meta-provider"), "app", "{label}");
    }
    let r = c.send(&Request::get("/page").cookies(&sessions));
    assert_eq!(r.status, 401, "another cookie secret must not open it");
    assert_eq!(c.upstream_count(), 0);
    // A and B also agree on sessions sealed by anyone holding the secret.
    let sealed = seal_for(COOKIE_SECRET.as_bytes(), &name, &{
        let mut c = claims();
        c["iss"] = json!(idp.issuer);
        c["aud"] = json!(idp.client_id);
        hs256_with(&c, idp.client_secret.as_bytes())
    });
    for ng in [&a, &b] {
        assert_session_works(ng, &sealed, "a session sealed elsewhere");
    }
}

#[test]
fn clock_skew_within_leeway_passes_and_beyond_it_is_refused() {
    let now = now();
    for (leeway, setting) in [(60, ""), (10, "leeway 10s;"), (0, "leeway 0;")] {
        let ng = site(setting);
        let cases = [
            (
                "exp in the past, within the leeway",
                "exp",
                now - leeway / 2,
                true,
            ),
            (
                "exp in the past, beyond the leeway",
                "exp",
                now - leeway - 20,
                false,
            ),
            (
                "nbf in the future, within the leeway",
                "nbf",
                now + leeway / 2,
                true,
            ),
            (
                "nbf in the future, beyond the leeway",
                "nbf",
                now + leeway + 20,
                false,
            ),
            (
                "iat in the future, within the leeway",
                "iat",
                now + leeway / 2,
                true,
            ),
            (
                "iat in the future, beyond the leeway",
                "iat",
                now + leeway + 20,
                false,
            ),
        ];
        for (what, claim, value, ok) in cases {
            // With leeway 0, "within" is exactly now: skip the ones a second could flip.
            if leeway == 0 && ok && claim == "exp" {
                continue;
            }
            let jwt = hs256(&claims_with(&[(claim, json!(value))]));
            for (how, req) in [
                ("cookie", Request::get("/").cookies(&session(&jwt))),
                ("bearer", Request::get("/").bearer(&jwt)),
            ] {
                let r = ng.send(&req);
                let expect = if ok { 200 } else { 401 };
                assert_eq!(
                    r.status,
                    expect,
                    "leeway {leeway}s, {what} ({claim} = now{:+}), {how}: {} {}",
                    value - now,
                    r.authentik_status(),
                    r.text()
                );
                if !ok {
                    let status = if claim == "exp" { "expired" } else { "invalid" };
                    assert_eq!(r.authentik_status(), status, "{what}");
                }
            }
        }
    }
}

/// The verified-token cache never outlives a token's `exp` (+ leeway): a token that expires
/// while cached is refused from then on, as a cookie and as a bearer token.
#[test]
fn a_cached_token_is_refused_once_it_expires() {
    let ng = site("leeway 0;");
    let exp = now() + 2;
    let jwt = hs256(&claims_with(&[("exp", json!(exp))]));
    let cookie = Request::get("/").cookies(&session(&jwt));
    let bearer = Request::get("/").bearer(&jwt);
    assert_eq!(ng.send(&cookie).status, 200);
    assert_eq!(ng.send(&bearer).status, 200);
    while now() <= exp {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1100)); // nginx's cached clock ticks per event
    for (how, req) in [("cookie", &cookie), ("bearer", &bearer)] {
        let r = ng.send(req);
        assert_eq!(r.status, 401, "{how} after exp: {}", r.text());
        assert_eq!(r.authentik_status(), "expired", "{how}");
    }
    assert_eq!(ng.upstream_count(), 2);
}

/// The token location with bounded timeouts, as SECURITY.md recommends.
fn token_location(idp: &Idp) -> String {
    format!(
        "location = /_authentik_token {{\n\
         internal;\n\
         proxy_method POST;\n\
         proxy_pass_request_headers off;\n\
         proxy_set_header Content-Type application/x-www-form-urlencoded;\n\
         proxy_set_header Host {authority};\n\
         proxy_set_body $authentik_token_request_body;\n\
         subrequest_output_buffer_size 64k;\n\
         proxy_connect_timeout 2s;\n\
         proxy_read_timeout 5s;\n\
         proxy_pass {origin}/application/o/token/;\n\
         }}\n",
        authority = idp.authority(),
        origin = idp.origin
    )
}

fn idp_pid(idp: &Idp) -> libc::pid_t {
    idp.info["pid"]
        .as_i64()
        .and_then(|p| libc::pid_t::try_from(p).ok())
        .unwrap_or_else(|| panic!("no pid in the IdP's ready line: {}", idp.info))
}

/// Walk a login up to the callback URL the IdP sends the browser to, without fetching it.
fn authorize(browser: &mut Browser, port: u16, page: &str) -> Url {
    let walk = browser.navigate_until(&format!("http://127.0.0.1:{port}{page}"), |u| {
        u.path() == "/outpost.goauthentik.io/callback"
    });
    walk.stopped_at
        .clone()
        .filter(|u| u.path() == "/outpost.goauthentik.io/callback")
        .unwrap_or_else(|| panic!("the login did not reach the callback:\n{}", walk.trace()))
}

#[test]
fn with_the_identity_provider_down_users_stay_logged_in_and_logins_fail_cleanly() {
    let idp = Idp::builder().auto_login("akadmin").start();
    let http = idp.provider("app", "http://127.0.0.1:@PORT@", "")
        + &server(&format!(
            "authentik app; location / {{ @PROXY@ }}\n{}",
            token_location(&idp)
        ));
    let ng = Conf::new(http).start();
    let mut browser = Browser::new(&[ng.port, idp.port]);
    let walk = browser.navigate(&format!("http://127.0.0.1:{}/home", ng.port));
    assert_eq!(walk.last().response.status, 200, "{}", walk.trace());
    let name = default_cookie_name(&idp.client_id);
    let session: Vec<(String, String)> = browser
        .jar
        .named_like(&name)
        .into_iter()
        .filter(|c| !c.name.contains("_login_"))
        .map(|c| (c.name.clone(), c.value.clone()))
        .collect();
    let logged_in = |what: &str| {
        for _ in 0..5 {
            let started = Instant::now();
            let r = ng.send(&Request::get("/home").cookies(&session));
            assert_eq!(r.status, 200, "{what}: {}", r.text());
            assert!(started.elapsed() < Duration::from_secs(1), "{what}: slow");
        }
    };

    // Two more logins get as far as the callback; their codes are never exchanged yet.
    let mut second = Browser::new(&[ng.port, idp.port]);
    let hang_callback = authorize(&mut second, ng.port, "/second");
    let mut third = Browser::new(&[ng.port, idp.port]);
    let dead_callback = authorize(&mut third, ng.port, "/third");

    // The IdP hangs (SIGSTOP): the kernel still accepts connections, nothing answers.
    // SAFETY: signalling the IdP child process of this test.
    unsafe { libc::kill(idp_pid(&idp), libc::SIGSTOP) };
    logged_in("IdP hanging");
    let started = Instant::now();
    let r = second.request("GET", &hang_callback, &[]);
    let hang = started.elapsed();
    assert_eq!(r.status, 400, "callback with the IdP hanging: {}", r.text());
    assert!(
        hang >= Duration::from_secs(4) && hang < Duration::from_secs(9),
        "the callback should end with proxy_read_timeout 5s, took {hang:?}"
    );
    assert!(
        r.header_all("Set-Cookie")
            .iter()
            .all(|c| !c.starts_with(&format!("{name}="))),
        "a failed login must not set a session"
    );

    // The IdP dies: connection refused.
    // SAFETY: as above; SIGKILL also ends a stopped process.
    unsafe { libc::kill(idp_pid(&idp), libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(200));
    logged_in("IdP dead");
    let started = Instant::now();
    let r = third.request("GET", &dead_callback, &[]);
    let dead = started.elapsed();
    assert_eq!(r.status, 400, "callback with the IdP dead: {}", r.text());
    assert!(dead < Duration::from_secs(3), "took {dead:?}");

    // A new visitor still gets a clean redirect to the (dead) IdP, nothing hangs.
    let r = ng.send(
        &Request::get("/new")
            .header("Accept", "text/html")
            .header("Sec-Fetch-Mode", "navigate"),
    );
    assert_eq!(r.status, 302, "{}", r.text());

    let log = ng.error_log();
    for status in [504, 502] {
        assert!(
            log.contains(&format!("code exchange failed with status {status}")),
            "the error log should name the failed exchange ({status}):\n{log}"
        );
    }
    eprintln!(
        "IdP hanging: callback 400 after {hang:?}; IdP dead: callback 400 after {dead:?}; \
         logged-in requests 200 throughout"
    );
}
