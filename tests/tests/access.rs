//! Where protection applies: skip_path, `authentik off`, inheritance and overrides
//! (docs/architecture.md §2, §5 step 5).

use authentik_integration::*;

#[test]
fn skip_path_lets_anonymous_requests_through_without_identity() {
    let http =
        provider("app", "skip_path ^/public/;") + &server("authentik app; location / { @PROXY@ }");
    let ng = Conf::new(http).start();

    let r = ng.get("/public/logo.png");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "skipped");
    let up = r.upstream();
    assert!(
        up.authentik_headers().is_empty(),
        "{:?}",
        up.authentik_headers()
    );
    assert!(!up.has("X-Foo") && !up.has("Authorization"));

    // The path only (single mode), and the pattern is anchored only by its own `^`.
    for path in [
        "/private",
        "/private?next=/public/x",
        "/app/public/x",
        "/publicity",
    ] {
        let r = ng.get(path);
        assert_eq!(r.status, 401, "{path}: {}", r.text());
        assert_eq!(r.authentik_status(), "missing", "{path}");
    }
    assert_eq!(ng.upstream_count(), 1);
}

#[test]
fn skip_path_still_authenticates_a_valid_session() {
    let http =
        provider("app", "skip_path ^/public/;") + &server("authentik app; location / { @PROXY@ }");
    let ng = Conf::new(http).start();
    let r = ng.send(&Request::get("/public/x").cookies(&session(&token())));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "ok");
    assert_eq!(r.upstream().one("X-authentik-username"), "akadmin");
}

#[test]
fn skip_path_is_unanchored_and_repeatable() {
    let http = provider("app", "skip_path /assets/; skip_path \\.css$;")
        + &server("authentik app; location / { @PROXY@ }");
    let ng = Conf::new(http).start();
    for path in ["/assets/a.js", "/app/assets/b.js", "/theme/site.css"] {
        let r = ng.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.authentik_status(), "skipped", "{path}");
    }
    for path in ["/", "/site.css.map", "/asset/x"] {
        let r = ng.get(path);
        assert_eq!(r.status, 401, "{path}: {}", r.text());
    }
}

/// authentik's patterns are Python regular expressions; look-around is common
/// (core/tests/skip_path_python.rs checks the syntax against Python itself).
#[test]
fn skip_path_takes_python_look_ahead_and_look_behind() {
    let http = provider(
        "app",
        r#"skip_path "^/(?!api/|admin)"; skip_path "(?<!/private)/feed\Z";"#,
    ) + &server("authentik app; location / { @PROXY@ }");
    let ng = Conf::new(http).start();
    for path in ["/", "/docs/x", "/apix", "/api/public/feed"] {
        let r = ng.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.authentik_status(), "skipped", "{path}");
        assert!(r.upstream().authentik_headers().is_empty(), "{path}");
    }
    let before = ng.upstream_count();
    for path in [
        "/api/x",
        "/admin",
        "/administration/x",
        "/api/x/private/feed",
    ] {
        let r = ng.get(path);
        assert_eq!(r.status, 401, "{path}: {}", r.text());
    }
    assert_eq!(
        ng.upstream_count(),
        before,
        "a protected path reached the upstream"
    );
}

#[test]
fn empty_skip_path_patterns_are_ignored() {
    // An empty regex would match everything; authentik ignores empty patterns.
    let http =
        provider("app", "skip_path \"\";") + &server("authentik app; location / { @PROXY@ }");
    let ng = Conf::new(http).start();
    let r = ng.get("/anything");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(ng.upstream_count(), 0);
}

#[test]
fn authentik_off_location_lets_anonymous_requests_through() {
    let http = provider("app", "")
        + &server(
            r#"
    authentik app;
    location / { @PROXY@ }
    location /health { authentik off; @PROXY@ }
"#,
        );
    let ng = Conf::new(http).start();
    let r = ng.get("/health");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.upstream().authentik_headers().is_empty());
    let r = ng.get("/");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(ng.upstream_count(), 1);
}

