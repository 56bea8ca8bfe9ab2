//! Client-sent X-authentik-* headers and their underscore variants never reach the upstream
//! where `authentik` is set, to a provider or to `off` (docs/architecture.md §3, §5 step 1).

use authentik_integration::*;

const SPOOFS: &[(&str, &str)] = &[
    ("X-authentik-username", "evil"),
    ("X_authentik_username", "evil"),
    ("x-AUTHENTIK-groups", "evil"),
    ("X_Authentik_Groups", "evil"),
    ("X-authentik-email", "evil@evil"),
    ("X-authentik-uid", "evil"),
    ("X-authentik-jwt", "evil"),
    ("X-authentik-meta-app", "evil"),
    ("X_authentik_meta_provider", "evil"),
    ("X-Authentik-Something-Else", "evil"),
];

fn site() -> Nginx {
    let http = provider("app", "skip_path ^/public/;")
        + &server(
            r#"
    underscores_in_headers on;
    authentik app;
    location / { @PROXY@ }
    location /health { authentik off; @PROXY@ }
    location /raw/ { authentik_set_headers off; @PROXY@ }
"#,
        );
    Conf::new(http).start()
}

fn spoofed(path: &str) -> Request {
    SPOOFS
        .iter()
        .fold(Request::get(path), |r, (n, v)| r.header(n, v))
}

fn assert_no_spoof(up: &Seen) {
    let leaked: Vec<_> = up
        .authentik_headers()
        .into_iter()
        .filter(|(n, v)| v.starts_with("evil") || n.contains('_'))
        .collect();
    assert!(leaked.is_empty(), "client headers leaked: {leaked:?}");
}

#[test]
fn control_underscore_headers_reach_the_upstream_when_enabled() {
    // Makes the other tests meaningful: with underscores_in_headers on, nginx passes
    // underscore headers on, so only the module can remove X_authentik_*.
    let ng = site();
    let r = ng.send(&Request::get("/health").header("X_Other_Header", "kept"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X_Other_Header"), "kept");
}

#[test]
fn spoofed_headers_are_replaced_for_a_valid_session() {
    let ng = site();
    let r = ng.send(&spoofed("/").cookies(&session(&token())));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert_no_spoof(&up);
    assert_eq!(up.one("X-authentik-username"), "akadmin");
    assert_eq!(up.one("X-authentik-groups"), "authentik Admins|users");
    assert_eq!(up.one("X-authentik-meta-app"), "app");
    assert_eq!(up.one("X-authentik-meta-provider"), "app");
    assert!(!up.has("X-Authentik-Something-Else"));
}

#[test]
fn spoofed_headers_are_removed_on_a_skip_path() {
    let ng = site();
    let r = ng.send(&spoofed("/public/index.html"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "skipped");
    let up = r.upstream();
    assert!(
        up.authentik_headers().is_empty(),
        "{:?}",
        up.authentik_headers()
    );
}

#[test]
fn spoofed_headers_are_removed_where_authentik_is_off() {
    let ng = site();
    for req in [
        spoofed("/health"),
        spoofed("/health").cookies(&session(&token())),
    ] {
        let r = ng.send(&req);
        assert_eq!(r.status, 200, "{}", r.text());
        let up = r.upstream();
        assert!(
            up.authentik_headers().is_empty(),
            "{:?}",
            up.authentik_headers()
        );
    }
}

#[test]
fn spoofed_headers_are_removed_with_set_headers_off() {
    let ng = site();
    let r = ng.send(&spoofed("/raw/x").cookies(&session(&token())));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert!(
        up.authentik_headers().is_empty(),
        "{:?}",
        up.authentik_headers()
    );
}

#[test]
fn spoofed_headers_never_authenticate() {
    let ng = site();
    let r = ng.send(&spoofed("/"));
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(ng.upstream_count(), 0);
}
