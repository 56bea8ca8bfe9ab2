//! `Cookie` request headers and `Set-Cookie` values, with the `cookie` crate.
//!
//! A request may carry several `Cookie` headers (HTTP/2 splits them); they are read in order,
//! and the first cookie of a name wins. Names compare exactly (case-sensitive). A value in
//! double quotes is read without them. Pairs without `=` are skipped.

use std::borrow::Cow;
use std::fmt;

use cookie::time::{Duration, OffsetDateTime};
use cookie::{Cookie, SameSite};

use crate::session::MAX_CHUNKS;

/// Every `name=value` pair of the request's `Cookie` headers, in order.
pub fn pairs<'h, 'a: 'h>(
    headers: &'h [&'a [u8]],
) -> impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)> + 'h {
    named(headers, "").filter_map(|(name, value)| Some((text(name)?, text(value)?)))
}

fn text(bytes: Cow<'_, [u8]>) -> Option<Cow<'_, str>> {
    match bytes {
        Cow::Borrowed(b) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
        Cow::Owned(b) => String::from_utf8(b).ok().map(Cow::Owned),
    }
}

/// The pairs whose name starts with `prefix`, as bytes. A pair is one `;`-separated piece of
/// a header (found with `memchr`). An ASCII piece is split at its first `=` and trimmed here;
/// any other goes through `cookie::Cookie::parse`. The session cookie is read on every
/// request, and handing the `cookie` crate whole headers costs 3.8 times this lookup
/// (BENCHMARKS.md, "What is still hand-written"). The `cookie_find` fuzz target checks that
/// both paths read the documented syntax.
pub fn named<'h, 'a: 'h>(
    headers: &'h [&'a [u8]],
    prefix: &'h str,
) -> impl Iterator<Item = Pair<'a>> + 'h {
    headers.iter().flat_map(move |&header| {
        let mut start = 0;
        let mut ends = memchr::memchr_iter(b';', header).chain(std::iter::once(header.len()));
        std::iter::from_fn(move || loop {
            let end = ends.next()?;
            let piece = &header[start..end];
            start = end + 1;
            let name_start = piece
                .iter()
                .position(|&b| !is_space(b))
                .unwrap_or(piece.len());
            let rest = &piece[name_start..];
            // Non-ASCII at the start may be Unicode whitespace, which the parser trims too.
            if !rest.starts_with(prefix.as_bytes()) && rest.first().is_none_or(|&b| b < 0x80) {
                continue;
            }
            if let Some(pair) = parse_pair(piece) {
                return Some(pair);
            }
        })
    })
}

/// A cookie's name and value, as bytes.
type Pair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

fn parse_pair(piece: &[u8]) -> Option<Pair<'_>> {
    if piece.is_ascii() {
        let eq = memchr::memchr(b'=', piece)?;
        let name = trim(&piece[..eq]);
        if name.is_empty() {
            return None;
        }
        return Some((
            Cow::Borrowed(name),
            unquote(Cow::Borrowed(trim(&piece[eq + 1..]))),
        ));
    }
    let text = String::from_utf8_lossy(piece);
    let cookie = Cookie::parse(text.trim()).ok()?;
    let (name, value) = (
        cookie.name().as_bytes().to_vec(),
        cookie.value().as_bytes().to_vec(),
    );
    Some((Cow::Owned(name), unquote(Cow::Owned(value))))
}

/// What `str::trim` removes, for ASCII bytes.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes {
        if !is_space(*first) {
            break;
        }
        bytes = rest;
    }
    while let [rest @ .., last] = bytes {
        if !is_space(*last) {
            break;
        }
        bytes = rest;
    }
    bytes
}

fn unquote(value: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    let quoted = value.len() >= 2 && value.first() == Some(&b'"') && value.last() == Some(&b'"');
    match (quoted, value) {
        (false, value) => value,
        (true, Cow::Borrowed(v)) => Cow::Borrowed(&v[1..v.len() - 1]),
        (true, Cow::Owned(v)) => Cow::Owned(v[1..v.len() - 1].to_vec()),
    }
}

