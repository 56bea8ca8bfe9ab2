//! Parsing of `Cookie` request headers (RFC 6265 §5.4 syntax, lenient).
//!
//! A request may carry several `Cookie` headers (HTTP/2 splits them); they are searched in
//! order. Each is a list of `name=value` pairs separated by `;`, with optional spaces or tabs
//! around names and values. A value in double quotes is returned without them. Pairs without
//! `=` are skipped. Names compare exactly (case-sensitive); a cookie whose name merely starts or
//! ends with the wanted name never matches.
//!
//! [`find`] and the unchunked case of [`session_value`] run on every request: they make one
//! pass over the header bytes, scan a word at a time for `;`, and allocate nothing.

use std::borrow::Cow;
use std::fmt;

use crate::session::MAX_CHUNKS;

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

/// Find cookie `name` in any of the `Cookie` header values. Returns the first value.
pub fn find<'a>(headers: &[&'a [u8]], name: &[u8]) -> Option<&'a [u8]> {
    find_value::<false>(headers, name).map(|(value, _)| value)
}

/// The session's sealed value: NAME alone, or for `"<count>.<part0>"` the parts joined with
/// NAME_1 … NAME_{count-1}. Borrowed when unchunked (the hot path allocates nothing).
/// Ok(None) when NAME is absent; Err when the chunk sequence is broken (missing chunk,
/// bad count, count > MAX_CHUNKS).
pub fn session_value<'a>(
    headers: &[&'a [u8]],
    name: &str,
) -> Result<Option<Cow<'a, [u8]>>, CookieError> {
    let Some((value, dot)) = find_value::<true>(headers, name.as_bytes()) else {
        return Ok(None);
    };
    let Some(dot) = dot else {
        return Ok(Some(Cow::Borrowed(value)));
    };
    let count = parse_count(&value[..dot]).ok_or(CookieError::BadCount)?;
    let first = &value[dot + 1..];

    let mut parts: [&[u8]; MAX_CHUNKS] = [&[]; MAX_CHUNKS];
    parts[0] = first;
    let mut total = first.len();
    for (index, part) in parts.iter_mut().enumerate().take(count).skip(1) {
        let chunk = crate::session::chunk_name(name, index);
        *part = find(headers, chunk.as_bytes()).ok_or(CookieError::MissingChunk(index))?;
        total += part.len();
    }
    let mut joined = Vec::with_capacity(total);
    for part in &parts[..count] {
        joined.extend_from_slice(part);
    }
    Ok(Some(Cow::Owned(joined)))
}

/// The chunk count of a `"<count>."` prefix: decimal digits only, 2..=MAX_CHUNKS.
fn parse_count(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 3 {
        return None;
    }
    let mut count = 0usize;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        count = count * 10 + usize::from(b - b'0');
    }
    (2..=MAX_CHUNKS).contains(&count).then_some(count)
}

#[inline]
fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A name that can be the exact name of a parsed pair: non-empty, no `=` or `;`, and no
/// surrounding whitespace (which parsing trims).
fn valid_name(name: &[u8]) -> bool {
    match (name.first(), name.last()) {
        (Some(&first), Some(&last)) => {
            !is_ws(first) && !is_ws(last) && !name.iter().any(|&b| b == b'=' || b == b';')
        }
        _ => false,
    }
}

/// First value of cookie `name`, and with `DOT` the offset of the first `.` in that value.
#[inline]
fn find_value<'a, const DOT: bool>(
    headers: &[&'a [u8]],
    name: &[u8],
) -> Option<(&'a [u8], Option<usize>)> {
    if !valid_name(name) {
        return None;
    }
    headers
        .iter()
        .find_map(|header| find_in_header::<DOT>(header, name))
}

fn find_in_header<'a, const DOT: bool>(
    header: &'a [u8],
    name: &[u8],
) -> Option<(&'a [u8], Option<usize>)> {
    let len = header.len();
    let mut pos = 0;
    loop {
        // Start of a pair: skip optional whitespace after the previous ';'.
        while pos < len && is_ws(header[pos]) {
            pos += 1;
        }
        if header[pos..].starts_with(name) {
            // The parsed name is everything before '=', trimmed; since `name` has no '=' and
            // no surrounding whitespace, it equals `name` exactly when only whitespace sits
            // between `name` and '='.
            let mut eq = pos + name.len();
            while eq < len && is_ws(header[eq]) {
                eq += 1;
            }
            if eq < len && header[eq] == b'=' {
                return Some(value_at::<DOT>(header, eq + 1));
            }
        }
        // Not this pair: continue after its ';'.
        pos += memchr(b';', &header[pos..])? + 1;
    }
}

