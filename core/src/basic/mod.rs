//! `Authorization: Basic` with authentik app passwords (docs/architecture.md, "Basic
//! credentials"), as authentik's outpost reads it: username `goauthentik.io/token` sends a
//! bearer token; any other username an app password, exchanged with the `client_credentials`
//! grant through `token_request`. Answers are kept per worker under the digest of the header:
//! successes for [`BASIC_CACHE_SECS`] (never past the token's `exp`), refusals for
//! [`BASIC_REFUSAL_SECS`]. A client that sent credentials wants an answer: a failure is a 401
//! with a Basic challenge, never a redirect to the login.

mod header;
mod state;

pub use header::{
    basic_credentials, BasicCredentials, BasicError, MAX_APP_PASSWORD_BYTES, MAX_CREDENTIALS_BYTES,
    MAX_USERNAME_BYTES, TOKEN_USERNAME,
};
pub use state::{BasicKey, BasicState, ExchangeSlot, Refusal};

use std::rc::Rc;

use crate::auth::{Failure, Worker};
use crate::conf::Location;
use crate::decision::{
    Action, Event, Exchange, Level, Outcome, Pending, Response, Status, TokenResponse,
};
use crate::identity::Identity;
use crate::login::CallbackError;
use crate::metrics::{CacheUse, Extra, Grant, TokenResult};
use crate::provider::Provider;
use crate::redirect::encode;
use crate::request::RequestFacts;
use crate::sanitize::clean;

/// How long an exchanged app password is trusted without asking authentik again (authentik's
/// outpost keeps it as long).
pub const BASIC_CACHE_SECS: u64 = 60;
/// How long refused credentials are answered 401 without asking authentik again.
pub const BASIC_REFUSAL_SECS: u64 = 60;
/// How long credentials whose exchange could not reach authentik are answered 401 before it
/// is asked again.
pub const BASIC_UNAVAILABLE_SECS: u64 = 10;
/// Exchanges a worker runs at once; more get a 503 with `Retry-After`.
pub const MAX_BASIC_EXCHANGES: usize = 16;
/// The `WWW-Authenticate` challenge of a Basic failure.
pub const BASIC_CHALLENGE: &str = "Basic realm=\"authentik\"";

/// An app-password exchange in flight.
#[derive(Debug)]
pub struct BasicExchange {
    key: BasicKey,
    username: String,
    /// For a forward-auth endpoint: the answer is a forward-auth answer.
    forward: bool,
    _slot: ExchangeSlot,
}

