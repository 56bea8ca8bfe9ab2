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
    if seal::sealed_len(token.len().min(seal::MAX_SEALED_LEN)) > MAX_SEALED_SESSION {
        return Err(SessionError::TooLarge);
    }
    let sealed = seal::seal(key, name, token)?;
    if sealed.len() <= CHUNK_LIMIT {
        return Ok(vec![(name.to_owned(), sealed)]);
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
    Ok(out)
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
