//! `Provider::finish_login` with arbitrary token-endpoint answers: raw bodies (never a panic,
//! never a session from garbage) and structured ones whose verdict must match the oracle:
//! status 200, a JSON object with a string `id_token` that verifies and carries the login's
//! nonce; then the access token if it has JWT shape (two dots, and it must verify too), else
//! the id_token. A success then yields session cookies that authenticate.
#![no_main]

use arbitrary::Arbitrary;
use authentik_core::cookie;
use authentik_core::keys::Algorithm;
use authentik_core::login::{CallbackError, Issued, LoginState};
use authentik_core::provider::{Mode, Provider};
use authentik_core::token::MAX_JSON_DEPTH;
use fuzz_support::{b64, claims_valid, json_depth, provider, sign, JsonGen, KeyGen, Signer};
use fuzz_support::{AUD, EXTERNAL_SINGLE, ISS, LEEWAY, NOW};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

static P: LazyLock<Provider> = LazyLock::new(|| provider(Mode::Single, EXTERNAL_SINGLE, None));
static LOGIN: LazyLock<LoginState> = LazyLock::new(|| LoginState {
    state: "state-0123456789".into(),
    nonce: "nonce-0123456789".into(),
    code_verifier: "verifier-0123456789".into(),
    rd: "https://app.example/after".into(),
    created: NOW,
});

#[derive(Arbitrary, Debug)]
enum Nonce {
    Right,
    Wrong(String),
    Missing,
    Json(JsonGen),
}

#[derive(Arbitrary, Debug)]
enum Tok {
    Missing,
    Jwt {
        signer: Signer,
        exp_rel: i32,
        iss_ok: bool,
        aud_ok: bool,
        nonce: Nonce,
        extra: Vec<(KeyGen, JsonGen)>,
    },
    Opaque(String),
    Json(JsonGen),
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        status: u16,
        body: Vec<u8>,
    },
    Built {
        status_200: bool,
        status: u16,
        id_token: Tok,
        access_token: Tok,
        extra: Vec<(KeyGen, JsonGen)>,
        not_object: bool,
    },
}

