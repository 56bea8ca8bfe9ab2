//! Micro-benchmarks of the per-request work (docs/architecture.md §8). Run with
//! `cargo bench -p authentik-core --bench hot_path`; BENCHMARKS.md records the numbers.
//!
//! * `uncached/*`: open the sealed session cookie, verify the token and build the identity
//!   (`Provider::verify_session`), for each signing algorithm; `uncached/decide_HS256` is the
//!   whole `Provider::decide` with the cache disabled, cookie parsing included;
//! * `cached/decide`: `Provider::decide` with a warm cache (the hot path);
//! * `cookie/session_value`: finding the session in a realistic `Cookie` header;
//!   `cookie/crate_split_parse`: the same with `cookie::Cookie::split_parse`, for comparison;
//! * `cache/hash_sampled` and `cache/hash_siphash`: hashing the 1.8 KB cache key with the
//!   cache's sampling hasher and with std's SipHash;
//! * `parts/*`: the steps of an uncached request on their own;
//! * `jsonwebtoken/*`: `jsonwebtoken::decode` of the same tokens with the same checks, against
//!   the module's verifier (`Provider::verify_token`, jsonwebtoken's JWS check inside the
//!   module's policy and typed claims) for comparison.
//!
//! `HOT_PATH_COUNT=NAME:N` runs one routine N times instead, for instruction counts under
//! callgrind (see `main`).

use std::hash::{Hash, Hasher};
use std::hint::black_box;

use authentik_core::auth::Worker;
use authentik_core::cache::WordHasher;
use authentik_core::claims::Claims;
use authentik_core::conf::{Location, LocationSettings};
use authentik_core::cookie;
use authentik_core::provider::Provider;
use authentik_core::request::RequestFacts;
use authentik_core::seal::SealKey;
use authentik_core::session;

#[path = "common.rs"]
mod common;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{CLIENT_ID, CLIENT_SECRET, COOKIE_SECRET, ISSUER};
use criterion::Criterion;
use jsonwebtoken::{Algorithm as Jalg, DecodingKey, EncodingKey, Validation};
use serde_json::{json, Value};

const COOKIE_NAME: &str = "authentik_nginx_bench";
const NOW: u64 = 1_750_000_000;

const JWKS: &str = include_str!("../tests/fixtures/keys_jwks.json");
const RSA1: &str = include_str!("../tests/fixtures/keys_rsa1.pem");
const RSA1_PUB: &str = include_str!("../tests/fixtures/keys_rsa1_pub.pem");
const EC256: &str = include_str!("../tests/fixtures/keys_ec256.pem");
const ED25519: &str = include_str!("../tests/fixtures/keys_ed25519.pem");

/// akadmin's access token as authentik issues it (tests/src/tokens.rs), valid at NOW.
fn claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "3944a1807a752510bdd77383390dc5f4c7802d97ca77464c1d5416e90dbb6dfe",
        "aud": CLIENT_ID, "exp": NOW + 3600, "iat": NOW - 5, "auth_time": NOW - 120,
        "acr": "goauthentik.io/providers/oauth2/default", "amr": ["pwd"],
        "sid": "f427888b284cd64852137a3413bace07b6b039695e91a900408fd5fa62296620",
        "jti": "25a1f2564487bd68fca3782200da2368", "azp": CLIENT_ID,
        "uid": "4b5124fae70fd93478b3be6afc361eb8",
        "scope": "openid profile email entitlements ak_proxy",
        "email": "admin@authentik.company", "email_verified": false,
        "name": "authentik Default Admin", "given_name": "authentik Default Admin",
        "preferred_username": "akadmin", "nickname": "akadmin",
        "groups": ["authentik Admins", "users"], "entitlements": ["app-admin", "billing"],
        "ak_proxy": {"user_attributes": {"additionalHeaders": {"X-Foo": "bar", "X-Team": "platform"}},
                     "is_superuser": true}
    })
}

