//! Remote JWKS (`jwks_request`, docs/architecture.md "Remote JWKS") against the IdP of
//! `tests/idp/` in RS256 mode, whose signing key rotates on demand and whose JWKS endpoint
//! can be broken: rotation without reload, the bound on fetches for unknown kids (counted at
//! the IdP), the last good keys kept while the endpoint is down or answers garbage, and bad
//! configuration.
//!
//! Needs `tests/idp/node_modules` (`cd tests/idp && npm ci`; scripts/test does it).

use std::time::Duration;

use authentik_integration::idp::Idp;
use authentik_integration::navigate::Browser;
use authentik_integration::*;
use serde_json::json;

struct Site {
    idp: Idp,
    ng: Nginx,
}

fn rs256_idp() -> Idp {
    Idp::builder()
        .env("SIGNING_ALG", "RS256")
        .auto_login("akadmin")
        .start()
}

/// One worker, the IdP's token and JWKS locations, `extra` in the provider.
fn site_with(idp: Idp, extra: &str) -> Site {
    let http = idp.provider(
        "app",
        "http://app.test:@PORT@",
        &format!("jwks_request /_authentik_jwks; {extra}"),
    ) + &format!(
        "server {{\n\
         listen 127.0.0.1:@PORT@;\n\
         server_name app.test;\n\
         large_client_header_buffers 4 32k;\n\
         add_header X-Authentik-Status $authentik_status always;\n\
         authentik app;\n\
         location / {{ @PROXY@ }}\n\
         {token}\n\
         {jwks}\n\
         }}\n",
        token = idp.token_location(),
        jwks = idp.jwks_location(),
    );
    let ng = Conf::new(http).start();
    Site { idp, ng }
}

fn site(extra: &str) -> Site {
    site_with(rs256_idp(), extra)
}

impl Site {
    fn api(&self, jwt: &str) -> Response {
        self.ng
            .send(&Request::get("/api").header("Host", "app.test").bearer(jwt))
    }

    fn browser(&self) -> Browser {
        Browser::new(&[self.ng.port, self.idp.port])
    }

    fn url(&self, path: &str) -> String {
        format!("http://app.test:{}{path}", self.ng.port)
    }

    fn warnings(&self, needle: &str) -> usize {
        self.ng
            .error_log()
            .lines()
            .filter(|l| l.contains("[warn]") && l.contains(needle))
            .count()
    }
}

/// A token the IdP never signed, under kid `kid`.
fn foreign(kid: &str) -> String {
    let mut c = claims();
    c["iss"] = json!("ignored");
    sign_asym(AsymKey::RsaOther, Some(kid), &c)
}

#[test]
fn rotation_needs_no_reload() {
    let s = site("");
    // A login before the rotation: the callback fetches the keys.
    let mut before = s.browser();
    let walk = before.navigate(&s.url("/page"));
    assert_eq!(walk.last().response.status, 200, "{}", walk.trace());
    let old = s.idp.access_token("alice");
    assert_eq!(s.api(&old).status, 200);
    assert_eq!(
        s.idp.jwks_requests(),
        1,
        "one fetch for the worker's first request"
    );

    let new_kid = s.idp.rotate_key();
    // A login after it: the id_token names the new kid, which the worker fetches at once.
    let mut after = s.browser();
    let walk = after.navigate(&s.url("/other"));
    assert_eq!(walk.last().response.status, 200, "{}", walk.trace());
    assert_eq!(
        walk.last().response.upstream().one("X-authentik-username"),
        "akadmin"
    );
    assert_eq!(s.idp.jwks_requests(), 2, "the unknown kid fetched once");
    let new = s.idp.access_token("alice");
    assert!(new != old);
    let r = s.api(&new);
    assert_eq!(r.status, 200, "{}", r.text());
    // Tokens of the old key verify while authentik still publishes it.
    assert_eq!(s.api(&old).status, 200);
    assert_eq!(before.get(&s.url("/page")).status, 200);
    assert_eq!(s.idp.jwks_requests(), 2);
    let log = s.ng.error_log();
    assert!(
        log.contains(&format!("\"{new_kid}\"")),
        "the new keys are logged:\n{log}"
    );
}

#[test]
fn unknown_kids_fetch_at_most_once_a_minute() {
    let s = site("");
    let good = s.idp.access_token("alice");
    assert_eq!(s.api(&good).status, 200);
    assert_eq!(s.idp.jwks_requests(), 1);
    // A flood of tokens naming keys nobody has: one fetch, then 401s from the keys at hand.
    for i in 0..40 {
        let r = s.api(&foreign(&format!("random-{i}")));
        assert_eq!(r.status, 401, "{i}: {}", r.text());
        assert_eq!(r.authentik_status(), "invalid");
    }
    assert_eq!(s.idp.jwks_requests(), 2, "40 unknown kids, one fetch");
    // The bound holds for real rotations too: within the minute, a new kid waits.
    s.idp.rotate_key();
    let rotated = s.idp.access_token("alice");
    assert_eq!(s.api(&rotated).status, 401);
    assert_eq!(s.idp.jwks_requests(), 2);
    assert_eq!(s.api(&good).status, 200, "known keys still verify");
    assert_eq!(s.ng.upstream_count(), 2);
}

