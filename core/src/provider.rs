//! An `authentik_provider` block: its settings, checked once at configuration load, and the
//! authentication of one request against it (DESIGN §2, §5 step 3).

use std::rc::Rc;

use crate::cache::TokenCache;
use crate::cookie;
use crate::identity::{BasicAuthAttributes, Identity};
use crate::keys::{Algorithm, KeySet};
use crate::seal::SealKey;
use crate::session;
use crate::skip::SkipPaths;
use crate::token::{Claims, TokenError, Verifier};

pub const MIN_COOKIE_SECRET_BYTES: usize = 32;
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
pub const DEFAULT_SCOPES: &str = "openid profile email entitlements ak_proxy";
pub const DEFAULT_META_OUTPOST: &str = "nginx";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Single,
    Domain,
}

/// The settings of one block as written; [`ProviderConfig::build`] checks them.
#[derive(Debug, Default)]
pub struct ProviderConfig {
    pub name: String,
    pub issuer: Option<String>,
    pub authorize_url: Option<String>,
    pub end_session_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Vec<u8>>,
    pub cookie_secret: Option<Vec<u8>>,
    pub external_host: Option<String>,
    pub mode: Option<Mode>,
    pub cookie_domain: Option<String>,
    pub cookie_name: Option<String>,
    pub scopes: Option<String>,
    pub token_request: Option<String>,
    pub jwks: Option<String>,
    pub algorithms: Option<Vec<Algorithm>>,
    pub leeway_secs: Option<u64>,
    pub skip_paths: SkipPaths,
    pub bearer: Option<bool>,
    pub basic_auth: BasicAuthAttributes,
    pub meta_outpost: Option<String>,
    pub meta_provider: Option<String>,
    pub meta_app: Option<String>,
}

/// A checked provider, immutable while requests are served.
pub struct Provider {
    pub id: u32,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Vec<u8>,
    pub authorize_url: String,
    pub end_session_url: String,
    pub external_host: String,
    pub mode: Mode,
    pub cookie_domain: Option<String>,
    pub cookie_name: String,
    pub secure_cookies: bool,
    pub scopes: String,
    pub token_request: Option<String>,
    pub skip_paths: SkipPaths,
    pub bearer: bool,
    pub meta_jwks: String,
    pub meta_outpost: String,
    pub meta_provider: String,
    pub meta_app: String,
    pub session_key: SealKey,
    pub login_state_key: SealKey,
    verifier: Verifier,
    leeway_secs: u64,
    basic_auth: BasicAuthAttributes,
}

/// Why a request is not authenticated; `$authentik_status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Missing,
    Expired,
    Invalid(&'static str),
}

impl Failure {
    pub fn status(self) -> &'static str {
        match self {
            Failure::Missing => "missing",
            Failure::Expired => "expired",
            Failure::Invalid(_) => "invalid",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Failure::Missing => "no session cookie or bearer token",
            Failure::Expired => "token expired",
            Failure::Invalid(reason) => reason,
        }
    }
}

impl From<TokenError> for Failure {
    fn from(error: TokenError) -> Failure {
        if error.is_expired() {
            Failure::Expired
        } else {
            Failure::Invalid(error.reason())
        }
    }
}

/// A verified-token cache entry: the provider it was verified for, and the identity.
pub type CachedIdentity = (u32, Rc<Identity>);

