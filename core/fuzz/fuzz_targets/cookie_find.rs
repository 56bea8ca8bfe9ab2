//! `cookie::find`, `cookie::SessionCookies` and `cookie::session_value` (the `cookie` crate
//! underneath) against a naive reference parser of the documented syntax: headers read as
//! UTF-8 (lossily), `;`-separated `name=value` pairs, whitespace trimmed around names and
//! values, one pair of surrounding double quotes removed, pairs without `=` or with an empty
//! name skipped, exact case-sensitive names, first match wins, headers in order.
//! Input: `name \0 header \0 header …` (no `\0`: the whole input is one header and the name
//! is "s").
#![no_main]

use authentik_core::cookie::{self, CookieError};
use authentik_core::session::MAX_CHUNKS;
use libfuzzer_sys::fuzz_target;

fn naive_find(headers: &[&[u8]], name: &str) -> Option<String> {
    for header in headers {
        let text = String::from_utf8_lossy(header);
        for pair in text.split(';') {
            let Some((n, v)) = pair.split_once('=') else {
                continue;
            };
            let (n, v) = (n.trim(), v.trim());
            if !n.is_empty() && n == name {
                let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                    &v[1..v.len() - 1]
                } else {
                    v
                };
                return Some(v.to_string());
            }
        }
    }
    None
}

fn naive_session(headers: &[&[u8]], name: &str) -> Result<Option<Vec<u8>>, CookieError> {
    let Some(value) = naive_find(headers, name) else {
        return Ok(None);
    };
    let Some((digits, first)) = value.split_once('.') else {
        return Ok(Some(value.into_bytes()));
    };
    let count =
        (!digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<usize>().unwrap())
            .filter(|c| (2..=MAX_CHUNKS).contains(c))
            .ok_or(CookieError::BadCount)?;
    let mut joined = first.as_bytes().to_vec();
    for i in 1..count {
        let part =
            naive_find(headers, &format!("{name}_{i}")).ok_or(CookieError::MissingChunk(i))?;
        joined.extend_from_slice(part.as_bytes());
    }
    Ok(Some(joined))
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let (name, headers): (&[u8], Vec<&[u8]>) = if data.contains(&0) {
        (parts.next().unwrap_or_default(), parts.collect())
    } else {
        (b"s", vec![data])
    };
    let Ok(name) = std::str::from_utf8(name) else {
        return;
    };
    // A name that parsing could never produce (empty, '=' or ';' inside, surrounding
    // whitespace) matches nothing.
    let producible = !name.is_empty() && name.trim() == name && !name.contains(['=', ';']);
    let real = cookie::find(&headers, name).map(|v| v.into_owned());
    let expected = if producible {
        naive_find(&headers, name)
    } else {
        None
    };
    assert_eq!(real, expected, "find {name:?}");
    if producible && !name.contains('_') {
        let real = cookie::session_value(&headers, name).map(|v| v.map(|v| v.into_owned()));
        let expected = naive_session(&headers, name);
        assert_eq!(real, expected, "session_value {name:?}");
    }
});
