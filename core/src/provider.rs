//! An `authentik_provider` block once checked: immutable while requests are served. Built by
//! [`crate::conf::ProviderSettings::build`]; read by the access decision, the login flow and
//! the endpoints.

use url::Url;

use crate::cookie::CookieAttributes;
use crate::identity::BasicAuthAttributes;
use crate::seal::SealKey;
use crate::skip::SkipPaths;
use crate::token::Verifier;

pub const MIN_COOKIE_SECRET_BYTES: usize = 32;
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
pub const MAX_LEEWAY_SECS: u64 = 300;
pub const DEFAULT_SCOPES: &str = "openid profile email entitlements ak_proxy offline_access";
pub const DEFAULT_META_OUTPOST: &str = "nginx";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Single,
    Domain,
}

pub struct Provider {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Vec<u8>,
    pub(crate) authorize_url: String,
    pub(crate) end_session_url: String,
    /// `external_host` without a trailing slash, and parsed.
    pub(crate) external_host: String,
    pub(crate) external_url: Url,
    pub(crate) mode: Mode,
    pub(crate) cookie_domain: Option<String>,
    pub(crate) cookie_name: String,
    pub(crate) cookies: CookieAttributes,
    pub(crate) scopes: String,
    pub(crate) token_request: Option<String>,
    pub(crate) skip_paths: SkipPaths,
    pub(crate) bearer: bool,
    /// Renew sessions with their refresh token.
    pub(crate) refresh: bool,
    /// Renew a session last renewed this long ago, even when its token is still valid.
    pub(crate) refresh_interval: Option<u64>,
    pub(crate) meta_jwks: String,
    pub(crate) meta_outpost: String,
    pub(crate) meta_provider: String,
    pub(crate) meta_app: String,
    pub(crate) session_key: SealKey,
    pub(crate) login_state_key: SealKey,
    pub(crate) verifier: Verifier,
    pub(crate) leeway_secs: u64,
    pub(crate) basic_auth: BasicAuthAttributes,
}

impl Provider {
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The internal location of the code exchange, when configured.
    pub fn token_request(&self) -> Option<&str> {
        self.token_request.as_deref()
    }

    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn meta_jwks(&self) -> &str {
        &self.meta_jwks
    }

    pub fn meta_outpost(&self) -> &str {
        &self.meta_outpost
    }

    pub fn meta_provider(&self) -> &str {
        &self.meta_provider
    }

    pub fn meta_app(&self) -> &str {
        &self.meta_app
    }

    /// `external_host`, without a trailing slash.
    pub fn external_host(&self) -> &str {
        &self.external_host
    }

    /// `cookie_domain` (domain mode only).
    pub fn cookie_domain(&self) -> Option<&str> {
        self.cookie_domain.as_deref()
    }

    pub fn end_session_url(&self) -> &str {
        &self.end_session_url
    }
}

/// `authentik_nginx_` + the first 8 hex digits of SHA-256(client_id).
pub fn default_cookie_name(client_id: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, client_id.as_bytes());
    let hex: String = digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("authentik_nginx_{hex}")
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
pub fn bearer_token(authorization: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    if authorization.len() <= SCHEME.len()
        || !authorization[..SCHEME.len()].eq_ignore_ascii_case(SCHEME)
    {
        return None;
    }
    let token = authorization[SCHEME.len()..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_name_default_matches_authentik_hashing() {
        // authentik: client_id "test" gives authentik_proxy_9f86d081.
        assert_eq!(default_cookie_name("test"), "authentik_nginx_9f86d081");
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(b"Bearer abc"), Some(b"abc".as_slice()));
        assert_eq!(bearer_token(b"bearer   abc "), Some(b"abc".as_slice()));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Bearer"), None);
    }
}
