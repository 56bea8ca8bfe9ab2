//! A back-channel logout request body: `logout_token_of` (form media type, exactly one
//! non-empty `logout_token`) then `Provider::verify_logout_token`. Raw bodies must never
//! panic; built ones must get the oracle's verdict: signed with the provider's key, `iss` and
//! `aud` right, an integer `iat` within the leeway of now, `exp` absent or live, the
//! back-channel event as an object member of `events`, no `nonce`, a non-empty `sid` or
//! `sub`, and a non-empty `jti`.
#![no_main]

use arbitrary::Arbitrary;
use authentik_core::keys::Algorithm;
use authentik_core::logout::{logout_token_of, LogoutError, BACKCHANNEL_EVENT};
use authentik_core::provider::{Mode, Provider};
use authentik_core::token::MAX_JSON_DEPTH;
use fuzz_support::{b64, json_depth, provider, sign, JsonGen, Signer};
use fuzz_support::{AUD, EXTERNAL_SINGLE, ISS, LEEWAY, NOW};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

static P: LazyLock<Provider> = LazyLock::new(|| provider(Mode::Single, EXTERNAL_SINGLE, None));

#[derive(Arbitrary, Debug)]
enum ContentType {
    Form,
    FormWithCharset,
    FormUpperCase,
    Json,
    Missing,
    Other(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Events {
    Right,
    EventNotObject(JsonGen),
    OtherEvent,
    NotObject(JsonGen),
    Missing,
}

#[derive(Arbitrary, Debug)]
enum Text {
    Missing,
    Empty,
    Value(String),
    Json(JsonGen),
}

#[derive(Arbitrary, Debug)]
struct Claims {
    signer: Signer,
    iss_ok: bool,
    aud_ok: bool,
    iat: Option<i8>,
    exp: Option<i16>,
    events: Events,
    nonce: bool,
    sid: Text,
    sub: Text,
    jti: Text,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        content_type: Option<Vec<u8>>,
        body: Vec<u8>,
    },
    Built {
        content_type: ContentType,
        tokens_before: u8,
        claims: Claims,
        tokens_after: u8,
        noise: Vec<(String, String)>,
    },
}

fn text(value: &Text) -> Option<Value> {
    match value {
        Text::Missing => None,
        Text::Empty => Some(json!("")),
        Text::Value(s) => Some(json!(s)),
        Text::Json(j) => Some(j.to_value()),
    }
}

fn non_empty_string(value: &Text) -> bool {
    text(value).is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
}

/// The signed token and the oracle's verdict on it.
fn token(c: &Claims) -> (String, Result<(), &'static str>) {
    let mut claims = Map::new();
    claims.insert(
        "iss".into(),
        json!(if c.iss_ok { ISS } else { "https://evil/" }),
    );
    claims.insert("aud".into(), json!(if c.aud_ok { AUD } else { "other" }));
    if let Some(iat) = c.iat {
        claims.insert("iat".into(), json!(NOW as i64 + i64::from(iat)));
    }
    if let Some(exp) = c.exp {
        claims.insert("exp".into(), json!(NOW as i64 + i64::from(exp)));
    }
    match &c.events {
        Events::Right => drop(claims.insert("events".into(), json!({ BACKCHANNEL_EVENT: {} }))),
        Events::EventNotObject(j) => {
            let events = json!({ BACKCHANNEL_EVENT: j.to_value() });
            claims.insert("events".into(), events);
        }
        Events::OtherEvent => drop(claims.insert("events".into(), json!({ "urn:other": {} }))),
        Events::NotObject(j) => drop(claims.insert("events".into(), j.to_value())),
        Events::Missing => {}
    }
    if c.nonce {
        claims.insert("nonce".into(), json!("n"));
    }
    for (name, value) in [("sid", &c.sid), ("sub", &c.sub), ("jti", &c.jti)] {
        if let Some(v) = text(value) {
            claims.insert(name.into(), v);
        }
    }
    let header = b64(br#"{"alg":"HS256","typ":"logout+jwt"}"#);
    let message = format!(
        "{header}.{}",
        b64(Value::Object(claims.clone()).to_string().as_bytes())
    );
    let signature = sign(c.signer, Algorithm::HS256, message.as_bytes()).unwrap_or_default();
    let token = format!("{message}.{}", b64(&signature));

    let string_or_absent = |v: &Text| text(v).is_none_or(|v| v.is_string());
    let too_deep = json_depth(&Value::Object(claims.clone())) > MAX_JSON_DEPTH;
    let verdict = (|| {
        if c.signer != Signer::HmacA || !c.iss_ok || !c.aud_ok || too_deep {
            return Err("token");
        }
        let mistyped = ![&c.sid, &c.sub, &c.jti].iter().all(|v| string_or_absent(v));
        let leeway = LEEWAY as i64;
        match c.iat {
            Some(iat) if i64::from(iat).abs() <= leeway => {}
            _ => return Err("token"),
        }
        if c.exp.is_some_and(|exp| i64::from(exp) + leeway <= 0) {
            return Err("token");
        }
        let event = match &c.events {
            Events::Right => true,
            Events::EventNotObject(j) => j.to_value().is_object(),
            _ => false,
        };
        if mistyped {
            return Err("mistyped");
        }
        if !event {
            return Err("event");
        }
        if c.nonce {
            return Err("nonce");
        }
        let sid = non_empty_string(&c.sid);
        let sub = non_empty_string(&c.sub);
        if !sid && !sub {
            return Err("subject");
        }
        let jti = non_empty_string(&c.jti);
        if !jti {
            return Err("jti");
        }
        Ok(())
    })();
    (token, verdict)
}

fuzz_target!(|input: Input| {
    let p = &*P;
    match input {
        Input::Raw { content_type, body } => {
            if let Ok(token) = logout_token_of(content_type.as_deref(), &body) {
                assert!(!token.is_empty());
                let _ = p.verify_logout_token(token.as_bytes(), NOW);
            }
        }
        Input::Built {
            content_type,
            tokens_before,
            claims,
            tokens_after,
            noise,
        } => {
            let (token, verdict) = token(&claims);
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &noise {
                if name != "logout_token" {
                    body.append_pair(name, value);
                }
            }
            let copies = usize::from(tokens_before % 3) + usize::from(tokens_after % 2);
            for _ in 0..copies {
                body.append_pair("logout_token", &token);
            }
            let body = body.finish();
            let (content_type, form): (Option<&[u8]>, bool) = match &content_type {
                ContentType::Form => (Some(b"application/x-www-form-urlencoded"), true),
                ContentType::FormWithCharset => (
                    Some(b"application/x-www-form-urlencoded; charset=UTF-8"),
                    true,
                ),
                ContentType::FormUpperCase => (Some(b"Application/X-WWW-Form-Urlencoded"), true),
                ContentType::Json => (Some(b"application/json"), false),
                ContentType::Missing => (None, false),
                ContentType::Other(other) => {
                    let media = other.split(|&b| b == b';').next().unwrap_or_default();
                    let form = media
                        .trim_ascii()
                        .eq_ignore_ascii_case(b"application/x-www-form-urlencoded");
                    (Some(other.as_slice()), form)
                }
            };
            let found = logout_token_of(content_type, body.as_bytes());
            if !form {
                assert_eq!(found, Err(LogoutError::NotForm));
                return;
            }
            if copies != 1 {
                assert_eq!(found, Err(LogoutError::NoToken));
                return;
            }
            assert_eq!(found.as_deref(), Ok(token.as_str()));
            let got = p.verify_logout_token(token.as_bytes(), NOW);
            match (&got, verdict) {
                (Ok(t), Ok(())) => {
                    assert!(t.sid.is_some() || t.sub.is_some());
                    assert!(!t.jti.is_empty());
                }
                (Err(LogoutError::Token(_)), Err("token")) => {}
                (Err(LogoutError::NoEvent), Err("event")) => {}
                (Err(LogoutError::Nonce), Err("nonce")) => {}
                (Err(LogoutError::NoSubject), Err("subject")) => {}
                (Err(LogoutError::NoJti), Err("jti")) => {}
                (Err(LogoutError::Mistyped), Err("mistyped")) => {}
                _ => panic!("verify_logout_token {got:?}, oracle {verdict:?}, claims {claims:?}"),
            }
        }
    }
});
