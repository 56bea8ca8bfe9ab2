//! Configuration mistakes fail `nginx -t` with the reason and ` in <file>:<line>`
//! (docs/architecture.md §2); a complete valid configuration passes.

use authentik_integration::*;

/// The standard provider with `from` replaced by `to` (`to` may hold several settings).
fn provider_replacing(from: &str, to: &str) -> String {
    let p = provider("app", "");
    assert!(p.contains(from), "{from:?} not in the provider block");
    p.replace(from, to)
}

fn with_site(provider_block: String) -> String {
    provider_block + &server("authentik app; location / { @PROXY@ }")
}

#[test]
fn unknown_provider_name() {
    let t = nginx_t(&(provider("app", "") + &server("authentik nosuch;\nlocation / { @PROXY@ }")));
    t.assert_error_at(
        r#"unknown authentik_provider "nosuch""#,
        "authentik nosuch;",
    );

    let t = nginx_t(
        &(provider("app", "")
            + &server("location / { @PROXY@ }\nlocation /x/ {\nauthentik missing_one;\n@PROXY@ }")),
    );
    t.assert_error_at(
        r#"unknown authentik_provider "missing_one""#,
        "authentik missing_one;",
    );
}

#[test]
fn cookie_secret_shorter_than_32_bytes() {
    let short = "0123456789abcdef0123456789abcde"; // 31 bytes
    let t = nginx_t(&with_site(provider_replacing(
        &format!("cookie_secret {COOKIE_SECRET};"),
        &format!("cookie_secret {short};"),
    )));
    t.assert_error_at(
        "cookie_secret must be at least 32 bytes",
        &format!("cookie_secret {short};"),
    );

    let t = Conf::new(with_site(provider_replacing(
        &format!("cookie_secret {COOKIE_SECRET};"),
        "cookie_secret_file @PREFIX@/cookie.secret;",
    )))
    .file("cookie.secret", short)
    .test();
    t.assert_error_at(
        "cookie_secret must be at least 32 bytes",
        "cookie_secret_file",
    );
}

#[test]
fn unreadable_files() {
    for (setting, directive) in [
        (
            format!("client_secret {CLIENT_SECRET};"),
            "client_secret_file",
        ),
        (
            format!("cookie_secret {COOKIE_SECRET};"),
            "cookie_secret_file",
        ),
        (format!("external_host {EXTERNAL_HOST};"), "jwks_file"),
    ] {
        let missing = format!("/nonexistent-authentik-test/{directive}.txt");
        let mut replacement = format!("{directive} {missing};");
        if directive == "jwks_file" {
            replacement = format!("{setting}\n{replacement}");
        }
        let t = nginx_t(&with_site(provider_replacing(&setting, &replacement)));
        t.assert_error_at("cannot read", &format!("{directive} {missing};"));
        assert!(
            t.stderr.contains(&missing),
            "stderr does not name {missing}:\n{}",
            t.stderr
        );
    }
}