/// The first value of cookie `name`.
pub fn find<'a>(headers: &[&'a [u8]], name: &str) -> Option<Cow<'a, str>> {
    named(headers, name)
        .find(|(n, _)| **n == *name.as_bytes())
        .and_then(|(_, v)| text(v))
}

/// Why the session's chunk sequence is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieError {
    /// The `"<count>."` prefix is not decimal digits, or count is not in 2..=MAX_CHUNKS.
    BadCount,
    /// Chunk `NAME_<n>` named by the count is absent.
    MissingChunk(usize),
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CookieError::BadCount => f.write_str("session cookie has a bad chunk count"),
            CookieError::MissingChunk(n) => write!(f, "session cookie chunk {n} is missing"),
        }
    }
}

impl std::error::Error for CookieError {}

/// The session cookies of one request, read in one pass: `NAME` and its chunks `NAME_1` …
#[derive(Debug, Default)]
pub struct SessionCookies<'a> {
    chunks: [Option<Cow<'a, [u8]>>; MAX_CHUNKS],
}

impl<'a> SessionCookies<'a> {
    pub fn read(headers: &[&'a [u8]], name: &str) -> SessionCookies<'a> {
        let mut found = SessionCookies::default();
        for (cookie, value) in named(headers, name) {
            let Some(rest) = cookie.strip_prefix(name.as_bytes()) else {
                continue;
            };
            let index = match rest {
                [] => 0,
                [b'_', digit @ b'1'..=b'9'] => usize::from(digit - b'0'),
                _ => continue,
            };
            if let Some(slot) = found.chunks.get_mut(index) {
                if slot.is_none() {
                    *slot = Some(value);
                }
            }
        }
        found
    }

    /// Whether any session cookie (a first value or a chunk) was sent.
    pub fn any(&self) -> bool {
        self.chunks.iter().any(Option::is_some)
    }

    /// The sealed value: NAME alone, or for `"<count>.<part0>"` the parts joined with
    /// NAME_1 … NAME_{count-1}. `Ok(None)` when NAME is absent.
    pub fn sealed(&self) -> Result<Option<Cow<'_, [u8]>>, CookieError> {
        let Some(first) = self.chunks[0].as_deref() else {
            return Ok(None);
        };
        let Some(dot) = memchr::memchr(b'.', first) else {
            return Ok(Some(Cow::Borrowed(first)));
        };
        let (count, part0) = (&first[..dot], &first[dot + 1..]);
        let count = parse_count(count).ok_or(CookieError::BadCount)?;
        let mut joined = Vec::with_capacity(first.len() * count);
        joined.extend_from_slice(part0);
        for index in 1..count {
            let part = self.chunks[index]
                .as_deref()
                .ok_or(CookieError::MissingChunk(index))?;
            joined.extend_from_slice(part);
        }
        Ok(Some(Cow::Owned(joined)))
    }
}

/// [`SessionCookies::read`] then the sealed value, borrowed from the headers when unchunked.
pub fn session_value<'a>(
    headers: &[&'a [u8]],
    name: &str,
) -> Result<Option<Cow<'a, [u8]>>, CookieError> {
    let cookies = SessionCookies::read(headers, name);
    match cookies.chunks[0].as_ref() {
        Some(Cow::Borrowed(first)) if memchr::memchr(b'.', first).is_none() => {
            Ok(Some(Cow::Borrowed(first)))
        }
        _ => cookies
            .sealed()
            .map(|v| v.map(|v| Cow::Owned(v.into_owned()))),
    }
}

/// The chunk count of a `"<count>."` prefix: decimal digits only, 2..=MAX_CHUNKS.
fn parse_count(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 3 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let count = digits
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    (2..=MAX_CHUNKS).contains(&count).then_some(count)
}

/// The attributes of every cookie a provider sets.
#[derive(Debug, Clone)]
pub struct CookieAttributes {
    pub secure: bool,
    /// `Domain=` (domain mode).
    pub domain: Option<String>,
}

