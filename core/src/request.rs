//! What kind of request this is: a page load that may be redirected to the login, or not.

/// The request facts DESIGN §5 step 6 needs.
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestKind<'a> {
    pub method_is_get_or_head: bool,
    pub sec_fetch_mode: Option<&'a [u8]>,
    pub accept: Option<&'a [u8]>,
    pub has_x_requested_with: bool,
    pub has_upgrade: bool,
}

impl RequestKind<'_> {
    /// A navigational request: GET or HEAD, `Sec-Fetch-Mode: navigate` (or, without that
    /// header, an `Accept` naming `text/html`), and neither `X-Requested-With` nor `Upgrade`.
    pub fn is_navigational(&self) -> bool {
        if !self.method_is_get_or_head || self.has_x_requested_with || self.has_upgrade {
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

    fn page() -> RequestKind<'static> {
        RequestKind {
            method_is_get_or_head: true,
            sec_fetch_mode: Some(b"navigate"),
            accept: Some(b"text/html,application/xhtml+xml"),
            ..Default::default()
        }
    }

    #[test]
    fn page_loads_are_navigational() {
        assert!(page().is_navigational());
        let legacy = RequestKind {
            sec_fetch_mode: None,
            ..page()
        };
        assert!(legacy.is_navigational());
    }

    #[test]
    fn everything_else_is_not() {
        assert!(!RequestKind {
            method_is_get_or_head: false,
            ..page()
        }
        .is_navigational());
        assert!(!RequestKind {
            sec_fetch_mode: Some(b"cors"),
            ..page()
        }
        .is_navigational());
        assert!(!RequestKind {
            has_x_requested_with: true,
            ..page()
        }
        .is_navigational());
        assert!(!RequestKind {
            has_upgrade: true,
            ..page()
        }
        .is_navigational());
        let curl = RequestKind {
            sec_fetch_mode: None,
            accept: Some(b"*/*"),
            ..page()
        };
        assert!(!curl.is_navigational());
        let bare = RequestKind {
            sec_fetch_mode: None,
            accept: None,
            ..page()
        };
        assert!(!bare.is_navigational());
    }
}
