//! OpenID Connect Back-Channel Logout 1.0 (docs/architecture.md, "Revocation"): the logout
//! request, its token, and the revocation it writes.

use std::borrow::Cow;
use std::fmt;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::auth::Worker;
use crate::claims::Member;
use crate::decision::{Action, Body, Event, Level, Outcome, ReadBody, Response, Status};
use crate::metrics::Extra;
use crate::provider::Provider;
use crate::request::{Method, RequestFacts};
use crate::revocation::{key, Kind, Revocations, DEFAULT_LIFETIME_SECS};
use crate::token::{Rules, TokenError};

/// The `events` member a logout token carries.
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The largest logout request body read.
pub const MAX_LOGOUT_BODY: usize = 64 * 1024;

/// A verified logout token: what it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
    pub iat: u64,
}

/// Why a logout request is refused (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutError {
    NotForm,
    NoToken,
    Token(TokenError),
    NoEvent,
    Nonce,
    NoSubject,
    NoJti,
    /// `sid`, `sub` or `jti` present with another JSON type than a string.
    Mistyped,
    Replayed,
}

impl fmt::Display for LogoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogoutError::NotForm => {
                f.write_str("the body is not application/x-www-form-urlencoded")
            }
            LogoutError::NoToken => f.write_str("the body has no single logout_token"),
            LogoutError::Token(e) => write!(f, "logout token rejected: {e}"),
            LogoutError::NoEvent => {
                f.write_str("logout token without the back-channel logout event")
            }
            LogoutError::Nonce => f.write_str("logout token with a nonce"),
            LogoutError::NoSubject => f.write_str("logout token with neither sid nor sub"),
            LogoutError::NoJti => f.write_str("logout token without jti"),
            LogoutError::Mistyped => {
                f.write_str("logout token whose sid, sub or jti is not a string")
            }
            LogoutError::Replayed => f.write_str("logout token already used"),
        }
    }
}

/// The `logout_token` of a form body; exactly one.
pub fn logout_token_of(content_type: Option<&[u8]>, body: &[u8]) -> Result<String, LogoutError> {
    let is_form = content_type.is_some_and(|ct| {
        let media = ct.split(|&b| b == b';').next().unwrap_or_default();
        media
            .trim_ascii()
            .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
    });
    if !is_form {
        return Err(LogoutError::NotForm);
    }
    let mut tokens = url::form_urlencoded::parse(body)
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, value)| value);
    match (tokens.next(), tokens.next()) {
        (Some(token), None) if !token.is_empty() => Ok(token.into_owned()),
        _ => Err(LogoutError::NoToken),
    }
}

impl Provider {
    /// Verify a logout token: signature and algorithm as for sessions, `iss`, `aud`, `iat`
    /// within leeway, `exp` when present, the event, no `nonce`, `sid` or `sub`, and `jti`.
    pub fn verify_logout_token(&self, token: &[u8], now: u64) -> Result<LogoutToken, LogoutError> {
        let read = self
            .verifier
            .verify_with(token, now, Rules::LOGOUT, |claims, _| {
                let text = |m: &Member<Cow<'_, str>>| m.value().map(|v| v.to_string());
                let mistyped = [&claims.sid, &claims.sub, &claims.jti]
                    .iter()
                    .any(|m| matches!(m, Member::Other));
                (
                    mistyped,
                    has_logout_event(claims.events),
                    claims.nonce.is_present(),
                    text(&claims.sid),
                    text(&claims.sub),
                    text(&claims.jti),
                    claims.iat.value().map_or(0, |t| t.seconds()),
                )
            })
            .map_err(LogoutError::Token)?;
        let (mistyped, event, nonce, sid, sub, jti, iat) = read;
        if mistyped {
            return Err(LogoutError::Mistyped);
        }
        if !event {
            return Err(LogoutError::NoEvent);
        }
        if nonce {
            return Err(LogoutError::Nonce);
        }
        let sid = sid.filter(|s| !s.is_empty());
        let sub = sub.filter(|s| !s.is_empty());
        if sid.is_none() && sub.is_none() {
            return Err(LogoutError::NoSubject);
        }
        let jti = jti.filter(|j| !j.is_empty()).ok_or(LogoutError::NoJti)?;
        Ok(LogoutToken { sid, sub, jti, iat })
    }

