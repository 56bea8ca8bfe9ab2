//! The login flow of DESIGN §5–§6: login state with PKCE and nonce, the authorize URL, `rd`
//! validation, the token-request body and the token response, and the cookies it writes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use crate::provider::{Failure, Mode, Provider};
use crate::seal::{open, seal};
use crate::url::{encode, Origin};

/// How long a login may take, from `/start` to `/callback`.
pub const LOGIN_STATE_TTL_SECS: u64 = 600;
pub const CALLBACK_PATH: &str = "/outpost.goauthentik.io/callback";
pub const CALLBACK_QUERY: &str = "X-authentik-auth-callback=true";

/// One login in progress, sealed into its own cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginState {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
    pub rd: String,
    pub created: u64,
}

/// Why a callback fails; each gives a 400 and names itself in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackError {
    ProviderError(String),
    MissingState,
    MissingCode,
    StateCookieMissing,
    StateInvalid,
    StateExpired,
    ExchangeFailed(u16),
    BadTokenResponse,
    Token(&'static str),
    NonceMismatch,
    Seal,
}

impl std::fmt::Display for CallbackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallbackError::ProviderError(e) => write!(f, "the provider returned error \"{e}\""),
            CallbackError::MissingState => f.write_str("no state parameter"),
            CallbackError::MissingCode => f.write_str("no code parameter"),
            CallbackError::StateCookieMissing => {
                f.write_str("no login-state cookie for this state")
            }
            CallbackError::StateInvalid => f.write_str("login-state cookie is invalid"),
            CallbackError::StateExpired => f.write_str("login state expired"),
            CallbackError::ExchangeFailed(0) => f.write_str(
                "code exchange failed inside nginx (see the error logged for the token_request location)",
            ),
            CallbackError::ExchangeFailed(status) => {
                write!(f, "code exchange failed with status {status}")
            }
            CallbackError::BadTokenResponse => {
                f.write_str("token response is not valid JSON with tokens")
            }
            CallbackError::Token(reason) => write!(f, "token rejected: {reason}"),
            CallbackError::NonceMismatch => f.write_str("id_token nonce does not match"),
            CallbackError::Seal => f.write_str("cannot seal the session"),
        }
    }
}

impl CallbackError {
    /// The provider's `error=` value, reduced to what an OAuth error code may contain (RFC 6749
    /// §4.1.2.1: printable ASCII without `"` and `\\`) so it cannot forge log lines.
    pub fn provider_error(value: &[u8]) -> CallbackError {
        let code = value
            .iter()
            .take(64)
            .map(|&b| match b {
                0x20..=0x7e if b != b'"' && b != b'\\' => b as char,
                _ => '?',
            })
            .collect();
        CallbackError::ProviderError(code)
    }
}

fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

impl LoginState {
    /// A fresh login that will return to `rd` (already validated).
    pub fn new(rd: String, now: u64) -> Option<LoginState> {
        Some(LoginState {
            state: random_token()?,
            nonce: random_token()?,
            code_verifier: random_token()?,
            rd,
            created: now,
        })
    }

    pub fn code_challenge(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.code_verifier.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    fn to_json(&self) -> String {
        json!({"s": self.state, "n": self.nonce, "v": self.code_verifier, "r": self.rd, "t": self.created})
            .to_string()
    }

    fn from_json(bytes: &[u8]) -> Option<LoginState> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        let text = |k: &str| value.get(k)?.as_str().map(str::to_string);
        Some(LoginState {
            state: text("s")?,
            nonce: text("n")?,
            code_verifier: text("v")?,
            rd: text("r")?,
            created: value.get("t")?.as_u64()?,
        })
    }
}

