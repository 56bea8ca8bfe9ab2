//! Identity headers and variables passed upstream (docs/architecture.md §3; authentik outpost `getHeaders`).

use authentik_integration::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

const SITE: &str = r#"
    authentik app;
    location / { @PROXY@ }
"#;

fn site(provider_extra: &str) -> Nginx {
    Conf::new(provider("app", provider_extra) + &server(SITE)).start()
}

/// The twelve X-authentik-* headers of authentik's outpost, each exactly once, plus the
/// additionalHeaders of the default claims.
fn assert_identity(up: &Seen, jwt: &str, outpost: &str, provider: &str, app: &str) {
    assert_eq!(up.one("X-authentik-username"), "akadmin");
    assert_eq!(up.one("X-authentik-groups"), "authentik Admins|users");
    assert_eq!(up.one("X-authentik-entitlements"), "app-admin|billing");
    assert_eq!(up.one("X-authentik-email"), "admin@authentik.company");
    assert_eq!(up.one("X-authentik-name"), "authentik Default Admin");
    assert_eq!(up.one("X-authentik-uid"), SUB);
    assert_eq!(up.one("X-authentik-jwt"), jwt);
    assert_eq!(up.one("X-authentik-meta-jwks"), META_JWKS);
    assert_eq!(up.one("X-authentik-meta-outpost"), outpost);
    assert_eq!(up.one("X-authentik-meta-provider"), provider);
    assert_eq!(up.one("X-authentik-meta-app"), app);
    let version = up.one("X-authentik-meta-version");
    assert!(
        version.starts_with("ngx_http_authentik_module/") && version.len() > 26,
        "meta-version {version:?}"
    );
    assert_eq!(
        up.authentik_headers().len(),
        12,
        "exactly the twelve X-authentik-* headers: {:#?}",
        up.authentik_headers()
    );
    assert_eq!(up.one("X-Foo"), "bar");
    assert_eq!(up.one("X-Team"), "platform");
}

#[test]
fn session_cookie_passes_identity_upstream() {
    let ng = site("");
    let jwt = token();
    let r = ng.send(&Request::get("/some/page?x=1").cookies(&session(&jwt)));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "ok");
    let up = r.upstream();
    assert_eq!(up.uri, "/some/page?x=1");
    assert_identity(&up, &jwt, "nginx", "app", "app");
    assert!(
        !up.has("Authorization"),
        "no Basic header unless configured: {:?}",
        up.all("Authorization")
    );
    assert_eq!(ng.upstream_count(), 1);
}

#[test]
fn configured_meta_values_are_passed() {
    let ng = site(
        r#"meta_outpost "authentik Embedded Outpost"; meta_provider "App Provider"; meta_app app-slug;"#,
    );
    let jwt = token();
    let r = ng.send(&Request::get("/").cookies(&session(&jwt)));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_identity(
        &r.upstream(),
        &jwt,
        "authentik Embedded Outpost",
        "App Provider",
        "app-slug",
    );
}

#[test]
fn meta_provider_and_app_default_to_the_block_name() {
    let http = provider("billing-portal", "")
        + &server("authentik billing-portal; location / { @PROXY@ }");
    let ng = Conf::new(http).start();
    let jwt = token();
    let r = ng.send(&Request::get("/").cookies(&session(&jwt)));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_identity(
        &r.upstream(),
        &jwt,
        "nginx",
        "billing-portal",
        "billing-portal",
    );
}

#[test]
fn basic_auth_header_from_user_attributes() {
    let ng =
        site("basic_auth_user_attribute basic_user; basic_auth_password_attribute basic_password;");
    let jwt = token();
    let r = ng.send(&Request::get("/").cookies(&session(&jwt)));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert_eq!(
        up.one("Authorization"),
        format!("Basic {}", STANDARD.encode("akadmin:s3cret"))
    );
    assert_identity(&up, &jwt, "nginx", "app", "app");
}

#[test]
fn basic_auth_header_replaces_a_client_authorization_header() {
    // As authentik's outpost does: clear Authorization when injecting Basic; the upstream must not
    // see two Authorization headers.
    let ng =
        site("basic_auth_user_attribute basic_user; basic_auth_password_attribute basic_password;");
    let r = ng.send(
        &Request::get("/")
            .cookies(&session(&token()))
            .header("Authorization", "Basic ZXZpbDpldmls"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream().one("Authorization"),
        format!("Basic {}", STANDARD.encode("akadmin:s3cret"))
    );
}

#[test]
fn no_basic_header_when_the_password_attribute_is_missing() {
    let ng = site(
        "basic_auth_user_attribute basic_user; basic_auth_password_attribute no_such_attribute;",
    );
    let jwt = token();
    let r = ng.send(&Request::get("/").cookies(&session(&jwt)));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert!(!up.has("Authorization"), "{:?}", up.all("Authorization"));
    assert_identity(&up, &jwt, "nginx", "app", "app");
}

#[test]
fn bearer_token_passes_identity_upstream() {
    let ng = site("");
    let jwt = token();
    let r = ng.send(&Request::get("/api/items").bearer(&jwt));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "ok");
    assert_identity(&r.upstream(), &jwt, "nginx", "app", "app");
}

