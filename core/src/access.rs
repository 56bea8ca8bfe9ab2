//! The access decision for a protected location (docs/architecture.md, "One request").

use std::rc::Rc;

use crate::auth::{Failure, Worker};
use crate::conf::{Location, Unauthenticated};
use crate::decision::{
    Action, Event, Grant, Level, Outcome, Pending, Response, Status, TokenResponse,
};
use crate::forward::Peer;
use crate::identity::Identity;
use crate::metrics::{CacheUse, LoginResult};
use crate::policy::{group_requirement_met, require_values_pass};
use crate::provider::{Mode, Provider};
use crate::renewal::Due;
use crate::request::RequestFacts;
use crate::skip::SkipRequest;

/// Paths under which the module answers the outpost's endpoints itself.
pub const OUTPOST_PREFIX: &[u8] = b"/outpost.goauthentik.io/";

impl Provider {
    /// Decide `request` in a location this provider protects.
    pub fn decide(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        now: u64,
    ) -> Outcome {
        self.decide_with(location, request, worker, now, true)
    }

    /// [`Provider::decide`]. `fetch`: whether a JWKS fetch may come first (not right after
    /// one, in the same request).
    pub(crate) fn decide_with(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        now: u64,
        fetch: bool,
    ) -> Outcome {
        if let Some(fetch) = fetch.then(|| self.jwks_scheduled(now)).flatten() {
            return fetch;
        }
        if let Some(endpoint) = request.uri.strip_prefix(OUTPOST_PREFIX) {
            return match Peer::of(endpoint) {
                Some(peer) => self.forward(peer, location, request, worker, now),
                None => self.endpoint(endpoint, request, worker, now),
            };
        }
        let authentication = self.authenticate(request, worker, now);
        if let (true, Err(failure)) = (fetch, &authentication.result) {
            if let Some(fetch) = self.jwks_for_failure(*failure, now) {
                return fetch;
            }
        }
        let cache = authentication.cache;
        let verified = cache != CacheUse::Hit;
        let outcome = match self.renewal_due(&authentication, worker, now) {
            Due::Exchange(exchange) => Outcome::new(Status::Expired, Action::Exchange(exchange)),
            Due::Serve(identity) => self.admit(location, identity, verified),
            Due::Unavailable => {
                self.unauthenticated(location, request, Failure::Expired, false, now)
            }
            Due::Ended => self.renewal_ended(location, request, now, &"still refused"),
            Due::No => match authentication.result {
                Ok(identity) => self.admit(location, identity, verified),
                Err(failure) => {
                    if let Some(basic) = self.basic_auth(location, request, worker, now, fetch) {
                        return basic;
                    }
                    // A key this worker could not fetch yet says nothing about the cookie.
                    let clear = authentication.session_sent && !self.keys_unavailable(failure);
                    self.unauthenticated(location, request, failure, clear, now)
                }
            },
        };
        Outcome { cache, ..outcome }
    }

    /// An authenticated user: allowed when the location's groups admit them, else 403. The
    /// refused `additionalHeaders` are logged when the token was just `verified`, not again
    /// on each cache hit.
    pub(crate) fn admit(
        &self,
        location: &Location,
        identity: Rc<Identity>,
        verified: bool,
    ) -> Outcome {
        if !group_requirement_met(identity.group_names(), &location.require_groups) {
            return self.forbidden(identity.username());
        }
        let grant = Grant {
            identity,
            strip_authorization: false,
        };
        let refused = grant.identity.refused_headers();
        let log = (verified && !refused.is_empty()).then(|| crate::decision::LogLine {
            level: Level::Info,
            message: format!(
                "authentik: provider \"{}\": additionalHeaders not set upstream: {}",
                self.name,
                refused.join(", ")
            ),
        });
        let mut outcome = Outcome::new(Status::Ok, Action::Allow(grant));
        outcome.log = log;
        outcome
    }

    /// `authentik_require`: the glue evaluates the values (nginx variables, which may read
    /// this very identity) and hands them here; a false value turns an allow into a 403.
    /// `None` when the allow stands, else the 403 that replaces `allowed`.
    pub fn enforce_require<'a>(
        &self,
        allowed: &Outcome,
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Option<Outcome> {
        let (Action::Allow(grant) | Action::Answer(grant)) = &allowed.action else {
            return None;
        };
        if require_values_pass(values) {
            return None;
        }
        let mut forbidden = self.forbidden(grant.identity.username());
        forbidden.cache = allowed.cache;
        // A renewed session stays renewed.
        Some(forbidden.with_cookies(allowed.cookies.clone()))
    }

    /// Continue after the `token_request` (or `jwks_request`) subrequest, with the request's
    /// facts read again.
    pub fn resume(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        pending: Pending,
        answer: TokenResponse<'_>,
        now: u64,
    ) -> Outcome {
        self.resume_with(location, request, worker, pending, answer, now, true)
    }

