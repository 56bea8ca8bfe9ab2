//! Session renewal with the refresh token (docs/architecture.md, "Renewal"): when it is due,
//! the `refresh_token` grant in the same request, and what its answer does to the session.

use std::rc::Rc;

use crate::auth::{Authentication, Failure, Hold, SessionInfo, Worker};
use crate::conf::Location;
use crate::decision::{Event, Exchange, Level, Outcome, Pending, TokenResponse};
use crate::identity::Identity;
use crate::login::CallbackError;
use crate::metrics::{CacheUse, Extra, Grant, TokenResult};
use crate::provider::Provider;
use crate::redirect::encode;
use crate::request::RequestFacts;

/// How long a worker waits before asking authentik again after it could not be reached, and
/// how long a refused refresh token keeps serving a still-valid access token (a parallel
/// request may have rotated it; its cookie reaches the browser within this time).
pub const RENEWAL_HOLD_SECS: u64 = 10;

/// A renewal in flight: the session it renews, and its identity while that is still valid.
#[derive(Debug)]
pub struct Renewal {
    pub session: Rc<SessionInfo>,
    pub current: Option<Rc<Identity>>,
    pub cache: CacheUse,
}

/// What to do about a session's renewal now.
pub(crate) enum Due {
    /// Not due, or renewal is off: go on with the authentication as it is.
    No,
    /// Run the refresh grant.
    Exchange(Exchange),
    /// A recent failure holds renewals back, and the current token is still valid: serve it.
    Serve(Rc<Identity>),
    /// authentik could not be reached a moment ago and the token has expired: no session
    /// now, but the cookie stays for a later renewal.
    Unavailable,
    /// authentik refused this refresh token, and the grace for parallel renewals is over or
    /// the token has expired: the session ends.
    Ended,
}

impl Provider {
    /// Whether the session of `authentication` is to be renewed now: its token has expired,
    /// expires within `leeway`, or was renewed longer than `refresh_interval` ago.
    pub(crate) fn renewal_due(
        &self,
        authentication: &Authentication,
        worker: &mut Worker,
        now: u64,
    ) -> Due {
        let (Some(info), true, Some(uri)) = (
            authentication.session.as_ref(),
            self.refresh,
            self.token_request.as_ref(),
        ) else {
            return Due::No;
        };
        let Some(refresh) = info.refresh.as_deref() else {
            return Due::No;
        };
        let current = match &authentication.result {
            Ok(identity) => Some(identity.clone()),
            Err(Failure::Expired) => None,
            Err(_) => return Due::No,
        };
        let due = match &current {
            None => true,
            Some(identity) => {
                identity.expires <= now.saturating_add(self.leeway_secs)
                    || self
                        .refresh_interval
                        .is_some_and(|interval| info.renewed_at.saturating_add(interval) <= now)
            }
        };
        if !due {
            return Due::No;
        }
        let valid = current
            .as_ref()
            .filter(|identity| identity.expires > now)
            .cloned();
        match (worker.holds.get(refresh).copied(), valid) {
            (Some(Hold::Unavailable(at)), valid) if now < at.saturating_add(RENEWAL_HOLD_SECS) => {
                return valid.map_or(Due::Unavailable, Due::Serve)
            }
            (Some(Hold::Refused(at)), Some(valid))
                if now < at.saturating_add(RENEWAL_HOLD_SECS) =>
            {
                return Due::Serve(valid)
            }
            (Some(Hold::Refused(_)), _) => return Due::Ended,
            _ => {}
        }
        Due::Exchange(Exchange {
            uri: uri.clone(),
            body: self.refresh_request_body(refresh),
            pending: Pending::Refresh(Renewal {
                session: info.clone(),
                current,
                cache: authentication.cache,
            }),
        })
    }

    /// The form body of the refresh grant (`$authentik_token_request_body`).
    pub fn refresh_request_body(&self, refresh_token: &str) -> String {
        format!(
            "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}",
            encode(refresh_token),
            encode(&self.client_id),
            encode(&String::from_utf8_lossy(&self.client_secret)),
        )
    }

