//! The login state (docs/architecture.md §5): `Provider::open_login_state` with arbitrary states, cookie
//! values and times; arbitrary plaintexts sealed under the real login-state key (what only
//! the server can produce, to reach the JSON parsing behind the seal); and full round trips
//! through `start_login`. A state opens only under its own cookie name, for its own state,
//! within [created, created + 600) (60 s of clock skew allowed before created), and never
//! under another provider's secret.
#![no_main]

use arbitrary::Arbitrary;
use authentik_core::login::{CallbackError, LOGIN_STATE_TTL_SECS};
use authentik_core::provider::{Mode, Provider};
use authentik_core::redirect::query_arg;
use authentik_core::seal::{self, SealKey};
use fuzz_support::{
    provider, provider_with, JsonGen, COOKIE_SECRET_A, COOKIE_SECRET_B, EXTERNAL_SINGLE, NOW,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::LazyLock;

static P: LazyLock<Provider> = LazyLock::new(|| provider(Mode::Single, EXTERNAL_SINGLE, None));
static OTHER: LazyLock<Provider> =
    LazyLock::new(|| provider_with(Mode::Single, EXTERNAL_SINGLE, None, COOKIE_SECRET_B, 1));

#[derive(Arbitrary, Debug)]
enum Field {
    Right,
    Missing,
    Json(JsonGen),
}

#[derive(Arbitrary, Debug)]
enum Plain {
    Bytes(Vec<u8>),
    Fields {
        s: Field,
        n: Field,
        v: Field,
        r: Field,
        t: Option<JsonGen>,
        created: u64,
        extra: JsonGen,
    },
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        state: String,
        cookie: Option<Vec<u8>>,
        now: u64,
    },
    Sealed {
        state: String,
        sealed_for_state: Option<String>,
        plain: Plain,
        now: u64,
    },
    RoundTrip {
        rd: String,
        dt: i32,
        other_state: String,
        tamper: Option<(u16, u8)>,
    },
}

fn oracle_open(plain: &[u8], state: &str, now: u64) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(plain) else {
        return false;
    };
    let strings = ["s", "n", "v", "r"]
        .iter()
        .all(|k| v.get(k).is_some_and(Value::is_string));
    let Some(t) = v.get("t").and_then(Value::as_u64) else {
        return false;
    };
    strings
        && v["s"].as_str() == Some(state)
        && (now as u128) < t as u128 + LOGIN_STATE_TTL_SECS as u128
        && t as u128 <= now as u128 + 60
}

fuzz_target!(|input: Input| {
    let p = &*P;
    match input {
        Input::Raw { state, cookie, now } => {
            let r = p.open_login_state(&state, cookie.as_deref(), now);
            match cookie {
                None => assert_eq!(r, Err(CallbackError::StateCookieMissing)),
                Some(_) => assert!(r.is_err() || r.as_ref().unwrap().state == state),
            }
        }
        Input::Sealed {
            state,
            sealed_for_state,
            plain,
            now,
        } => {
            let name_state = sealed_for_state.unwrap_or_else(|| state.clone());
            let plain = match plain {
                Plain::Bytes(b) => b,
                Plain::Fields {
                    s,
                    n,
                    v,
                    r,
                    t,
                    created,
                    extra,
                } => {
                    let mut obj = match extra.to_value() {
                        Value::Object(o) => o,
                        _ => Default::default(),
                    };
                    for (k, f, right) in [
                        ("s", s, json!(state)),
                        ("n", n, json!("nonce")),
                        ("v", v, json!("verifier")),
                        ("r", r, json!("https://app.example/")),
                    ] {
                        match f {
                            Field::Right => drop(obj.insert(k.into(), right)),
                            Field::Missing => drop(obj.remove(k)),
                            Field::Json(j) => drop(obj.insert(k.into(), j.to_value())),
                        }
                    }
                    obj.insert("t".into(), t.map_or(json!(created), |j| j.to_value()));
                    Value::Object(obj).to_string().into_bytes()
                }
            };
            let name = p.login_state_cookie_name(&name_state);
            let Ok(sealed) = seal::seal(
                &SealKey::derive(COOKIE_SECRET_A, "login-state"),
                &name,
                &plain,
            ) else {
                return;
            };
            let r = p.open_login_state(&state, Some(sealed.as_bytes()), now);
            // Another state's cookie never opens (barring a 48-bit digest collision).
            let expected =
                p.login_state_cookie_name(&state) == name && oracle_open(&plain, &state, now);
            let created = serde_json::from_slice::<Value>(&plain)
                .ok()
                .and_then(|v| v.get("t")?.as_u64());
            match (&r, expected) {
                (Ok(_), true) | (Err(_), false) => {}
                (Ok(_), false) => panic!("opened outside the rules: {r:?}"),
                // Failing closed at the end of time (created + 600 saturates) is fine.
                (Err(CallbackError::StateExpired), true)
                    if created.is_some_and(|t| t.checked_add(LOGIN_STATE_TTL_SECS).is_none()) => {}
                (Err(_), true) => panic!("a valid login state did not open: {r:?}"),
            }
            // The session key never opens a login state.
            assert!(seal::open(
                &SealKey::derive(COOKIE_SECRET_A, "session"),
                &name,
                sealed.as_bytes()
            )
            .is_err());
        }
        Input::RoundTrip {
            rd,
            dt,
            other_state,
            tamper,
        } => {
            let start = p
                .start_login(rd.clone(), NOW, std::iter::empty())
                .expect("start_login");
            let (location, set_cookie) = (start.location, start.cookies[0].clone());
            let query = location.split_once('?').expect("query").1.as_bytes();
            let state = query_arg(query, "state").unwrap();
            let challenge = query_arg(query, "code_challenge").unwrap();
            let pair = set_cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            assert_eq!(name, p.login_state_cookie_name(&state));
            assert!(set_cookie.contains(&format!("Max-Age={LOGIN_STATE_TTL_SECS}")));
            assert!(!set_cookie.bytes().any(|b| b.is_ascii_control()));
            let now = NOW.saturating_add_signed(i64::from(dt));
            let r = p.open_login_state(&state, Some(value.as_bytes()), now);
            let live = now < NOW + LOGIN_STATE_TTL_SECS && NOW <= now + 60;
            if live {
                let login = r.expect("fresh login state opens");
                assert_eq!(login.rd, rd);
                assert_eq!(login.state, state);
                assert_eq!(login.code_challenge(), challenge);
                let body = p.token_request_body("code", &login);
                assert_eq!(
                    query_arg(body.as_bytes(), "code_verifier").unwrap(),
                    login.code_verifier
                );
            } else {
                assert_eq!(r, Err(CallbackError::StateExpired));
            }
            if other_state != state {
                assert!(p
                    .open_login_state(&other_state, Some(value.as_bytes()), NOW)
                    .is_err());
            }
            assert!(OTHER
                .open_login_state(&state, Some(value.as_bytes()), NOW)
                .is_err());
            if let Some((at, xor)) = tamper {
                let mut bytes = value.as_bytes().to_vec();
                let at = at as usize % bytes.len();
                bytes[at] ^= xor;
                if bytes != value.as_bytes() {
                    assert!(p.open_login_state(&state, Some(&bytes), NOW).is_err());
                }
            }
        }
    }
});
