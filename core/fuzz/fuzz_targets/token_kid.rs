//! `remote_jwks::signing_key_of`, which reads a token's algorithm and `kid` to decide whether
//! a JWKS fetch could help: never a panic, and when it answers, the answer is what a JSON
//! parse of the base64url header says. Input: arbitrary text as a token, and an arbitrary
//! header JSON text made into one.
#![no_main]

use authentik_core::keys::Algorithm;
use authentik_core::remote_jwks::signing_key_of;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn check(token: &str) {
    let Some((alg, kid)) = signing_key_of(token) else {
        return;
    };
    let (header, _) = token.split_once('.').expect("a header part");
    let json = URL_SAFE_NO_PAD.decode(header).expect("base64url header");
    let value: Value = serde_json::from_slice(&json).expect("a JSON header");
    assert_eq!(
        value["alg"].as_str().and_then(Algorithm::from_name),
        Some(alg),
        "{value}"
    );
    match (&value["kid"], kid) {
        (Value::Null, None) => {}
        (Value::String(a), Some(b)) => assert_eq!(a, &b),
        (other, kid) => panic!("kid {other} read as {kid:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);
    let made = format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(data));
    check(&made);
});
