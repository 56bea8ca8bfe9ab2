//! Session cookies, sealed with `authentik-core` exactly as the module seals them.

use authentik_core::seal::SealKey;
use authentik_core::session::seal_session;

use crate::tokens::{CLIENT_ID, COOKIE_SECRET};

/// `authentik_nginx_` + the first 8 hex characters of sha256(client_id).
pub fn default_cookie_name(client_id: &str) -> String {
    authentik_core::provider::default_cookie_name(client_id)
}

/// Seal `token` into the (name, value) cookie pairs of session cookie `name`.
pub fn seal_for(cookie_secret: &[u8], name: &str, token: &str) -> Vec<(String, String)> {
    let key = SealKey::derive(cookie_secret, "session");
    match seal_session(&key, name, token.as_bytes()) {
        Ok(pairs) => pairs,
        Err(_) => panic!("seal_session({name}, {} bytes) failed", token.len()),
    }
}

/// The standard provider's session cookie(s) for `token`.
pub fn session(token: &str) -> Vec<(String, String)> {
    seal_for(
        COOKIE_SECRET.as_bytes(),
        &default_cookie_name(CLIENT_ID),
        token,
    )
}

/// `n1=v1; n2=v2`.
pub fn cookie_header(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `value` with one base64url character in the middle changed (breaks the AEAD tag check).
pub fn tamper_value(value: &str) -> String {
    let mut bytes = value.as_bytes().to_vec();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ascii")
}