/// The fixture JWKS reduced to the key `kid` (one key per provider, as in scripts/bench).
fn jwks_with(kid: &str) -> String {
    let all: Value = serde_json::from_str(JWKS).unwrap();
    let key = all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .clone();
    json!({ "keys": [key] }).to_string()
}

struct Case {
    name: &'static str,
    provider: Provider,
    token: String,
    sealed: String,
    jalg: Jalg,
}

fn case(name: &'static str, jalg: Jalg, kid: Option<&str>, key: &EncodingKey) -> Case {
    let jwks = kid.map(jwks_with);
    let provider = common::provider(COOKIE_NAME, jwks.as_deref());
    let mut header = jsonwebtoken::Header::new(jalg);
    header.kid = kid.map(str::to_string);
    let token = jsonwebtoken::encode(&header, &claims(), key).unwrap();
    let mut cookies = session::seal_session(&session_key(), COOKIE_NAME, token.as_bytes()).unwrap();
    assert_eq!(cookies.len(), 1, "the bench session fits one cookie");
    let sealed = cookies.remove(0).1;
    // Sanity: every case authenticates.
    provider.verify_session(sealed.as_bytes(), NOW).0.unwrap();
    Case {
        name,
        provider,
        token,
        sealed,
        jalg,
    }
}

fn session_key() -> SealKey {
    SealKey::derive(COOKIE_SECRET.as_bytes(), "session")
}

/// The location of `authentik hs;` with no other setting.
fn location() -> Location {
    LocationSettings::default().resolve(&["bench"]).unwrap()
}

/// A browser's `Cookie` header on an app behind authentik: analytics, CSRF, preferences and
/// the session, in that order.
fn cookie_header(sealed: &str) -> String {
    format!(
        "_ga=GA1.1.1234567890.1712345678; csrftoken=Zx9bQ2wE4rT6yU8iO0pA1sD3fG5hJ7kL; \
         theme=dark; {COOKIE_NAME}={sealed}; _gid=GA1.2.987654321.1712345678; lang=en-GB"
    )
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "HS256",
            Jalg::HS256,
            None,
            &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()).unwrap(),
        ),
        case(
            "RS256",
            Jalg::RS256,
            Some("rsa1-rs256"),
            &EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap(),
        ),
        case(
            "ES256",
            Jalg::ES256,
            Some("ec256"),
            &EncodingKey::from_ec_pem(EC256.as_bytes()).unwrap(),
        ),
        case(
            "EdDSA",
            Jalg::EdDSA,
            Some("ed25519"),
            &EncodingKey::from_ed_pem(ED25519.as_bytes()).unwrap(),
        ),
    ]
}

/// A routine to measure: its criterion id and one operation.
type Routine<'a> = (String, Box<dyn FnMut() + 'a>);

/// What the routines borrow: built once, before any measurement.
struct State {
    cases: Vec<Case>,
    headers: [Vec<u8>; 1],
    bearer: String,
    signing_input: String,
    signature: Vec<u8>,
    hmac_key: aws_lc_rs::hmac::Key,
    payload: Vec<u8>,
    /// jsonwebtoken's cases: name, token (far-future `exp`), key, validation.
    jwt: Vec<(&'static str, String, DecodingKey, Validation)>,
}

fn state() -> State {
    let cases = cases();
    let hs = &cases[0];
    let headers = [cookie_header(&hs.sealed).into_bytes()];
    let bearer = format!("Bearer {}", hs.token);
    let (signing_input, signature) = hs.token.rsplit_once('.').unwrap();
    let (_, payload_b64) = signing_input.split_once('.').unwrap();
    let payload = URL_SAFE_NO_PAD.decode(payload_b64).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    // jsonwebtoken::decode with the checks the module makes (iss, aud, exp; leeway 60 s). It
    // validates against the wall clock, so these tokens get a far-future `exp`.
    let far = {
        let mut v = claims();
        v["exp"] = json!(4_000_000_000u64);
        v
    };
    let jwt = [
        (
            "HS256",
            EncodingKey::from_secret(CLIENT_SECRET.as_bytes()).unwrap(),
            DecodingKey::from_secret(CLIENT_SECRET.as_bytes()).unwrap(),
        ),
        (
            "RS256",
            EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap(),
            DecodingKey::from_rsa_pem(RSA1_PUB.as_bytes()).unwrap(),
        ),
    ]
    .into_iter()
    .map(|(name, encoding, decoding)| {
        let alg = cases.iter().find(|c| c.name == name).unwrap().jalg;
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &far, &encoding).unwrap();
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[CLIENT_ID]);
        validation.leeway = 60;
        jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        (name, token, decoding, validation)
    })
    .collect();
    State {
        headers,
        bearer,
        signing_input: signing_input.to_string(),
        signature,
        hmac_key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes()),
        payload,
        jwt,
        cases,
    }
}