#[test]
fn invalid_skip_path_regex() {
    let t = nginx_t(&with_site(provider("app", r#"skip_path "^/(unclosed";"#)));
    t.assert_error_at("invalid skip_path regex", "skip_path \"^/(unclosed\";");
}

#[test]
fn domain_mode_without_cookie_domain() {
    let t = nginx_t(&with_site(provider("app", "mode domain;")));
    t.assert_error("mode domain requires cookie_domain");
}

#[test]
fn invalid_jwks_file() {
    for (what, contents) in [
        ("not json", "this is not json"),
        ("no keys", r#"{"keys": "nope"}"#),
        (
            "broken RSA key",
            r#"{"keys":[{"kty":"RSA","alg":"RS256","kid":"k","n":"!!!","e":"AQAB"}]}"#,
        ),
    ] {
        let t = Conf::new(with_site(provider("app", "jwks_file @PREFIX@/app.jwks;")))
            .file("app.jwks", contents)
            .test();
        assert!(!t.success, "{what}: nginx -t passed");
        t.assert_error_at("invalid jwks_file", "jwks_file");
    }
}

#[test]
fn algorithm_none_is_never_allowed() {
    for line in ["algorithms none;", "algorithms HS256 none;"] {
        let t = nginx_t(&with_site(provider("app", line)));
        t.assert_error_at(r#""none" is never allowed"#, line);
    }
}

#[test]
fn missing_required_settings_fail() {
    for setting in [
        format!("issuer {ISSUER};"),
        format!("client_id {CLIENT_ID};"),
        format!("client_secret {CLIENT_SECRET};"),
        format!("cookie_secret {COOKIE_SECRET};"),
        format!("external_host {EXTERNAL_HOST};"),
    ] {
        let t = nginx_t(&with_site(provider_replacing(&setting, "")));
        assert!(
            !t.success,
            "nginx -t passed without {setting}\n{}",
            t.stderr
        );
        let at = format!(" in {}:", t.conf_path.display());
        assert!(
            t.stderr.contains(&at),
            "without {setting}: no file:line in\n{}",
            t.stderr
        );
    }
}

#[test]
fn misplaced_or_unknown_directives_fail() {
    let t = nginx_t(
        &(provider("app", "")
            + &server("authentik app;\nauthentik_cache 5;\nlocation / { @PROXY@ }")),
    );
    assert!(!t.success, "authentik_cache is http-only:\n{}", t.stderr);
    assert!(t.stderr.contains(&format!(
        " in {}:{}",
        t.conf_path.display(),
        t.line_of("authentik_cache 5;")
    )));

    let t = nginx_t(&with_site(provider("app", "issuerr https://typo/;")));
    assert!(!t.success, "unknown provider setting passed:\n{}", t.stderr);
    assert!(t.stderr.contains(&format!(
        " in {}:{}",
        t.conf_path.display(),
        t.line_of("issuerr")
    )));

    for bad in ["mode both;", "bearer maybe;", "leeway soon;"] {
        let t = nginx_t(&with_site(provider("app", bad)));
        assert!(!t.success, "{bad} passed:\n{}", t.stderr);
    }
    let t = nginx_t(
        &(provider("app", "")
            + &server(
                "authentik app; authentik_unauthenticated sometimes; location / { @PROXY@ }",
            )),
    );
    assert!(
        !t.success,
        "bad authentik_unauthenticated passed:\n{}",
        t.stderr
    );
}

const FULL: &str = r#"
authentik_cache 100;

authentik_provider app {
    issuer https://authentik.company/application/o/app/;
    client_id vMA9a8ZpHxerNIEzVACsbDMToHVSM9Qle10XqxWl;
    client_secret_file @PREFIX@/secrets/app.secret;
    cookie_secret_file @PREFIX@/secrets/cookie.secret;
    external_host https://app.company;
    mode single;
    cookie_name app_session;
    scopes "openid profile email entitlements ak_proxy";
    token_request /_authentik_token;
    jwks_file @PREFIX@/app.jwks;
    algorithms HS256 RS256 ES256 EdDSA;
    leeway 30s;
    skip_path ^/public/;
    skip_path \.css$;
    bearer off;
    basic_auth_user_attribute basic_user;
    basic_auth_password_attribute basic_password;
    meta_outpost "nginx edge";
    meta_provider "App Provider";
    meta_app app;
}

authentik_provider domain {
    issuer https://authentik.company/application/o/domain/;
    client_id domain-client;
    client_secret "a secret with spaces, long enough for HS256";
    cookie_secret 0123456789abcdef0123456789abcdef;
    external_host https://auth.company;
    mode domain;
    cookie_domain company;
    token_request /_authentik_token;
}

authentik app;
authentik_unauthenticated auto;
authentik_set_headers on;

server {
    listen 127.0.0.1:@PORT@;
    server_name app.company;
    location / { @PROXY@ }
    location /admin/ { authentik_require_group "authentik Admins" admins; @PROXY@ }
    location /api/ {
        authentik_unauthenticated 401;
        authentik_require $authentik_claim_is_admin $authentik_email;
        @PROXY@
    }
    location /login/ { authentik_unauthenticated redirect; @PROXY@ }
    location /health { authentik off; @PROXY@ }
    location /raw/ {
        authentik_set_headers off;
        proxy_set_header X-User $authentik_username;
        proxy_set_header X-Groups $authentik_groups;
        proxy_set_header X-Status $authentik_status;
        proxy_set_header X-Claim $authentik_claim_acr;
        @PROXY@
    }
}

server {
    listen 127.0.0.1:@PORT@;
    server_name *.company;
    authentik domain;
    location / { @PROXY@ }
    location = /_authentik_token { internal; proxy_pass http://127.0.0.1:9/; }
}
"#;

fn full() -> Conf {
    Conf::new(FULL)
        .file("secrets/app.secret", CLIENT_SECRET)
        .file("secrets/cookie.secret", COOKIE_SECRET)
        .file("app.jwks", JWKS)
}

#[test]
fn valid_full_configuration_passes() {
    let t = full().test();
    t.assert_ok();
    assert!(!t.stderr.contains("[emerg]"), "{}", t.stderr);
}

#[test]
fn valid_full_configuration_serves() {
    // The same configuration runs, and its file-based secrets work.
    let ng = full().start();
    let cookies = seal_for(COOKIE_SECRET.as_bytes(), "app_session", &token());
    let r = ng.send(
        &Request::get("/")
            .header("Host", "app.company")
            .cookies(&cookies),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-meta-outpost"), "nginx edge");
    let r = ng.send(&Request::get("/public/x").header("Host", "app.company"));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = ng.send(&Request::get("/api/").header("Host", "app.company"));
    assert_eq!(r.status, 401, "{}", r.text());
}

#[test]
fn token_request_location_snippet_passes() {
    // docs/architecture.md §6: the shipped internal location for the code exchange.
    let http = provider("app", "token_request /_authentik_token;")
        + &server(
            r#"
    authentik app;
    location / { @PROXY@ }
    location = /_authentik_token {
        internal;
        proxy_method POST;
        proxy_pass_request_headers off;
        proxy_set_header Content-Type application/x-www-form-urlencoded;
        proxy_set_header Host authentik.company;
        proxy_set_body $authentik_token_request_body;
        proxy_pass http://@ECHO@/application/o/token/;
    }
"#,
        );
    nginx_t(&http).assert_ok();
}
