//! The small parsers around the login flow: `url::decode`/`encode`/`query_arg`,
//! `provider::bearer_token`, `provider::parse_seconds`, `request::RequestKind`.
//! Properties: decode(encode(s)) == s; encode's output is unreserved bytes and %XX only;
//! query_arg finds what the naive split finds; a bearer token is non-empty and trimmed;
//! parse_seconds agrees with a restatement of nginx time syntax.
#![no_main]

use authentik_core::provider::{bearer_token, parse_seconds};
use authentik_core::request::RequestKind;
use authentik_core::url::{decode, encode, query_arg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let encoded = encode(&text);
    assert!(encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
    assert_eq!(decode(encoded.as_bytes()).as_deref(), Some(text.as_bytes()));

    if let Some(out) = decode(data) {
        assert!(out.len() <= data.len());
    }
    for name in ["rd", "state", "code", ""] {
        let naive = data.split(|&b| b == b'&').find_map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            (k == name.as_bytes()).then(|| decode(v)).flatten()
        });
        assert_eq!(query_arg(data, name), naive);
    }

    if let Some(token) = bearer_token(data) {
        assert!(!token.is_empty());
        assert_eq!(token, token.trim_ascii());
        assert!(data[..7].eq_ignore_ascii_case(b"bearer "));
    }

    let expected = (|| {
        let (digits, unit) = match text.strip_suffix(['s', 'm', 'h', 'd']) {
            Some(d) => (
                d,
                match text.chars().last()? {
                    's' => 1,
                    'm' => 60,
                    'h' => 3600,
                    _ => 86400,
                },
            ),
            None => (&*text, 1u64),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u64>().ok()?.checked_mul(unit)
    })();
    assert_eq!(parse_seconds(&text), expected);

    let half = data.len() / 2;
    let kind = RequestKind {
        method_is_get_or_head: data.first().is_some_and(|b| b & 1 == 1),
        sec_fetch_mode: data
            .get(1)
            .is_some_and(|b| b & 1 == 1)
            .then(|| &data[..half]),
        accept: Some(&data[half..]),
        has_x_requested_with: data.get(2).is_some_and(|b| b & 3 == 3),
        has_upgrade: false,
    };
    let _ = kind.is_navigational();
});
