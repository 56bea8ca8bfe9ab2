//! `KeySet::new` (the JWKS parser, run by `nginx -t` and at reload) on arbitrary text and
//! allow-lists: errors, never a panic. A key set that loads verifies arbitrary signatures
//! without panicking, and never accepts an algorithm outside its allow-list.
//! Input: first byte = allow-list bitmask selector, second = secret selector, rest = JWKS text.
#![no_main]

use authentik_core::keys::{Algorithm, KeyError, KeySet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [mask, secret, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let allowed: Vec<Algorithm> = Algorithm::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| (u16::from(*mask) * 17) >> (i % 12) & 1 == 1)
        .map(|(_, a)| *a)
        .collect();
    let secret: &[u8] = if secret & 1 == 0 { b"secret" } else { b"" };
    let allow = (mask & 0x80 != 0).then_some(allowed.as_slice());
    match KeySet::new(secret, Some(text), allow) {
        Ok(ks) => {
            assert!(!ks.algorithms().is_empty());
            for alg in Algorithm::ALL {
                let r = ks.verify(alg, None, b"header.payload", &"A".repeat(86));
                if !ks.algorithms().contains(&alg) {
                    assert_eq!(r, Err(KeyError::AlgorithmNotAllowed));
                } else {
                    assert!(r.is_err(), "a zero signature verified");
                }
                let _ = ks.verify(
                    alg,
                    Some("kid"),
                    text.as_bytes(),
                    &String::from_utf8_lossy(rest),
                );
            }
            if let Some(list) = allow {
                assert!(ks.algorithms().iter().all(|a| list.contains(a)));
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
