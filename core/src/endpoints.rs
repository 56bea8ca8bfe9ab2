//! The outpost's endpoints under `/outpost.goauthentik.io/`: `start`, `callback`, `sign_out`
//! and `ping`. They are answered by the module and never reach the upstream.

use crate::auth::Worker;
use crate::decision::{
    Action, Body, Event, Exchange, Level, Outcome, Pending, Response, Status, TokenResponse,
};
use crate::fields::Field;
use crate::login::{CallbackError, LoginState};
use crate::metrics::{Grant, LoginResult, TokenResult};
use crate::provider::Provider;
use crate::redirect::{encode, query_arg};
use crate::request::RequestFacts;
use crate::revocation::{key, Kind};

impl Provider {
    /// Answer `/outpost.goauthentik.io/<endpoint>`.
    pub(crate) fn endpoint(
        &self,
        endpoint: &[u8],
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        now: u64,
    ) -> Outcome {
        match endpoint {
            b"ping" => Outcome::respond(Status::Missing, Response::status(204)),
            b"start" => {
                let rd = query_arg(request.args, "rd");
                self.login_redirect(self.validate_rd(rd.as_deref()), request, now)
            }
            b"sign_out" => self.sign_out(request, worker, now),
            b"callback" => self.begin_callback(request, now),
            b"backchannel_logout" => self.backchannel_request(request),
            _ => Outcome::respond(Status::Missing, Response::status(404)),
        }
    }

    /// Clear the session, put its `sid` on the revocation list (a copy of the cookie stops
    /// working here too), and go to authentik's end-session URL, with the session's token as
    /// `id_token_hint` when that token is the id_token.
    pub(crate) fn sign_out(
        &self,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        now: u64,
    ) -> Outcome {
        let authentication = self.authenticate(request, worker, now);
        let mut location = self.end_session_url.clone();
        let mut outcome_log = None;
        if let (Ok(identity), Some(session)) = (&authentication.result, &authentication.session) {
            if session.id_token {
                let separator = if location.contains('?') { '&' } else { '?' };
                location.push(separator);
                location.push_str("id_token_hint=");
                location.push_str(&encode(identity.field(Field::Jwt).unwrap_or_default()));
            }
            if let (Some(sid), Some(list)) = (identity.sid(), &worker.revocations) {
                let until = self.revocation_expiry(list, now);
                let entry = key(Kind::Session, &self.name, sid);
                if list.insert(&entry, until, 0, now).is_err() {
                    outcome_log = Some(format!(
                        "authentik: provider \"{}\": the revocation zone is full: a copy of the signed-out session cookie stays valid here until it expires; raise authentik_revocation_zone",
                        self.name
                    ));
                }
            }
        }
        let outcome = Outcome::respond(
            Status::Missing,
            Response::redirect(location, self.clear_session_cookies()),
        );
        match outcome_log {
            Some(message) => outcome.logged(Level::Crit, message),
            None => outcome,
        }
    }

    /// Check the callback's parameters and login state, then exchange the code.
    pub(crate) fn begin_callback(&self, request: &RequestFacts<'_>, now: u64) -> Outcome {
        match self.callback_exchange(request, now) {
            Ok(exchange) => Outcome::new(Status::Missing, Action::Exchange(exchange)),
            Err(error) => self.callback_failed(&error),
        }
    }

    fn callback_exchange(
        &self,
        request: &RequestFacts<'_>,
        now: u64,
    ) -> Result<Exchange, CallbackError> {
        if let Some(error) = query_arg(request.args, "error") {
            return Err(CallbackError::provider_error(&error));
        }
        let state = query_arg(request.args, "state")
            .filter(|s| !s.is_empty())
            .ok_or(CallbackError::MissingState)?;
        let code = query_arg(request.args, "code")
            .filter(|c| !c.is_empty())
            .ok_or(CallbackError::MissingCode)?;
        let name = self.login_state_cookie_name(&state);
        let value = crate::cookie::find(request.cookies, &name);
        let login = self.open_login_state(&state, value.as_deref().map(str::as_bytes), now)?;
        let uri = self
            .token_request
            .clone()
            .ok_or(CallbackError::ExchangeFailed(0))?;
        Ok(Exchange {
            uri,
            body: self.token_request_body(&code, &login),
            pending: Pending::Login(login),
        })
    }

    /// The code exchange answered: set the session and return to the saved URL.
    pub(crate) fn finish_callback(
        &self,
        login: &LoginState,
        answer: TokenResponse<'_>,
        now: u64,
    ) -> Outcome {
        let tokens = self.finish_login(answer.status, answer.body, login, now);
        let token_result = match &tokens {
            Ok(_) => TokenResult::Success,
            Err(e) => token_result(e),
        };
        let outcome = match tokens.and_then(|issued| self.session_cookies(&issued, login, now)) {
            Ok(cookies) => {
                Outcome::respond(Status::Ok, Response::redirect(login.rd.clone(), cookies))
                    .with_event(Event::Login(LoginResult::Completed))
            }
            Err(error) => self.callback_failed(&error),
        };
        outcome.with_event(Event::TokenRequest(Grant::AuthorizationCode, token_result))
    }

    /// 400 with a page that offers a fresh login, and a log line naming the reason.
    fn callback_failed(&self, error: &CallbackError) -> Outcome {
        let start = format!(
            "{}/outpost.goauthentik.io/start?rd={}",
            self.external_host,
            encode(&self.fallback_rd())
        );
        let page = format!(
            "<!doctype html>\n<html><head><title>Login failed</title></head><body>\n\
             <h1>Login failed</h1>\n<p>This login expired, or it was started in another tab or \
             window.</p>\n<p><a id=\"login\" href=\"{}\">Log in again</a></p>\n</body></html>\n",
            html_escape(&start)
        );
        let response = Response {
            status: 400,
            headers: vec![("Cache-Control", "no-store".into())],
            body: Some(Body {
                content_type: "text/html; charset=utf-8",
                bytes: page.into_bytes(),
            }),
            ..Default::default()
        };
        let level = if error.is_server_side() {
            Level::Error
        } else {
            Level::Warn
        };
        Outcome::respond(Status::Missing, response)
            .logged(
                level,
                format!(
                    "authentik: provider \"{}\": login callback failed: {error}",
                    self.name
                ),
            )
            .with_event(Event::Login(LoginResult::Failed))
    }
}

/// How a token request that did not give a session ended: authentik unreachable, failing or
/// an error inside nginx; or an answer that was refused.
pub(crate) fn token_result(error: &CallbackError) -> TokenResult {
    match error {
        CallbackError::ExchangeFailed(status) if *status == 0 || *status >= 500 => {
            TokenResult::Failure
        }
        CallbackError::Seal => TokenResult::Success,
        _ => TokenResult::Rejected,
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
