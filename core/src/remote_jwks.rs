//! Remote JWKS (docs/architecture.md, "Remote JWKS"): a provider's keys fetched with a GET
//! of its `jwks_request` internal location. A worker fetches on its first request, again when
//! a token names a key it does not have (at most once per [`UNKNOWN_KID_SECS`]), and on the
//! first request after `jwks_refresh`. A fetched set is checked as `jwks_file` is and then
//! replaces the worker's keys; a fetch that fails or is invalid keeps the last good keys and
//! logs one warning.
//!
//! nginx workers are processes, so this state, although it sits in the provider, is each
//! worker's own: it is there because every verification reads the keys
//! ([`crate::token::Verifier`]). Its locks are never contended.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use crate::auth::{Failure, Worker};
use crate::claims::{Header, Member};
use crate::conf::Location;
use crate::decision::{
    Action, Event, Exchange, Level, LogLine, Outcome, Pending, Status, TokenResponse,
};
use crate::keys::{Algorithm, KeySet};
use crate::logout::logout_token_of;
use crate::metrics::Extra;
use crate::provider::Provider;
use crate::request::RequestFacts;
use crate::token::TokenError;

/// `jwks_refresh` when not set.
pub const DEFAULT_REFRESH_SECS: u64 = 3600;
/// A token naming an unknown key fetches at most this often.
pub const UNKNOWN_KID_SECS: u64 = 60;
/// After a failed fetch, the next one waits this long when the worker has keys…
pub const RETRY_SECS: u64 = 60;
/// …and this long when it has none to verify with.
pub const RETRY_WITHOUT_KEYS_SECS: u64 = 10;
/// Fetches a worker without keys runs at once, so that the requests of its first moment
/// need not wait for each other.
pub const FIRST_FETCHES: usize = 4;
/// The largest JWKS answer read.
pub const MAX_JWKS_BYTES: usize = 1 << 20;
/// Longest token header peeked at for its `kid`.
const MAX_HEADER_B64: usize = 8 * 1024;

/// The last good fetched keys, shared with the provider's verifier.
#[derive(Default)]
pub struct FetchedKeys(RwLock<Option<Arc<KeySet>>>);

impl FetchedKeys {
    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, keys: KeySet) -> Option<Arc<KeySet>> {
        let mut slot = self.0.write().unwrap_or_else(PoisonError::into_inner);
        slot.replace(Arc::new(keys))
    }
}

impl fmt::Debug for FetchedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // KeySet's Debug shows kids and algorithms, never key material.
        f.debug_tuple("FetchedKeys").field(&self.current()).finish()
    }
}

/// `jwks_request` and `jwks_refresh` of a provider, and this worker's fetches.
pub struct RemoteJwks {
    uri: String,
    refresh_secs: u64,
    /// `algorithms` as configured; `None`: HS256 and the algorithms of the fetched keys.
    algorithms: Option<Vec<Algorithm>>,
    fetched: Arc<FetchedKeys>,
    schedule: Arc<Mutex<Schedule>>,
}

#[derive(Debug, Default)]
struct Schedule {
    /// Unix times of the last good fetch, the last failed one, and the last fetch an unknown
    /// key started.
    fetched_at: Option<u64>,
    failed_at: Option<u64>,
    unknown_kid_at: Option<u64>,
    in_flight: usize,
}