fn routines(st: &State) -> Vec<Routine<'_>> {
    let hs = &st.cases[0];
    let headers: [&[u8]; 1] = [&st.headers[0]];
    let mut out: Vec<Routine<'_>> = Vec::new();
    for case in &st.cases {
        out.push((
            format!("uncached/{}", case.name),
            Box::new(move || {
                black_box(
                    case.provider
                        .verify_session(black_box(case.sealed.as_bytes()), NOW)
                        .0
                        .unwrap(),
                );
            }),
        ));
    }
    let page =
        |cookies: &'static [&'static [u8]], authorization: Option<&'static [u8]>| RequestFacts {
            uri: b"/index.html",
            request_uri: b"/index.html",
            cookies,
            authorization,
            ..Default::default()
        };
    let cookies: &'static [&'static [u8]] =
        Box::leak(Box::new([
            Box::leak(st.headers[0].clone().into_boxed_slice()) as &[u8],
        ]));
    let bearer: &'static [u8] = Box::leak(st.bearer.clone().into_bytes().into_boxed_slice());
    let location: &'static Location = Box::leak(Box::new(location()));
    let mut disabled = Worker::new(0, 0);
    out.push((
        "uncached/decide_HS256".into(),
        Box::new(move || {
            black_box(hs.provider.decide(
                location,
                black_box(&page(cookies, None)),
                &mut disabled,
                NOW,
            ));
        }),
    ));
    let mut warm = Worker::new(10_000, 16 << 20);
    hs.provider
        .decide(location, &page(cookies, None), &mut warm, NOW);
    out.push((
        "cached/decide".into(),
        Box::new(move || {
            black_box(hs.provider.decide(
                location,
                black_box(&page(cookies, None)),
                &mut warm,
                NOW,
            ));
        }),
    ));
    let mut warm = Worker::new(10_000, 16 << 20);
    hs.provider
        .decide(location, &page(&[], Some(bearer)), &mut warm, NOW);
    out.push((
        "cached/decide_bearer".into(),
        Box::new(move || {
            black_box(hs.provider.decide(
                location,
                black_box(&page(&[], Some(bearer))),
                &mut warm,
                NOW,
            ));
        }),
    ));
    out.push((
        "cookie/session_value".into(),
        Box::new(move || {
            black_box(cookie::session_value(black_box(&headers), COOKIE_NAME).unwrap());
        }),
    ));

    // The library alternatives to the two hand-written hot-path pieces (BENCHMARKS.md,
    // "What is still hand-written"): the cookie crate reading the whole header, and std's
    // SipHash over the whole 1.8 KB cache key.
    let header = std::str::from_utf8(&st.headers[0]).unwrap();
    out.push((
        "cookie/crate_split_parse".into(),
        Box::new(move || {
            let found = ::cookie::Cookie::split_parse(black_box(header))
                .filter_map(Result::ok)
                .find(|c| c.name() == COOKIE_NAME);
            black_box(found.unwrap().value().len());
        }),
    ));
    let sealed = hs.sealed.as_bytes();
    out.push((
        "cache/hash_sampled".into(),
        Box::new(move || {
            let mut hasher = WordHasher::default();
            black_box(sealed).hash(&mut hasher);
            black_box(hasher.finish());
        }),
    ));
    out.push((
        "cache/hash_siphash".into(),
        Box::new(move || {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            black_box(sealed).hash(&mut hasher);
            black_box(hasher.finish());
        }),
    ));

    let key = session_key();
    out.push((
        "parts/open_session".into(),
        Box::new(move || {
            black_box(
                session::open_session(&key, COOKIE_NAME, black_box(hs.sealed.as_bytes())).unwrap(),
            );
        }),
    ));
    for case in &st.cases {
        out.push((
            format!("parts/verify_token_{}", case.name),
            Box::new(move || {
                black_box(
                    case.provider
                        .verify_token(black_box(case.token.as_bytes()), NOW)
                        .unwrap(),
                );
            }),
        ));
    }
    // The pieces of a verify, with the crates the verifier uses, to see where the time goes.
    out.push((
        "parts/hmac_sha256_verify".into(),
        Box::new(move || {
            aws_lc_rs::hmac::verify(
                &st.hmac_key,
                black_box(st.signing_input.as_bytes()),
                &st.signature,
            )
            .unwrap();
        }),
    ));
    let joined = st.signing_input.replace('.', "");
    out.push((
        "parts/base64_decode_token".into(),
        Box::new(move || {
            black_box(URL_SAFE_NO_PAD.decode(black_box(&joined)).unwrap());
        }),
    ));
    let joined_simd = st.signing_input.replace('.', "");
    out.push((
        "parts/base64_simd_decode_token".into(),
        Box::new(move || {
            black_box(
                base64_simd::URL_SAFE_NO_PAD
                    .decode_to_vec(black_box(&joined_simd))
                    .unwrap(),
            );
        }),
    ));
    out.push((
        "parts/json_payload_to_map".into(),
        Box::new(move || {
            black_box(
                serde_json::from_slice::<serde_json::Map<String, Value>>(black_box(&st.payload))
                    .unwrap(),
            );
        }),
    ));
    out.push((
        "parts/json_payload_typed".into(),
        Box::new(move || {
            black_box(Claims::parse(black_box(&st.payload)).unwrap());
        }),
    ));

    for (name, token, decoding, validation) in &st.jwt {
        let case = st.cases.iter().find(|c| c.name == *name).unwrap();
        out.push((
            format!("jsonwebtoken/decode_{name}"),
            Box::new(move || {
                black_box(
                    jsonwebtoken::decode::<Value>(black_box(token), decoding, validation).unwrap(),
                );
            }),
        ));
        out.push((
            format!("jsonwebtoken/module_verify_token_{name}"),
            Box::new(move || {
                black_box(
                    case.provider
                        .verify_token(black_box(token.as_bytes()), NOW)
                        .unwrap(),
                );
            }),
        ));
    }
    out
}

/// Run `routine` `count` times: the one function callgrind counts in (`--toggle-collect`), so
/// set-up, and aws-lc's one-time entropy gathering (jitter measurements whose length varies
/// from run to run), are not counted.
#[inline(never)]
fn measured(routine: &mut dyn FnMut(), count: u64) {
    for _ in 0..count {
        routine();
    }
}

/// `HOT_PATH_COUNT=NAME:N` runs routine NAME N times and exits, for counting instructions:
/// callgrind's count inside `measured`, divided by N, is the routine's instruction count,
/// which a busy machine does not disturb. Otherwise: criterion.
fn main() {
    let st = state();
    let mut routines = routines(&st);
    if let Ok(spec) = std::env::var("HOT_PATH_COUNT") {
        let (name, count) = spec.rsplit_once(':').expect("HOT_PATH_COUNT=NAME:N");
        let count: u64 = count.parse().expect("HOT_PATH_COUNT=NAME:N");
        let (_, routine) = routines
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no routine {name}"));
        measured(routine, count);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .configure_from_args();
    for (name, routine) in &mut routines {
        c.bench_function(name, |b| b.iter(&mut *routine));
    }
    c.final_summary();
}
