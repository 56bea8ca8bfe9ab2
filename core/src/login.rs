//! The login flow: login state with PKCE and nonce, the authorize URL, the token-request body
//! and the token response, and the cookies it writes (docs/architecture.md, "Login").

use std::borrow::Cow;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Failure;
use crate::claims::Member;
use crate::identity::Identity;
use crate::provider::Provider;
use crate::redirect::encode;
use crate::seal::{open, seal};
use crate::session::SessionTokens;

/// How long a login may take, from `/start` to `/callback`.
pub const LOGIN_STATE_TTL_SECS: u64 = 600;
pub const CALLBACK_PATH: &str = "/outpost.goauthentik.io/callback";
pub const CALLBACK_QUERY: &str = "X-authentik-auth-callback=true";
/// Login-state cookies a browser keeps at once (parallel logins in as many tabs complete).
pub const MAX_LOGIN_STATES: usize = 4;
/// Bytes the kept login-state cookies (names and values) may take together.
pub const LOGIN_STATE_BUDGET: usize = 4096;

/// How long a session cookie with a refresh token lives in the browser: authentik's default
/// refresh-token validity (30 days). A refresh token that dies sooner ends the session at its
/// next renewal.
pub const SESSION_WITH_REFRESH_MAX_AGE: i64 = 30 * 24 * 3600;

/// The tokens a token endpoint issued, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The token of the session: the access token when it is a JWT, else the id_token.
    pub token: String,
    /// Its `exp`.
    pub exp: u64,
    /// Its `sub`.
    pub subject: String,
    pub refresh: Option<String>,
    /// `token` is the id_token.
    pub id_token: bool,
}

/// The members of a token endpoint's answer that a session uses.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    id_token: Option<String>,
    refresh_token: Option<String>,
}

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
        // Newest first. Within one second, browsers send the older cookie first (RFC 6265
        // §5.4): reversed, a stable sort keeps the later-sent one ahead.
        existing.reverse();
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
    /// login's nonce.
    pub fn finish_login(
        &self,
        status: u16,
        body: &[u8],
        login: &LoginState,
        now: u64,
    ) -> Result<Issued, CallbackError> {
        if status != 200 {
            return Err(CallbackError::ExchangeFailed(status));
        }
        self.issued_tokens(body, Some(&login.nonce), now)
            .map(|(issued, _)| issued)
    }

    /// The tokens of a token endpoint's 200 answer, verified as at login. `nonce`: the id_token
    /// must carry it (a code exchange); without one it is not checked (a refresh, whose
    /// id_token has none).
    pub(crate) fn issued_tokens(
        &self,
        body: &[u8],
        nonce: Option<&str>,
        now: u64,
    ) -> Result<(Issued, Identity), CallbackError> {
        let response: TokenAnswer =
            serde_json::from_slice(body).map_err(|_| CallbackError::BadTokenResponse)?;
        let id_token = response.id_token.ok_or(CallbackError::BadTokenResponse)?;
        let (nonce_ok, id_exp, id_subject) = self
            .verifier
            .verify(id_token.as_bytes(), now, |claims, _| {
                let sent = match &claims.nonce {
                    Member::Value(nonce) => nonce.as_bytes(),
                    _ => b"",
                };
                (
                    nonce.is_none_or(|n| constant_time_eq(sent, n.as_bytes())),
                    claims.exp.value().map_or(0, |t| t.seconds()),
                    claims
                        .sub
                        .value()
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                )
            })
            .map_err(|e| token_error(e.into()))?;
        if !nonce_ok {
            return Err(CallbackError::NonceMismatch);
        }
        let refresh = response.refresh_token.filter(|t| !t.is_empty());
        let issued = match response
            .access_token
            .filter(|t| t.matches('.').count() == 2)
        {
            Some(access) => {
                let (exp, subject) = self
                    .verifier
                    .verify(access.as_bytes(), now, |claims, _| {
                        (
                            claims.exp.value().map_or(0, |t| t.seconds()),
                            claims
                                .sub
                                .value()
                                .map(|s| s.to_string())
                                .unwrap_or_default(),
                        )
                    })
                    .map_err(|e| token_error(e.into()))?;
                if subject != id_subject {
                    return Err(CallbackError::Token(
                        "the access token and id_token name different users",
                    ));
                }
                Issued {
                    token: access,
                    exp,
                    subject,
                    refresh,
                    id_token: false,
                }
            }
            None => Issued {
                token: id_token,
                exp: id_exp,
                subject: id_subject,
                refresh,
                id_token: true,
            },
        };
        // The session must authenticate with it: the identity's own rules apply too.
        let identity = self
            .verify_token(issued.token.as_bytes(), now)
            .map_err(|failure| CallbackError::Token(failure.reason()))?;
        Ok((issued, identity))
    }

    /// `Set-Cookie` values for a new session: every chunk, plus clearing the login state.
    pub fn session_cookies(
        &self,
        issued: &Issued,
        login: &LoginState,
        now: u64,
    ) -> Result<Vec<String>, CallbackError> {
        let (mut cookies, _) = self.seal_issued(issued, now)?;
        cookies.push(
            self.cookies
                .clear(&self.login_state_cookie_name(&login.state)),
        );
        Ok(cookies)
    }

    /// Seal `issued` into the session cookie: its `Set-Cookie` values and the sealed value.
    /// A session with a refresh token outlives its access token, for
    /// [`SESSION_WITH_REFRESH_MAX_AGE`].
    pub(crate) fn seal_issued(
        &self,
        issued: &Issued,
        now: u64,
    ) -> Result<(Vec<String>, String), CallbackError> {
        let plain = SessionTokens {
            access: issued.token.clone().into_bytes(),
            refresh: issued.refresh.clone().map(String::into_bytes),
            renewed_at: now,
            id_token: issued.id_token,
        }
        .encode();
        let (chunks, sealed) =
            crate::session::seal_session_value(&self.session_key, &self.cookie_name, &plain)
                .map_err(|_| CallbackError::Seal)?;
        let max_age = match issued.refresh {
            Some(_) => SESSION_WITH_REFRESH_MAX_AGE,
            None => issued.exp.saturating_sub(now).min(i64::MAX as u64) as i64,
        };
        let cookies = chunks
            .iter()
            .map(|(name, value)| self.cookies.set(name, value, max_age))
            .collect();
        Ok((cookies, sealed))
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