/// The value starting at `start` (up to the next ';'), trimmed and unquoted.
#[inline]
fn value_at<const DOT: bool>(header: &[u8], start: usize) -> (&[u8], Option<usize>) {
    let rest = &header[start..];
    let (end, dot) = if DOT {
        match memchr2(b';', b'.', rest) {
            Some(i) if rest[i] == b'.' => {
                let end = memchr(b';', &rest[i + 1..]).map_or(rest.len(), |j| i + 1 + j);
                (end, Some(i))
            }
            Some(i) => (i, None),
            None => (rest.len(), None),
        }
    } else {
        (memchr(b';', rest).unwrap_or(rest.len()), None)
    };
    let raw = &rest[..end];
    let mut from = 0;
    let mut to = raw.len();
    while from < to && is_ws(raw[from]) {
        from += 1;
    }
    while to > from && is_ws(raw[to - 1]) {
        to -= 1;
    }
    if to - from >= 2 && raw[from] == b'"' && raw[to - 1] == b'"' {
        from += 1;
        to -= 1;
    }
    // '.' is neither whitespace nor '"', so it lies inside the trimmed value.
    (&raw[from..to], dot.map(|d| d - from))
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that is zero. The lowest flagged byte is always a true
/// zero (borrows only create false flags above a true zero), which is all the scans need.
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(LO) & !x & HI
}

#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// Offset of the first byte of `hay` for which `found` flags a match, scanning sixteen
/// bytes at a time (two words per step keep the CPU's pipelines busy).
#[inline(always)]
fn scan_words(
    hay: &[u8],
    found: &impl Fn(u64) -> u64,
    is_match: &impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut blocks = hay.chunks_exact(16);
    let mut offset = 0;
    for block in &mut blocks {
        let lo = found(word(&block[..8]));
        let hi = found(word(&block[8..]));
        if lo | hi != 0 {
            let (mask, base) = if lo != 0 { (lo, 0) } else { (hi, 8) };
            return Some(offset + base + (mask.trailing_zeros() / 8) as usize);
        }
        offset += 16;
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| is_match(b))
        .map(|i| offset + i)
}

/// Bytes scanned word by word before switching to blocks: the next `;` of a short cookie is
/// usually within them.
const NEAR: usize = 32;

/// Bytes per block of the long scan.
const BLOCK: usize = 64;

/// Offset of the first byte of `hay` for which `is_match` holds (`found` is its word-wide
/// form). The first [`NEAR`] bytes go word by word; then whole [`BLOCK`]s without a match are
/// skipped by counting matches, a branch-free loop the compiler turns into vector compares
/// (a 2 KB sealed session costs about a hundred instructions instead of a thousand or two);
/// the block with the match goes word by word again.
#[inline(always)]
fn scan(hay: &[u8], found: impl Fn(u64) -> u64, is_match: impl Fn(u8) -> bool) -> Option<usize> {
    let near = hay.len().min(NEAR);
    if let Some(i) = scan_words(&hay[..near], &found, &is_match) {
        return Some(i);
    }
    let mut offset = near;
    for chunk in hay[near..].chunks_exact(BLOCK) {
        let Ok(block) = <&[u8; BLOCK]>::try_from(chunk) else {
            break;
        };
        // At most BLOCK matches, so a u8 count cannot wrap to zero.
        let matches = block
            .iter()
            .fold(0u8, |n, &b| n.wrapping_add(u8::from(is_match(b))));
        if matches != 0 {
            break;
        }
        offset += BLOCK;
    }
    scan_words(&hay[offset..], &found, &is_match).map(|i| offset + i)
}

/// Offset of the first `needle` in `hay`.
#[inline]
fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    let pattern = LO * u64::from(needle);
    scan(hay, |w| zero_bytes(w ^ pattern), |b| b == needle)
}

/// Offset of the first `a` or `b` in `hay`.
#[inline]
fn memchr2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    let (pa, pb) = (LO * u64::from(a), LO * u64::from(b));
    scan(
        hay,
        |w| zero_bytes(w ^ pa) | zero_bytes(w ^ pb),
        |x| (x == a) | (x == b),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memchr_matches_naive() {
        // Every byte value at every position, with neighbours that provoke borrow carries.
        for len in 0..200usize {
            for at in 0..=len {
                for fill in [0x00u8, 0x01, b':', b';', b'<', b'.', b'*', b'?', 0xff] {
                    for needle in [b';', b'.', 0x00, 0x80, 0xff] {
                        let mut hay = vec![fill; len];
                        if at < len {
                            hay[at] = needle;
                        }
                        let naive = hay.iter().position(|&x| x == needle);
                        assert_eq!(memchr(needle, &hay), naive, "{hay:?} {needle}");
                        let naive2 = hay.iter().position(|&x| x == needle || x == b'=');
                        assert_eq!(memchr2(needle, b'=', &hay), naive2, "{hay:?} {needle}");
                        let naive3 = hay.iter().position(|&x| x == b';' || x == b'.');
                        assert_eq!(memchr2(b';', b'.', &hay), naive3, "{hay:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn count_prefix() {
        assert_eq!(parse_count(b"2"), Some(2));
        assert_eq!(parse_count(b"8"), Some(8));
        assert_eq!(parse_count(b"02"), Some(2));
        for bad in [
            &b""[..],
            b"0",
            b"1",
            b"9",
            b"10",
            b"x",
            b"2x",
            b"-2",
            b"+2",
            b" 2",
            b"9999",
        ] {
            assert_eq!(parse_count(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