impl ProviderConfig {
    pub fn new(name: &str) -> ProviderConfig {
        ProviderConfig {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Check the whole block. `id` distinguishes providers in the shared cache.
    pub fn build(self, id: u32) -> Result<Provider, String> {
        let issuer = self.issuer.ok_or("\"issuer\" is required")?;
        let client_id = self.client_id.ok_or("\"client_id\" is required")?;
        let client_secret = self
            .client_secret
            .ok_or("\"client_secret\" or \"client_secret_file\" is required")?;
        let cookie_secret = self
            .cookie_secret
            .ok_or("\"cookie_secret\" or \"cookie_secret_file\" is required")?;
        let external_host = self.external_host.ok_or("\"external_host\" is required")?;
        check_url("issuer", &issuer)?;
        check_url("external_host", &external_host)?;
        let external_host = external_host.trim_end_matches('/').to_string();
        let mode = self.mode.unwrap_or_default();
        if mode == Mode::Domain && self.cookie_domain.is_none() {
            return Err("mode domain requires cookie_domain".into());
        }
        let keys = KeySet::new(
            &client_secret,
            self.jwks.as_deref(),
            self.algorithms.as_deref(),
        )
        .map_err(|e| format!("invalid jwks_file or algorithms: {e}"))?;
        let leeway_secs = self.leeway_secs.unwrap_or(DEFAULT_LEEWAY_SECS);
        let authorize_url = match self.authorize_url {
            Some(url) => url,
            None => format!("{}/application/o/authorize/", origin(&issuer)),
        };
        Ok(Provider {
            id,
            verifier: Verifier::new(keys, &issuer, &client_id, leeway_secs),
            leeway_secs,
            end_session_url: self
                .end_session_url
                .unwrap_or_else(|| format!("{issuer}end-session/")),
            meta_jwks: format!("{issuer}jwks/"),
            authorize_url,
            cookie_name: self
                .cookie_name
                .unwrap_or_else(|| default_cookie_name(&client_id)),
            secure_cookies: external_host.starts_with("https://"),
            session_key: SealKey::derive(&cookie_secret, "session"),
            login_state_key: SealKey::derive(&cookie_secret, "login-state"),
            scopes: self.scopes.unwrap_or_else(|| DEFAULT_SCOPES.to_string()),
            token_request: self.token_request,
            skip_paths: self.skip_paths,
            bearer: self.bearer.unwrap_or(true),
            basic_auth: self.basic_auth,
            meta_outpost: self
                .meta_outpost
                .unwrap_or_else(|| DEFAULT_META_OUTPOST.to_string()),
            meta_provider: self.meta_provider.unwrap_or_else(|| self.name.clone()),
            meta_app: self.meta_app.unwrap_or_else(|| self.name.clone()),
            name: self.name,
            issuer,
            client_id,
            client_secret,
            external_host,
            mode,
            cookie_domain: self.cookie_domain,
        })
    }
}

impl Provider {
    /// Authenticate from the session cookie, else from `Authorization: Bearer` when enabled.
    /// A cached credential costs a hash lookup; a miss opens, verifies and parses it once.
    pub fn authenticate(
        &self,
        cache: &mut TokenCache<CachedIdentity>,
        cookie_headers: &[&[u8]],
        authorization: Option<&[u8]>,
        now: u64,
    ) -> Result<Rc<Identity>, Failure> {
        let session = match cookie::session_value(cookie_headers, &self.cookie_name) {
            Ok(Some(sealed)) => {
                self.cached_or(cache, &sealed, now, |p| p.verify_session(&sealed, now))
            }
            Ok(None) => Err(Failure::Missing),
            Err(_) => Err(Failure::Invalid("broken session cookie chunks")),
        };
        if session.is_ok() || !self.bearer {
            return session;
        }
        match authorization.and_then(bearer_token) {
            Some(token) => self.cached_or(cache, token, now, |p| p.verify_bearer(token, now)),
            None => session,
        }
    }

    fn cached_or(
        &self,
        cache: &mut TokenCache<CachedIdentity>,
        key: &[u8],
        now: u64,
        verify: impl FnOnce(&Provider) -> Result<Identity, Failure>,
    ) -> Result<Rc<Identity>, Failure> {
        if let Some((id, identity)) = cache.get(key, now) {
            if *id == self.id {
                return Ok(identity.clone());
            }
        }
        let identity = Rc::new(verify(self)?);
        cache.insert(key, (self.id, identity.clone()), identity.valid_until);
        Ok(identity)
    }

    /// Open a sealed session value and verify the token inside.
    pub fn verify_session(&self, sealed: &[u8], now: u64) -> Result<Identity, Failure> {
        let token = session::open_session(&self.session_key, &self.cookie_name, sealed)
            .map_err(|_| Failure::Invalid("session cookie does not open"))?;
        self.verify_bearer(&token, now)
    }

    /// Verify a raw token's signature and claims.
    pub fn verify_claims(&self, token: &[u8], now: u64) -> Result<Claims, Failure> {
        Ok(self.verifier.verify(token, now)?)
    }

    /// Verify a raw token and build its identity.
    pub fn verify_bearer(&self, token: &[u8], now: u64) -> Result<Identity, Failure> {
        let claims = self.verify_claims(token, now)?;
        let valid_until = claims.exp().saturating_add(self.leeway_secs);
        Ok(Identity::from_claims(
            claims,
            token,
            valid_until,
            &self.basic_auth,
        ))
    }

    /// Whether `request` may go on without credentials (`skip_path`, see [`SkipPaths::skips`]).
    pub fn skips(&self, request: &crate::skip::SkipRequest<'_>) -> bool {
        self.skip_paths.skips(self.mode, request)
    }
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

/// `authentik_nginx_` + the first 8 hex digits of SHA-256(client_id).
pub fn default_cookie_name(client_id: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, client_id.as_bytes());
    let hex: String = digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("authentik_nginx_{hex}")
}

/// Check a `cookie_secret` value.
pub fn check_cookie_secret(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_COOKIE_SECRET_BYTES {
        return Err(format!(
            "cookie_secret must be at least {MIN_COOKIE_SECRET_BYTES} bytes, got {}",
            secret.len()
        ));
    }
    Ok(())
}

/// Read a secret file; trailing whitespace (the usual final newline) is not part of it.
pub fn read_secret_file(path: &str) -> Result<Vec<u8>, String> {
    let mut bytes = std::fs::read(path).map_err(|e| format!("cannot read \"{path}\": {e}"))?;
    while bytes.last().is_some_and(u8::is_ascii_whitespace) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(format!("\"{path}\" is empty"));
    }
    Ok(bytes)
}

/// True when other users may read the file at `path` (its mode has the "others read" bit).
pub fn readable_by_others(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

/// nginx-style seconds: `90`, `60s`, `5m`, `1h`.
pub fn parse_seconds(text: &str) -> Option<u64> {
    let (digits, unit) = match text.as_bytes().last()? {
        b's' => (&text[..text.len() - 1], 1),
        b'm' => (&text[..text.len() - 1], 60),
        b'h' => (&text[..text.len() - 1], 3600),
        b'd' => (&text[..text.len() - 1], 86400),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

fn check_url(setting: &str, url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("\"{setting}\" must be an http or https URL: \"{url}\""))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!("\"{setting}\" is not a valid URL: \"{url}\""));
    }
    Ok(())
}

/// `scheme://host[:port]` of a checked URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
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

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("60s"), Some(60));
        assert_eq!(parse_seconds("90"), Some(90));
        assert_eq!(parse_seconds("2m"), Some(120));
        assert_eq!(parse_seconds("s"), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("1x"), None);
    }

    #[test]
    fn urls() {
        assert!(check_url("issuer", "https://a.example/application/o/app/").is_ok());
        assert!(check_url("issuer", "ftp://a").is_err());
        assert!(check_url("issuer", "https:///x").is_err());
        assert!(check_url("issuer", "https://a\r\n").is_err());
        assert_eq!(
            origin("https://a.example:8443/application/o/app/"),
            "https://a.example:8443"
        );
    }

    #[test]
    fn cookie_secret_length() {
        assert!(check_cookie_secret(&[b'x'; 31]).is_err());
        assert!(check_cookie_secret(&[b'x'; 32]).is_ok());
    }

    fn config() -> ProviderConfig {
        ProviderConfig {
            issuer: Some("https://auth.example/application/o/app/".into()),
            client_id: Some("client".into()),
            client_secret: Some(b"client-secret-client-secret-0123".to_vec()),
            cookie_secret: Some(vec![b'k'; 32]),
            external_host: Some("https://app.example/".into()),
            ..ProviderConfig::new("app")
        }
    }

    #[test]
    fn build_fills_defaults() {
        let provider = config().build(0).unwrap();
        assert_eq!(
            provider.authorize_url,
            "https://auth.example/application/o/authorize/"
        );
        assert_eq!(
            provider.end_session_url,
            "https://auth.example/application/o/app/end-session/"
        );
        assert_eq!(
            provider.meta_jwks,
            "https://auth.example/application/o/app/jwks/"
        );
        assert_eq!(provider.external_host, "https://app.example");
        assert!(provider.secure_cookies);
        assert_eq!(provider.meta_provider, "app");
        assert_eq!(provider.meta_outpost, "nginx");
        assert!(provider.bearer);
    }

    #[test]
    fn build_rejects_incomplete_blocks() {
        let domain = ProviderConfig {
            mode: Some(Mode::Domain),
            ..config()
        };
        assert_eq!(
            domain.build(0).err().unwrap(),
            "mode domain requires cookie_domain"
        );
        let no_issuer = ProviderConfig {
            issuer: None,
            ..config()
        };
        assert!(no_issuer.build(0).err().unwrap().contains("issuer"));
    }
}
