//! Headers the module added in one location are taken out before the next location decides,
//! after an internal redirect (`X-Accel-Redirect`, `error_page`, `try_files`, `index`)
//! (docs/architecture.md §3, §10; issue "Hostile-client findings, part 2" item 5).
//!
//! * An `authentik off` location reached by an internal redirect never receives the Basic
//!   header, `additionalHeaders` or `X-authentik-*` of the location before it.
//! * A bearer-token user with Basic configured stays authenticated after an internal redirect
//!   into another protected location (the Basic header had replaced `Authorization`).
//! * An `additionalHeaders` `Cookie` entry is refused, and the user's own `Cookie` survives
//!   the redirect.

use authentik_integration::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

const BASIC: &str =
    "basic_auth_user_attribute basic_user; basic_auth_password_attribute basic_password;";

/// The server under test, and a second server on the same port (`accel.test`) that answers
/// every request with `X-Accel-Redirect: <the to argument>`, as an application would.
fn site() -> Nginx {
    let http = provider("app", BASIC)
        + &server(
            r#"
    authentik app;
    root @PREFIX@/html;
    location / { @PROXY@ }
    location /accel/ {
        proxy_pass http://127.0.0.1:@PORT@;
        proxy_set_header Host accel.test;
    }
    location /missing/ { error_page 404 = /public-internal/error-page; }
    location /tried/ { try_files $uri /public-internal/try-files; }
    location /tried-protected/ { try_files $uri /protected/try-files; }
    location /missing-protected/ { error_page 404 = /protected/error-page; }
    location /indexed/ { index /protected/index; }
    location /public-internal/ { internal; authentik off; @PROXY@ }
    location /protected-internal/ { internal; @PROXY@ }
    location /protected/ { @PROXY@ }
    location /quiet/ { authentik_set_headers off; @PROXY@ }
    location /tried-quiet/ { try_files $uri /quiet/try-files; }
"#,
        )
        + r#"
server {
    listen 127.0.0.1:@PORT@;
    server_name accel.test;
    location / { add_header X-Accel-Redirect $arg_to; return 200 "accel\n"; }
}
"#;
    // The index module redirects /indexed/ to /protected/index without looking for a file
    // (an absolute last index); /indexed/ itself must exist as a directory.
    Conf::new(http).file("html/indexed/.keep", "").start()
}

fn basic() -> String {
    format!("Basic {}", STANDARD.encode("akadmin:s3cret"))
}

/// Nothing the module adds for an identity: no Basic header, no additionalHeaders, no
/// identity headers.
fn assert_nothing_injected(up: &Seen, what: &str) {
    assert!(
        up.authentik_headers().is_empty(),
        "{what}: {:?}",
        up.authentik_headers()
    );
    for name in ["X-Foo", "X-Team"] {
        assert!(!up.has(name), "{what}: additionalHeaders {name} leaked");
    }
    assert!(
        up.all("Authorization").iter().all(|v| *v != basic()),
        "{what}: the Basic password header leaked: {:?}",
        up.all("Authorization")
    );
}

fn assert_identity_once(up: &Seen, what: &str) {
    assert_eq!(up.one("X-authentik-username"), "akadmin", "{what}");
    assert_eq!(
        up.authentik_headers().len(),
        12,
        "{what}: {:?}",
        up.authentik_headers()
    );
    assert_eq!(up.one("X-Foo"), "bar", "{what}");
    assert_eq!(up.one("Authorization"), basic(), "{what}");
}

#[test]
fn an_authentik_off_location_after_an_internal_redirect_receives_nothing_injected() {
    let ng = site();
    let cookies = session(&token());
    for (what, target, uri) in [
        (
            "X-Accel-Redirect",
            "/accel/x?to=/public-internal/accel",
            "/public-internal/accel",
        ),
        ("error_page", "/missing/x", "/public-internal/error-page"),
        ("try_files", "/tried/x", "/public-internal/try-files"),
    ] {
        for (how, req) in [
            ("session", Request::get(target).cookies(&cookies)),
            ("bearer", Request::get(target).bearer(&token())),
        ] {
            let r = ng.send(&req);
            assert_eq!(r.status, 200, "{what} ({how}): {}", r.text());
            let up = r.upstream();
            assert_eq!(up.uri.split('?').next(), Some(uri), "{what} ({how})");
            assert_nothing_injected(&up, &format!("{what} ({how})"));
        }
    }
}