    /// The refresh grant answered: a renewed session, the current one kept, or the end.
    pub(crate) fn finish_renewal(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        renewal: Renewal,
        answer: TokenResponse<'_>,
        now: u64,
    ) -> Outcome {
        let refresh = renewal.session.refresh.as_deref().unwrap_or_default();
        let unavailable = answer.status == 0 || answer.status >= 500;
        let renewed = match answer.status {
            200 => self.renewed(&renewal.session, answer.body, worker, now),
            _ => Err(CallbackError::ExchangeFailed(answer.status)),
        };
        let still_valid = renewal
            .current
            .as_ref()
            .filter(|id| id.expires > now)
            .cloned();
        match renewed {
            Ok((identity, cookies)) => {
                worker.holds.pop(refresh);
                let mut outcome = self.admit(location, identity, true);
                outcome.cache = renewal.cache;
                outcome
                    .with_cookies(cookies)
                    .with_event(Event::Extra(Extra::RefreshRenewed))
                    .with_event(Event::TokenRequest(
                        Grant::RefreshToken,
                        TokenResult::Success,
                    ))
            }
            Err(error) if unavailable => {
                worker.holds.put(refresh.into(), Hold::Unavailable(now));
                let message = format!(
                    "authentik: provider \"{}\": session renewal failed: {error}; {}",
                    self.name,
                    if still_valid.is_some() {
                        "serving the current token until it expires"
                    } else {
                        "the token has expired"
                    }
                );
                let outcome = match still_valid {
                    Some(identity) => self.admit(location, identity, true),
                    // The refresh token may work again later: the cookie stays.
                    None => self.unauthenticated(location, request, Failure::Expired, false, now),
                };
                outcome
                    .logged(Level::Warn, message)
                    .with_event(Event::Extra(Extra::RefreshKept))
                    .with_event(Event::TokenRequest(
                        Grant::RefreshToken,
                        TokenResult::Failure,
                    ))
            }
            Err(error) => {
                let first_refusal = !matches!(worker.holds.get(refresh), Some(Hold::Refused(_)));
                if first_refusal {
                    worker.holds.put(refresh.into(), Hold::Refused(now));
                }
                let rejected = Event::TokenRequest(Grant::RefreshToken, TokenResult::Rejected);
                // Tokens that fail verification end the session at once; a refused grant
                // with a still-valid token may be a parallel request's rotation.
                match still_valid.filter(|_| first_refusal && answer.status != 200) {
                    // A parallel request may have rotated the refresh token: keep serving.
                    Some(identity) => self
                        .admit(location, identity, true)
                        .logged(
                            Level::Warn,
                            format!(
                                "authentik: provider \"{}\": session renewal refused: {error}; serving the current token for up to {RENEWAL_HOLD_SECS}s",
                                self.name
                            ),
                        )
                        .with_event(Event::Extra(Extra::RefreshKept))
                        .with_event(rejected),
                    None => self
                        .renewal_ended(location, request, now, &error)
                        .with_event(rejected),
                }
            }
        }
    }

    /// The session ends: cookies cleared, and what a request without a session gets.
    pub(crate) fn renewal_ended(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        now: u64,
        error: &dyn std::fmt::Display,
    ) -> Outcome {
        let failure = Failure::Invalid("session renewal refused");
        self.unauthenticated(location, request, failure, true, now)
            .logged(
                Level::Info,
                format!(
                    "authentik: provider \"{}\": session ended: renewal refused: {error}",
                    self.name
                ),
            )
            .with_event(Event::Extra(Extra::RefreshEnded))
    }

    /// The new tokens, verified as at login and for the same user, sealed into the session.
    fn renewed(
        &self,
        session: &SessionInfo,
        body: &[u8],
        worker: &mut Worker,
        now: u64,
    ) -> Result<(Rc<Identity>, Vec<String>), CallbackError> {
        let (mut issued, identity) = self.issued_tokens(body, None, now)?;
        if *issued.subject != *session.subject {
            return Err(CallbackError::Token("the renewed token names another user"));
        }
        if issued.refresh.is_none() {
            // authentik keeps the refresh token when it does not rotate it.
            issued.refresh = session.refresh.as_deref().map(str::to_string);
        }
        let identity = Rc::new(worker.unrevoked(&self.name, identity, now)?);
        let (cookies, sealed) = self.seal_issued(&issued, now)?;
        let info = Rc::new(SessionInfo {
            refresh: issued.refresh.map(Into::into),
            renewed_at: now,
            id_token: issued.id_token,
            subject: issued.subject.into(),
            marks: None,
        });
        worker.cache_session(self.id, sealed.as_bytes(), identity.clone(), info);
        Ok((identity, cookies))
    }
}
