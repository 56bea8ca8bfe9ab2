//! AEAD sealing of cookie values, bound to the cookie name (docs/architecture.md §4).
//!
//! A sealed value is base64url (no padding) of `version (1) || nonce (12) || ciphertext || tag
//! (16)`, encrypted with AES-256-GCM. The key is HKDF-SHA256 of `cookie_secret` with a purpose
//! label as `info` ("session", "login-state"), so cookies of one kind never open as the other.
//! The cookie name is the associated data, so a value moved to another cookie name (or another
//! provider's cookie) does not open. [`open`] bounds its input and turns every malformed,
//! tampered or foreign value into a [`SealError`], never a panic.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64_simd::URL_SAFE_NO_PAD;

/// The first byte of every sealed value; bumped if the format ever changes.
pub const VERSION: u8 = 1;

/// HKDF salt: a fixed label of this format.
const HKDF_SALT: &[u8] = b"ngx_http_authentik_module v1";

/// Length of the AES-GCM authentication tag.
const TAG_LEN: usize = 16;

/// Bytes of the decoded value before the ciphertext: version and nonce.
const HEADER_LEN: usize = 1 + NONCE_LEN;

/// Largest sealed (base64url) value [`open`] accepts and [`seal`] produces: 96 KiB.
pub const MAX_SEALED_LEN: usize = 96 * 1024;

/// Length of the sealed (base64url) value for a plaintext of `plaintext_len` bytes.
pub const fn sealed_len(plaintext_len: usize) -> usize {
    let raw = HEADER_LEN + plaintext_len + TAG_LEN;
    // base64 without padding: 4 characters per 3 bytes, plus 2 or 3 for a partial group.
    (raw / 3) * 4
        + match raw % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

/// AES-256-GCM key derived with HKDF-SHA256 from `cookie_secret` and a purpose label
/// ("session" or "login-state"), so the two cookie kinds never open each other.
pub struct SealKey {
    key: LessSafeKey,
}

impl SealKey {
    /// Derive the key for `purpose` from the provider's `cookie_secret`.
    pub fn derive(cookie_secret: &[u8], purpose: &str) -> SealKey {
        let info = [purpose.as_bytes()];
        let prk = Salt::new(HKDF_SHA256, HKDF_SALT).extract(cookie_secret);
        let okm = prk
            .expand(&info, &AES_256_GCM)
            // HKDF only fails for outputs over 255 hash lengths; 32 bytes never does.
            .expect("HKDF-SHA256 expands to 32 bytes");
        SealKey {
            key: LessSafeKey::new(UnboundKey::from(okm)),
        }
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(AES-256-GCM, redacted)")
    }
}

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// The sealed value (or the value it would seal to) exceeds [`MAX_SEALED_LEN`].
    TooLarge,
    /// The value is not base64url without padding.
    Encoding,
    /// The decoded value is shorter than version, nonce and tag.
    TooShort,
    /// The version byte is not [`VERSION`].
    UnknownVersion,
    /// Authentication failed: wrong key or purpose, wrong cookie name, or tampered value.
    Invalid,
    /// The system random generator failed (sealing only).
    Random,
}

impl SealError {
    /// A short, stable reason for log lines.
    pub fn reason(self) -> &'static str {
        match self {
            SealError::TooLarge => "sealed value too large",
            SealError::Encoding => "sealed value is not base64url",
            SealError::TooShort => "sealed value too short",
            SealError::UnknownVersion => "unknown sealed value version",
            SealError::Invalid => "sealed value failed authentication",
            SealError::Random => "random generator failed",
        }
    }
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for SealError {}

/// base64url (no padding) of version byte || 12-byte random nonce || ciphertext+tag; the
/// cookie name is the associated data.
pub fn seal(key: &SealKey, cookie_name: &str, plaintext: &[u8]) -> Result<String, SealError> {
    if plaintext.len() > MAX_SEALED_LEN || sealed_len(plaintext.len()) > MAX_SEALED_LEN {
        return Err(SealError::TooLarge);
    }
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SealError::Random)?;

    let mut buf = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    buf.push(VERSION);
    buf.extend_from_slice(&nonce);
    buf.extend_from_slice(plaintext);
    let tag = key
        .key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(cookie_name.as_bytes()),
            &mut buf[HEADER_LEN..],
        )
        .map_err(|_| SealError::TooLarge)?;
    buf.extend_from_slice(tag.as_ref());
    Ok(URL_SAFE_NO_PAD.encode_to_string(&buf))
}

/// Open a value produced by [`seal`] for the same key and cookie name.
pub fn open(key: &SealKey, cookie_name: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() > MAX_SEALED_LEN {
        return Err(SealError::TooLarge);
    }
    let mut buf = URL_SAFE_NO_PAD
        .decode_to_vec(sealed)
        .map_err(|_| SealError::Encoding)?;
    if buf.len() < HEADER_LEN + TAG_LEN {
        return Err(SealError::TooShort);
    }
    if buf[0] != VERSION {
        return Err(SealError::UnknownVersion);
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&buf[1..HEADER_LEN]);
    let plain_len = key
        .key
        .open_within(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(cookie_name.as_bytes()),
            &mut buf,
            HEADER_LEN..,
        )
        .map_err(|_| SealError::Invalid)?
        .len();
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_len_matches_encoder() {
        let key = SealKey::derive(&[7u8; 32], "session");
        for n in 0..64 {
            let sealed = seal(&key, "c", &vec![b'a'; n]).unwrap();
            assert_eq!(sealed.len(), sealed_len(n), "plaintext length {n}");
        }
    }

    #[test]
    fn seal_refuses_what_open_would_refuse() {
        let key = SealKey::derive(&[7u8; 32], "session");
        let mut n = 0;
        while sealed_len(n + 1) <= MAX_SEALED_LEN {
            n += 1;
        }
        let sealed = seal(&key, "c", &vec![0u8; n]).unwrap();
        assert_eq!(open(&key, "c", sealed.as_bytes()).unwrap().len(), n);
        assert_eq!(seal(&key, "c", &vec![0u8; n + 1]), Err(SealError::TooLarge));
    }
}
