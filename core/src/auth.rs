//! Authentication of one request: the session cookie, else `Authorization: Bearer`, through
//! each worker's verified-credential cache, then the revocation list.

use std::num::NonZeroUsize;
use std::rc::Rc;

use lru::LruCache;

use crate::basic::BasicState;
use crate::cache::{Cost, TokenCache};
use crate::cookie::SessionCookies;
use crate::identity::{Identity, IdentityError};
use crate::metrics::CacheUse;
use crate::provider::{bearer_token, Provider};
use crate::request::RequestFacts;
use crate::revocation::{Marks, Revocations};
use crate::session::{self, SessionTokens};
use crate::token::{Rules, TokenError};

/// Why a request is not authenticated; `$authentik_status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Missing,
    Expired,
    Invalid(&'static str),
    /// On the revocation list: authentik ended the session, or it signed out here.
    Revoked,
}

impl Failure {
    pub fn status(self) -> crate::decision::Status {
        use crate::decision::Status;
        match self {
            Failure::Missing => Status::Missing,
            Failure::Expired => Status::Expired,
            Failure::Invalid(_) | Failure::Revoked => Status::Invalid,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Failure::Missing => "no session cookie or bearer token",
            Failure::Expired => "token expired",
            Failure::Invalid(reason) => reason,
            Failure::Revoked => "session ended (back-channel logout or sign-out)",
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

impl From<IdentityError> for Failure {
    fn from(error: IdentityError) -> Failure {
        Failure::Invalid(error.reason())
    }
}

/// What a credential was presented as: the cache answers a key only for the kind it was
/// verified as, so no answer depends on what a worker has cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session,
    Bearer,
    /// An `Authorization: Basic` app password, keyed by the digest of the header.
    Basic,
}

/// What a session cookie holds besides its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub refresh: Option<Box<str>>,
    /// Unix time of the login or the last renewal.
    pub renewed_at: u64,
    /// The session's token is the id_token.
    pub id_token: bool,
    /// The token's `sub`: a renewal must name the same user.
    pub subject: Box<str>,
    /// What a revocation of this session matches once its token has expired (while it is
    /// valid, its identity's marks are asked instead).
    pub marks: Option<Marks>,
}

/// A cache entry: the provider and kind it was verified for, the identity, and for sessions
/// what else the cookie holds.
pub struct CachedIdentity {
    provider: u32,
    kind: Credential,
    identity: Rc<Identity>,
    session: Option<Rc<SessionInfo>>,
}

impl Cost for CachedIdentity {
    fn cost(&self) -> usize {
        self.identity.cost()
            + self.session.as_ref().map_or(0, |s| {
                64 + s.subject.len() + s.refresh.as_deref().map_or(0, str::len)
            })
    }
}

/// A renewal that did not give new tokens, remembered by refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// authentik could not be asked (unreachable, 5xx, timeout) at this time: retry later.
    Unavailable(u64),
    /// authentik refused the refresh token first at this time.
    Refused(u64),
}

/// Refresh tokens a worker remembers failures of.
const HOLDS: usize = 1024;

/// Each worker's own state.
pub struct Worker {
    pub cache: TokenCache<CachedIdentity>,
    /// The shared revocation list, once nginx has mapped its zone.
    pub revocations: Option<Revocations<'static>>,
    pub(crate) holds: LruCache<Box<str>, Hold>,
    /// Basic credentials that did not authenticate, and the exchanges in flight.
    pub basic: BasicState,
}

impl Worker {
    pub fn new(cache_entries: usize, cache_bytes: usize) -> Worker {
        Worker {
            cache: TokenCache::new(cache_entries, cache_bytes),
            revocations: None,
            holds: LruCache::new(NonZeroUsize::new(HOLDS).unwrap_or(NonZeroUsize::MIN)),
            basic: BasicState::new(),
        }
    }

    /// Keep the identity of an exchanged app password until `until`.
    pub(crate) fn cache_basic(
        &mut self,
        provider: u32,
        key: &[u8],
        identity: Rc<Identity>,
        until: u64,
    ) {
        let entry = CachedIdentity {
            provider,
            kind: Credential::Basic,
            identity,
            session: None,
        };
        self.cache.insert(key, entry, until);
    }