impl CookieAttributes {
    /// `name=value; HttpOnly; SameSite=Lax; [Secure;] Path=/; [Domain=…;] Max-Age=…`.
    pub fn set(&self, name: &str, value: &str, max_age: i64) -> String {
        self.builder(name, value)
            .max_age(Duration::seconds(max_age))
            .build()
            .to_string()
    }

    /// A `Set-Cookie` value that deletes cookie `name`.
    pub fn clear(&self, name: &str) -> String {
        self.builder(name, "")
            .max_age(Duration::ZERO)
            .expires(OffsetDateTime::UNIX_EPOCH)
            .build()
            .to_string()
    }

    fn builder<'c>(&self, name: &'c str, value: &'c str) -> cookie::CookieBuilder<'c> {
        let mut builder = Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure);
        if let Some(domain) = &self.domain {
            builder = builder.domain(domain.clone());
        }
        builder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookies_like_browsers_send_them() {
        let headers: [&[u8]; 2] = [b"a=1; b=\"two\"; noeq; c = 3 ", b"a=late; d=4"];
        assert_eq!(find(&headers, "a").as_deref(), Some("1"));
        assert_eq!(find(&headers, "b").as_deref(), Some("two"));
        assert_eq!(find(&headers, "c").as_deref(), Some("3"));
        assert_eq!(find(&headers, "d").as_deref(), Some("4"));
        assert_eq!(find(&headers, "noeq"), None);
        assert_eq!(find(&headers, "A"), None);
        let invalid: [&[u8]; 1] = [b"x=\xff; a=ok"];
        assert_eq!(find(&invalid, "a").as_deref(), Some("ok"));
    }

    #[test]
    fn session_chunks_join_in_one_pass() {
        let headers: [&[u8]; 2] = [b"s=3.aa; other=x; s_2=cc", b"s_1=bb; s_1=evil; s_10=no"];
        let s = SessionCookies::read(&headers, "s");
        assert!(s.any());
        assert_eq!(s.sealed().unwrap().as_deref(), Some(&b"aabbcc"[..]));
        let headers: [&[u8]; 1] = [b"s=3.aa; s_2=cc"];
        assert_eq!(
            SessionCookies::read(&headers, "s").sealed(),
            Err(CookieError::MissingChunk(1))
        );
        let headers: [&[u8]; 1] = [b"s_1=x"];
        let only_chunk = SessionCookies::read(&headers, "s");
        assert!(only_chunk.any());
        assert_eq!(only_chunk.sealed(), Ok(None));
        let headers: [&[u8]; 1] = [b"ss=1; s=plain"];
        assert_eq!(
            SessionCookies::read(&headers, "s")
                .sealed()
                .unwrap()
                .as_deref(),
            Some(&b"plain"[..])
        );
    }

    #[test]
    fn count_prefix() {
        assert_eq!(parse_count(b"2"), Some(2));
        assert_eq!(parse_count(b"8"), Some(8));
        assert_eq!(parse_count(b"02"), Some(2));
        for bad in ["", "0", "1", "9", "10", "x", "2x", "-2", "+2", " 2", "9999"] {
            assert_eq!(parse_count(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn set_cookie_attributes() {
        let single = CookieAttributes {
            secure: true,
            domain: None,
        };
        let set = single.set("n", "v", 60);
        for part in [
            "n=v",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(set.split("; ").any(|p| p == part), "{set} lacks {part}");
        }
        assert!(!set.contains("Domain"));
        let domain = CookieAttributes {
            secure: false,
            domain: Some("company.tld".into()),
        };
        let clear = domain.clear("n");
        assert!(clear.starts_with("n=;"), "{clear}");
        for part in [
            "Domain=company.tld",
            "Max-Age=0",
            "Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            assert!(clear.split("; ").any(|p| p == part), "{clear} lacks {part}");
        }
        assert!(!clear.contains("Secure"));
    }
}
