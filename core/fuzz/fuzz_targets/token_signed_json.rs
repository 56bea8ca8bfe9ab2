//! Arbitrary header and payload JSON text, correctly HS256-signed with the verifier's secret:
//! this reaches everything behind the signature check (depth scan, header rules, claim
//! checks). Input: `header JSON \0 payload JSON`, or only the payload (header
//! `{"alg":"HS256"}`). Oracle: a real JSON parse. Accepted iff both parts parse, nest at most
//! MAX_JSON_DEPTH, the header is `alg: "HS256"` with a string or no `kid` and no `crit`, the
//! payload is an object and its claims are valid, and neither part has a member name twice
//! in one object. A depth over the limit must be `TooDeep`; a duplicate name in an otherwise
//! acceptable header, or in a payload behind a good header, `DuplicateMember`.
#![no_main]

use authentik_core::keys::Algorithm;
use authentik_core::token::{TokenError, MAX_JSON_DEPTH};
use fuzz_support::{
    b64, claims_valid, has_duplicate_names, json_depth, sign, Signer, LEEWAY, NOW, VERIFIER_A,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let (header, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&br#"{"alg":"HS256"}"#[..], data),
    };
    let message = format!("{}.{}", b64(header), b64(payload));
    let sig = sign(Signer::HmacA, Algorithm::HS256, message.as_bytes()).unwrap();
    let token = format!("{message}.{}", b64(&sig));
    let verdict = VERIFIER_A
        .verifier
        .verify(token.as_bytes(), NOW, |_, payload| {
            serde_json::from_slice::<Map<String, Value>>(payload).expect("a verified payload")
        });

    let parsed_header = serde_json::from_slice::<Value>(header).ok();
    let parsed_payload = serde_json::from_slice::<Value>(payload).ok();
    let too_deep = [&parsed_header, &parsed_payload]
        .iter()
        .any(|p| p.as_ref().is_some_and(|v| json_depth(v) > MAX_JSON_DEPTH));
    if too_deep {
        assert_eq!(verdict.unwrap_err(), TokenError::TooDeep);
        return;
    }
    if parsed_header.is_some() && parsed_payload.is_some() {
        assert_ne!(
            verdict,
            Err(TokenError::TooDeep),
            "depth scan disagrees with the parser"
        );
    }
    let header_ok = parsed_header
        .as_ref()
        .and_then(Value::as_object)
        .is_some_and(|h: &Map<String, Value>| {
            h.get("alg").and_then(Value::as_str) == Some("HS256")
                && h.get("kid").is_none_or(Value::is_string)
                && !h.contains_key("crit")
        });
    let header_dup = has_duplicate_names(header) == Some(true);
    let payload_dup = has_duplicate_names(payload) == Some(true);
    if header_dup && parsed_header.as_ref().is_some_and(Value::is_object) {
        // The depth bound is checked on both parts' text before either is parsed, so a
        // payload that is not JSON but nests too deep is refused as that first.
        let expected = match parsed_payload {
            None if !depth_scan_within(payload) => TokenError::TooDeep,
            _ => TokenError::DuplicateMember,
        };
        assert_eq!(verdict.unwrap_err(), expected);
        return;
    }
    if header_ok && payload_dup && parsed_payload.as_ref().is_some_and(Value::is_object) {
        assert_eq!(verdict.unwrap_err(), TokenError::DuplicateMember);
        return;
    }
    let claims = parsed_payload.as_ref().and_then(Value::as_object);
    let expected = header_ok
        && !header_dup
        && !payload_dup
        && claims.is_some_and(|c| claims_valid(c, NOW, LEEWAY));
    assert_eq!(
        verdict.is_ok(),
        expected,
        "verdict {verdict:?}; header {:?} payload {:?}",
        String::from_utf8_lossy(header),
        String::from_utf8_lossy(payload)
    );
    if let Ok(c) = verdict {
        assert_eq!(Some(&c), claims);
    }
});

/// The bracket nesting of `json` outside strings stays within MAX_JSON_DEPTH, for any text:
/// the oracle's reading of the verifier's pre-parse depth bound.
fn depth_scan_within(json: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}
