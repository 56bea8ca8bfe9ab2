//! `cookie::find` and `cookie::session_value` against a naive reference parser of the same
//! documented syntax (module docs of cookie.rs): `;`-separated `name=value` pairs, spaces and
//! tabs trimmed around names and values, one pair of surrounding double quotes removed, pairs
//! without `=` skipped, exact case-sensitive names, first match wins, headers in order.
//! Input: `name \0 header \0 header …` (no `\0`: the whole input is one header and the name
//! is "s").
#![no_main]

use std::borrow::Cow;

use authentik_core::cookie::{self, CookieError};
use authentik_core::session::MAX_CHUNKS;
use libfuzzer_sys::fuzz_target;

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn naive_find<'a>(headers: &[&'a [u8]], name: &[u8]) -> Option<&'a [u8]> {
    for header in headers {
        for pair in header.split(|&b| b == b';') {
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (n, v) = (trim(&pair[..eq]), trim(&pair[eq + 1..]));
            if !n.is_empty() && n == name {
                let v = if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
                    &v[1..v.len() - 1]
                } else {
                    v
                };
                return Some(v);
            }
        }
    }
    None
}

fn naive_session<'a>(
    headers: &[&'a [u8]],
    name: &str,
) -> Result<Option<Cow<'a, [u8]>>, CookieError> {
    let Some(value) = naive_find(headers, name.as_bytes()) else {
        return Ok(None);
    };
    let Some(dot) = value.iter().position(|&b| b == b'.') else {
        return Ok(Some(Cow::Borrowed(value)));
    };
    let digits = &value[..dot];
    let count = (!digits.is_empty() && digits.len() <= 3 && digits.iter().all(u8::is_ascii_digit))
        .then(|| {
            std::str::from_utf8(digits)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .filter(|c| (2..=MAX_CHUNKS).contains(c))
        .ok_or(CookieError::BadCount)?;
    let mut joined = value[dot + 1..].to_vec();
    for i in 1..count {
        let part = naive_find(headers, format!("{name}_{i}").as_bytes())
            .ok_or(CookieError::MissingChunk(i))?;
        joined.extend_from_slice(part);
    }
    Ok(Some(Cow::Owned(joined)))
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let (name, headers): (&[u8], Vec<&[u8]>) = if data.contains(&0) {
        (parts.next().unwrap_or_default(), parts.collect())
    } else {
        (b"s", vec![data])
    };
    let real = cookie::find(&headers, name);
    // A name that parsing could never produce (empty, '=' or ';' inside, surrounding
    // whitespace) matches nothing.
    let producible =
        !name.is_empty() && trim(name) == name && !name.iter().any(|&b| b == b'=' || b == b';');
    let expected = if producible {
        naive_find(&headers, name)
    } else {
        None
    };
    assert_eq!(real, expected, "find {:?}", String::from_utf8_lossy(name));

    if let Ok(name) = std::str::from_utf8(name) {
        if producible {
            let real = cookie::session_value(&headers, name);
            let expected = naive_session(&headers, name);
            assert_eq!(real, expected, "session_value {name:?}");
        }
    }
});
