//! `authentik_require` and `$authentik_claim_NAME` for every JSON type (docs/architecture.md §3;
//! issue "Hostile-client findings, part 2" item 1).
//!
//! * `$authentik_claim_x` renders strings raw, lists of strings joined with `|`, `true`,
//!   `false`, `null` and numbers as JSON text (as serde_json writes the parsed value: `-0` is
//!   `-0.0`, `0e3` is `0.0`), objects and mixed lists as compact JSON.
//! * `authentik_require` passes only if every value is non-empty and none is `0`, `false`,
//!   `null` or a number equal to zero (`0.0`, `-0`, `0e3`).
//!
//! Each claim is tried with the claim itself as the requirement, through a `map` that copies
//! it, and through an allow-list `map`; the rendered value is read back from a response
//! header (on the 403 as well) and from what the upstream received.

use authentik_integration::*;

fn site() -> Nginx {
    let http = provider("app", "")
        + r#"
map $authentik_claim_x $copied { default $authentik_claim_x; }
map $authentik_claim_x $allowed { "yes" 1; "true" 1; "1" 1; "a" 1; default 0; }
"# + &server(
        r#"
    authentik app;
    add_header X-Claim "[$authentik_claim_x]" always;
    proxy_set_header X-Claim-Upstream "[$authentik_claim_x]";
    location /plain/ { @PROXY@ }
    location /direct/ { authentik_require $authentik_claim_x; @PROXY@ }
    location /copied/ { authentik_require $copied; @PROXY@ }
    location /allowed/ { authentik_require $allowed; @PROXY@ }
    location /both/ { authentik_require $authentik_claim_x $authentik_email; @PROXY@ }
"#,
    );
    Conf::new(http).start()
}

/// (JSON text of claim `x`, or None for no claim; its rendering; whether it passes)
const CASES: &[(Option<&str>, &str, bool)] = &[
    (Some("true"), "true", true),
    (Some("false"), "false", false),
    (Some("null"), "null", false),
    (Some("0"), "0", false),
    (Some("1"), "1", true),
    (Some("0.0"), "0.0", false),
    (Some("-0"), "-0.0", false),
    (Some("-0.0"), "-0.0", false),
    (Some("0e3"), "0.0", false),
    (Some("1.5"), "1.5", true),
    (Some("-2"), "-2", true),
    (Some(r#""""#), "", false),
    (Some(r#""0""#), "0", false),
    (Some(r#""false""#), "false", false),
    (Some(r#""null""#), "null", false),
    (Some(r#""0.0""#), "0.0", false),
    (Some(r#""yes""#), "yes", true),
    (Some(r#""False""#), "False", true),
    (Some(r#""00x""#), "00x", true),
    (Some(r#"" ""#), " ", true),
    (Some("[]"), "", false),
    (Some(r#"["a"]"#), "a", true),
    (Some(r#"["a","b"]"#), "a|b", true),
    (Some(r#"[""]"#), "", false),
    (Some(r#"["0"]"#), "0", false),
    (Some(r#"[1,"a"]"#), r#"[1,"a"]"#, true),
    (Some("[0]"), "[0]", true),
    (Some("{}"), "{}", true),
    (Some(r#"{"a":1}"#), r#"{"a":1}"#, true),
    (Some(r#"{"a": [true, null]}"#), r#"{"a":[true,null]}"#, true),
    (None, "", false),
];

fn token_with(x: Option<&str>) -> String {
    match x {
        Some(text) => hs256_text(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &claims_text_plus("x", text),
        ),
        None => token(),
    }
}

fn rendered(r: &Response) -> String {
    let h = r
        .header("X-Claim")
        .unwrap_or_else(|| panic!("no X-Claim: {:?}", r.headers));
    h.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .expect("bracketed")
        .to_string()
}

#[test]
fn every_json_type_renders_as_documented() {
    let ng = site();
    for (x, want, _) in CASES {
        let r = ng.send(&Request::get("/plain/").cookies(&session(&token_with(*x))));
        assert_eq!(r.status, 200, "{x:?}: {}", r.text());
        assert_eq!(rendered(&r), *want, "response header for claim {x:?}");
        assert_eq!(
            r.upstream().one("X-Claim-Upstream"),
            format!("[{want}]"),
            "upstream header for claim {x:?}"
        );
    }
}

#[test]
fn authentik_require_passes_only_non_empty_values_that_are_not_false_or_zero() {
    let ng = site();
    let mut report = Vec::new();
    for (x, want, pass) in CASES {
        let cookies = session(&token_with(*x));
        for path in ["/direct/", "/copied/"] {
            let before = ng.upstream_count();
            let r = ng.send(&Request::get(path).cookies(&cookies));
            let expect = if *pass { 200 } else { 403 };
            report.push(format!("{path} x={x:?} [{want}] -> {}", r.status));
            assert_eq!(
                r.status,
                expect,
                "{path} claim {x:?} rendered {want:?}: {}",
                r.text()
            );
            assert_eq!(rendered(&r), *want, "{path} {x:?}");
            if *pass {
                assert_eq!(r.authentik_status(), "ok");
                assert_eq!(r.upstream().one("X-authentik-username"), "akadmin");
            } else {
                assert_eq!(r.authentik_status(), "forbidden", "{path} {x:?}");
                assert!(r.header("Location").is_none(), "never a redirect");
                assert_eq!(
                    ng.upstream_count(),
                    before,
                    "{path} {x:?}: a 403 reached the upstream"
                );
            }
        }
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn authentik_require_through_an_allow_list_map() {
    let ng = site();
    for (x, want, _) in CASES {
        let r = ng.send(&Request::get("/allowed/").cookies(&session(&token_with(*x))));
        let pass = ["yes", "true", "1", "a"].contains(want);
        assert_eq!(
            r.status,
            if pass { 200 } else { 403 },
            "claim {x:?} rendered {want:?} through the map: {}",
            r.text()
        );
    }
}

#[test]
fn every_value_of_authentik_require_must_pass() {
    let ng = site();
    let with_email = session(&token_with(Some("1")));
    assert_eq!(
        ng.send(&Request::get("/both/").cookies(&with_email)).status,
        200
    );
    let mut no_email = claims();
    no_email.as_object_mut().unwrap().remove("email");
    no_email["x"] = serde_json::json!(1);
    let r = ng.send(&Request::get("/both/").cookies(&session(&hs256(&no_email))));
    assert_eq!(r.status, 403, "{}", r.text());
    let zero = session(&token_with(Some("0")));
    assert_eq!(ng.send(&Request::get("/both/").cookies(&zero)).status, 403);
}

#[test]
fn authentik_require_is_never_checked_for_anonymous_requests() {
    // A requirement never turns a missing session into a 403 or lets it through.
    let ng = site();
    for path in ["/direct/", "/copied/", "/allowed/"] {
        let r = ng.get(path);
        assert_eq!(r.status, 401, "{path}: {}", r.text());
        assert_eq!(r.authentik_status(), "missing");
    }
    assert_eq!(ng.upstream_count(), 0);
}
