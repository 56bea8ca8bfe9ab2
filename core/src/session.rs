//! The session cookie (docs/architecture.md §4): one function seals a token into cookie values, one opens
//! them.
//!
//! The token is sealed once for the cookie name `NAME` ([`crate::seal`]). A sealed value of at
//! most [`CHUNK_LIMIT`] bytes is the single cookie `NAME`. A longer one is split into
//! `count` parts (2 ≤ count ≤ [`MAX_CHUNKS`]): `NAME` = `"<count>.<part0>"`, `NAME_1` = part 1,
//! … `NAME_{count-1}`. base64url never contains `.`, so the dot marks a chunked session.
//! [`crate::cookie::session_value`] reads the parts back and joins them; [`open_session`]
//! opens the joined value.

use std::fmt;

use crate::seal::{self, SealError, SealKey};

/// Largest value of one cookie chunk.
pub const CHUNK_LIMIT: usize = 3800;

/// Most chunks a session may have (NAME, NAME_1 … NAME_{MAX_CHUNKS-1}).
pub const MAX_CHUNKS: usize = 8;

/// Length of the `"<count>."` prefix of a chunked first value (count is a single digit).
const COUNT_PREFIX_LEN: usize = 2;

/// Largest joined sealed value a session can hold.
pub const MAX_SEALED_SESSION: usize = MAX_CHUNKS * CHUNK_LIMIT - COUNT_PREFIX_LEN;

// The count prefix is one decimal digit, and a 16 KB token must fit.
const _: () = assert!(MAX_CHUNKS >= 2 && MAX_CHUNKS <= 9);
const _: () = assert!(seal::sealed_len(16 * 1024) <= MAX_SEALED_SESSION);

/// Why a session could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// The sealed token does not fit in [`MAX_CHUNKS`] chunks.
    TooLarge,
    /// Sealing or opening failed.
    Seal(SealError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::TooLarge => f.write_str("session token too large for the cookie chunks"),
            SessionError::Seal(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionError::TooLarge => None,
            SessionError::Seal(e) => Some(e),
        }
    }
}

impl From<SealError> for SessionError {
    fn from(e: SealError) -> Self {
        SessionError::Seal(e)
    }
}

/// Name of chunk `index` of session cookie `name`: `name` for 0, else `name_<index>`.
pub fn chunk_name(name: &str, index: usize) -> String {
    if index == 0 {
        name.to_owned()
    } else {
        format!("{name}_{index}")
    }
}

/// Seal `token` for cookie `name`: returns (cookie name, value) pairs, a single `NAME`
/// when the sealed value fits CHUNK_LIMIT, else `NAME` = `"<count>.<part0>"`, `NAME_1` = part1 …
pub fn seal_session(
    key: &SealKey,
    name: &str,
    token: &[u8],
) -> Result<Vec<(String, String)>, SessionError> {
    seal_session_value(key, name, token).map(|(chunks, _)| chunks)
}

/// [`seal_session`], with the joined sealed value too (what `cookie::session_value` reads
/// back, the key of the session in the cache).
pub fn seal_session_value(
    key: &SealKey,
    name: &str,
    token: &[u8],
) -> Result<(Vec<(String, String)>, String), SessionError> {
    if seal::sealed_len(token.len().min(seal::MAX_SEALED_LEN)) > MAX_SEALED_SESSION {
        return Err(SessionError::TooLarge);
    }
    let sealed = seal::seal(key, name, token)?;
    if sealed.len() <= CHUNK_LIMIT {
        return Ok((vec![(name.to_owned(), sealed.clone())], sealed));
    }
    // Fewest chunks that hold the value; the first one also carries "<count>.".
    let count = (sealed.len() + COUNT_PREFIX_LEN).div_ceil(CHUNK_LIMIT);
    if count > MAX_CHUNKS {
        return Err(SessionError::TooLarge);
    }
    let (first, mut rest) = sealed.split_at(CHUNK_LIMIT - COUNT_PREFIX_LEN);
    let mut out = Vec::with_capacity(count);
    out.push((name.to_owned(), format!("{count}.{first}")));
    for index in 1..count {
        // The value is ASCII (base64url), so any byte offset is a char boundary.
        let (part, tail) = rest.split_at(rest.len().min(CHUNK_LIMIT));
        out.push((chunk_name(name, index), part.to_owned()));
        rest = tail;
    }
    debug_assert!(rest.is_empty());
    Ok((out, sealed))
}