    /// `POST /outpost.goauthentik.io/backchannel_logout`, before its body is read.
    pub(crate) fn backchannel_request(&self, request: &RequestFacts<'_>) -> Outcome {
        if request.method != Method::Post {
            let mut response = Response::status(405);
            response.headers.push(("Allow", "POST".into()));
            return Outcome::respond(Status::Missing, response);
        }
        if request
            .content_length
            .is_some_and(|len| len > MAX_LOGOUT_BODY as u64)
        {
            return Outcome::respond(Status::Missing, Response::status(413));
        }
        Outcome::new(
            Status::Missing,
            Action::ReadBody(ReadBody {
                limit: MAX_LOGOUT_BODY,
            }),
        )
    }

    /// The logout request's body was read (`None`: it was larger than [`MAX_LOGOUT_BODY`]):
    /// verify it and revoke what it names.
    pub fn backchannel_logout(
        &self,
        request: &RequestFacts<'_>,
        body: Option<&[u8]>,
        worker: &mut Worker,
        now: u64,
    ) -> Outcome {
        let Some(body) = body else {
            return Outcome::respond(Status::Missing, Response::status(413));
        };
        let Some(list) = worker.revocations else {
            return self.revocation_failed("no revocation zone");
        };
        let verified = logout_token_of(request.content_type, body)
            .and_then(|token| self.verify_logout_token(token.as_bytes(), now))
            .and_then(|token| {
                let jti = key(Kind::LogoutToken, &self.name, &token.jti);
                match list.lookup(&jti, now) {
                    Some(_) => Err(LogoutError::Replayed),
                    None => Ok((token, jti)),
                }
            });
        let (token, jti) = match verified {
            Ok(verified) => verified,
            Err(error) => return self.logout_refused(&error),
        };
        let until = self.revocation_expiry(&list, now);
        let (entry, cutoff) = match (&token.sid, &token.sub) {
            (Some(sid), _) => (key(Kind::Session, &self.name, sid), 0),
            (None, Some(sub)) => (key(Kind::Subject, &self.name, sub), token.iat.max(1)),
            (None, None) => return self.logout_refused(&LogoutError::NoSubject),
        };
        // The jti lives as long as the token could still be accepted.
        let jti_until = token
            .iat
            .saturating_add(2 * self.leeway_secs + 1)
            .max(now + 1);
        if list.insert(&entry, until, cutoff, now).is_err()
            || list.insert(&jti, jti_until, 0, now).is_err()
        {
            return self.revocation_failed("the revocation zone is full");
        }
        let what = match (&token.sid, &token.sub) {
            (Some(_), _) => "session",
            _ => "every earlier session of the user",
        };
        let mut response = Response::status(200);
        response.headers.push(("Cache-Control", "no-store".into()));
        Outcome::respond(Status::Missing, response)
            .logged(
                Level::Info,
                format!(
                    "authentik: provider \"{}\": back-channel logout ended {what}",
                    self.name
                ),
            )
            .with_event(Event::Extra(Extra::BackchannelAccepted))
    }

    /// Until when a revocation written now must live: past the end of every token it can
    /// match (the longest lifetime seen, at least a day), plus leeway.
    pub(crate) fn revocation_expiry(&self, list: &Revocations<'_>, now: u64) -> u64 {
        now.saturating_add(list.lifetime(&self.name, DEFAULT_LIFETIME_SECS))
            .saturating_add(self.leeway_secs + 1)
    }

    fn logout_refused(&self, error: &LogoutError) -> Outcome {
        let body = serde_json::json!({
            "error": "invalid_request",
            "error_description": error.to_string(),
        });
        let response = Response {
            status: 400,
            headers: vec![("Cache-Control", "no-store".into())],
            body: Some(Body {
                content_type: "application/json",
                bytes: body.to_string().into_bytes(),
            }),
            ..Default::default()
        };
        Outcome::respond(Status::Invalid, response)
            .logged(
                Level::Warn,
                format!(
                    "authentik: provider \"{}\": back-channel logout refused: {error}",
                    self.name
                ),
            )
            .with_event(Event::Extra(Extra::BackchannelRefused))
    }

    fn revocation_failed(&self, why: &str) -> Outcome {
        Outcome::respond(Status::Missing, Response::status(500))
            .logged(
                Level::Crit,
                format!(
                    "authentik: provider \"{}\": back-channel logout not recorded: {why}; raise authentik_revocation_zone",
                    self.name
                ),
            )
            .with_event(Event::Extra(Extra::BackchannelFull))
    }
}

/// `events` is an object with the back-channel logout member, whose value is an object.
fn has_logout_event(events: Option<&RawValue>) -> bool {
    events
        .and_then(|raw| serde_json::from_str::<Map<String, Value>>(raw.get()).ok())
        .is_some_and(|events| events.get(BACKCHANNEL_EVENT).is_some_and(Value::is_object))
}
