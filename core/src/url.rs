//! The small part of URL handling the login flow needs: form/query encoding and decoding, and
//! the scheme, host and port of an absolute URL.

/// `application/x-www-form-urlencoded` / query encoding: unreserved bytes stay, the rest `%XX`.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode `%XX` and `+`; `None` for a malformed escape.
pub fn decode(value: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'%' => {
                let hex = value.get(i + 1..i + 3)?;
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// The decoded value of query argument `name` in `query` (without the `?`).
pub fn query_arg(query: &[u8], name: &str) -> Option<Vec<u8>> {
    query.split(|&b| b == b'&').find_map(|pair| {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &[][..]),
        };
        (key == name.as_bytes()).then(|| decode(value)).flatten()
    })
}

/// The parts of an absolute http(s) URL that redirect validation compares.
#[derive(Debug, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
}

impl Origin {
    /// Parse `scheme://host[:port]` at the start of `url`. Anything unusual is refused:
    /// userinfo, backslashes, control bytes, spaces, non-ASCII hosts, empty hosts.
    /// An `xn--` label is taken as written, without IDNA decoding: a browser refuses a
    /// `Location` whose label is not valid punycode, so such a redirect goes nowhere, and the
    /// host is still compared with the allowed set as it is.
    pub fn parse(url: &str) -> Option<Origin> {
        if url
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || !b.is_ascii())
        {
            return None;
        }
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') || authority.is_empty() {
            return None;
        }
        // As browsers read it (WHATWG URL): the host ends at the first ':' outside an IPv6
        // literal's brackets, and a port is decimal digits only. Otherwise a host such as
        // "evil.example:.company.tld" would pass the domain check and the port "+443" the
        // origin check, both in URLs that browsers refuse or read differently.
        let (host, port) = match authority.strip_prefix('[') {
            Some(literal) => {
                let (address, after) = literal.split_once(']')?;
                address.parse::<std::net::Ipv6Addr>().ok()?;
                let port = match after {
                    "" => None,
                    _ => Some(after.strip_prefix(':')?),
                };
                (format!("[{}]", address.to_ascii_lowercase()), port)
            }
            None => {
                let (host, port) = match authority.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (authority, None),
                };
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                let host_ok = !host.is_empty()
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
                (host_ok.then_some(host)?, port)
            }
        };
        let port = match port {
            None => None,
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                Some(digits.parse::<u16>().ok()?)
            }
            Some(_) => return None,
        };
        Some(Origin { scheme, host, port })
    }

    /// The port, with the scheme's default filled in.
    pub fn effective_port(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        assert_eq!(encode("a b&c=/?é"), "a%20b%26c%3D%2F%3F%C3%A9");
        assert_eq!(decode(b"a%20b+c").unwrap(), b"a b c");
        assert_eq!(decode(b"%zz"), None);
        assert_eq!(decode(b"%2"), None);
        let text = "https://app.example/x?y=1&z=2";
        assert_eq!(decode(encode(text).as_bytes()).unwrap(), text.as_bytes());
    }

    #[test]
    fn query_args() {
        let q = b"X-authentik-auth-callback=true&code=abc&state=s%2Fx&empty";
        assert_eq!(query_arg(q, "code").unwrap(), b"abc");
        assert_eq!(query_arg(q, "state").unwrap(), b"s/x");
        assert_eq!(query_arg(q, "empty").unwrap(), b"");
        assert_eq!(query_arg(q, "missing"), None);
        assert_eq!(query_arg(q, "cod"), None);
    }

    #[test]
    fn origins() {
        let o = Origin::parse("HTTPS://App.Example.:8443/path?q").unwrap();
        assert_eq!(
            (o.scheme.as_str(), o.host.as_str(), o.port),
            ("https", "app.example", Some(8443))
        );
        assert_eq!(
            Origin::parse("http://a.example").unwrap().effective_port(),
            80
        );
        for bad in [
            "//evil.example/",
            "javascript:alert(1)",
            "https://user@evil.example/",
            "https://app.example\\@evil.example/",
            "https://evil.example:99999/",
            "https:///path",
            "https://ev il.example/",
            "https://evil.example\r\n/",
            "https://аpp.example/",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
    }

    /// Found by the validate_rd fuzz target: hosts and ports that browsers read differently.
    #[test]
    fn host_ends_at_the_first_colon_and_ports_are_digits() {
        for bad in [
            "https://evil.example:.company.tld:443/",
            "https://[::1]:.company.tld:443/",
            "https://app.example:+443/",
            "https://app.example:/",
            "https://[evil.example]:443/",
            "https://[::1].:443/",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
        let v6 = Origin::parse("https://[::1]:8443/x").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("[::1]", Some(8443)));
        let v6 = Origin::parse("http://[::1]").unwrap();
        assert_eq!((v6.host.as_str(), v6.effective_port()), ("[::1]", 80));
    }
}