impl Provider {
    /// `{external_host}/outpost.goauthentik.io/callback?X-authentik-auth-callback=true`
    pub fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}?{CALLBACK_QUERY}", self.external_host)
    }

    /// The cookie holding one login's state; its name carries a digest of the state, so
    /// parallel logins in several tabs each keep their own.
    pub fn login_state_cookie_name(&self, state: &str) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, state.as_bytes());
        let tag: String = digest.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}_login_{tag}", self.cookie_name)
    }

    /// Start a login: the 302 target and the `Set-Cookie` value of the login-state cookie.
    pub fn start_login(&self, rd: String, now: u64) -> Option<(String, String)> {
        let login = LoginState::new(rd, now)?;
        let name = self.login_state_cookie_name(&login.state);
        let sealed = seal(&self.login_state_key, &name, login.to_json().as_bytes()).ok()?;
        let cookie = self.set_cookie(&name, &sealed, LOGIN_STATE_TTL_SECS as i64);
        Some((self.authorize_location(&login), cookie))
    }

    fn authorize_location(&self, login: &LoginState) -> String {
        let separator = if self.authorize_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}client_id={}&redirect_uri={}&response_type=code&scope={}&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
            self.authorize_url,
            encode(&self.client_id),
            encode(&self.redirect_uri()),
            encode(&self.scopes),
            encode(&login.state),
            encode(&login.nonce),
            encode(&login.code_challenge()),
        )
    }

    /// Open the login-state cookie value for `state`.
    pub fn open_login_state(
        &self,
        state: &str,
        cookie_value: Option<&[u8]>,
        now: u64,
    ) -> Result<LoginState, CallbackError> {
        let name = self.login_state_cookie_name(state);
        let sealed = cookie_value.ok_or(CallbackError::StateCookieMissing)?;
        let plain =
            open(&self.login_state_key, &name, sealed).map_err(|_| CallbackError::StateInvalid)?;
        let login = LoginState::from_json(&plain).ok_or(CallbackError::StateInvalid)?;
        if !constant_time_eq(login.state.as_bytes(), state.as_bytes()) {
            return Err(CallbackError::StateInvalid);
        }
        if now >= login.created.saturating_add(LOGIN_STATE_TTL_SECS)
            || login.created > now.saturating_add(60)
        {
            return Err(CallbackError::StateExpired);
        }
        Ok(login)
    }

    /// The form body of the code exchange (`$authentik_token_request_body`).
    pub fn token_request_body(&self, code: &str, login: &LoginState) -> String {
        format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&client_secret={}&code_verifier={}",
            encode(code),
            encode(&self.redirect_uri()),
            encode(&self.client_id),
            encode(&String::from_utf8_lossy(&self.client_secret)),
            encode(&login.code_verifier),
        )
    }

    /// Check the token endpoint's answer and choose the token to seal: the access token when
    /// it is a JWT that verifies, else the verified id_token. The id_token must carry the
    /// login's nonce. Returns the token and its `exp`.
    pub fn finish_login(
        &self,
        status: u16,
        body: &[u8],
        login: &LoginState,
        now: u64,
    ) -> Result<(String, u64), CallbackError> {
        if status != 200 {
            return Err(CallbackError::ExchangeFailed(status));
        }
        let response: Value =
            serde_json::from_slice(body).map_err(|_| CallbackError::BadTokenResponse)?;
        let id_token = response
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or(CallbackError::BadTokenResponse)?;
        let id_claims = self
            .verify_claims(id_token.as_bytes(), now)
            .map_err(token_error)?;
        let nonce = id_claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !constant_time_eq(nonce.as_bytes(), login.nonce.as_bytes()) {
            return Err(CallbackError::NonceMismatch);
        }
        let access_token = response.get("access_token").and_then(Value::as_str);
        match access_token.filter(|t| t.matches('.').count() == 2) {
            Some(access) => {
                let claims = self
                    .verify_claims(access.as_bytes(), now)
                    .map_err(token_error)?;
                Ok((access.to_string(), claims.exp()))
            }
            None => Ok((id_token.to_string(), id_claims.exp())),
        }
    }

    /// `Set-Cookie` values for a new session: every chunk, plus clearing the login state.
    pub fn session_cookies(
        &self,
        token: &str,
        exp: u64,
        login: &LoginState,
        now: u64,
    ) -> Result<Vec<String>, CallbackError> {
        let chunks =
            crate::session::seal_session(&self.session_key, &self.cookie_name, token.as_bytes())
                .map_err(|_| CallbackError::Seal)?;
        let max_age = exp.saturating_sub(now).min(i64::MAX as u64) as i64;
        let mut cookies: Vec<String> = chunks
            .iter()
            .map(|(name, value)| self.set_cookie(name, value, max_age))
            .collect();
        cookies.push(self.clear_cookie(&self.login_state_cookie_name(&login.state)));
        Ok(cookies)
    }

    /// `rd` if it may be redirected to, else `external_host` (DESIGN §5).
    pub fn validate_rd(&self, rd: Option<&str>) -> String {
        let fallback = || format!("{}/", self.external_host);
        let Some(rd) = rd.filter(|r| !r.is_empty()) else {
            return fallback();
        };
        if rd
            .bytes()
            .any(|b| b.is_ascii_control() || b == b'\\' || !b.is_ascii())
        {
            return fallback();
        }
        if rd.starts_with('/') && !rd.starts_with("//") {
            return format!("{}{rd}", self.external_host);
        }
        let Some(target) = Origin::parse(rd) else {
            return fallback();
        };
        let allowed = match self.mode {
            Mode::Single => Origin::parse(&self.external_host).is_some_and(|own| {
                own.scheme == target.scheme
                    && own.host == target.host
                    && own.effective_port() == target.effective_port()
            }),
            Mode::Domain => self.cookie_domain.as_deref().is_some_and(|domain| {
                let domain = domain.trim_start_matches('.').to_ascii_lowercase();
                target.host == domain || target.host.ends_with(&format!(".{domain}"))
            }),
        };
        if allowed {
            rd.to_string()
        } else {
            fallback()
        }
    }

    /// A `Set-Cookie` value with the provider's attributes (DESIGN §4).
    pub fn set_cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.secure_cookies {
            cookie.push_str("; Secure");
        }
        if let (Mode::Domain, Some(domain)) = (self.mode, &self.cookie_domain) {
            cookie.push_str("; Domain=");
            cookie.push_str(domain);
        }
        cookie.push_str(&format!("; Max-Age={max_age}"));
        cookie
    }

    /// A `Set-Cookie` value that deletes cookie `name`.
    pub fn clear_cookie(&self, name: &str) -> String {
        let mut cookie = self.set_cookie(name, "", 0);
        cookie.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        cookie
    }

    /// `Set-Cookie` values clearing every session chunk (sign-out).
    pub fn clear_session_cookies(&self) -> Vec<String> {
        crate::session::chunk_names(&self.cookie_name)
            .map(|name| self.clear_cookie(&name))
            .collect()
    }
}

fn token_error(failure: Failure) -> CallbackError {
    CallbackError::Token(failure.reason())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