    /// The cached identity of an app password.
    pub(crate) fn cached_basic(
        &mut self,
        provider: u32,
        key: &[u8],
        now: u64,
    ) -> Option<Rc<Identity>> {
        self.cache
            .get(key, now)
            .filter(|entry| entry.provider == provider && entry.kind == Credential::Basic)
            .map(|entry| entry.identity.clone())
    }

    /// `identity`, unless the revocation list refuses it (a token just issued by authentik).
    pub(crate) fn unrevoked(
        &self,
        provider: &str,
        identity: Identity,
        now: u64,
    ) -> Result<Identity, crate::login::CallbackError> {
        if self.revoked(|| identity.marks(provider), now) {
            return Err(crate::login::CallbackError::Token(
                Failure::Revoked.reason(),
            ));
        }
        Ok(identity)
    }

    /// Whether the revocation list refuses a token with the `marks` given; they are asked for
    /// only when the list has live entries.
    pub(crate) fn revoked<'m>(&self, marks: impl FnOnce() -> &'m Marks, now: u64) -> bool {
        match &self.revocations {
            Some(list) if list.live() > 0 => list.refuses(marks(), now),
            _ => false,
        }
    }

    /// Keep a verified session in the cache under its sealed value.
    pub(crate) fn cache_session(
        &mut self,
        provider: u32,
        sealed: &[u8],
        identity: Rc<Identity>,
        session: Rc<SessionInfo>,
    ) {
        let expires = identity.valid_until;
        let entry = CachedIdentity {
            provider,
            kind: Credential::Session,
            identity,
            session: Some(session),
        };
        self.cache.insert(sealed, entry, expires);
    }
}

/// The result of authenticating a request.
pub struct Authentication {
    pub result: Result<Rc<Identity>, Failure>,
    /// Whether a credential was found in the cache, verified, or not presented at all.
    pub cache: CacheUse,
    /// The request carried a session cookie or one of its chunks (cleared when it fails).
    pub session_sent: bool,
    /// The session cookie opened: what it holds besides the token, even when the token has
    /// expired. `None` for a revoked session, which is never renewed.
    pub session: Option<Rc<SessionInfo>>,
}

impl Provider {
    /// Authenticate from the session cookie, else from `Authorization: Bearer` when enabled.
    pub fn authenticate(
        &self,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        now: u64,
    ) -> Authentication {
        let cookies = SessionCookies::read(request.cookies, &self.cookie_name);
        let mut cache = CacheUse::None;
        let (session, mut info) = match cookies.sealed() {
            Ok(Some(sealed)) => self.session(worker, &mut cache, &sealed, now),
            Ok(None) => (Err(Failure::Missing), None),
            Err(_) => (Err(Failure::Invalid("broken session cookie chunks")), None),
        };
        let mut result = match (
            &session,
            self.bearer,
            request.authorization.and_then(bearer_token),
        ) {
            (Err(_), true, Some(token)) => {
                info = None;
                self.bearer_identity(worker, &mut cache, token, now)
            }
            _ => session,
        };
        let revoked = match (&result, &info) {
            (Ok(identity), _) => worker.revoked(|| identity.marks(&self.name), now),
            (Err(_), Some(session)) => session
                .marks
                .as_ref()
                .is_some_and(|marks| worker.revoked(|| marks, now)),
            (Err(_), None) => false,
        };
        if revoked {
            if result.is_ok() {
                result = Err(Failure::Revoked);
            }
            info = None;
        }
        Authentication {
            result,
            cache,
            session_sent: cookies.any(),
            session: info,
        }
    }

    fn session(
        &self,
        worker: &mut Worker,
        cache: &mut CacheUse,
        sealed: &[u8],
        now: u64,
    ) -> (Result<Rc<Identity>, Failure>, Option<Rc<SessionInfo>>) {
        if let Some(entry) = worker.cache.get(sealed, now) {
            if entry.provider == self.id && entry.kind == Credential::Session {
                *cache = CacheUse::Hit;
                return (Ok(entry.identity.clone()), entry.session.clone());
            }
        }
        *cache = CacheUse::Miss;
        match self.verify_session(sealed, now) {
            (Ok(identity), Some(info)) => {
                let identity = Rc::new(identity);
                self.saw(worker, &identity);
                worker.cache_session(self.id, sealed, identity.clone(), info.clone());
                (Ok(identity), Some(info))
            }
            (result, info) => (result.map(Rc::new), info),
        }
    }

