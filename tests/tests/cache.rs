//! The verified-token cache changes speed, never answers (docs/architecture.md §4, §8): the
//! same requests get the same answers with the cache on, off and of one entry, and a
//! credential cached as one kind (session, bearer token) is not accepted as the other.

use authentik_integration::*;
use serde_json::json;

fn site(cache: &str, provider_extra: &str) -> Nginx {
    let http = format!("{cache}\n")
        + &provider("app", provider_extra)
        + &server(
            r#"
    authentik app;
    location / { @PROXY@ }
    location /admin/ { authentik_require_group "authentik Admins"; @PROXY@ }
"#,
        );
    Conf::new(http).start()
}

/// The requests of a fixed sequence. Built once per nginx, so that repeating the sequence
/// sends the very same sealed values (and hits the cache when it is on).
fn sequence() -> Vec<Request> {
    let now = now();
    let valid = session(&token());
    let expired = session(&hs256(&claims_with(&[
        ("exp", json!(now - 600)),
        ("iat", json!(now - 4200)),
    ])));
    let mut tampered = valid.clone();
    tampered[0].1 = tamper_value(&tampered[0].1);
    let outsider = session(&hs256(&claims_with(&[
        ("preferred_username", json!("jdoe")),
        ("groups", json!(["users"])),
    ])));
    let bearer = token();
    vec![
        Request::get("/").cookies(&valid),
        Request::get("/").cookies(&expired),
        Request::get("/").cookies(&tampered),
        Request::get("/admin/").cookies(&outsider),
        Request::get("/admin/").cookies(&valid),
        Request::get("/").cookies(&outsider),
        Request::get("/").cookies(&expired),
        Request::get("/").bearer(&bearer),
        Request::get("/").header("Cookie", format!("{}=garbage", valid[0].0)),
        Request::get("/"),
        Request::get("/admin/").cookies(&outsider),
        Request::get("/").cookies(&tampered),
        Request::get("/").cookies(&valid),
        Request::get("/").bearer(&bearer),
        // One kind of credential presented as the other: the sealed session (cached above as
        // a session) as a bearer token, the bearer token (cached above) as the session cookie.
        Request::get("/").bearer(&valid[0].1),
        Request::get("/").header("Cookie", format!("{}={bearer}", valid[0].0)),
        Request::get("/").cookies(&valid),
    ]
}

/// (status code, $authentik_status, upstream username) for each request.
fn run_sequence(ng: &Nginx, requests: &[Request]) -> Vec<(u16, String, String)> {
    requests
        .iter()
        .map(|req| {
            let r = ng.send(req);
            let user = if r.status == 200 {
                r.upstream().one("X-authentik-username").to_string()
            } else {
                String::new()
            };
            (r.status, r.authentik_status().to_string(), user)
        })
        .collect()
}

fn expected() -> Vec<(u16, String, String)> {
    [
        (200, "ok", "akadmin"),
        (401, "expired", ""),
        (401, "invalid", ""),
        (403, "forbidden", ""),
        (200, "ok", "akadmin"),
        (200, "ok", "jdoe"),
        (401, "expired", ""),
        (200, "ok", "akadmin"),
        (401, "invalid", ""),
        (401, "missing", ""),
        (403, "forbidden", ""),
        (401, "invalid", ""),
        (200, "ok", "akadmin"),
        (200, "ok", "akadmin"),
        (401, "invalid", ""),
        (401, "invalid", ""),
        (200, "ok", "akadmin"),
    ]
    .iter()
    .map(|(c, s, u)| (*c, s.to_string(), u.to_string()))
    .collect()
}

#[test]
fn cache_on_and_off_give_the_same_answers() {
    let expected = expected();
    for cache in [
        "",
        "authentik_cache 10000;",
        "authentik_cache 0;",
        "authentik_cache 1;",
    ] {
        let ng = site(cache, "");
        let requests = sequence();
        for round in 1..=2 {
            assert_eq!(
                run_sequence(&ng, &requests),
                expected,
                "{cache:?} round {round} (left: got, right: expected)"
            );
        }
    }
}

#[test]
fn a_cached_session_is_bound_to_its_cookie_name() {
    // Same secrets and claims; only the cookie names differ. A cache keyed by the sealed
    // value alone would accept app's session under app2's cookie name.
    let http = provider("app", "")
        + &provider("app2", "cookie_name app2-session;")
        + &server(
            r#"
    location /a/ { authentik app; @PROXY@ }
    location /b/ { authentik app2; @PROXY@ }
"#,
        );
    let ng = Conf::new(http).start();
    let sealed = session(&token())[0].1.clone();
    for _ in 0..2 {
        let r = ng.send(&Request::get("/a/").header(
            "Cookie",
            format!("{}={sealed}", default_cookie_name(CLIENT_ID)),
        ));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = ng.send(&Request::get("/b/").header("Cookie", format!("app2-session={sealed}")));
    assert_eq!(r.status, 401, "moved cookie accepted: {}", r.text());
    assert_eq!(r.authentik_status(), "invalid");
}

#[test]
fn a_cached_session_is_bound_to_its_provider() {
    // app2 has a different client secret: app's token is invalid there even though the
    // cookie name and the seal are the same.
    let http = provider("app", "")
        + &provider("app2", "").replace(
            CLIENT_SECRET,
            "another-client-secret-of-the-second-provider",
        )
        + &server(
            r#"
    location /a/ { authentik app; @PROXY@ }
    location /b/ { authentik app2; @PROXY@ }
"#,
        );
    let ng = Conf::new(http).start();
    let cookies = session(&token());
    assert_eq!(ng.send(&Request::get("/a/").cookies(&cookies)).status, 200);
    assert_eq!(ng.send(&Request::get("/a/").cookies(&cookies)).status, 200);
    let r = ng.send(&Request::get("/b/").cookies(&cookies));
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.authentik_status(), "invalid");
}

#[test]
fn the_cache_never_serves_a_token_past_its_exp() {
    let ng = site("", "leeway 0s;");
    let exp = now() + 2;
    let cookies = session(&hs256(&claims_with(&[("exp", json!(exp))])));
    let r = ng.send(&Request::get("/").cookies(&cookies));
    assert_eq!(r.status, 200, "{}", r.text());
    while now() <= exp + 1 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let r = ng.send(&Request::get("/").cookies(&cookies));
    assert_eq!(
        r.status,
        401,
        "expired token served from the cache: {}",
        r.text()
    );
    assert_eq!(r.authentik_status(), "expired");
}
