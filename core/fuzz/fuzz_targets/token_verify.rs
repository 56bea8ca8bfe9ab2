//! `Verifier::verify` over arbitrary bytes: never a panic, and nothing but a correctly signed,
//! valid token is accepted (random bytes are never signed, except the seeds).
#![no_main]

use authentik_core::token::{TokenError, MAX_TOKEN_BYTES};
use fuzz_support::{claims_valid, LEEWAY, NOW, VERIFIER_A, VERIFIER_B};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for keyed in [&*VERIFIER_A, &*VERIFIER_B] {
        let verdict = keyed.verifier.verify(data, NOW, |_, payload| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(payload)
                .expect("a verified payload is an object")
        });
        match verdict {
            Ok(claims) => {
                // Only possible for a genuinely signed token (a seed, or a seed's exact
                // bytes): its claims must then satisfy the rules.
                assert!(
                    claims_valid(&claims, NOW, LEEWAY),
                    "accepted invalid claims"
                );
                assert!(data.len() <= MAX_TOKEN_BYTES);
            }
            Err(TokenError::TooLarge) => assert!(data.len() > MAX_TOKEN_BYTES),
            Err(_) => {}
        }
    }
});
