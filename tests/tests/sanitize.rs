//! Control characters in claims never split a header: every C0 byte except TAB, and DEL,
//! become a space in variables and headers (docs/architecture.md §3).

use authentik_integration::*;
use serde_json::json;

fn site() -> Nginx {
    let http = provider("app", "")
        + &server(
            r#"
    authentik app;
    location / {
        add_header X-Authentik-Status $authentik_status always;
        add_header X-Name $authentik_name always;
        add_header X-Nick $authentik_claim_nickname always;
        proxy_set_header C-Nickname $authentik_claim_nickname;
        @PROXY@
    }
"#,
        );
    Conf::new(http).start()
}

fn no_injected(headers: &[(String, String)]) {
    let bad: Vec<_> = headers
        .iter()
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case("X-Injected"))
        .collect();
    assert!(
        bad.is_empty(),
        "a header was split: {bad:?}\nall: {headers:#?}"
    );
}

#[test]
fn control_bytes_in_claims_become_spaces() {
    let ng = site();
    let mut claims = claims_with(&[
        ("name", json!("a\r\nX-Injected: 1")),
        ("entitlements", json!(["e\u{1}1", "tab\tkept"])),
        ("nickname", json!("n\r\nX-Injected: 3")),
    ]);
    claims["ak_proxy"]["user_attributes"]["additionalHeaders"] = json!({
        "X-Foo": "bar\r\nX-Injected: 2",
        "X-Tab": "a\tb",
    });
    let r = ng.send(&Request::get("/").cookies(&session(&hs256(&claims))));
    assert_eq!(r.status, 200, "{}", r.text());
    no_injected(&r.headers);
    assert_eq!(r.header("X-Name"), Some("a  X-Injected: 1"));
    assert_eq!(r.header("X-Nick"), Some("n  X-Injected: 3"));

    let up = r.upstream();
    no_injected(&up.headers);
    assert_eq!(up.one("X-authentik-name"), "a  X-Injected: 1");
    assert_eq!(up.one("X-authentik-entitlements"), "e 1|tab\tkept");
    assert_eq!(up.one("X-Foo"), "bar  X-Injected: 2");
    assert_eq!(up.one("X-Tab"), "a\tb");
    assert_eq!(up.one("C-Nickname"), "n  X-Injected: 3");
}

/// Fields that name the user are refused rather than repaired: upstreams that trim or drop
/// control characters and whitespace would see `akadmin` for each of these.
#[test]
fn names_with_control_bytes_or_surrounding_whitespace_are_refused() {
    let ng = site();
    for (claim, value) in [
        ("preferred_username", json!("akadmin\r\n")),
        ("preferred_username", json!(" akadmin")),
        ("preferred_username", json!("akadmin\t")),
        ("preferred_username", json!("ak\u{0}admin")),
        ("preferred_username", json!("akadmin\u{7f}")),
        ("sub", json!("3944a1807a\n")),
        ("email", json!("x\u{1b}y@authentik.company")),
        ("groups", json!(["a\nb", "users"])),
        ("groups", json!(["users "])),
    ] {
        let claims = claims_with(&[(claim, value.clone())]);
        let r = ng.send(&Request::get("/").cookies(&session(&hs256(&claims))));
        assert_eq!(r.status, 401, "{claim} {value}: {}", r.text());
        assert_eq!(r.authentik_status(), "invalid", "{claim} {value}");
        assert_eq!(
            ng.upstream_count(),
            0,
            "{claim} {value} reached the upstream"
        );
    }
    let r = ng.send(&Request::get("/").cookies(&session(&hs256(&claims()))));
    assert_eq!(
        r.status,
        200,
        "the same token with clean names: {}",
        r.text()
    );
}

#[test]
fn control_bytes_in_additional_header_names_never_split_a_header() {
    let ng = site();
    let mut claims = claims();
    claims["ak_proxy"]["user_attributes"]["additionalHeaders"] = json!({
        "X-Bad\r\nX-Injected": "4",
        "X-Good": "ok",
    });
    let r = ng.send(&Request::get("/").cookies(&session(&hs256(&claims))));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    no_injected(&up.headers);
    assert!(
        !up.headers.iter().any(|(n, _)| n.contains("X-Bad")),
        "{:?}",
        up.headers
    );
    assert_eq!(up.one("X-Good"), "ok");
    assert_eq!(up.one("X-authentik-username"), "akadmin");
}

#[test]
fn unicode_in_claims_is_kept() {
    let ng = site();
    let claims = claims_with(&[("name", json!("Zoë Åström ✓"))]);
    let r = ng.send(&Request::get("/").cookies(&session(&hs256(&claims))));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-name"), "Zoë Åström ✓");
}
