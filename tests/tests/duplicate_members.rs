//! Duplicate member names in a token's JOSE header or claims, at any depth, make it `invalid`
//! (docs/architecture.md §7; issue "Hostile-client findings" 3 and 4): a parser that keeps the
//! first member and one that keeps the last would see different users, or different expiry.
//! Each token is correctly signed, and sent both as a sealed session and as a bearer token.

use authentik_integration::*;
use serde_json::json;

fn jws(header: &str, payload: &str) -> String {
    hs256_text(header, payload)
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// akadmin's claims as JSON text with `extra` (`"name":value` members) inserted at the end of
/// the object that `anchor` opens (`{` for the top level, or e.g. `"ak_proxy":{`).
fn claims_text_with(anchor: &str, extra: &str) -> String {
    let text = claims().to_string();
    if anchor == "{" {
        let end = text.rfind('}').expect("object");
        return format!("{},{extra}}}", &text[..end]);
    }
    let start = text.find(anchor).expect("anchor in the claims") + anchor.len();
    format!("{}{extra},{}", &text[..start], &text[start..])
}

fn site() -> Nginx {
    let http = provider("app", "")
        + &server(
            r#"
    authentik app;
    location / { @PROXY@ }
"#,
        );
    Conf::new(http).start()
}

fn assert_refused(ng: &Nginx, what: &str, token: &str) {
    let before = ng.upstream_count();
    for (kind, req) in [
        ("session", Request::get("/").cookies(&session(token))),
        ("bearer", Request::get("/").bearer(token)),
    ] {
        // Twice: the second answer may come from the cache.
        for round in 1..=2 {
            let r = ng.send(&req);
            assert_eq!(r.status, 401, "{what} ({kind}, {round}): {}", r.text());
            assert_eq!(r.authentik_status(), "invalid", "{what} ({kind}, {round})");
        }
    }
    assert_eq!(ng.upstream_count(), before, "{what} reached the upstream");
}

#[test]
fn the_hand_signed_control_token_is_accepted() {
    // Without duplicates the same construction passes: the refusals below are about them.
    let ng = site();
    let token = jws(HEADER, &claims().to_string());
    for req in [
        Request::get("/").cookies(&session(&token)),
        Request::get("/").bearer(&token),
    ] {
        let r = ng.send(&req);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.upstream().one("X-authentik-uid"), SUB);
    }
    let nested = claims_text_with(r#""ak_proxy":{"#, r#""unique":1"#);
    let r = ng.send(&Request::get("/").bearer(&jws(HEADER, &nested)));
    assert_eq!(r.status, 200, "an extra unique member: {}", r.text());
}

#[test]
fn a_duplicate_member_in_the_jose_header_is_invalid() {
    let ng = site();
    let payload = claims().to_string();
    for header in [
        r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"alg":"none","alg":"HS256"}"#,
        r#"{"alg":"HS256","kid":"a","kid":"b"}"#,
    ] {
        assert_refused(&ng, header, &jws(header, &payload));
    }
}

#[test]
fn a_duplicate_top_level_claim_is_invalid() {
    let ng = site();
    for extra in [
        r#""sub":"someone-else""#,
        r#""preferred_username":"root""#,
        r#""groups":["authentik Admins"]"#,
        r#""aud":"another-client""#,
        r#""iss":"https://evil.test/application/o/app/""#,
    ] {
        assert_refused(&ng, extra, &jws(HEADER, &claims_text_with("{", extra)));
    }
}

#[test]
fn a_duplicate_member_nested_in_ak_proxy_is_invalid() {
    let ng = site();
    for (anchor, extra) in [
        (r#""ak_proxy":{"#, r#""is_superuser":false"#),
        (r#""user_attributes":{"#, r#""basic_password":"other""#),
        (r#""additionalHeaders":{"#, r#""X-Foo":"other""#),
    ] {
        let text = claims_text_with(anchor, extra);
        assert_refused(&ng, extra, &jws(HEADER, &text));
    }
}

#[test]
fn a_duplicate_exp_is_invalid_whichever_comes_last() {
    let ng = site();
    let now = now();
    // The preset's exp is valid for an hour; the duplicate is either expired or valid.
    for extra in [
        format!(r#""exp":{}"#, now - 600),
        format!(r#""exp":{}"#, now + 7200),
    ] {
        assert_refused(&ng, &extra, &jws(HEADER, &claims_text_with("{", &extra)));
    }
    // An expired exp first and a valid one last.
    let mut c = claims();
    c.as_object_mut().expect("object").remove("exp");
    let text = c.to_string();
    let text = format!(
        r#"{{"exp":{},{},"exp":{}}}"#,
        now - 600,
        &text[1..text.len() - 1],
        now + 3600
    );
    assert_refused(&ng, "expired first, valid last", &jws(HEADER, &text));
    // And the plain case: a single expired exp is `expired`, not `invalid`.
    let expired = hs256(&claims_with(&[("exp", json!(now - 600))]));
    let r = ng.send(&Request::get("/").bearer(&expired));
    assert_eq!(r.status, 401);
    assert_eq!(r.authentik_status(), "expired");
}