    /// [`Provider::resume`]. `fetch`: whether a JWKS fetch may come first, when the answer's
    /// tokens name a key the worker lacks.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn resume_with(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        pending: Pending,
        answer: TokenResponse<'_>,
        now: u64,
        fetch: bool,
    ) -> Outcome {
        let pending = match fetch {
            true => match self.jwks_for_answer(pending, answer, now) {
                Ok(fetch) => return fetch,
                Err(pending) => pending,
            },
            false => pending,
        };
        match pending {
            Pending::Login(login) => self.finish_callback(&login, answer, now),
            Pending::Refresh(renewal) => {
                self.finish_renewal(location, request, worker, renewal, answer, now)
            }
            Pending::Basic(exchange) => {
                self.finish_basic(location, request, worker, exchange, answer, now)
            }
            Pending::Jwks(fetch) => {
                self.finish_jwks(location, request, worker, *fetch, answer, now)
            }
        }
    }

    fn forbidden(&self, username: &str) -> Outcome {
        Outcome::respond(Status::Forbidden, Response::status(403)).logged(
            Level::Info,
            format!(
                "authentik: provider \"{}\": user \"{}\" denied by policy",
                self.name,
                crate::sanitize::clean(username)
            ),
        )
    }

    pub(crate) fn unauthenticated(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        failure: Failure,
        session_sent: bool,
        now: u64,
    ) -> Outcome {
        if self.skipped(request) {
            return Outcome::new(Status::Skipped, Action::Pass);
        }
        let mut cookies = Vec::new();
        if failure != Failure::Missing && session_sent {
            cookies = self.clear_session_cookies();
        }
        let redirect = !request.behind_auth_request
            && self.token_request.is_some()
            && match location.unauthenticated {
                Unauthenticated::Redirect => true,
                Unauthenticated::Status401 => false,
                Unauthenticated::Auto => request.is_navigational(),
            };
        let mut outcome = if redirect {
            let rd = self.validate_rd(Some(&self.current_url(request)));
            let mut outcome = self.login_redirect(rd, request, now);
            if let Action::Respond(response) = &mut outcome.action {
                cookies.append(&mut response.cookies);
                response.cookies = cookies;
            }
            outcome.status = failure.status();
            outcome
        } else {
            let mut response = Response::status(401);
            response.headers = self.challenges(request);
            response.cookies = cookies;
            Outcome::respond(failure.status(), response)
        };
        if failure != Failure::Missing && outcome.log.is_none() {
            outcome = outcome.logged(
                Level::Info,
                format!(
                    "authentik: provider \"{}\": {}",
                    self.name,
                    failure.reason()
                ),
            );
        }
        outcome
    }

    /// `skip_path` lets this request through without identity.
    pub(crate) fn skipped(&self, request: &RequestFacts<'_>) -> bool {
        let skip = SkipRequest {
            scheme: request.scheme().as_bytes(),
            host: request.server,
            uri: request.uri,
            args: request.args,
            request_uri: request.request_uri,
        };
        self.skip_paths.skips(self.mode, &skip)
    }

    /// The URL of this request as a return URL: on the application's own origin in single
    /// mode, on the request's host in domain mode (validated by the caller).
    fn current_url(&self, request: &RequestFacts<'_>) -> String {
        let target = String::from_utf8_lossy(request.request_uri);
        let path = match target.find("://") {
            Some(_) if !target.starts_with('/') => {
                let (path, query) = crate::skip::split_target(request.request_uri);
                let mut rebuilt = String::from_utf8_lossy(path).into_owned();
                if !query.is_empty() {
                    rebuilt.push('?');
                    rebuilt.push_str(&String::from_utf8_lossy(query));
                }
                rebuilt
            }
            _ => target.into_owned(),
        };
        match self.mode {
            Mode::Single => format!("{}{path}", self.external_host),
            Mode::Domain => {
                let scheme = if request.tls || self.cookies.secure {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{}{path}", String::from_utf8_lossy(request.host))
            }
        }
    }

    /// A 302 to authentik's authorize URL with a new login state returning to `rd`.
    pub(crate) fn login_redirect(
        &self,
        rd: String,
        request: &RequestFacts<'_>,
        now: u64,
    ) -> Outcome {
        match self.start_login(rd, now, crate::cookie::pairs(request.cookies)) {
            Some(start) => Outcome::respond(
                Status::Missing,
                Response::redirect(start.location, start.cookies),
            )
            .with_event(Event::Login(LoginResult::Started)),
            None => Outcome::respond(Status::Missing, Response::status(500)).logged(
                Level::Error,
                format!(
                    "authentik: provider \"{}\": cannot create a login state",
                    self.name
                ),
            ),
        }
    }
}
