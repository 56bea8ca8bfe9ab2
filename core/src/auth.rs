//! Authentication of one request: the session cookie, else `Authorization: Bearer`, through
//! each worker's verified-credential cache.

use std::rc::Rc;

use crate::cache::{Cost, TokenCache};
use crate::cookie::SessionCookies;
use crate::identity::{Identity, IdentityError};
use crate::metrics::CacheUse;
use crate::provider::{bearer_token, Provider};
use crate::request::RequestFacts;
use crate::session;
use crate::token::TokenError;

/// Why a request is not authenticated; `$authentik_status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Missing,
    Expired,
    Invalid(&'static str),
}

impl Failure {
    pub fn status(self) -> crate::decision::Status {
        use crate::decision::Status;
        match self {
            Failure::Missing => Status::Missing,
            Failure::Expired => Status::Expired,
            Failure::Invalid(_) => Status::Invalid,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Failure::Missing => "no session cookie or bearer token",
            Failure::Expired => "token expired",
            Failure::Invalid(reason) => reason,
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
}

/// A cache entry: the provider and kind it was verified for, and the identity.
pub struct CachedIdentity {
    provider: u32,
    kind: Credential,
    identity: Rc<Identity>,
}

impl Cost for CachedIdentity {
    fn cost(&self) -> usize {
        self.identity.cost()
    }
}

/// Each worker's own state.
pub struct Worker {
    pub cache: TokenCache<CachedIdentity>,
}

impl Worker {
    pub fn new(cache_entries: usize, cache_bytes: usize) -> Worker {
        Worker {
            cache: TokenCache::new(cache_entries, cache_bytes),
        }
    }
}

/// The result of authenticating a request.
pub struct Authentication {
    pub result: Result<Rc<Identity>, Failure>,
    /// Whether a credential was found in the cache, verified, or not presented at all.
    pub cache: CacheUse,
    /// The request carried a session cookie or one of its chunks (cleared when it fails).
    pub session_sent: bool,
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
        let session = match cookies.sealed() {
            Ok(Some(sealed)) => {
                self.cached_or(worker, &mut cache, Credential::Session, &sealed, now, |p| {
                    p.verify_session(&sealed, now)
                })
            }
            Ok(None) => Err(Failure::Missing),
            Err(_) => Err(Failure::Invalid("broken session cookie chunks")),
        };
        let result = match (
            &session,
            self.bearer,
            request.authorization.and_then(bearer_token),
        ) {
            (Err(_), true, Some(token)) => {
                self.cached_or(worker, &mut cache, Credential::Bearer, token, now, |p| {
                    p.verify_token(token, now)
                })
            }
            _ => session,
        };
        Authentication {
            result,
            cache,
            session_sent: cookies.any(),
        }
    }

    fn cached_or(
        &self,
        worker: &mut Worker,
        cache: &mut CacheUse,
        kind: Credential,
        key: &[u8],
        now: u64,
        verify: impl FnOnce(&Provider) -> Result<Identity, Failure>,
    ) -> Result<Rc<Identity>, Failure> {
        if let Some(entry) = worker.cache.get(key, now) {
            if entry.provider == self.id && entry.kind == kind {
                *cache = CacheUse::Hit;
                return Ok(entry.identity.clone());
            }
        }
        *cache = CacheUse::Miss;
        let identity = Rc::new(verify(self)?);
        let entry = CachedIdentity {
            provider: self.id,
            kind,
            identity: identity.clone(),
        };
        worker.cache.insert(key, entry, identity.valid_until);
        Ok(identity)
    }

    /// Open a sealed session value and verify the token inside.
    pub fn verify_session(&self, sealed: &[u8], now: u64) -> Result<Identity, Failure> {
        let token = session::open_session(&self.session_key, &self.cookie_name, sealed)
            .map_err(|_| Failure::Invalid("session cookie does not open"))?;
        self.verify_token(&token, now)
    }

    /// Verify a raw token's signature and claims, and build its identity.
    pub fn verify_token(&self, token: &[u8], now: u64) -> Result<Identity, Failure> {
        let leeway = self.leeway_secs;
        let identity = self.verifier.verify(token, now, |claims, payload| {
            let exp = claims.exp.value().map_or(0, |t| t.seconds());
            Identity::from_claims(
                claims,
                payload,
                token,
                exp.saturating_add(leeway),
                &self.basic_auth,
            )
        })??;
        Ok(identity)
    }
}