#[test]
fn bearer_off_rejects_bearer_tokens() {
    let ng = site("bearer off;");
    let r = ng.send(&Request::get("/api/items").bearer(&token()));
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(ng.upstream_count(), 0);
    // The session cookie still works.
    let r = ng.send(&Request::get("/").cookies(&session(&token())));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn set_headers_off_keeps_the_variables() {
    let http = provider("app", "")
        + &server(
            r#"
    authentik app;
    authentik_set_headers off;
    location / {
        proxy_set_header X-User $authentik_username;
        proxy_set_header X-Groups $authentik_groups;
        @PROXY@
    }
"#,
        );
    let ng = Conf::new(http).start();
    let r = ng.send(&Request::get("/").cookies(&session(&token())));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert!(
        up.authentik_headers().is_empty(),
        "{:?}",
        up.authentik_headers()
    );
    assert!(!up.has("X-Foo") && !up.has("X-Team"), "{:?}", up.headers);
    assert_eq!(up.one("X-User"), "akadmin");
    assert_eq!(up.one("X-Groups"), "authentik Admins|users");
}

#[test]
fn variables_carry_the_outpost_values_and_claims() {
    let http = provider("app", r#"meta_outpost edge-1;"#)
        + &server(
            r#"
    authentik app;
    authentik_set_headers off;
    location / {
        proxy_set_header V-Username $authentik_username;
        proxy_set_header V-Groups $authentik_groups;
        proxy_set_header V-Entitlements $authentik_entitlements;
        proxy_set_header V-Email $authentik_email;
        proxy_set_header V-Name $authentik_name;
        proxy_set_header V-Uid $authentik_uid;
        proxy_set_header V-Jwt $authentik_jwt;
        proxy_set_header V-Meta-Jwks $authentik_meta_jwks;
        proxy_set_header V-Meta-Outpost $authentik_meta_outpost;
        proxy_set_header V-Meta-Provider $authentik_meta_provider;
        proxy_set_header V-Meta-App $authentik_meta_app;
        proxy_set_header V-Meta-Version $authentik_meta_version;
        proxy_set_header V-Status $authentik_status;
        proxy_set_header C-Acr $authentik_claim_acr;
        proxy_set_header C-Amr $authentik_claim_amr;
        proxy_set_header C-Groups $authentik_claim_groups;
        proxy_set_header C-Email-Verified $authentik_claim_email_verified;
        proxy_set_header C-Exp $authentik_claim_exp;
        proxy_set_header C-Ak-Proxy $authentik_claim_ak_proxy;
        proxy_set_header C-Nickname $authentik_claim_nickname;
        proxy_set_header C-Missing $authentik_claim_no_such_claim;
        @PROXY@
    }
"#,
        );
    let ng = Conf::new(http).start();
    let claims = claims();
    let jwt = hs256(&claims);
    let r = ng.send(&Request::get("/").cookies(&session(&jwt)));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert_eq!(up.one("V-Username"), "akadmin");
    assert_eq!(up.one("V-Groups"), "authentik Admins|users");
    assert_eq!(up.one("V-Entitlements"), "app-admin|billing");
    assert_eq!(up.one("V-Email"), "admin@authentik.company");
    assert_eq!(up.one("V-Name"), "authentik Default Admin");
    assert_eq!(up.one("V-Uid"), SUB);
    assert_eq!(up.one("V-Jwt"), jwt);
    assert_eq!(up.one("V-Meta-Jwks"), META_JWKS);
    assert_eq!(up.one("V-Meta-Outpost"), "edge-1");
    assert_eq!(up.one("V-Meta-Provider"), "app");
    assert_eq!(up.one("V-Meta-App"), "app");
    assert!(up
        .one("V-Meta-Version")
        .starts_with("ngx_http_authentik_module/"));
    assert_eq!(up.one("V-Status"), "ok");
    // Strings raw, arrays of strings joined with |, anything else compact JSON.
    assert_eq!(up.one("C-Acr"), "goauthentik.io/providers/oauth2/default");
    assert_eq!(up.one("C-Amr"), "pwd");
    assert_eq!(up.one("C-Groups"), "authentik Admins|users");
    assert_eq!(up.one("C-Email-Verified"), "false");
    assert_eq!(up.one("C-Exp"), claims["exp"].to_string());
    assert_eq!(up.one("C-Nickname"), "akadmin");
    let ak_proxy = up.one("C-Ak-Proxy");
    assert!(
        !ak_proxy.contains(' ') && !ak_proxy.contains('\n'),
        "compact: {ak_proxy}"
    );
    let parsed: Value = serde_json::from_str(ak_proxy).expect("ak_proxy is JSON");
    assert_eq!(parsed, claims["ak_proxy"]);
    // proxy_set_header sends nothing for an empty value.
    assert!(!up.has("C-Missing"), "{:?}", up.all("C-Missing"));
}

#[test]
fn headers_are_always_set_even_when_claims_are_missing() {
    // As authentik's outpost: headers are set even when empty. nginx's proxy module drops empty
    // request headers, so only the non-empty ones can be checked on the wire: the identity
    // must still come from this token and nothing else.
    let ng = site("");
    let jwt = hs256(&claims_with(&[
        ("email", Value::Null),
        ("groups", json!([])),
        ("entitlements", Value::Null),
        ("ak_proxy", Value::Null),
    ]));
    let r = ng.send(&Request::get("/").cookies(&session(&jwt)));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert_eq!(up.one("X-authentik-username"), "akadmin");
    assert_eq!(up.one("X-authentik-jwt"), jwt);
    for name in [
        "X-authentik-email",
        "X-authentik-groups",
        "X-authentik-entitlements",
    ] {
        assert!(
            up.all(name).iter().all(|v| v.is_empty()),
            "{name}: {:?}",
            up.all(name)
        );
    }
    assert!(
        !up.has("X-Foo") && !up.has("Authorization"),
        "{:?}",
        up.headers
    );
}
