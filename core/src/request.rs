//! The facts of one request that a decision reads, gathered by the glue in one pass over the
//! request's headers.

/// The request method, as far as decisions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Get,
    Head,
    Post,
    Other,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    pub method: Method,
    /// The client connection uses TLS.
    pub tls: bool,
    /// The `Host` header as sent (for return URLs), or the server name without one.
    pub host: &'a [u8],
    /// nginx's validated host name (`$host`).
    pub server: &'a [u8],
    /// nginx's normalised path (`$uri`).
    pub uri: &'a [u8],
    /// The query (`$args`).
    pub args: &'a [u8],
    /// The request target as sent (`$request_uri`).
    pub request_uri: &'a [u8],
    /// The values of every `Cookie` header, in order.
    pub cookies: &'a [&'a [u8]],
    pub authorization: Option<&'a [u8]>,
    pub sec_fetch_mode: Option<&'a [u8]>,
    pub accept: Option<&'a [u8]>,
    /// Only to tell browsers (`Mozilla/…`) from other clients.
    pub user_agent: Option<&'a [u8]>,
    pub x_requested_with: bool,
    pub upgrade: bool,
    pub content_type: Option<&'a [u8]>,
    /// `Content-Length`, when sent and valid.
    pub content_length: Option<u64>,
    /// The forwarded headers, read only on the forward-auth endpoints
    /// ([`crate::forward::reads_forwarded_headers`]).
    pub forwarded: crate::forward::Forwarded<'a>,
    /// These facts describe the request behind nginx's `auth_request` (`/auth/nginx`): it is
    /// never answered with a redirect, which `auth_request` would turn into a 500.
    pub behind_auth_request: bool,
}

impl RequestFacts<'_> {
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// A navigational request (a page load that may be redirected to the login): GET or
    /// HEAD, `Sec-Fetch-Mode: navigate` (or, without that header, an `Accept` naming
    /// `text/html`), and neither `X-Requested-With` nor `Upgrade`.
    pub fn is_navigational(&self) -> bool {
        if !matches!(self.method, Method::Get | Method::Head)
            || self.x_requested_with
            || self.upgrade
        {
            return false;
        }
        match self.sec_fetch_mode {
            Some(mode) => mode.trim_ascii().eq_ignore_ascii_case(b"navigate"),
            None => self.accept.is_some_and(accepts_html),
        }
    }
}

fn accepts_html(accept: &[u8]) -> bool {
    accept
        .windows(b"text/html".len())
        .any(|w| w.eq_ignore_ascii_case(b"text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> RequestFacts<'static> {
        RequestFacts {
            sec_fetch_mode: Some(b"navigate"),
            accept: Some(b"text/html,application/xhtml+xml"),
            ..Default::default()
        }
    }

    #[test]
    fn page_loads_are_navigational() {
        assert!(page().is_navigational());
        let legacy = RequestFacts {
            sec_fetch_mode: None,
            ..page()
        };
        assert!(legacy.is_navigational());
        let head = RequestFacts {
            method: Method::Head,
            ..page()
        };
        assert!(head.is_navigational());
    }

    #[test]
    fn everything_else_is_not() {
        for other in [
            RequestFacts {
                method: Method::Post,
                ..page()
            },
            RequestFacts {
                method: Method::Other,
                ..page()
            },
            RequestFacts {
                sec_fetch_mode: Some(b"cors"),
                ..page()
            },
            RequestFacts {
                x_requested_with: true,
                ..page()
            },
            RequestFacts {
                upgrade: true,
                ..page()
            },
            RequestFacts {
                sec_fetch_mode: None,
                accept: Some(b"*/*"),
                ..page()
            },
            RequestFacts {
                sec_fetch_mode: None,
                accept: None,
                ..page()
            },
        ] {
            assert!(!other.is_navigational(), "{other:?}");
        }
    }
}
