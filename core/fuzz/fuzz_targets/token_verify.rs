//! `Verifier::verify` over arbitrary bytes: never a panic, and nothing but a correctly signed,
//! valid token is accepted (random bytes are never signed, except the seeds).
#![no_main]

use authentik_core::token::{TokenError, MAX_TOKEN_BYTES};
use fuzz_support::{claims_valid, LEEWAY, NOW, VERIFIER_A, VERIFIER_B};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for keyed in [&*VERIFIER_A, &*VERIFIER_B] {
        match keyed.verifier.verify(data, NOW) {
            Ok(claims) => {
                // Only possible for a genuinely signed token (a seed, or a seed's exact
                // bytes): its claims must then satisfy the rules.
                assert!(
                    claims_valid(&claims.0, NOW, LEEWAY),
                    "accepted invalid claims"
                );
                assert!(data.len() <= MAX_TOKEN_BYTES);
            }
            Err(TokenError::TooLarge) => assert!(data.len() > MAX_TOKEN_BYTES),
            Err(_) => {}
        }
    }
});