/// The digest a Basic header is cached under, for one provider.
pub fn basic_key(provider: u32, authorization: &[u8]) -> BasicKey {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(&provider.to_le_bytes());
    context.update(authorization);
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

impl Provider {
    /// `Authorization: Basic`, for a request that no session or bearer token authenticated:
    /// `None` when `basic` is off or the request has no Basic header. `fetch`: whether a
    /// JWKS fetch may come first.
    pub(crate) fn basic_auth(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        now: u64,
        fetch: bool,
    ) -> Option<Outcome> {
        if !self.basic {
            return None;
        }
        let header = request.authorization?;
        Some(match basic_credentials(header)? {
            Err(error) => self.basic_refused(request, CacheUse::None).logged(
                Level::Info,
                format!("authentik: provider \"{}\": {}", self.name, error.reason()),
            ),
            Ok(BasicCredentials::Token(token)) => {
                self.basic_token(location, request, worker, &token, now, fetch)
            }
            Ok(BasicCredentials::AppPassword { username, password }) => {
                let key = basic_key(self.id, header);
                self.app_password(location, request, worker, key, username, &password, now)
            }
        })
    }

    /// Username `goauthentik.io/token`: the password is verified as a bearer token, with
    /// `bearer` on.
    fn basic_token(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        token: &str,
        now: u64,
        fetch: bool,
    ) -> Outcome {
        if !self.bearer {
            return self.basic_refused(request, CacheUse::None).logged(
                Level::Info,
                format!(
                    "authentik: provider \"{}\": Basic credentials with username \"{TOKEN_USERNAME}\" carry a bearer token, and bearer is off",
                    self.name
                ),
            );
        }
        let mut cache = CacheUse::None;
        let result = self
            .bearer_identity(worker, &mut cache, token.as_bytes(), now)
            .and_then(|identity| {
                if worker.revoked(|| identity.marks(&self.name), now) {
                    Err(Failure::Revoked)
                } else {
                    Ok(identity)
                }
            });
        match result {
            Ok(identity) => Outcome {
                cache,
                ..self.basic_admit(location, identity, cache != CacheUse::Hit)
            },
            Err(failure) => {
                if let Some(fetch) = fetch.then(|| self.jwks_for_failure(failure, now)).flatten() {
                    return fetch;
                }
                self.basic_refused(request, cache)
                    .with_status(failure.status())
                    .logged(
                        Level::Info,
                        format!(
                            "authentik: provider \"{}\": the bearer token of Basic username \"{TOKEN_USERNAME}\" is refused: {}",
                            self.name,
                            failure.reason()
                        ),
                    )
            }
        }
    }

    /// Any other username: the app password's cached answer, else its exchange.
    #[allow(clippy::too_many_arguments)]
    fn app_password(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        key: BasicKey,
        username: String,
        password: &str,
        now: u64,
    ) -> Outcome {
        if let Some(identity) = worker.cached_basic(self.id, &key, now) {
            // A later revocation (back-channel logout of the user) asks authentik again.
            if !worker.revoked(|| identity.marks(&self.name), now) {
                return Outcome {
                    cache: CacheUse::Hit,
                    ..self.basic_admit(location, identity, false)
                }
                .with_event(Event::Extra(Extra::BasicCachedHit));
            }
        }
        match worker.basic.refusal(&key, now) {
            Some(Refusal::Refused { .. }) => {
                return self
                    .basic_refused(request, CacheUse::Hit)
                    .with_event(Event::Extra(Extra::BasicRefused))
            }
            Some(Refusal::Unavailable { .. }) => {
                return self
                    .basic_refused(request, CacheUse::Hit)
                    .with_event(Event::Extra(Extra::BasicFailure))
            }
            None => {}
        }
        let Some(uri) = &self.token_request else {
            return self.basic_refused(request, CacheUse::Miss).logged(
                Level::Info,
                format!(
                    "authentik: provider \"{}\": app passwords need token_request; Basic credentials of user \"{}\" refused",
                    self.name,
                    clean(&username)
                ),
            );
        };
        let Some(slot) = worker.basic.slot(MAX_BASIC_EXCHANGES) else {
            let mut response = Response::status(503);
            response.headers.push(("Retry-After", "1".into()));
            return Outcome::respond(Status::Invalid, response).logged(
                Level::Warn,
                format!(
                    "authentik: provider \"{}\": {MAX_BASIC_EXCHANGES} app-password exchanges are running in this worker; answering 503",
                    self.name
                ),
            );
        };
        Outcome::new(
            Status::Missing,
            Action::Exchange(Exchange {
                uri: uri.clone(),
                body: self.client_credentials_body(&username, password),
                pending: Pending::Basic(BasicExchange {
                    key,
                    username,
                    forward: false,
                    _slot: slot,
                }),
            }),
        )
    }

    /// The form body of authentik's app-password grant (`$authentik_token_request_body`): no
    /// client secret, as authentik's outpost sends it.
    pub fn client_credentials_body(&self, username: &str, password: &str) -> String {
        format!(
            "grant_type=client_credentials&client_id={}&username={}&password={}&scope={}",
            encode(&self.client_id),
            encode(username),
            encode(password),
            encode(&self.scopes),
        )
    }

    /// The app-password grant answered: the identity of its tokens, or a 401.
    pub(crate) fn finish_basic(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        exchange: BasicExchange,
        answer: TokenResponse<'_>,
        now: u64,
    ) -> Outcome {
        let forward = exchange.forward;
        let outcome = self.basic_answer(location, request, worker, exchange, answer, now);
        match forward {
            true => crate::forward::forward_answer(outcome),
            false => outcome,
        }
    }

    fn basic_answer(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        exchange: BasicExchange,
        answer: TokenResponse<'_>,
        now: u64,
    ) -> Outcome {
        let BasicExchange { key, username, .. } = exchange;
        let user = clean(&username);
        let result = match answer.status {
            200 => self.exchanged_identity(worker, answer.body, now),
            status => Err(CallbackError::ExchangeFailed(status)),
        };
        let unavailable = match &result {
            Err(CallbackError::ExchangeFailed(status)) => *status == 0 || *status >= 500,
            Err(CallbackError::Token(reason)) => self.reason_is_key_miss(reason),
            _ => false,
        };
        let grant = Grant::ClientCredentials;
        match result {
            Ok(identity) => {
                let until = now.saturating_add(BASIC_CACHE_SECS).min(identity.expires);
                worker.cache_basic(self.id, &key, identity.clone(), until);
                worker.basic.forget(&key);
                Outcome {
                    cache: CacheUse::Miss,
                    ..self.basic_admit(location, identity, true)
                }
                .with_event(Event::Extra(Extra::BasicExchanged))
                .with_event(Event::TokenRequest(grant, TokenResult::Success))
            }
            Err(error) if unavailable => {
                let until = now.saturating_add(BASIC_UNAVAILABLE_SECS);
                worker.basic.refuse(key, Refusal::Unavailable { until });
                self.basic_refused(request, CacheUse::Miss)
                    .logged(
                        Level::Warn,
                        format!(
                            "authentik: provider \"{}\": app password of user \"{user}\" not checked: {}; 401 for {BASIC_UNAVAILABLE_SECS}s",
                            self.name,
                            exchange_error(&error)
                        ),
                    )
                    .with_event(Event::Extra(Extra::BasicFailure))
                    .with_event(Event::TokenRequest(grant, TokenResult::Failure))
            }
            Err(error) => {
                let until = now.saturating_add(BASIC_REFUSAL_SECS);
                worker.basic.refuse(key, Refusal::Refused { until });
                self.basic_refused(request, CacheUse::Miss)
                    .logged(
                        Level::Info,
                        format!(
                            "authentik: provider \"{}\": app password of user \"{user}\" refused: {}; refused again without asking for {BASIC_REFUSAL_SECS}s",
                            self.name,
                            exchange_error(&error)
                        ),
                    )
                    .with_event(Event::Extra(Extra::BasicRefused))
                    .with_event(Event::TokenRequest(grant, TokenResult::Rejected))
            }
        }
    }

    /// The identity of a `client_credentials` answer, verified as a login's tokens are.
    fn exchanged_identity(
        &self,
        worker: &Worker,
        body: &[u8],
        now: u64,
    ) -> Result<Rc<Identity>, CallbackError> {
        let (_, identity) = self.issued_tokens(body, None, now)?;
        Ok(Rc::new(worker.unrevoked(&self.name, identity, now)?))
    }

    /// An authenticated Basic user: the usual allow or 403 (`verified`: just now, not from the
    /// cache), and the client's `Authorization` stays here.
    fn basic_admit(&self, location: &Location, identity: Rc<Identity>, verified: bool) -> Outcome {
        let mut outcome = self.admit(location, identity, verified);
        if let Action::Allow(grant) = &mut outcome.action {
            grant.strip_authorization = true;
        }
        outcome
    }

    /// Credentials that do not authenticate: 401 with a Basic challenge, also for page loads,
    /// unless `skip_path` lets the request through without identity.
    fn basic_refused(&self, request: &RequestFacts<'_>, cache: CacheUse) -> Outcome {
        if self.skipped(request) {
            return Outcome {
                cache,
                ..Outcome::new(Status::Skipped, Action::Pass)
            };
        }
        let mut response = Response::status(401);
        response
            .headers
            .push(("WWW-Authenticate", BASIC_CHALLENGE.into()));
        Outcome {
            cache,
            ..Outcome::respond(Status::Invalid, response)
        }
    }

    /// The challenges of a 401 for a request without credentials: Bearer, and Basic for
    /// clients that are not browsers (no `Sec-Fetch-Mode`, which browsers omit on plain-http
    /// origins, no `X-Requested-With`, no `Mozilla/` user agent), so that
    /// git, WebDAV and other clients that wait for a challenge send their app password.
    /// Browsers never see a Basic challenge they did not ask for: scripts get their 401
    /// without a password dialog.
    pub(crate) fn challenges(&self, request: &RequestFacts<'_>) -> Vec<(&'static str, String)> {
        let mut headers = vec![("WWW-Authenticate", "Bearer realm=\"authentik\"".to_string())];
        let browser = request.sec_fetch_mode.is_some()
            || request.x_requested_with
            || request
                .user_agent
                .is_some_and(|ua| ua.starts_with(b"Mozilla/"));
        if self.basic && !browser {
            headers.push(("WWW-Authenticate", BASIC_CHALLENGE.into()));
        }
        headers
    }
}

fn exchange_error(error: &CallbackError) -> String {
    match error {
        CallbackError::ExchangeFailed(0) => {
            "the token request failed inside nginx (see the error logged for the token_request location)".into()
        }
        CallbackError::ExchangeFailed(status) => format!("the token endpoint answered {status}"),
        other => other.to_string(),
    }
}

impl Outcome {
    /// An app-password exchange started by a forward-auth endpoint answers as one.
    pub(crate) fn for_forward_auth(mut self) -> Outcome {
        if let Action::Exchange(Exchange {
            pending: Pending::Basic(exchange),
            ..
        }) = &mut self.action
        {
            exchange.forward = true;
        }
        self
    }

    pub(crate) fn with_status(mut self, status: Status) -> Outcome {
        if matches!(self.action, Action::Respond(_)) {
            self.status = status;
        }
        self
    }
}
