//! Header values (docs/architecture.md §3): `sanitize::sanitize` on arbitrary text, and an
//! `Identity` built from arbitrary claims. No value may hold a control byte (C0 except TAB,
//! or DEL): username, groups, entitlements, email, name, uid, jwt, every group name, every
//! `$authentik_claim_*` rendering, every additional header (whose names must also be valid
//! header names, without `_`, never `X-authentik-*` or a refused name), and the Basic
//! authorization. An identity is refused exactly when a name claim (`preferred_username`,
//! `sub`, `email`, a group) has a control character or surrounding whitespace.
//! Input: first byte 0 = raw text for sanitize; 1 = claims as raw JSON bytes; else
//! structured claims.
#![no_main]

use std::borrow::Cow;

use arbitrary::{Arbitrary, Unstructured};
use authentik_core::claims::Claims;
use authentik_core::fields::Field;
use authentik_core::headers::refused_additional_header;
use authentik_core::identity::{BasicAuthAttributes, Identity};
use authentik_core::sanitize::{
    is_authentik_header, is_control, is_header_name, names_one_user, sanitize,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use fuzz_support::{JsonGen, KeyGen};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fn clean(what: &str, value: &str) {
    assert!(
        !value.bytes().any(is_control),
        "{what} holds a control byte: {value:?}"
    );
}

fn check_sanitize(text: &str) {
    let out = sanitize(text);
    clean("sanitize", &out);
    assert_eq!(out.len(), text.len());
    if text.bytes().any(is_control) {
        let expected: String = text
            .chars()
            .map(|c| {
                if c.is_ascii() && is_control(c as u8) {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(out, expected);
    } else {
        assert!(matches!(out, Cow::Borrowed(_)));
        assert_eq!(out, text);
    }
}

#[derive(Arbitrary, Debug)]
struct Structured {
    members: Vec<(KeyGen, JsonGen)>,
    user_attributes: Vec<(KeyGen, JsonGen)>,
    headers: Vec<(String, JsonGen)>,
    raw_token: Vec<u8>,
    basic_user: Option<KeyGen>,
    basic_password: Option<KeyGen>,
}

fn check_identity(claims: Map<String, Value>, raw_token: &[u8], basic: &BasicAuthAttributes) {
    let names: Vec<String> = claims.keys().cloned().collect();
    let ambiguous = ["preferred_username", "sub", "email"]
        .iter()
        .filter_map(|c| claims.get(*c).and_then(Value::as_str))
        .chain(
            claims
                .get("groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        )
        .any(|v| !names_one_user(v));
    let payload = serde_json::to_vec(&claims).unwrap();
    let parsed = Claims::parse(&payload).expect("a serialized map parses");
    // A compact JWS around the payload, with arbitrary bytes (dots removed) for the header and
    // signature: `$authentik_claim_*` is read back from the token's payload.
    let outer: Vec<u8> = raw_token.iter().copied().filter(|&b| b != b'.').collect();
    let mut token = outer.clone();
    token.push(b'.');
    token.extend_from_slice(URL_SAFE_NO_PAD.encode(&payload).as_bytes());
    token.push(b'.');
    token.extend_from_slice(&outer);
    let id = match Identity::from_claims(&parsed, &token, 1, basic) {
        Ok(id) => id,
        Err(_) => {
            assert!(ambiguous, "refused an identity whose names are clean");
            return;
        }
    };
    assert!(!ambiguous, "accepted an ambiguous user name");
    for field in [
        Field::Username,
        Field::Groups,
        Field::Entitlements,
        Field::Email,
        Field::Name,
        Field::Uid,
        Field::Jwt,
    ] {
        clean(&format!("{field:?}"), id.field(field).unwrap());
    }
    let groups = id.field(Field::Groups).unwrap();
    for g in id.group_names() {
        clean("group name", g);
    }
    assert_eq!(id.group_names().collect::<Vec<_>>().join("|"), groups);
    for n in &names {
        let value = id.claim(n).expect("a claim of the payload renders");
        clean("claim", &value);
    }
    assert!(names.iter().any(|n| n == "absent") || id.claim("absent").is_none());
    for (name, value) in id.additional_headers() {
        let name = &*name.name;
        assert!(
            is_header_name(name) && !name.contains('_'),
            "header name {name:?}"
        );
        assert!(!name.bytes().any(is_control));
        assert!(
            !is_authentik_header(name.as_bytes()),
            "shadows X-authentik: {name:?}"
        );
        assert!(
            !refused_additional_header(name),
            "refused name set: {name:?}"
        );
        clean("additional header", value);
    }
    if let Some(basic) = id.basic_authorization() {
        clean("basic", basic);
        let b64 = basic.strip_prefix("Basic ").expect("Basic scheme");
        let decoded = STANDARD.decode(b64).expect("base64 credentials");
        assert!(decoded.contains(&b':'));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => check_sanitize(&String::from_utf8_lossy(rest)),
        1 => {
            if let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(rest) {
                let basic = BasicAuthAttributes {
                    user: Some("basic_user".into()),
                    password: Some("basic_password".into()),
                };
                check_identity(claims, rest, &basic);
            }
        }
        _ => {
            let Ok(s) = Structured::arbitrary_take_rest(Unstructured::new(rest)) else {
                return;
            };
            let mut claims = Map::new();
            for (k, v) in &s.members {
                claims.insert(k.name(), v.to_value());
            }
            let mut attrs = Map::new();
            for (k, v) in &s.user_attributes {
                attrs.insert(k.name(), v.to_value());
            }
            let headers: Map<String, Value> = s
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.to_value()))
                .collect();
            attrs.insert("additionalHeaders".into(), Value::Object(headers));
            if mode % 2 == 0 {
                claims.insert(
                    "ak_proxy".into(),
                    serde_json::json!({ "user_attributes": attrs }),
                );
            }
            let basic = BasicAuthAttributes {
                user: s.basic_user.map(|k| k.name()),
                password: s.basic_password.map(|k| k.name()),
            };
            check_sanitize(&String::from_utf8_lossy(&s.raw_token));
            check_identity(claims, &s.raw_token, &basic);
        }
    }
});