#[test]
fn refresh_picks_up_a_dropped_key() {
    let s = site("jwks_refresh 1s;");
    let old = s.idp.access_token("alice");
    assert_eq!(s.api(&old).status, 200);
    s.idp.rotate_key();
    s.idp.drop_old_keys();
    std::thread::sleep(Duration::from_millis(1100));
    // The first request after jwks_refresh fetches: the old key is gone, and with it the
    // token, although the worker had it cached.
    let r = s.api(&old);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(s.idp.jwks_requests(), 2);
    let new = s.idp.access_token("alice");
    assert_eq!(s.api(&new).status, 200);
    assert_eq!(s.idp.jwks_requests(), 2, "the refreshed keys have it");
}

#[test]
fn endpoint_down_keeps_the_last_good_keys() {
    let mut s = site("jwks_refresh 1s;");
    let good = s.idp.access_token("alice");
    assert_eq!(s.api(&good).status, 200);
    s.idp.jwks_mode("down");
    std::thread::sleep(Duration::from_millis(1100));
    for _ in 0..5 {
        let r = s.api(&good);
        assert_eq!(r.status, 200, "last good keys: {}", r.text());
    }
    assert_eq!(
        s.idp.jwks_requests(),
        2,
        "one failed fetch, then a minute's wait"
    );
    assert_eq!(
        s.warnings("JWKS fetch from /_authentik_jwks failed: HTTP status 503"),
        1
    );
    // A token the worker has not cached verifies with the last good keys.
    assert_eq!(s.api(&s.idp.access_token("bob")).status, 200);
    assert!(s.ng.error_log().contains("keeping the last good keys"));
    // An unknown kid is still refused.
    assert_eq!(s.api(&foreign("unknown")).status, 401);
    // authentik gone altogether: the keys of the worker still verify.
    s.idp.stop();
    assert_eq!(s.api(&good).status, 200);
}

#[test]
fn hostile_jwks_answers_are_refused_and_change_nothing() {
    let idp = rs256_idp();
    let good = idp.access_token("alice");
    let mut s = Some(idp);
    for (mode, reason) in [
        ("garbage", "invalid JWKS"),
        ("huge", "no answer"),
        ("private", "private member"),
        ("symmetric", "symmetric (oct) keys are not accepted"),
        ("empty", "the JWKS has no keys"),
    ] {
        let site = site_with(s.take().expect("idp"), "");
        site.idp.jwks_mode("ok");
        assert_eq!(site.api(&good).status, 200, "{mode}: first fetch");
        site.idp.jwks_mode(mode);
        // An unknown kid fetches the hostile answer, which is refused.
        let r = site.api(&foreign("unknown"));
        assert_eq!(r.status, 401, "{mode}: {}", r.text());
        assert_eq!(
            site.warnings(reason),
            1,
            "{mode}: one warning with the reason:\n{}",
            site.ng.error_log()
        );
        // A token this worker has not cached verifies with the last good keys.
        let r = site.api(&site.idp.access_token("bob"));
        assert_eq!(r.status, 200, "{mode}: the last good keys: {}", r.text());
        // Without keys to fall back on, nothing verifies, and nothing is a 500.
        let fresh = site_with(site.idp, "");
        let r = fresh.api(&good);
        assert_eq!(r.status, 401, "{mode}: no keys: {}", r.text());
        assert!(fresh
            .ng
            .error_log()
            .contains("no public key to verify tokens with"));
        let Site { idp, .. } = fresh;
        s = Some(idp);
    }
}

#[test]
fn bad_configuration_fails_nginx_t_at_the_line() {
    let ok = provider("app", "jwks_request /_authentik_jwks; algorithms RS256;")
        + &server("authentik app; location / { @PROXY@ } location = /_authentik_jwks { internal; proxy_pass http://127.0.0.1:9/; }");
    nginx_t(&ok).assert_ok();
    let t = nginx_t(
        &(provider("app", "jwks_request /_nowhere;")
            + &server("authentik app; location / { @PROXY@ }")),
    );
    t.assert_error_at(
        "jwks_request \"/_nowhere\" names no location",
        "jwks_request /_nowhere;",
    );
    assert!(
        t.stderr.contains("nginx-conf/jwks-request.conf"),
        "{}",
        t.stderr
    );
    for (line, message) in [
        (
            "jwks_request _jwks;",
            "jwks_request must be a URI starting with \"/\"",
        ),
        (
            "jwks_request /a; jwks_refresh soon;",
            "invalid jwks_refresh \"soon\"",
        ),
        (
            "jwks_request /a; jwks_refresh 0s;",
            "invalid jwks_refresh \"0s\"",
        ),
        ("basic maybe;", "invalid value \"maybe\" in \"basic\""),
    ] {
        let t =
            nginx_t(&(provider("app", line) + &server("authentik app; location / { @PROXY@ }")));
        let needle = line.rsplit("; ").next().unwrap_or(line);
        t.assert_error_at(message, needle.trim());
    }
    let t = nginx_t(&(provider("app", "jwks_refresh 1h;") + &server("authentik app;")));
    t.assert_error("jwks_refresh needs jwks_request");
}
