//! Header names the module writes, and which names it refuses to write.
//!
//! nginx finds request headers by the hash of their lowercase name (`ngx_hash`, `h * 31 + c`),
//! so that `proxy_set_header` of the same name replaces a header the module adds. Each name
//! carries its lowercase form and that hash.

/// Longest static header name (`X-authentik-entitlements` and friends fit).
const MAX_STATIC: usize = 40;

/// A header name known at compile time, with its lowercase form and nginx hash.
#[derive(Clone, Copy, Debug)]
pub struct HeaderName {
    name: &'static str,
    lower: [u8; MAX_STATIC],
    hash: usize,
}

impl HeaderName {
    pub const fn new(name: &'static str) -> HeaderName {
        let bytes = name.as_bytes();
        assert!(bytes.len() <= MAX_STATIC);
        let mut lower = [0u8; MAX_STATIC];
        let mut i = 0;
        while i < bytes.len() {
            lower[i] = bytes[i].to_ascii_lowercase();
            i += 1;
        }
        let hash = nginx_hash(&lower, bytes.len());
        HeaderName { name, lower, hash }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn lowercase(&self) -> &[u8] {
        &self.lower[..self.name.len()]
    }

    pub fn hash(&self) -> usize {
        self.hash
    }
}

/// nginx's `ngx_hash_key` over the first `len` bytes of an already lowercase name.
pub const fn nginx_hash(lowercase: &[u8], len: usize) -> usize {
    let mut hash: usize = 0;
    let mut i = 0;
    while i < len {
        hash = hash.wrapping_mul(31).wrapping_add(lowercase[i] as usize);
        i += 1;
    }
    hash
}

/// A header name from a token (`additionalHeaders`), with its lowercase form and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicName {
    pub name: Box<str>,
    pub lowercase: Box<[u8]>,
    pub hash: usize,
}

impl DynamicName {
    pub fn new(name: &str) -> DynamicName {
        let lowercase: Box<[u8]> = name.bytes().map(|b| b.to_ascii_lowercase()).collect();
        let hash = nginx_hash(&lowercase, lowercase.len());
        DynamicName {
            name: name.into(),
            lowercase,
            hash,
        }
    }
}

pub static AUTHORIZATION: HeaderName = HeaderName::new("Authorization");

/// Names an `additionalHeaders` entry may not set: they would change how nginx or the
/// application reads the request (host, cookies, credentials, framing, hop-by-hop and proxy
/// headers, forwarding data, identity headers). `_` and `.` count as `-`: nginx hands
/// `X_Real_IP` or `X.Real.IP` to a FastCGI application as it is, and PHP reads both as
/// `HTTP_X_REAL_IP`.
pub fn refused_additional_header(name: &str) -> bool {
    const EXACT: [&str; 11] = [
        "host",
        "cookie",
        "authorization",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "forwarded",
    ];
    const PREFIXES: [&str; 3] = ["proxy-", "x-forwarded-", "x-authentik-"];
    // Byte by byte: only ASCII bytes change, so UTF-8 stays UTF-8.
    let lower: smallvec::SmallVec<[u8; 64]> = name
        .bytes()
        .map(|b| match b {
            b'_' | b'.' => b'-',
            b => b.to_ascii_lowercase(),
        })
        .collect();
    let lower = &lower[..];
    EXACT.iter().any(|e| e.as_bytes() == lower)
        || lower == b"x-real-ip"
        || PREFIXES.iter().any(|p| lower.starts_with(p.as_bytes()))
        || crate::sanitize::is_authentik_header(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_nginx() {
        // ngx_hash_key("host") as nginx computes it.
        let host = HeaderName::new("Host");
        let expected = b"host"
            .iter()
            .fold(0usize, |h, &c| h.wrapping_mul(31).wrapping_add(c as usize));
        assert_eq!(host.hash(), expected);
        assert_eq!(host.lowercase(), b"host");
        assert_eq!(
            DynamicName::new("X-Foo").hash,
            HeaderName::new("X-Foo").hash()
        );
    }

    #[test]
    fn refused_names() {
        for name in [
            "Host",
            "cookie",
            "AUTHORIZATION",
            "Content-Length",
            "Transfer-Encoding",
            "Connection",
            "Keep-Alive",
            "TE",
            "Trailer",
            "Upgrade",
            "Proxy-Authorization",
            "Forwarded",
            "X-Forwarded-For",
            "X-Forwarded-Host",
            "X-Real-IP",
            "X-authentik-username",
            "X.Forwarded.For",
            "X_Real_IP",
            "Proxy.Authorization",
            "Content_Length",
            "transfer.encoding",
        ] {
            assert!(refused_additional_header(name), "{name}");
        }
        for name in [
            "X-Foo",
            "X-Team",
            "Accept-Language",
            "X-Forwarded",
            "Hostname",
        ] {
            assert!(!refused_additional_header(name), "{name}");
        }
    }
}
