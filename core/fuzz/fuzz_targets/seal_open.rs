//! `seal::open`, `session::open_session` and `cookie::session_value` on arbitrary bytes:
//! every malformed, tampered or foreign value is an error, never a panic.
//! Input: one byte choosing the cookie name, then the value (also read as a Cookie header).
#![no_main]

use authentik_core::cookie;
use authentik_core::seal::{self, SealError, SealKey, MAX_SEALED_LEN};
use authentik_core::session::{self, SessionError, MAX_SEALED_SESSION};
use fuzz_support::{COOKIE_SECRET_A, COOKIE_SECRET_B};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static KEYS: LazyLock<[SealKey; 3]> = LazyLock::new(|| {
    [
        SealKey::derive(COOKIE_SECRET_A, "session"),
        SealKey::derive(COOKIE_SECRET_A, "login-state"),
        SealKey::derive(COOKIE_SECRET_B, "session"),
    ]
});
const NAMES: &[&str] = &[
    "authentik_nginx_6f6d5b5b",
    "s",
    "s_1",
    "",
    "app_login_0123456789ab",
];

fn check_open(result: &Result<Vec<u8>, SealError>, sealed: &[u8]) {
    match result {
        Ok(plain) => assert_eq!(seal::sealed_len(plain.len()), sealed.len()),
        Err(SealError::TooLarge) => assert!(sealed.len() > MAX_SEALED_LEN),
        Err(SealError::Random) => panic!("open never needs randomness"),
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, value)) = data.split_first() else {
        return;
    };
    let name = NAMES[selector as usize % NAMES.len()];
    for key in KEYS.iter() {
        check_open(&seal::open(key, name, value), value);
        match session::open_session(key, name, value) {
            Err(SessionError::TooLarge) => assert!(value.len() > MAX_SEALED_SESSION),
            Err(SessionError::Seal(e)) => check_open(&Err(e), value),
            Ok(plain) => check_open(&Ok(plain), value),
        }
    }
    // The same bytes as Cookie headers (split at '\n'), reassembled and opened.
    let headers: Vec<&[u8]> = value.split(|&b| b == b'\n').collect();
    if let Ok(Some(joined)) = cookie::session_value(&headers, name) {
        let _ = session::open_session(&KEYS[0], name, &joined);
    }
});