#[test]
fn the_first_location_did_inject_before_the_redirect() {
    // Makes the test above meaningful: the location before the redirect is protected and
    // injects, so the headers were in the request when it was redirected.
    let ng = site();
    let r = ng.send(&Request::get("/somewhere").cookies(&session(&token())));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_identity_once(&r.upstream(), "location /");
}

#[test]
fn a_bearer_user_with_basic_configured_stays_authenticated_after_an_internal_redirect() {
    let ng = site();
    let jwt = token();
    for (what, target, uri) in [
        (
            "X-Accel-Redirect",
            "/accel/x?to=/protected-internal/accel",
            "/protected-internal/accel",
        ),
        (
            "error_page",
            "/missing-protected/x",
            "/protected/error-page",
        ),
        ("try_files", "/tried-protected/x", "/protected/try-files"),
        ("index", "/indexed/", "/protected/index"),
    ] {
        let r = ng.send(&Request::get(target).bearer(&jwt));
        assert_eq!(r.status, 200, "{what}: {} {}", r.status, r.text());
        assert_eq!(r.authentik_status(), "ok", "{what}");
        let up = r.upstream();
        assert_eq!(up.uri.split('?').next(), Some(uri), "{what}");
        assert_identity_once(&up, what);
        // The session-cookie user too.
        let r = ng.send(&Request::get(target).cookies(&session(&jwt)));
        assert_eq!(r.status, 200, "{what} (session): {}", r.text());
        assert_identity_once(&r.upstream(), &format!("{what} (session)"));
    }
}

#[test]
fn each_location_derives_its_own_injection_after_an_internal_redirect() {
    // From a location that injects into one with authentik_set_headers off: nothing of the
    // first location's headers is left.
    let ng = site();
    for req in [
        Request::get("/tried-quiet/x").cookies(&session(&token())),
        Request::get("/tried-quiet/x").bearer(&token()),
    ] {
        let r = ng.send(&req);
        assert_eq!(r.status, 200, "{}", r.text());
        let up = r.upstream();
        assert_eq!(up.uri, "/quiet/try-files");
        assert_nothing_injected(&up, "set_headers off after try_files");
    }
}

#[test]
fn a_cookie_from_additional_headers_is_refused_and_the_users_cookie_survives_a_redirect() {
    let ng = site();
    let mut claims = claims();
    claims["ak_proxy"]["user_attributes"]["additionalHeaders"] = json!({
        "Cookie": "evil=from-the-token",
        "X-Foo": "bar",
    });
    let jwt = hs256(&claims);
    let mut cookies = session(&jwt);
    cookies.push(("theme".into(), "dark".into()));
    let header = cookie_header(&cookies);
    for target in [
        "/tried-protected/x",
        "/missing-protected/x",
        "/accel/x?to=/protected-internal/accel",
        "/tried/x",
    ] {
        let r = ng.send(&Request::get(target).cookies(&cookies));
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        let up = r.upstream();
        assert_eq!(up.all("Cookie"), vec![header.as_str()], "{target}");
        if !target.starts_with("/tried/") {
            assert_eq!(up.one("X-authentik-username"), "akadmin", "{target}");
            assert_eq!(r.authentik_status(), "ok", "{target}");
        }
    }
    assert!(
        ng.error_log()
            .contains("additionalHeaders not set upstream: Cookie"),
        "{}",
        ng.error_log()
    );
}

#[test]
fn internal_locations_are_still_protected_for_anonymous_requests() {
    let ng = site();
    for target in [
        "/accel/x?to=/protected-internal/accel",
        "/tried-protected/x",
        "/missing-protected/x",
    ] {
        let r = ng.get(target);
        assert_eq!(r.status, 401, "{target}: {}", r.text());
    }
    assert_eq!(ng.upstream_count(), 0);
}