/// The JSON value of a token field, and for a string, whether it is a valid token, whether its
/// nonce is the login's, its `exp` and its `sub`.
fn build(tok: &Tok) -> Option<(Value, bool, bool, u64, String)> {
    match tok {
        Tok::Missing => None,
        Tok::Jwt {
            signer,
            exp_rel,
            iss_ok,
            aud_ok,
            nonce,
            extra,
        } => {
            let mut claims = Map::new();
            for (k, v) in extra {
                claims.insert(k.name(), v.to_value());
            }
            claims.insert(
                "iss".into(),
                json!(if *iss_ok { ISS } else { "https://evil/" }),
            );
            claims.insert("aud".into(), json!(if *aud_ok { AUD } else { "other" }));
            let exp = NOW as i64 + i64::from(*exp_rel);
            claims.insert("exp".into(), json!(exp));
            claims.remove("nbf");
            claims.remove("iat");
            match nonce {
                Nonce::Right => drop(claims.insert("nonce".into(), json!(LOGIN.nonce))),
                Nonce::Wrong(s) => drop(claims.insert("nonce".into(), json!(s))),
                Nonce::Missing => drop(claims.remove("nonce")),
                Nonce::Json(j) => drop(claims.insert("nonce".into(), j.to_value())),
            }
            let message = format!(
                "{}.{}",
                b64(br#"{"alg":"HS256","typ":"JWT"}"#),
                b64(Value::Object(claims.clone()).to_string().as_bytes())
            );
            let sig = sign(*signer, Algorithm::HS256, message.as_bytes()).unwrap_or_default();
            let valid = *signer == Signer::HmacA
                && claims_valid(&claims, NOW, LEEWAY)
                && json_depth(&Value::Object(claims.clone())) <= MAX_JSON_DEPTH;
            let nonce_ok = claims.get("nonce").and_then(Value::as_str) == Some(&LOGIN.nonce);
            let sub = claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some((
                json!(format!("{message}.{}", b64(&sig))),
                valid,
                nonce_ok,
                exp.max(0) as u64,
                sub.to_string(),
            ))
        }
        Tok::Opaque(s) => Some((json!(s), false, false, 0, String::new())),
        Tok::Json(j) => Some((j.to_value(), false, false, 0, String::new())),
    }
}

fn check_success(p: &Provider, issued: &Issued) {
    let token = issued.token.as_str();
    let cookies = match p.session_cookies(issued, &LOGIN, NOW) {
        Ok(cookies) => cookies,
        // docs/architecture.md §4: tokens up to at least 16 KB fit the cookie chunks; a bigger one fails
        // closed (400), which is the documented limit, not a bug.
        Err(CallbackError::Seal) if token.len() > 16 * 1024 => return,
        Err(e) => panic!("session cookies for a {}-byte token: {e:?}", token.len()),
    };
    let pairs: Vec<&str> = cookies
        .iter()
        .filter(|c| !c.contains("Expires="))
        .map(|c| c.split(';').next().unwrap())
        .collect();
    assert!(!pairs.is_empty());
    let header = pairs.join("; ");
    let sealed = cookie::session_value(&[header.as_bytes()], p.cookie_name())
        .expect("chunks")
        .expect("session cookie");
    let identity = p
        .verify_session(&sealed, NOW)
        .0
        .expect("fresh session authenticates");
    assert_eq!(
        identity.field(authentik_core::fields::Field::Jwt),
        Some(token)
    );
}

fuzz_target!(|input: Input| {
    let p = &*P;
    match input {
        Input::Raw { status, body } => {
            let r = p.finish_login(status, &body, &LOGIN, NOW);
            if status != 200 {
                assert_eq!(r, Err(CallbackError::ExchangeFailed(status)));
            }
            if let Ok(issued) = r {
                // Only a genuinely signed id_token with the nonce gets here (seeds).
                check_success(p, &issued);
            }
        }
        Input::Built {
            status_200,
            status,
            id_token,
            access_token,
            extra,
            not_object,
        } => {
            let status = if status_200 { 200 } else { status };
            let mut body = Map::new();
            for (k, v) in extra {
                body.insert(k.name(), v.to_value());
            }
            body.remove("id_token");
            body.remove("access_token");
            let id = build(&id_token);
            let access = build(&access_token);
            if let Some((v, ..)) = &id {
                body.insert("id_token".into(), v.clone());
            }
            if let Some((v, ..)) = &access {
                body.insert("access_token".into(), v.clone());
            }
            // The answer's token members are strings or null; anything else is a bad answer.
            let mistyped = ["access_token", "id_token", "refresh_token"]
                .iter()
                .any(|name| {
                    body.get(*name)
                        .is_some_and(|v| !v.is_string() && !v.is_null())
                });
            let text = if not_object {
                Value::Array(vec![Value::Object(body)]).to_string()
            } else {
                Value::Object(body).to_string()
            };
            let r = p.finish_login(status, text.as_bytes(), &LOGIN, NOW);

            let expected: Result<(String, u64, bool), &str> = (|| {
                if status != 200 {
                    return Err("exchange");
                }
                if not_object || mistyped {
                    return Err("bad response");
                }
                let (id_value, id_valid, nonce_ok, id_exp, id_sub) =
                    id.clone().ok_or("bad response")?;
                let id_text = id_value.as_str().ok_or("bad response")?.to_string();
                if !id_valid {
                    return Err("token");
                }
                if !nonce_ok {
                    return Err("nonce");
                }
                match &access {
                    Some((Value::String(a), a_valid, _, a_exp, a_sub))
                        if a.matches('.').count() == 2 =>
                    {
                        if *a_valid && *a_sub == id_sub {
                            Ok((a.clone(), *a_exp, false))
                        } else {
                            Err("token")
                        }
                    }
                    _ => Ok((id_text, id_exp, true)),
                }
            })();
            match (&r, &expected) {
                (Ok(got), Ok(want)) => {
                    assert_eq!((got.token.clone(), got.exp, got.id_token), want.clone())
                }
                (Err(CallbackError::ExchangeFailed(s)), Err("exchange")) => assert_eq!(*s, status),
                (Err(CallbackError::BadTokenResponse), Err("bad response")) => {}
                (Err(CallbackError::Token(_)), Err("token")) => {}
                // A token the claim rules accept can still name its user unusably.
                (Err(CallbackError::Token(_)), Ok((token, ..)))
                    if p.verify_token(token.as_bytes(), NOW).is_err() => {}
                (Err(CallbackError::NonceMismatch), Err("nonce")) => {}
                _ => panic!("finish_login {r:?}, oracle {expected:?}; body {text}"),
            }
            if let Ok(issued) = r {
                check_success(p, &issued);
            }
        }
    }
});
