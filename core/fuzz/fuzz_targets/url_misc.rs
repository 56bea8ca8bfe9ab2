//! The small parsers around the login flow: `redirect::encode`/`query_arg`,
//! `provider::bearer_token`, `conf::PlainUnits`, `request::RequestFacts::is_navigational`.
//! Properties: a value encoded into a form and read back is the same text; encode's output is
//! unreserved bytes, `+` and %XX only; a bearer token is non-empty and trimmed; PlainUnits
//! agrees with a restatement of the time syntax; the navigation rule as documented.
#![no_main]

use authentik_core::conf::{PlainUnits, Units};
use authentik_core::provider::bearer_token;
use authentik_core::redirect::{encode, query_arg};
use authentik_core::request::{Method, RequestFacts};
use libfuzzer_sys::fuzz_target;

fn seconds(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        if digits.is_empty() {
            return None;
        }
        total = total.checked_add(digits.parse::<u64>().ok()?.checked_mul(unit)?)?;
        digits.clear();
    }
    if digits.is_empty() {
        Some(total)
    } else {
        total.checked_add(digits.parse::<u64>().ok()?)
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let encoded = encode(&text);
    assert!(encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._*+%".contains(&b)));
    let form = format!("a=1&v={encoded}&v=second");
    assert_eq!(query_arg(form.as_bytes(), "v").as_deref(), Some(&*text));
    let _ = query_arg(data, "state");

    if let Some(token) = bearer_token(data) {
        assert!(!token.is_empty());
        assert_eq!(token, token.trim_ascii());
        assert!(data[..7].eq_ignore_ascii_case(b"bearer "));
    }

    assert_eq!(PlainUnits.seconds(&text), seconds(&text), "{text:?}");

    let half = data.len() / 2;
    let facts = RequestFacts {
        method: match data.first().map(|b| b % 4) {
            Some(0) => Method::Get,
            Some(1) => Method::Head,
            Some(2) => Method::Post,
            _ => Method::Other,
        },
        sec_fetch_mode: data
            .get(1)
            .is_some_and(|b| b & 1 == 1)
            .then(|| &data[..half]),
        accept: Some(&data[half..]),
        x_requested_with: data.get(2).is_some_and(|b| b & 3 == 3),
        upgrade: data.get(3).is_some_and(|b| b & 7 == 7),
        ..Default::default()
    };
    let expected = matches!(facts.method, Method::Get | Method::Head)
        && !facts.x_requested_with
        && !facts.upgrade
        && match facts.sec_fetch_mode {
            Some(mode) => mode.trim_ascii().eq_ignore_ascii_case(b"navigate"),
            None => data[half..]
                .to_ascii_lowercase()
                .windows(9)
                .any(|w| w == b"text/html"),
        };
    assert_eq!(facts.is_navigational(), expected);
});