/// Open the joined sealed value (as returned by `cookie::session_value`) back into the token.
pub fn open_session(key: &SealKey, name: &str, sealed: &[u8]) -> Result<Vec<u8>, SessionError> {
    if sealed.len() > MAX_SEALED_SESSION {
        return Err(SessionError::TooLarge);
    }
    Ok(seal::open(key, name, sealed)?)
}

/// Names of every chunk cookie that may exist for `name` (for clearing).
pub fn chunk_names(name: &str) -> impl Iterator<Item = String> {
    let name = name.to_owned();
    (0..MAX_CHUNKS).map(move |index| chunk_name(&name, index))
}

/// What a session cookie holds: the token of the session (the access token, or the id_token
/// when the access token is not a JWT), the refresh token when authentik issued one, and when
/// the session was last renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTokens {
    pub access: Vec<u8>,
    pub refresh: Option<Vec<u8>>,
    /// Unix time of the login or of the last refresh.
    pub renewed_at: u64,
    /// `access` is the id_token (sent as `id_token_hint` at sign-out).
    pub id_token: bool,
}

/// The first byte of an encoded [`SessionTokens`]. A JWT (the whole plaintext of the sessions
/// of version 0.1) starts with a base64url character, never with this byte.
const TOKENS_V2: u8 = 2;

impl SessionTokens {
    /// `2 || flags || renewed_at (u64 BE) || len (u32 BE) || access || len (u32 BE) ||
    /// refresh`, with no refresh token written as length 0; flag 1 is [`Self::id_token`].
    pub fn encode(&self) -> Vec<u8> {
        let refresh = self.refresh.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(18 + self.access.len() + refresh.len());
        out.push(TOKENS_V2);
        out.push(u8::from(self.id_token));
        out.extend_from_slice(&self.renewed_at.to_be_bytes());
        for part in [&self.access[..], refresh] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Decode a session's plaintext; a plaintext that is not this format is a bare access
    /// token (a session of version 0.1, renewed at `fallback_renewed`).
    pub fn decode(plain: Vec<u8>, fallback_renewed: u64) -> Option<SessionTokens> {
        if plain.first() != Some(&TOKENS_V2) {
            return Some(SessionTokens {
                access: plain,
                refresh: None,
                renewed_at: fallback_renewed,
                id_token: false,
            });
        }
        let id_token = match plain.get(1)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let renewed_at = u64::from_be_bytes(plain.get(2..10)?.try_into().ok()?);
        let mut at = 10;
        let mut part = || -> Option<std::ops::Range<usize>> {
            let len = u32::from_be_bytes(plain.get(at..at + 4)?.try_into().ok()?) as usize;
            let start = at + 4;
            let end = start.checked_add(len).filter(|&end| end <= plain.len())?;
            at = end;
            Some(start..end)
        };
        let access = part()?;
        let refresh = part()?;
        if access.is_empty() || at != plain.len() {
            return None;
        }
        let refresh = plain[refresh].to_vec();
        // The access token keeps the plaintext's buffer.
        let mut access_token = plain;
        access_token.truncate(access.end);
        access_token.drain(..access.start);
        let access = access_token;
        Some(SessionTokens {
            access,
            refresh: (!refresh.is_empty()).then_some(refresh),
            renewed_at,
            id_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_old_sessions_still_read() {
        let t = SessionTokens {
            access: b"a.b.c".to_vec(),
            refresh: Some(b"r".to_vec()),
            renewed_at: 77,
            id_token: true,
        };
        assert_eq!(SessionTokens::decode(t.encode(), 0), Some(t.clone()));
        let none = SessionTokens { refresh: None, ..t };
        assert_eq!(SessionTokens::decode(none.encode(), 0), Some(none));
        let old = SessionTokens::decode(b"eyJ.x.y".to_vec(), 5).unwrap();
        assert_eq!(
            (old.access.as_slice(), old.refresh, old.renewed_at),
            (&b"eyJ.x.y"[..], None, 5)
        );
        let one = SessionTokens {
            access: b"a".to_vec(),
            refresh: None,
            renewed_at: 1,
            id_token: false,
        };
        let mut trailing = one.encode();
        trailing.push(0);
        let mut bad_flag = one.encode();
        bad_flag[1] = 7;
        let short = vec![2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, b'x'];
        for bad in [vec![2], short, trailing, bad_flag] {
            assert_eq!(SessionTokens::decode(bad, 0), None);
        }
    }
}
