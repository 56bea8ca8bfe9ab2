//! Unauthenticated, invalid and unauthorized requests (docs/architecture.md §5, §7).

use authentik_integration::*;
use serde_json::{json, Value};

fn site(provider_extra: &str) -> Nginx {
    let http = provider("app", provider_extra)
        + &server(
            r#"
    authentik app;
    location / { @PROXY@ }
    location /admin/ { authentik_require_group "authentik Admins"; @PROXY@ }
    location /multi/ { authentik_require_group "ops" "authentik Admins"; @PROXY@ }
    location /flag/ { authentik_require $authentik_claim_is_admin; @PROXY@ }
    location /both/ { authentik_require $authentik_claim_is_admin $authentik_email; @PROXY@ }
    location = /_authentik_token { internal; proxy_pass http://127.0.0.1:9/; }
"#,
        );
    Conf::new(http).start()
}

fn assert_401(ng: &Nginx, r: &Response, status: &str, what: &str) {
    assert_eq!(r.status, 401, "{what}: {} {}", r.status, r.text());
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some(r#"Bearer realm="authentik""#),
        "{what}"
    );
    if !status.is_empty() {
        assert_eq!(r.authentik_status(), status, "{what}");
    }
    assert_eq!(ng.upstream_count(), 0, "{what}: reached the upstream");
}

#[test]
fn no_session_gets_401_with_a_bearer_challenge() {
    let ng = site("");
    for req in [
        Request::get("/"),
        Request::get("/deep/path?q=1"),
        Request::new("POST", "/form").body("a=b"),
        Request::new("HEAD", "/"),
        // Without token_request nobody can log in: even a browser navigation gets 401.
        Request::get("/")
            .header("Accept", "text/html")
            .header("Sec-Fetch-Mode", "navigate"),
        Request::get("/").header("Cookie", "unrelated=1; other=2"),
    ] {
        let r = ng.send(&req);
        assert_401(&ng, &r, "missing", &format!("{req:?}"));
    }
}

#[test]
fn non_navigational_requests_get_401_even_with_token_request() {
    let ng = site("token_request /_authentik_token;");
    for req in [
        Request::get("/"),
        Request::get("/").header("Accept", "application/json"),
        Request::get("/")
            .header("Accept", "text/html")
            .header("X-Requested-With", "XMLHttpRequest"),
        Request::get("/")
            .header("Accept", "text/html")
            .header("Sec-Fetch-Mode", "cors"),
        Request::new("POST", "/").header("Accept", "text/html"),
    ] {
        let r = ng.send(&req);
        assert_401(&ng, &r, "missing", &format!("{req:?}"));
    }
}

#[test]
fn forced_401_even_for_navigations() {
    let http = provider("app", "token_request /_authentik_token;")
        + &server(
            "authentik app; authentik_unauthenticated 401; location / { @PROXY@ } \
             location = /_authentik_token { internal; proxy_pass http://127.0.0.1:9/; }",
        );
    let ng = Conf::new(http).start();
    let r = ng.send(
        &Request::get("/")
            .header("Accept", "text/html")
            .header("Sec-Fetch-Mode", "navigate"),
    );
    assert_401(
        &ng,
        &r,
        "missing",
        "navigation with authentik_unauthenticated 401",
    );
}

#[test]
fn expired_token_gets_401_expired() {
    let ng = site("");
    let now = now();
    let expired = hs256(&claims_with(&[
        ("exp", json!(now - 600)),
        ("iat", json!(now - 4200)),
    ]));
    let r = ng.send(&Request::get("/").cookies(&session(&expired)));
    assert_401(&ng, &r, "expired", "expired session");
    let r = ng.send(&Request::get("/").bearer(&expired));
    assert_401(&ng, &r, "expired", "expired bearer");
}

#[test]
fn expiry_within_the_leeway_is_accepted() {
    let ng = site("");
    let token = hs256(&claims_with(&[("exp", json!(now() - 10))]));
    let r = ng.send(&Request::get("/").cookies(&session(&token)));
    assert_eq!(
        r.status,
        200,
        "10 s past exp is within the 60 s leeway: {}",
        r.text()
    );
    assert_eq!(r.authentik_status(), "ok");
}

#[test]
fn not_yet_valid_tokens_are_rejected() {
    let ng = site("");
    let now = now();
    for (what, claims) in [
        (
            "nbf in the future",
            claims_with(&[("nbf", json!(now + 600))]),
        ),
        (
            "iat in the future",
            claims_with(&[("iat", json!(now + 600))]),
        ),
    ] {
        let r = ng.send(&Request::get("/").cookies(&session(&hs256(&claims))));
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_ne!(r.authentik_status(), "ok", "{what}");
    }
    assert_eq!(ng.upstream_count(), 0);
}

#[test]
fn tampered_or_garbage_cookies_get_401_invalid() {
    let ng = site("");
    let name = default_cookie_name(CLIENT_ID);
    let good = session(&token());
    assert_eq!(good.len(), 1, "a default token fits one cookie");
    let sealed = &good[0].1;
    let wrong_iss = hs256(&claims_with(&[(
        "iss",
        json!("https://authentik.company/application/o/other/"),
    )]));
    let no_slash = hs256(&claims_with(&[(
        "iss",
        json!("https://authentik.company/application/o/app"),
    )]));
    let wrong_aud = hs256(&claims_with(&[("aud", json!("another-client"))]));
    let no_exp = hs256(&claims_with(&[("exp", Value::Null)]));
    // Values that are well-formed single cookies: status `invalid`.
    let cases: Vec<(&str, String)> = vec![
        ("flipped byte", tamper_value(sealed)),
        ("truncated", sealed[..sealed.len() - 5].to_string()),
        ("garbage", "garbage".into()),
        ("long garbage", "A".repeat(6000)),
        ("percent garbage", "%00%ff%0d%0a".into()),
        (
            "other cookie secret",
            seal_for(
                b"another-cookie-secret-that-is-long-enough!!",
                &name,
                &token(),
            )[0]
            .1
            .clone(),
        ),
        (
            "sealed for another cookie name",
            seal_for(
                COOKIE_SECRET.as_bytes(),
                "authentik_nginx_00000000",
                &token(),
            )[0]
            .1
            .clone(),
        ),
        (
            "wrong signing secret",
            session(&hs256_with(&claims(), b"not-the-client-secret"))[0]
                .1
                .clone(),
        ),
        ("alg none", session(&alg_none(&claims()))[0].1.clone()),
        (
            "tampered payload",
            session(&tamper_payload(&token(), |c| {
                c["preferred_username"] = json!("root")
            }))[0]
                .1
                .clone(),
        ),
        ("wrong issuer", session(&wrong_iss)[0].1.clone()),
        (
            "issuer without trailing slash",
            session(&no_slash)[0].1.clone(),
        ),
        ("wrong audience", session(&wrong_aud)[0].1.clone()),
        ("no exp", session(&no_exp)[0].1.clone()),
        ("not a jwt", session("not.a.jwt")[0].1.clone()),
    ];
    for (what, value) in cases {
        let r = ng.send(&Request::get("/").header("Cookie", format!("{name}={value}")));
        assert_401(&ng, &r, "invalid", what);
    }
    // Values that look like broken chunk sequences, or nothing at all: never a session
    // (the status may say missing or invalid), never 200 or 5xx.
    for (what, value) in [
        ("empty", String::new()),
        ("bad chunk count", "99.abc".to_string()),
        ("zero chunk count", "0.abc".to_string()),
        ("chunk without its parts", format!("2.{sealed}")),
        ("raw unsealed jwt", token()),
    ] {
        let r = ng.send(&Request::get("/").header("Cookie", format!("{name}={value}")));
        assert_401(&ng, &r, "", what);
        assert_ne!(r.authentik_status(), "ok", "{what}");
    }
}

#[test]
fn audience_list_containing_the_client_is_accepted() {
    let ng = site("");
    let token = hs256(&claims_with(&[("aud", json!(["other", CLIENT_ID]))]));
    let r = ng.send(&Request::get("/").cookies(&session(&token)));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn bad_bearer_tokens_get_401_invalid() {
    let ng = site("");
    for (what, tok) in [
        ("garbage", "garbage".to_string()),
        ("wrong secret", hs256_with(&claims(), b"wrong")),
        ("alg none", alg_none(&claims())),
        (
            "tampered",
            tamper_payload(&token(), |c| c["groups"] = json!(["authentik Admins"])),
        ),
    ] {
        let r = ng.send(&Request::get("/").bearer(&tok));
        assert_401(&ng, &r, "invalid", what);
    }
}

#[test]
fn require_group_gives_403_to_non_members_and_200_to_members() {
    let ng = site("");
    let member = session(&token());
    let outsider = session(&hs256(&claims_with(&[
        ("preferred_username", json!("jdoe")),
        ("groups", json!(["users"])),
    ])));
    let no_groups = session(&hs256(&claims_with(&[("groups", Value::Null)])));

    let r = ng.send(&Request::get("/admin/").cookies(&member));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "ok");
    assert_eq!(r.upstream().one("X-authentik-username"), "akadmin");
    let r = ng.send(&Request::get("/multi/").cookies(&member));
    assert_eq!(r.status, 200, "member of one of the groups: {}", r.text());
    let before = ng.upstream_count();

    for (what, cookies) in [("outsider", &outsider), ("no groups", &no_groups)] {
        for req in [
            Request::get("/admin/").cookies(cookies),
            Request::get("/multi/").cookies(cookies),
            // Never a redirect, even for a browser navigation.
            Request::get("/admin/")
                .cookies(cookies)
                .header("Accept", "text/html")
                .header("Sec-Fetch-Mode", "navigate"),
        ] {
            let r = ng.send(&req);
            assert_eq!(r.status, 403, "{what}: {}", r.text());
            assert_eq!(r.authentik_status(), "forbidden", "{what}");
            assert!(r.header("Location").is_none());
        }
    }
    assert_eq!(ng.upstream_count(), before, "a 403 reached the upstream");
    // The outsider is still a valid user where no group is required.
    let r = ng.send(&Request::get("/").cookies(&outsider));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-username"), "jdoe");
}

#[test]
fn require_group_matches_whole_names() {
    let ng = site("");
    for groups in [
        json!(["authentik"]),
        json!(["authentik Admins2"]),
        json!(["authentik admins"]),
        json!("authentik Admins|users"),
    ] {
        let c = session(&hs256(&claims_with(&[("groups", groups.clone())])));
        let r = ng.send(&Request::get("/admin/").cookies(&c));
        assert_ne!(r.status, 200, "groups {groups} passed the group check");
        assert!(r.status == 403 || r.status == 401, "{groups}: {}", r.status);
    }
}

#[test]
fn require_values_must_be_non_empty_and_not_zero() {
    let ng = site("");
    let with = |changes: &[(&str, Value)]| session(&hs256(&claims_with(changes)));
    for (what, cookies, path, expect) in [
        ("is_admin 1", with(&[("is_admin", json!(1))]), "/flag/", 200),
        (
            "is_admin \"yes\"",
            with(&[("is_admin", json!("yes"))]),
            "/flag/",
            200,
        ),
        ("is_admin 0", with(&[("is_admin", json!(0))]), "/flag/", 403),
        (
            "is_admin \"0\"",
            with(&[("is_admin", json!("0"))]),
            "/flag/",
            403,
        ),
        (
            "is_admin \"\"",
            with(&[("is_admin", json!(""))]),
            "/flag/",
            403,
        ),
        ("no is_admin", with(&[]), "/flag/", 403),
        ("both set", with(&[("is_admin", json!(1))]), "/both/", 200),
        (
            "no email",
            with(&[("is_admin", json!(1)), ("email", Value::Null)]),
            "/both/",
            403,
        ),
    ] {
        let r = ng.send(&Request::get(path).cookies(&cookies));
        assert_eq!(r.status, expect, "{what}: {}", r.text());
        let status = if expect == 200 { "ok" } else { "forbidden" };
        assert_eq!(r.authentik_status(), status, "{what}");
    }
}

#[test]
fn oversized_and_deeply_nested_tokens_are_rejected() {
    // docs/architecture.md §7: a token over 64 KB or JSON nested deeper than 32 levels is rejected before
    // parsing, as a verdict (401), never a crash or a 5xx.
    let http = provider("app", "")
        + &server(
            r#"
    large_client_header_buffers 4 256k;
    authentik app;
    location / { @PROXY@ }
"#,
        );
    let ng = Conf::new(http).start();
    let nested = |depth: usize| {
        let mut v = json!("bottom");
        for _ in 0..depth {
            v = json!([v]);
        }
        v
    };

    let shallow = hs256(&claims_with(&[("deep", nested(8))]));
    let r = ng.send(&Request::get("/").bearer(&shallow));
    assert_eq!(r.status, 200, "8 levels of nesting: {}", r.text());

    let deep = hs256(&claims_with(&[("deep", nested(40))]));
    let r = ng.send(&Request::get("/").bearer(&deep));
    assert_eq!(r.status, 401, "40 levels of nesting: {}", r.text());
    assert_eq!(r.authentik_status(), "invalid");

    let mut big = claims();
    big["ak_proxy"]["user_attributes"]["padding"] = json!("p".repeat(70 * 1024));
    let big = hs256(&big);
    assert!(big.len() > 64 * 1024);
    let r = ng.send(&Request::get("/").bearer(&big));
    assert_eq!(r.status, 401, "a {} byte token: {}", big.len(), r.text());
    assert_eq!(r.authentik_status(), "invalid");
    assert_eq!(ng.upstream_count(), 1);
}
