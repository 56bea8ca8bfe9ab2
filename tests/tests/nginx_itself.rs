//! What nginx itself does around the module, each with the safe configuration SECURITY.md
//! gives for it (issue "Hostile-client findings, part 2" item 8). These are nginx's
//! behaviours, not the module's: the tests pin them so that SECURITY.md stays true.
//! (nginx quoting a repeated `Authorization` header at `info` is in hostile_headers.rs.)

use authentik_integration::*;

/// A public page whose content includes a protected location through SSI.
const PAGE: &str = "before <!--# include virtual=\"/protected/included\" --> after\n";

#[test]
fn ssi_includes_skip_the_access_phase() {
    let http = provider("app", "")
        + &server(
            r#"
    root @PREFIX@/html;
    location /ssi/ { authentik off; ssi on; }
    location /plain/ { authentik off; }
    location /protected/ { authentik app; @PROXY@ }
"#,
        );
    let ng = Conf::new(http)
        .file("html/ssi/index.html", PAGE)
        .file("html/plain/index.html", PAGE)
        .start();
    // Subrequests skip the access phase (as for auth_basic and auth_request): the include
    // reaches the protected upstream for an anonymous user.
    let r = ng.get("/ssi/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().starts_with("before "), "{}", r.text());
    assert!(!r.text().contains("<!--#"), "SSI ran: {}", r.text());
    assert_eq!(ng.upstream_count(), 1, "the include reached the upstream");
    // Safe: ssi off (nginx's default) where pages are not wholly trusted.
    let r = ng.get("/plain/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("<!--# include"));
    assert_eq!(ng.get("/protected/included").status, 401);
    assert_eq!(ng.upstream_count(), 1);
}

#[test]
fn mirror_subrequests_skip_the_access_phase() {
    let http = provider("app", "")
        + &server(
            r#"
    location /public/ { authentik off; mirror /_mirror_protected; @PROXY@ }
    location = /_mirror_protected { internal; authentik app; proxy_pass http://@ECHO@/mirrored; }
    location /shadow/ { authentik app; mirror /_mirror_plain; @PROXY@ }
    location = /_mirror_plain { internal; authentik off; proxy_pass http://@ECHO@/mirrored; }
"#,
        );
    let ng = Conf::new(http).start();
    let r = ng.get("/public/x");
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for(|| ng.upstream_count() == 2, "the mirror request");
    // Safe: mirror only from protected locations, so the mirror gets what already passed.
    let r = ng.get("/shadow/x");
    assert_eq!(r.status, 401, "{}", r.text());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(ng.upstream_count(), 2, "an anonymous request was mirrored");
    let r = ng.send(&Request::get("/shadow/x").cookies(&session(&token())));
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for(
        || ng.upstream_count() == 4,
        "the authenticated request and its mirror",
    );
}

fn wait_for(done: impl Fn() -> bool, what: &str) {
    for _ in 0..100 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

fn domain_site(skip: &str) -> Nginx {
    let http = provider(
        "dom",
        &format!("mode domain; cookie_domain localhost; skip_path \"{skip}\";"),
    )
    .replace(
        &format!("external_host {EXTERNAL_HOST};"),
        "external_host http://auth.localhost;",
    ) + &server("authentik dom; location / { @PROXY@ }");
    Conf::new(http).start()
}

#[test]
fn in_domain_mode_an_unanchored_skip_path_also_matches_the_query_string() {
    // Domain mode matches `scheme://host/path?query`, as authentik does.
    let ng = domain_site("/public/");
    let r = ng.get("/admin/?next=/public/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "skipped");
    assert_eq!(r.upstream().uri, "/admin/?next=/public/");
    // Safe: anchor the pattern to the start of the path.
    let ng = domain_site("^https?://[^/?#]+/public/");
    let r = ng.get("/admin/?next=/public/");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(ng.get("/public/x?next=/admin/").status, 200);
}

#[test]
fn skipped_paths_reach_the_upstream_as_the_client_wrote_them() {
    // A Java servlet container strips `;…` path parameters before routing: to it this is
    // /admin, and an unanchored suffix pattern made it public.
    let http =
        provider("app", r"skip_path \.css$;") + &server("authentik app; location / { @PROXY@ }");
    let ng = Conf::new(http).start();
    let r = ng.get("/admin;.css");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "skipped");
    assert_eq!(r.upstream().uri, "/admin;.css");
    // `..;` (Tomcat reads `/public/..;/admin/` as /admin/) has a dot segment: never skipped.
    assert_eq!(ng.get("/x/..;/y.css").status, 401);
    // Safe: a prefix-anchored pattern.
    let http =
        provider("app", "skip_path ^/static/;") + &server("authentik app; location / { @PROXY@ }");
    let ng = Conf::new(http).start();
    assert_eq!(ng.get("/admin;.css").status, 401);
    assert_eq!(ng.get("/static/..;/admin").status, 401);
    assert_eq!(ng.get("/static/app.css").status, 200);
}
