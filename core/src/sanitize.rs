//! Header-value hygiene: control characters never reach a variable or a header.

use std::borrow::Cow;

/// True for the bytes docs/architecture.md §3 forbids in values: every C0 control except TAB, and DEL.
pub fn is_control(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t') || byte == 0x7f
}

/// `value` with every control byte replaced by a space; borrowed when nothing changes.
pub fn sanitize(value: &str) -> Cow<'_, str> {
    if !value.bytes().any(is_control) {
        return Cow::Borrowed(value);
    }
    Cow::Owned(
        value
            .chars()
            .map(|c| {
                if c.is_ascii() && is_control(c as u8) {
                    ' '
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// The raw token as a header value. A verified token is base64url parts joined by dots, so
/// this is one word-at-a-time check and one copy; anything else goes the general way.
pub fn token_text(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(text) if surely_clean(raw) => text.to_owned(),
        _ => sanitize(&String::from_utf8_lossy(raw)).into_owned(),
    }
}

/// [`sanitize`], with a branch-free check first: values are nearly always clean.
pub fn clean(value: &str) -> Cow<'_, str> {
    if surely_clean(value.as_bytes()) {
        Cow::Borrowed(value)
    } else {
        sanitize(value)
    }
}

/// True when `bytes` has no byte below 0x20 and no DEL, tested eight bytes at a time without
/// branches. TAB is below 0x20 too, so a value with a TAB is left to `sanitize`, which keeps it.
fn surely_clean(bytes: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const SPACE: u64 = LO * 0x20;
    const DEL: u64 = LO * 0x7f;
    let mut words = bytes.chunks_exact(8);
    let mut flags = 0u64;
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // Some byte below 0x20; some byte equal to DEL (a zero byte of w ^ DEL).
        flags |= (w.wrapping_sub(SPACE) & !w) | ((w ^ DEL).wrapping_sub(LO) & !(w ^ DEL));
    }
    flags & HI == 0 && words.remainder().iter().all(|&b| b >= 0x20 && b != 0x7f)
}

/// True when `value` can name exactly one user to every reader: no control character
/// (Unicode's, so C1 and NUL too) and no leading or trailing whitespace, which upstreams trim.
pub fn names_one_user(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.is_ascii() && surely_clean(bytes) {
        // Printable ASCII: the only whitespace left is the space.
        return bytes.first() != Some(&b' ') && bytes.last() != Some(&b' ');
    }
    !value.chars().any(char::is_control) && value.trim() == value
}

/// An HTTP header field name (RFC 9110 token) without `_`, which nginx and authentik treat as
/// a spoofing vector.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^`|~".contains(&b))
}

/// A cookie name: an RFC 6265 token (underscores allowed).
pub fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// True when `name` is an `X-authentik-*` header in any case, with `-`, `_` or `.` as its
/// separators: nginx passes `_` with `underscores_in_headers on` and `.` with
/// `ignore_invalid_headers off`, and CGI, PHP and many frameworks read both as `-`.
pub fn is_authentik_header(name: &[u8]) -> bool {
    const PREFIX: &[u8] = b"x-authentik-";
    name.len() > PREFIX.len()
        && name[..PREFIX.len()]
            .iter()
            .zip(PREFIX)
            .all(|(&got, &want)| {
                got.to_ascii_lowercase() == want || (want == b'-' && matches!(got, b'_' | b'.'))
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_control_byte_but_tab() {
        let raw: String = (0u8..0x80).map(char::from).collect();
        let clean = sanitize(&raw);
        assert!(!clean.bytes().any(is_control));
        assert!(clean.contains('\t'));
        assert_eq!(clean.len(), raw.len());
        assert_eq!(sanitize("a\r\nX-Injected: 1"), "a  X-Injected: 1");
    }

    #[test]
    fn keeps_clean_and_unicode_values_borrowed() {
        assert!(matches!(sanitize("Zoë Ünïcode"), Cow::Borrowed(_)));
        assert_eq!(sanitize("Zoë\u{7f}"), "Zoë ");
    }

    #[test]
    fn one_user_names() {
        assert!(names_one_user("akadmin"));
        assert!(names_one_user("Zoë Ünïcode"));
        assert!(names_one_user(""));
        for bad in [
            "akadmin\r\n",
            " akadmin",
            "akadmin\t",
            "akadmin\0",
            "a\u{85}b",
            "a\u{2003}",
        ] {
            assert!(!names_one_user(bad), "{bad:?}");
        }
        // The printable-ASCII shortcut agrees with the definition, at every position.
        let definition = |v: &str| !v.chars().any(char::is_control) && v.trim() == v;
        for c in (0u32..0x100)
            .chain([0x2003, 0x3000, 0xfeff])
            .filter_map(char::from_u32)
        {
            for at in [0usize, 3, 8, 12] {
                let mut value: Vec<char> = "akadmin-user".chars().collect();
                value.insert(at.min(value.len()), c);
                let value: String = value.into_iter().collect();
                assert_eq!(names_one_user(&value), definition(&value), "{value:?}");
            }
        }
    }

    #[test]
    fn token_text_matches_sanitize() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"aaa.bbb.ccc".to_vec(),
            "zoë.tab\there".as_bytes().to_vec(),
            vec![0xff, b'a', 0xfe],
        ];
        for byte in 0u8..=0xff {
            for at in [0usize, 7, 8, 15, 20] {
                let mut raw = vec![b'x'; 21];
                raw[at] = byte;
                samples.push(raw);
            }
        }
        for raw in samples {
            let expected = sanitize(&String::from_utf8_lossy(&raw)).into_owned();
            assert_eq!(token_text(&raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn header_names() {
        assert!(is_header_name("X-Foo"));
        assert!(!is_header_name("X_Foo"));
        assert!(!is_header_name("X Foo"));
        assert!(!is_header_name("X-Foo\r\n"));
        assert!(!is_header_name(""));
        assert!(is_cookie_name("authentik_nginx_1234"));
        assert!(!is_cookie_name("a=b"));
        assert!(!is_cookie_name("a;b"));
        assert!(!is_cookie_name(""));
    }

    #[test]
    fn authentik_header_names() {
        assert!(is_authentik_header(b"X-authentik-username"));
        assert!(is_authentik_header(b"X-AUTHENTIK-GROUPS"));
        assert!(is_authentik_header(b"X_authentik_username"));
        assert!(is_authentik_header(b"x_Authentik-meta-app"));
        assert!(is_authentik_header(b"X.authentik.username"));
        assert!(is_authentik_header(b"x.AUTHENTIK_uid"));
        assert!(!is_authentik_header(b"X:authentik-username"));
        assert!(!is_authentik_header(b"X-authentik-"));
        assert!(!is_authentik_header(b"X-authentikusername"));
        assert!(!is_authentik_header(b"X-Forwarded-For"));
    }
}