    pub(crate) fn bearer_identity(
        &self,
        worker: &mut Worker,
        cache: &mut CacheUse,
        token: &[u8],
        now: u64,
    ) -> Result<Rc<Identity>, Failure> {
        if let Some(entry) = worker.cache.get(token, now) {
            if entry.provider == self.id && entry.kind == Credential::Bearer {
                *cache = CacheUse::Hit;
                return Ok(entry.identity.clone());
            }
        }
        *cache = CacheUse::Miss;
        let identity = Rc::new(self.verify_token(token, now)?);
        self.saw(worker, &identity);
        let entry = CachedIdentity {
            provider: self.id,
            kind: Credential::Bearer,
            identity: identity.clone(),
            session: None,
        };
        worker.cache.insert(token, entry, identity.valid_until);
        Ok(identity)
    }

    /// Note a newly verified token's lifetime: revocations outlive every token they match.
    fn saw(&self, worker: &Worker, identity: &Identity) {
        if let (Some(list), Some(iat)) = (&worker.revocations, identity.issued) {
            list.saw_lifetime(&self.name, identity.expires.saturating_sub(iat));
        }
    }

    /// Open a sealed session value: the tokens inside, not yet verified.
    pub fn session_tokens(&self, sealed: &[u8]) -> Result<SessionTokens, Failure> {
        let plain = session::open_session(&self.session_key, &self.cookie_name, sealed)
            .map_err(|_| Failure::Invalid("session cookie does not open"))?;
        SessionTokens::decode(plain, 0).ok_or(Failure::Invalid("session cookie does not decode"))
    }

    /// Open a sealed session value and verify the token inside. The session's other contents
    /// come back too when it opens, also when its token has expired (to renew it).
    pub fn verify_session(
        &self,
        sealed: &[u8],
        now: u64,
    ) -> (Result<Identity, Failure>, Option<Rc<SessionInfo>>) {
        let tokens = match self.session_tokens(sealed) {
            Ok(tokens) => tokens,
            Err(failure) => return (Err(failure), None),
        };
        let info = |subject: &str, marks: Option<Marks>| {
            Rc::new(SessionInfo {
                refresh: tokens
                    .refresh
                    .as_deref()
                    .and_then(|r| std::str::from_utf8(r).ok())
                    .map(Into::into),
                renewed_at: tokens.renewed_at,
                id_token: tokens.id_token,
                subject: subject.into(),
                marks,
            })
        };
        match self.verify_token(&tokens.access, now) {
            Ok(identity) => {
                let info = info(identity.subject(), None);
                (Ok(identity), Some(info))
            }
            Err(Failure::Expired) if tokens.refresh.is_some() => {
                let renewable =
                    self.verifier
                        .verify_with(&tokens.access, now, Rules::RENEWAL, |claims, _| {
                            let subject = claims.sub.value().map_or("", |s| &**s);
                            let sid = claims.sid.value().map(|s| &**s);
                            let issued = claims.iat.value().map(|t| t.seconds());
                            let marks = Marks::new(&self.name, sid, subject, issued);
                            info(subject, Some(marks))
                        });
                (Err(Failure::Expired), renewable.ok())
            }
            Err(failure) => (Err(failure), None),
        }
    }

    /// Verify a raw token's signature and claims, and build its identity.
    pub fn verify_token(&self, token: &[u8], now: u64) -> Result<Identity, Failure> {
        let leeway = self.leeway_secs;
        let identity = self.verifier.verify(token, now, |claims, _| {
            let exp = claims.exp.value().map_or(0, |t| t.seconds());
            Identity::from_claims(claims, token, exp.saturating_add(leeway), &self.basic_auth)
        })??;
        Ok(identity)
    }
}