impl RemoteJwks {
    pub(crate) fn new(uri: String, refresh_secs: u64, algorithms: Option<Vec<Algorithm>>) -> Self {
        RemoteJwks {
            uri,
            refresh_secs,
            algorithms,
            fetched: Arc::default(),
            schedule: Arc::default(),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    pub fn refresh_secs(&self) -> u64 {
        self.refresh_secs
    }

    /// The keys the provider's verifier reads.
    pub(crate) fn fetched(&self) -> Arc<FetchedKeys> {
        self.fetched.clone()
    }

    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a fetch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// The worker has never fetched, or `jwks_refresh` has passed.
    Scheduled,
    /// A token named a key the worker does not have.
    UnknownKid,
}

/// A fetch in flight: it counts until its answer is read, or the request ends without one.
struct Flight(Arc<Mutex<Schedule>>);

impl Drop for Flight {
    fn drop(&mut self) {
        let mut schedule = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        schedule.in_flight = schedule.in_flight.saturating_sub(1);
    }
}

/// A JWKS fetch, and where the request continues once the keys are in.
pub struct JwksFetch {
    then: After,
    _flight: Flight,
}

impl fmt::Debug for JwksFetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksFetch")
            .field("then", &self.then)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum After {
    /// Decide the request.
    Decide,
    /// Finish this token answer (status, body), whose tokens name a key the worker lacked.
    Answer(Pending, u16, Vec<u8>),
    /// Handle this back-channel logout body.
    Logout(Option<Vec<u8>>),
}

/// The two tokens of a token endpoint's answer.
#[derive(Deserialize)]
struct AnswerTokens {
    access_token: Option<String>,
    id_token: Option<String>,
}

impl Provider {
    /// A fetch due before the request is decided: this worker's first, or a refresh.
    pub(crate) fn jwks_scheduled(&self, now: u64) -> Option<Outcome> {
        let flight = self.start_fetch(Reason::Scheduled, now)?;
        Some(self.fetch(flight, After::Decide))
    }

    /// A verification failed for want of a key: fetch, then decide again.
    pub(crate) fn jwks_for_failure(&self, failure: Failure, now: u64) -> Option<Outcome> {
        if !self.key_miss(failure) {
            return None;
        }
        let flight = self.start_fetch(Reason::UnknownKid, now)?;
        Some(self.fetch(flight, After::Decide))
    }

    /// A token answer whose tokens name a key the worker lacks: fetch, then finish it. Gives
    /// `pending` back when no fetch starts.
    pub(crate) fn jwks_for_answer(
        &self,
        pending: Pending,
        answer: TokenResponse<'_>,
        now: u64,
    ) -> Result<Outcome, Pending> {
        if answer.status != 200 || matches!(pending, Pending::Jwks(_)) {
            return Err(pending);
        }
        let Ok(tokens) = serde_json::from_slice::<AnswerTokens>(answer.body) else {
            return Err(pending);
        };
        let misses = [tokens.access_token, tokens.id_token]
            .iter()
            .flatten()
            .any(|token| self.token_misses(token));
        match misses
            .then(|| self.start_fetch(Reason::UnknownKid, now))
            .flatten()
        {
            Some(flight) => Ok(self.fetch(
                flight,
                After::Answer(pending, answer.status, answer.body.to_vec()),
            )),
            None => Err(pending),
        }
    }

    /// A back-channel logout whose token names a key the worker lacks: fetch, then handle it.
    pub(crate) fn jwks_for_logout(
        &self,
        request: &RequestFacts<'_>,
        body: Option<&[u8]>,
        now: u64,
    ) -> Option<Outcome> {
        let token = logout_token_of(request.content_type, body?).ok()?;
        if !self.token_misses(&token) {
            return None;
        }
        let flight = self.start_fetch(Reason::UnknownKid, now)?;
        Some(self.fetch(flight, After::Logout(body.map(<[u8]>::to_vec))))
    }

    /// The fetch answered: keep its keys or the last good ones, then continue the request.
    pub(crate) fn finish_jwks(
        &self,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        fetch: JwksFetch,
        answer: TokenResponse<'_>,
        now: u64,
    ) -> Outcome {
        let JwksFetch { then, _flight } = fetch;
        let (line, event, dropped) = self.take_jwks(answer, now);
        drop(_flight);
        if dropped {
            // What was verified with a key authentik no longer publishes is verified again.
            worker.cache.clear();
        }
        let outcome = match then {
            After::Decide => self.decide_with(location, request, worker, now, false),
            After::Answer(pending, status, body) => {
                let answer = TokenResponse {
                    status,
                    body: &body,
                };
                self.resume_with(location, request, worker, pending, answer, now, false)
            }
            After::Logout(body) => {
                self.backchannel_logout_now(request, body.as_deref(), worker, now)
            }
        };
        let mut outcome = outcome.with_event(Event::Extra(event));
        if let Some(line) = line {
            outcome.notes.insert(0, line);
        }
        outcome
    }

    /// Whether `failure` is a verification that wanted a key a fetch could bring: a `kid` of
    /// no key, or (with `algorithms` unset) an algorithm no key has.
    pub(crate) fn key_miss(&self, failure: Failure) -> bool {
        match failure {
            Failure::Invalid(reason) => self.reason_is_key_miss(reason),
            _ => false,
        }
    }

    pub(crate) fn reason_is_key_miss(&self, reason: &str) -> bool {
        let Some(remote) = &self.remote_jwks else {
            return false;
        };
        reason == TokenError::UnknownKey.reason()
            || (remote.algorithms.is_none() && reason == TokenError::AlgorithmNotAllowed.reason())
    }

    /// A key miss while the worker has no public key at all (nothing fetched yet, no
    /// `jwks_file`): the token may be fine, so a session cookie is not cleared for it.
    pub(crate) fn keys_unavailable(&self, failure: Failure) -> bool {
        self.remote_jwks.as_ref().is_some_and(|remote| {
            remote.fetched.current().is_none() && self.verifier.keys().jwks_len() == 0
        }) && self.key_miss(failure)
    }

    fn start_fetch(&self, reason: Reason, now: u64) -> Option<Flight> {
        let remote = self.remote_jwks.as_ref()?;
        let mut schedule = remote.schedule();
        let after = |at: Option<u64>, secs: u64| at.is_none_or(|at| now >= at.saturating_add(secs));
        if reason == Reason::Scheduled && !after(schedule.fetched_at, remote.refresh_secs) {
            // Every request asks: the usual answer, without looking at the keys.
            return None;
        }
        let has_keys = remote.fetched.current().is_some() || self.verifier.keys().jwks_len() > 0;
        let (parallel, retry) = match has_keys {
            true => (1, RETRY_SECS),
            false => (FIRST_FETCHES, RETRY_WITHOUT_KEYS_SECS),
        };
        let start = after(schedule.failed_at, retry)
            && match reason {
                Reason::Scheduled => {
                    after(schedule.fetched_at, remote.refresh_secs) && schedule.in_flight < parallel
                }
                Reason::UnknownKid => {
                    schedule.in_flight == 0 && after(schedule.unknown_kid_at, UNKNOWN_KID_SECS)
                }
            };
        if !start {
            return None;
        }
        schedule.in_flight += 1;
        if reason == Reason::UnknownKid {
            schedule.unknown_kid_at = Some(now);
        }
        Some(Flight(remote.schedule.clone()))
    }

    fn fetch(&self, flight: Flight, then: After) -> Outcome {
        let uri = self
            .remote_jwks
            .as_ref()
            .map(|remote| remote.uri.clone())
            .unwrap_or_default();
        Outcome::new(
            Status::Missing,
            Action::Exchange(Exchange {
                uri,
                body: String::new(),
                pending: Pending::Jwks(Box::new(JwksFetch {
                    then,
                    _flight: flight,
                })),
            }),
        )
    }

    /// Whether `token`'s header names a key the worker lacks (a token that cannot be read
    /// is for the verifier to refuse).
    fn token_misses(&self, token: &str) -> bool {
        let Some((alg, kid)) = signing_key_of(token) else {
            return false;
        };
        let pinned_out = self
            .remote_jwks
            .as_ref()
            .and_then(|remote| remote.algorithms.as_ref())
            .is_some_and(|allowed| !allowed.contains(&alg));
        !pinned_out
            && self
                .verifier
                .with_current_keys(|keys| keys.misses(alg, kid.as_deref()))
    }

    /// Read a fetch's answer into the worker's keys: the log line (a failure, or other keys
    /// than before), the counter, and whether a key the worker had is gone.
    fn take_jwks(&self, answer: TokenResponse<'_>, now: u64) -> (Option<LogLine>, Extra, bool) {
        let Some(remote) = &self.remote_jwks else {
            let line = LogLine {
                level: Level::Error,
                message: format!(
                    "authentik: provider \"{}\": a JWKS answer without jwks_request",
                    self.name
                ),
            };
            return (Some(line), Extra::JwksFailed, false);
        };
        match self.fetched_keys(remote, answer) {
            Ok(keys) => {
                let kids = kid_list(&keys);
                let old = remote.fetched.replace(keys);
                let mut schedule = remote.schedule();
                schedule.fetched_at = Some(now);
                schedule.failed_at = None;
                let changed = old.as_deref().is_none_or(|old| kid_list(old) != kids);
                let dropped = old.as_deref().is_some_and(|old| {
                    let current = remote.fetched.current();
                    let current = current.as_deref();
                    old.kids()
                        .any(|kid| current.is_none_or(|keys| keys.misses_kid(kid)))
                });
                let line = changed.then(|| LogLine {
                    level: Level::Info,
                    message: format!(
                        "authentik: provider \"{}\": JWKS fetched from {}: keys {kids}",
                        self.name, remote.uri
                    ),
                });
                (line, Extra::JwksFetched, dropped)
            }
            Err(why) => {
                let mut schedule = remote.schedule();
                schedule.failed_at = Some(now);
                let keeping = match (remote.fetched.current(), schedule.fetched_at) {
                    (Some(_), Some(at)) => format!(
                        "keeping the last good keys, fetched {}s ago",
                        now.saturating_sub(at)
                    ),
                    _ if self.verifier.keys().jwks_len() > 0 => {
                        "keeping the keys of jwks_file".to_string()
                    }
                    _ => "no public key to verify tokens with until a fetch succeeds".to_string(),
                };
                let line = LogLine {
                    level: Level::Warn,
                    message: format!(
                        "authentik: provider \"{}\": JWKS fetch from {} failed: {why}; {keeping}",
                        self.name, remote.uri
                    ),
                };
                (Some(line), Extra::JwksFailed, false)
            }
        }
    }

    /// The keys of a fetch's answer, checked as `jwks_file` is, with the same algorithms.
    fn fetched_keys(
        &self,
        remote: &RemoteJwks,
        answer: TokenResponse<'_>,
    ) -> Result<KeySet, String> {
        match answer.status {
            200 => {}
            0 => return Err(
                "no answer (authentik unreachable, a timeout, or an answer larger than subrequest_output_buffer_size)"
                    .into(),
            ),
            status => return Err(format!("HTTP status {status}")),
        }
        if answer.body.len() > MAX_JWKS_BYTES {
            return Err(format!("the answer is over {MAX_JWKS_BYTES} bytes"));
        }
        let text =
            std::str::from_utf8(answer.body).map_err(|_| "the answer is not UTF-8".to_string())?;
        KeySet::new(
            &self.client_secret,
            Some(text),
            remote.algorithms.as_deref(),
        )
        .map_err(|e| e.to_string())
    }
}

/// `kid`s of a key set, for log lines: `a, b` (keys without `kid` are not listed).
fn kid_list(keys: &KeySet) -> String {
    let kids: Vec<String> = keys
        .kids()
        .map(|kid| format!("\"{}\"", crate::sanitize::clean(kid)))
        .collect();
    match kids.is_empty() {
        true => format!("({} without kid)", keys.jwks_len()),
        false => kids.join(", "),
    }
}

/// The algorithm and `kid` a compact JWS header names.
pub fn signing_key_of(token: &str) -> Option<(Algorithm, Option<String>)> {
    let (header, _) = token.split_once('.')?;
    if header.len() > MAX_HEADER_B64 {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(header).ok()?;
    let header = Header::parse(&json).ok()?;
    let alg = match &header.alg {
        Member::Value(name) => Algorithm::from_name(name)?,
        _ => return None,
    };
    let kid = match &header.kid {
        Member::Value(kid) => Some(kid.to_string()),
        Member::Absent => None,
        Member::Other => return None,
    };
    Some((alg, kid))
}
