//! The login flow: login state with PKCE and nonce, the authorize URL, the token-request body
//! and the token response, and the cookies it writes (docs/architecture.md, "Login").

use std::borrow::Cow;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::auth::Failure;
use crate::claims::Member;
use crate::provider::Provider;
use crate::redirect::encode;
use crate::seal::{open, seal};

/// How long a login may take, from `/start` to `/callback`.
pub const LOGIN_STATE_TTL_SECS: u64 = 600;
pub const CALLBACK_PATH: &str = "/outpost.goauthentik.io/callback";
pub const CALLBACK_QUERY: &str = "X-authentik-auth-callback=true";
/// Login-state cookies a browser keeps at once (parallel logins in as many tabs complete).
pub const MAX_LOGIN_STATES: usize = 4;
/// Bytes the kept login-state cookies (names and values) may take together.
pub const LOGIN_STATE_BUDGET: usize = 4096;

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
    pub fn provider_error(value: &str) -> CallbackError {
        let code = value
            .bytes()
            .take(64)
            .map(|b| match b {
                0x20..=0x7e if b != b'"' && b != b'\\' => b as char,
                _ => '?',
            })
            .collect();
        CallbackError::ProviderError(code)
    }

    /// Errors of nginx or authentik rather than of the browser's request.
    pub fn is_server_side(&self) -> bool {
        matches!(self, CallbackError::ExchangeFailed(_) | CallbackError::Seal)
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
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.code_verifier.as_bytes());
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

/// A new login: where to send the browser, and the `Set-Cookie` values of the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginStart {
    pub location: String,
    pub cookies: Vec<String>,
}

impl Provider {
    /// `{external_host}/outpost.goauthentik.io/callback?X-authentik-auth-callback=true`
    pub fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}?{CALLBACK_QUERY}", self.external_host)
    }

    fn login_state_prefix(&self) -> String {
        format!("{}_login_", self.cookie_name)
    }

    /// The cookie holding one login's state; its name carries a digest of the state, so
    /// parallel logins in several tabs each keep their own.
    pub fn login_state_cookie_name(&self, state: &str) -> String {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, state.as_bytes());
        let tag: String = digest.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}{tag}", self.login_state_prefix())
    }

    /// Start a login returning to `rd` (already validated): the 302 target, the new
    /// login-state cookie, and the clearing of older login-state cookies the request carried
    /// beyond [`MAX_LOGIN_STATES`] and [`LOGIN_STATE_BUDGET`] (newest kept).
    pub fn start_login<'a>(
        &self,
        rd: String,
        now: u64,
        request_cookies: impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    ) -> Option<LoginStart> {
        let login = LoginState::new(rd, now)?;
        let name = self.login_state_cookie_name(&login.state);
        let sealed = seal(&self.login_state_key, &name, login.to_json().as_bytes()).ok()?;
        let mut cookies = vec![self
            .cookies
            .set(&name, &sealed, LOGIN_STATE_TTL_SECS as i64)];
        let prefix = self.login_state_prefix();
        let mut existing: Vec<(u64, String, usize)> = Vec::new();
        for (cookie, value) in request_cookies {
            if !cookie.starts_with(&prefix) || existing.iter().any(|(_, n, _)| *n == *cookie) {
                continue;
            }
            let created = open(&self.login_state_key, &cookie, value.as_bytes())
                .ok()
                .and_then(|plain| LoginState::from_json(&plain))
                .filter(|state| now < state.created.saturating_add(LOGIN_STATE_TTL_SECS))
                .map(|state| state.created);
            match created {
                Some(created) => existing.push((created, cookie.into_owned(), value.len())),
                None => cookies.push(self.cookies.clear(&cookie)),
            }
        }
        existing.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        let mut budget = LOGIN_STATE_BUDGET.saturating_sub(name.len() + sealed.len() + 1);
        for (index, (_, cookie, len)) in existing.iter().enumerate() {
            let size = cookie.len() + len + 1;
            if index + 1 < MAX_LOGIN_STATES && size <= budget {
                budget -= size;
            } else {
                cookies.push(self.cookies.clear(cookie));
            }
        }
        Some(LoginStart {
            location: self.authorize_location(&login),
            cookies,
        })
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
        let (nonce_ok, id_exp) = self
            .verifier
            .verify(id_token.as_bytes(), now, |claims, _| {
                let nonce = match &claims.nonce {
                    Member::Value(nonce) => nonce.as_bytes(),
                    _ => b"",
                };
                (
                    constant_time_eq(nonce, login.nonce.as_bytes()),
                    claims.exp.value().map_or(0, |t| t.seconds()),
                )
            })
            .map_err(|e| token_error(e.into()))?;
        if !nonce_ok {
            return Err(CallbackError::NonceMismatch);
        }
        let access_token = response.get("access_token").and_then(Value::as_str);
        match access_token.filter(|t| t.matches('.').count() == 2) {
            Some(access) => {
                let exp = self
                    .verifier
                    .verify(access.as_bytes(), now, |claims, _| {
                        claims.exp.value().map_or(0, |t| t.seconds())
                    })
                    .map_err(|e| token_error(e.into()))?;
                Ok((access.to_string(), exp))
            }
            None => Ok((id_token.to_string(), id_exp)),
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
            .map(|(name, value)| self.cookies.set(name, value, max_age))
            .collect();
        cookies.push(
            self.cookies
                .clear(&self.login_state_cookie_name(&login.state)),
        );
        Ok(cookies)
    }

    /// `Set-Cookie` values clearing every session chunk (sign-out, a broken session).
    pub fn clear_session_cookies(&self) -> Vec<String> {
        crate::session::chunk_names(&self.cookie_name)
            .map(|name| self.cookies.clear(&name))
            .collect()
    }

    /// A `Set-Cookie` value with the provider's attributes.
    pub fn set_cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        self.cookies.set(name, value, max_age)
    }
}

fn token_error(failure: Failure) -> CallbackError {
    CallbackError::Token(failure.reason())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
