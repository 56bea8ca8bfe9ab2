//! Where a login may return to (`rd`), read the way browsers read a `Location` (the WHATWG URL
//! parser of the `url` crate), and query strings (`form_urlencoded`).

use url::{form_urlencoded, Url};

use crate::provider::{Mode, Provider};

/// Longest return URL kept exactly in the login state. A longer one keeps its origin and path;
/// if even that is longer, the login returns to the site's root. This keeps the login-state
/// cookie well under the 4,096 bytes a browser stores.
pub const MAX_RETURN_URL: usize = 1024;

/// The decoded value of query argument `name` in `query` (without the `?`), the first one.
pub fn query_arg(query: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(query)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Whether `host` is `domain` or a name under it, on a dot boundary.
pub fn in_domain(host: &str, domain: &str) -> bool {
    let domain = domain.trim_start_matches('.');
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

impl Provider {
    /// The site's root: where a login returns when `rd` is missing or not allowed.
    pub(crate) fn fallback_rd(&self) -> String {
        format!("{}/", self.external_host)
    }

    /// `rd` if a login may return there, else [`Provider::fallback_rd`]. Single mode allows
    /// `external_host`'s scheme, host and port only; domain mode any http(s) host equal to
    /// `cookie_domain` or under it on a dot boundary. Userinfo, control bytes, backslashes and
    /// non-ASCII bytes are refused outright. The result is the parsed URL's serialization,
    /// capped at [`MAX_RETURN_URL`].
    pub fn validate_rd(&self, rd: Option<&str>) -> String {
        let Some(rd) = rd.filter(|r| !r.is_empty()) else {
            return self.fallback_rd();
        };
        if rd
            .bytes()
            .any(|b| b.is_ascii_control() || b == b'\\' || !b.is_ascii())
        {
            return self.fallback_rd();
        }
        let parsed = if rd.starts_with('/') && !rd.starts_with("//") {
            self.external_url.join(rd)
        } else {
            Url::parse(rd)
        };
        let Ok(target) = parsed else {
            return self.fallback_rd();
        };
        if self.allows(&target) {
            self.capped(target)
        } else {
            self.fallback_rd()
        }
    }

    fn allows(&self, target: &Url) -> bool {
        if !matches!(target.scheme(), "http" | "https")
            || !target.username().is_empty()
            || target.password().is_some()
        {
            return false;
        }
        let Some(host) = target.host_str() else {
            return false;
        };
        match self.mode {
            Mode::Single => {
                let own = &self.external_url;
                own.scheme() == target.scheme()
                    && own.host_str() == Some(host)
                    && own.port_or_known_default() == target.port_or_known_default()
            }
            Mode::Domain => self
                .cookie_domain
                .as_deref()
                .is_some_and(|domain| in_domain(host, domain)),
        }
    }

    /// The URL, or without its query and fragment, or its origin's root: the first that fits.
    fn capped(&self, mut target: Url) -> String {
        if target.as_str().len() <= MAX_RETURN_URL {
            return target.into();
        }
        target.set_query(None);
        target.set_fragment(None);
        if target.as_str().len() <= MAX_RETURN_URL {
            return target.into();
        }
        target.set_path("/");
        target.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_args() {
        let q = b"X-authentik-auth-callback=true&code=abc&state=s%2Fx&empty&code=second";
        assert_eq!(query_arg(q, "code").as_deref(), Some("abc"));
        assert_eq!(query_arg(q, "state").as_deref(), Some("s/x"));
        assert_eq!(query_arg(q, "empty").as_deref(), Some(""));
        assert_eq!(query_arg(q, "missing"), None);
        assert_eq!(query_arg(q, "cod"), None);
    }

    #[test]
    fn encodes_for_forms() {
        assert_eq!(encode("a b&c=/?é"), "a+b%26c%3D%2F%3F%C3%A9");
        let text = "https://app.example/x?y=1&z=2";
        let round: String = form_urlencoded::parse(format!("v={}", encode(text)).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap();
        assert_eq!(round, text);
    }

    #[test]
    fn domains_on_a_dot_boundary() {
        assert!(in_domain("company.tld", "company.tld"));
        assert!(in_domain("a.b.company.tld", ".company.tld"));
        assert!(!in_domain("evilcompany.tld", "company.tld"));
        assert!(!in_domain("company.tld.evil", "company.tld"));
    }
}
