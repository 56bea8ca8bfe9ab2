//! `basic::basic_credentials` (the `Authorization: Basic` parser) against a restatement of
//! RFC 7617 as the module reads it: scheme `Basic` in any case, then spaces or tabs, then
//! standard padded base64 of UTF-8 `username:password` with no control character, a non-empty
//! username without `:` of at most 1 KB, a non-empty password (at most 1 KB unless the
//! username is `goauthentik.io/token`). A result re-encoded parses back to itself, and the
//! cache key depends on every byte.
#![no_main]

use authentik_core::basic::{
    basic_credentials, basic_key, BasicCredentials, BasicError, MAX_APP_PASSWORD_BYTES,
    MAX_CREDENTIALS_BYTES, MAX_USERNAME_BYTES, TOKEN_USERNAME,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;

fn oracle(header: &[u8]) -> Option<Result<BasicCredentials, BasicError>> {
    if header.len() < 5 || !header[..5].eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let rest = &header[5..];
    let encoded = match rest.first() {
        None => return Some(Err(BasicError::Empty)),
        Some(b' ' | b'\t') => rest.trim_ascii(),
        Some(_) => return None,
    };
    Some((|| {
        if encoded.is_empty() {
            return Err(BasicError::Empty);
        }
        if encoded.len() > (MAX_CREDENTIALS_BYTES + 2) / 3 * 4 {
            return Err(BasicError::TooLong);
        }
        let plain = STANDARD
            .decode(encoded)
            .map_err(|_| BasicError::NotBase64)?;
        let text = String::from_utf8(plain).map_err(|_| BasicError::NotUtf8)?;
        let colon = text.find(':').ok_or(BasicError::NoColon)?;
        if text.chars().any(|c| c.is_control()) {
            return Err(BasicError::ControlCharacter);
        }
        let (user, pass) = (&text[..colon], &text[colon + 1..]);
        if user.is_empty() {
            return Err(BasicError::EmptyUsername);
        }
        if pass.is_empty() {
            return Err(BasicError::EmptyPassword);
        }
        if user.len() > MAX_USERNAME_BYTES {
            return Err(BasicError::TooLong);
        }
        if user == TOKEN_USERNAME {
            return Ok(BasicCredentials::Token(pass.into()));
        }
        if pass.len() > MAX_APP_PASSWORD_BYTES {
            return Err(BasicError::TooLong);
        }
        Ok(BasicCredentials::AppPassword {
            username: user.into(),
            password: pass.into(),
        })
    })())
}

fuzz_target!(|data: &[u8]| {
    let got = basic_credentials(data);
    assert_eq!(got, oracle(data), "{:?}", String::from_utf8_lossy(data));
    if let Some(Ok(credentials)) = &got {
        let (user, pass) = match credentials {
            BasicCredentials::Token(token) => (TOKEN_USERNAME, token.as_str()),
            BasicCredentials::AppPassword { username, password } => {
                assert_ne!(username, TOKEN_USERNAME);
                (username.as_str(), password.as_str())
            }
        };
        assert!(!user.contains(':') && !user.is_empty() && !pass.is_empty());
        assert!(!user.chars().chain(pass.chars()).any(char::is_control));
        let again = format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")));
        assert_eq!(
            basic_credentials(again.as_bytes()).as_ref(),
            Some(&Ok(credentials.clone()))
        );
    }
    if let Some((last, rest)) = data.split_last() {
        assert_eq!(basic_key(0, data), basic_key(0, data));
        assert_ne!(basic_key(0, data), basic_key(0, rest), "{last}");
        assert_ne!(basic_key(0, data), basic_key(1, data));
    }
});
