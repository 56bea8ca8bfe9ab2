//! Asymmetric tokens verified with `jwks_file`; the algorithm comes from the key (docs/architecture.md §7).

use authentik_integration::*;
use serde_json::json;

fn site(provider_extra: &str) -> Nginx {
    let http = provider(
        "app",
        &format!("jwks_file @PREFIX@/app.jwks; {provider_extra}"),
    ) + &server("authentik app; location / { @PROXY@ }");
    Conf::new(http).file("app.jwks", JWKS).start()
}

fn check(ng: &Nginx, what: &str, jwt: &str, expect: u16) {
    for req in [
        Request::get("/").cookies(&session(jwt)),
        Request::get("/").bearer(jwt),
    ] {
        let r = ng.send(&req);
        assert_eq!(r.status, expect, "{what}: {}", r.text());
        if expect == 200 {
            assert_eq!(r.authentik_status(), "ok", "{what}");
            let up = r.upstream();
            assert_eq!(up.one("X-authentik-username"), "akadmin", "{what}");
            assert_eq!(up.one("X-authentik-jwt"), jwt, "{what}");
        } else {
            assert_eq!(r.authentik_status(), "invalid", "{what}");
        }
    }
}

#[test]
fn rs256_token_with_kid_is_accepted() {
    let ng = site("");
    let rsa = AsymKey::Rsa;
    check(
        &ng,
        "RS256 with kid",
        &sign_asym(rsa, Some(&rsa.kid()), &claims()),
        200,
    );
}

#[test]
fn asymmetric_tokens_are_checked_against_the_right_key() {
    let ng = site("");
    let c = claims();
    let (rsa, ec, ed, other) = (AsymKey::Rsa, AsymKey::Ec, AsymKey::Ed, AsymKey::RsaOther);
    check(&ng, "RS256 without kid", &sign_asym(rsa, None, &c), 200);
    check(
        &ng,
        "ES256 with kid",
        &sign_asym(ec, Some(&ec.kid()), &c),
        200,
    );
    check(
        &ng,
        "EdDSA with kid",
        &sign_asym(ed, Some(&ed.kid()), &c),
        200,
    );
    check(&ng, "HS256 with the client secret", &hs256(&c), 200);

    check(
        &ng,
        "unknown kid",
        &sign_asym(rsa, Some("no-such-kid"), &c),
        401,
    );
    check(
        &ng,
        "other RSA key under a known kid",
        &sign_asym(other, Some(&rsa.kid()), &c),
        401,
    );
    check(
        &ng,
        "other RSA key without kid",
        &sign_asym(other, None, &c),
        401,
    );
    check(
        &ng,
        "ES256 under the RSA kid",
        &sign_asym(ec, Some(&rsa.kid()), &c),
        401,
    );
    check(&ng, "alg none", &alg_none(&c), 401);
    let tampered = tamper_payload(&sign_asym(rsa, Some(&rsa.kid()), &c), |c| {
        c["preferred_username"] = json!("root")
    });
    check(&ng, "tampered RS256", &tampered, 401);
}

#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    // Algorithm confusion: an HMAC token is never checked against asymmetric key material.
    let ng = site("");
    let c = claims();
    let pem = RSA_PUBLIC_PEM.as_bytes();
    let trimmed = RSA_PUBLIC_PEM.trim_end().as_bytes();
    check(
        &ng,
        "HS256 keyed with the RSA public PEM",
        &hs256_with(&c, pem),
        401,
    );
    check(
        &ng,
        "HS256 keyed with the trimmed PEM",
        &hs256_with(&c, trimmed),
        401,
    );
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(AsymKey::Rsa.kid());
    let with_kid = jsonwebtoken::encode(&header, &c, &jsonwebtoken::EncodingKey::from_secret(pem))
        .expect("sign");
    check(&ng, "HS256 keyed with the PEM, RSA kid", &with_kid, 401);
}

#[test]
fn algorithms_allow_list_is_enforced() {
    let ng = site("algorithms RS256;");
    let rsa = AsymKey::Rsa;
    check(
        &ng,
        "RS256 allowed",
        &sign_asym(rsa, Some(&rsa.kid()), &claims()),
        200,
    );
    check(&ng, "HS256 not listed", &hs256(&claims()), 401);
    let ec = AsymKey::Ec;
    check(
        &ng,
        "ES256 not listed",
        &sign_asym(ec, Some(&ec.kid()), &claims()),
        401,
    );
}