#[test]
fn http_level_authentik_is_inherited_by_servers_and_locations() {
    let http = provider("app", "")
        + "authentik app;\n"
        + &server(
            r#"
    location / { @PROXY@ }
    location /nested/ { location /nested/deeper/ { @PROXY@ } @PROXY@ }
    location /open/ { authentik off; @PROXY@ }
"#,
        );
    let ng = Conf::new(http).start();
    for path in ["/", "/x", "/nested/", "/nested/deeper/y"] {
        let r = ng.get(path);
        assert_eq!(r.status, 401, "{path}: {}", r.text());
        let r = ng.send(&Request::get(path).cookies(&session(&token())));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.upstream().one("X-authentik-username"), "akadmin");
    }
    assert_eq!(ng.get("/open/x").status, 200);
}

#[test]
fn server_level_authentik_applies_to_locations_and_can_be_overridden() {
    let http = provider("app", "")
        + &provider("app2", "cookie_name app2-session;")
        + &server(
            r#"
    authentik app;
    location / { @PROXY@ }
    location /two/ { authentik app2; @PROXY@ }
    location /off/ { authentik off; @PROXY@ }
"#,
        )
        + "server { listen 127.0.0.1:@PORT@; server_name unprotected; location / { @PROXY@ } }\n";
    let ng = Conf::new(http).start();
    let app_cookie = session(&token());
    let app2_cookie = seal_for(COOKIE_SECRET.as_bytes(), "app2-session", &token());

    assert_eq!(ng.get("/").status, 401);
    assert_eq!(ng.send(&Request::get("/").cookies(&app_cookie)).status, 200);
    assert_eq!(
        ng.send(&Request::get("/").cookies(&app2_cookie)).status,
        401
    );

    // The location's provider wins: its cookie name, its meta values.
    assert_eq!(
        ng.send(&Request::get("/two/").cookies(&app_cookie)).status,
        401
    );
    let r = ng.send(&Request::get("/two/").cookies(&app2_cookie));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-meta-provider"), "app2");

    assert_eq!(ng.get("/off/").status, 200);
    // Another server without `authentik` is not protected.
    let r = ng.send(&Request::get("/").header("Host", "unprotected"));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn location_level_authentik_protects_only_that_location() {
    let http = provider("app", "")
        + &server(
            r#"
    location / { @PROXY@ }
    location /secure/ { authentik app; @PROXY@ }
"#,
        );
    let ng = Conf::new(http).start();
    assert_eq!(ng.get("/").status, 200);
    assert_eq!(ng.get("/secure/x").status, 401);
    let r = ng.send(&Request::get("/secure/x").cookies(&session(&token())));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-username"), "akadmin");
}

#[test]
fn require_group_is_inherited_and_overridable() {
    let http = provider("app", "")
        + &server(
            r#"
    authentik app;
    authentik_require_group "authentik Admins";
    location / { @PROXY@ }
    location /users/ { authentik_require_group users; @PROXY@ }
"#,
        );
    let ng = Conf::new(http).start();
    let outsider = session(&hs256(&claims_with(&[(
        "groups",
        serde_json::json!(["users"]),
    )])));
    assert_eq!(ng.send(&Request::get("/").cookies(&outsider)).status, 403);
    assert_eq!(
        ng.send(&Request::get("/users/").cookies(&outsider)).status,
        200
    );
    assert_eq!(
        ng.send(&Request::get("/").cookies(&session(&token())))
            .status,
        200
    );
}

#[test]
fn explicit_cookie_name_is_used() {
    // Underscores are token characters: authentik's own names have them.
    let http = provider("app", "cookie_name app_session;")
        + &server("authentik app; location / { @PROXY@ }");
    let ng = Conf::new(http).start();
    let named = seal_for(COOKIE_SECRET.as_bytes(), "app_session", &token());
    let r = ng.send(&Request::get("/").cookies(&named));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-username"), "akadmin");
    // The default name is not read when another is configured.
    let r = ng.send(&Request::get("/").cookies(&session(&token())));
    assert_eq!(r.status, 401, "{}", r.text());
}
