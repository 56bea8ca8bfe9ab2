//! Header-value hygiene: control characters never reach a variable or a header.

use std::borrow::Cow;

/// True for the bytes DESIGN §3 forbids in values: every C0 control except TAB, and DEL.
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
