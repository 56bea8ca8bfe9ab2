//! What a request gets: one [`Outcome`] per decision, which the glue applies as it is.

use std::rc::Rc;

use crate::basic::BasicExchange;
use crate::fields::{Field, FIELDS};
use crate::headers::AUTHORIZATION;
use crate::identity::Identity;
use crate::login::LoginState;
use crate::metrics::{CacheUse, Extra, Grant as GrantType, LoginResult, TokenResult};
use crate::provider::Provider;
use crate::remote_jwks::JwksFetch;
use crate::renewal::Renewal;
use crate::META_VERSION;

/// `$authentik_status`, for access logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Skipped,
    Missing,
    Expired,
    Invalid,
    Forbidden,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Missing => "missing",
            Status::Expired => "expired",
            Status::Invalid => "invalid",
            Status::Forbidden => "forbidden",
        }
    }
}

/// The decision for one request.
#[derive(Debug)]
pub struct Outcome {
    pub status: Status,
    pub action: Action,
    /// A line for the error log, when the decision is worth one.
    pub log: Option<LogLine>,
    /// Lines of earlier steps of the same request (a JWKS fetch), logged before `log`.
    pub notes: Vec<LogLine>,
    /// Whether the credential came from the cache (for the metrics).
    pub cache: CacheUse,
    /// What else happened, for the metrics.
    pub events: Vec<Event>,
    /// `Set-Cookie` values for whatever answers this request (a renewed session): the
    /// upstream's response, or the module's own (where they are in [`Response::cookies`]).
    pub cookies: Vec<String>,
}

/// Something the metrics count besides the request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Login(LoginResult),
    TokenRequest(GrantType, TokenResult),
    Extra(Extra),
}

#[derive(Debug)]
pub enum Action {
    /// Authenticated and allowed: continue with this identity.
    Allow(Grant),
    /// Continue without identity (`skip_path`).
    Pass,
    /// Answer now; the request never reaches the upstream.
    Respond(Response),
    /// Run the `token_request` subrequest with this form body, then resume with its answer.
    Exchange(Exchange),
    /// Answer 200 with this identity's headers in the response, and no body: a forward-auth
    /// endpoint's "allowed" (the proxy copies the headers to the request it forwards).
    Answer(Grant),
    /// Read the request body (a back-channel logout), then hand it to
    /// [`Provider::backchannel_logout`](crate::provider::Provider::backchannel_logout).
    ReadBody(ReadBody),
}

/// A request body to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBody {
    /// A longer body is not kept: the logout answer is 413.
    pub limit: usize,
}

/// An authenticated user, ready for the variables and the upstream headers.
#[derive(Debug, Clone)]
pub struct Grant {
    pub identity: Rc<Identity>,
    /// The client's `Authorization` carried the credentials (Basic): it never reaches the
    /// upstream, whatever `authentik_set_headers` says.
    pub strip_authorization: bool,
}

/// One header for the upstream.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamHeader<'a> {
    pub name: &'a str,
    pub lowercase: &'a [u8],
    pub hash: usize,
    pub value: &'a str,
    /// This is the `Authorization` header (nginx keeps a pointer to it).
    pub authorization: bool,
}

impl Grant {
    /// The value of `field` for this user at `provider`.
    pub fn value<'a>(&'a self, field: Field, provider: &'a Provider) -> &'a str {
        match field {
            Field::MetaJwks => provider.meta_jwks(),
            Field::MetaOutpost => provider.meta_outpost(),
            Field::MetaProvider => provider.meta_provider(),
            Field::MetaApp => provider.meta_app(),
            Field::MetaVersion => META_VERSION,
            other => self.identity.field(other).unwrap_or(""),
        }
    }

    /// Every header the upstream gets: the identity fields, then `additionalHeaders` (a later
    /// entry of the same name wins, and the Basic header wins over all), then the Basic header.
    pub fn upstream_headers<'a>(
        &'a self,
        provider: &'a Provider,
    ) -> impl Iterator<Item = UpstreamHeader<'a>> + 'a {
        let identity = &*self.identity;
        let basic = identity.basic_authorization();
        let fields = FIELDS.iter().map(move |spec| UpstreamHeader {
            name: spec.header.name(),
            lowercase: spec.header.lowercase(),
            hash: spec.header.hash(),
            value: self.value(spec.field, provider),
            authorization: false,
        });
        let additional = identity.additional_headers();
        let extra = additional
            .iter()
            .enumerate()
            .filter(move |(i, (name, _))| {
                let replaced_later = additional[i + 1..]
                    .iter()
                    .any(|(later, _)| later.lowercase == name.lowercase);
                let is_authorization = &*name.lowercase == AUTHORIZATION.lowercase();
                !(replaced_later || basic.is_some() && is_authorization)
            })
            .map(|(_, (name, value))| UpstreamHeader {
                name: &name.name,
                lowercase: &name.lowercase,
                hash: name.hash,
                value,
                authorization: &*name.lowercase == AUTHORIZATION.lowercase(),
            });
        let basic = basic.into_iter().map(|value| UpstreamHeader {
            name: AUTHORIZATION.name(),
            lowercase: AUTHORIZATION.lowercase(),
            hash: AUTHORIZATION.hash(),
            value,
            authorization: true,
        });
        fields.chain(extra).chain(basic)
    }

    /// Whether a client header named `name` gives way to one of [`Grant::upstream_headers`]
    /// (`additionalHeaders` and the Basic header replace the client's).
    pub fn replaces(&self, name: &[u8]) -> bool {
        let identity = &*self.identity;
        ((self.strip_authorization || identity.basic_authorization().is_some())
            && name.eq_ignore_ascii_case(AUTHORIZATION.name().as_bytes()))
            || identity
                .additional_headers()
                .iter()
                .any(|(header, _)| name.eq_ignore_ascii_case(header.name.as_bytes()))
    }
}

/// A response the module sends itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
    /// Other headers, such as `WWW-Authenticate` and `Cache-Control`.
    pub headers: Vec<(&'static str, String)>,
    /// A body of the module's own; without one nginx sends its page for the status.
    pub body: Option<Body>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl Response {
    pub fn status(status: u16) -> Response {
        Response {
            status,
            ..Default::default()
        }
    }

    /// A 302 that is never cached.
    pub fn redirect(location: String, cookies: Vec<String>) -> Response {
        Response {
            status: 302,
            location: Some(location),
            cookies,
            headers: vec![("Cache-Control", "no-store".into())],
            body: None,
        }
    }
}

/// A `token_request` subrequest to run.
#[derive(Debug)]
pub struct Exchange {
    /// The internal location (`token_request`).
    pub uri: String,
    /// `$authentik_token_request_body`.
    pub body: String,
    /// What the answer completes.
    pub pending: Pending,
}

#[derive(Debug)]
pub enum Pending {
    /// A login callback: the code exchange of this login.
    Login(LoginState),
    /// A session's renewal: the refresh grant.
    Refresh(Renewal),
    /// `Authorization: Basic` with an app password: the `client_credentials` grant.
    Basic(BasicExchange),
    /// A GET of `jwks_request`, and what the request does once the keys are in.
    Jwks(Box<JwksFetch>),
}

/// What the `token_request` subrequest returned.
#[derive(Debug, Clone, Copy)]
pub struct TokenResponse<'a> {
    /// HTTP status; 0 when nginx could not complete the subrequest.
    pub status: u16,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Crit,
    Error,
    Warn,
    Info,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub message: String,
}

impl Outcome {
    pub(crate) fn new(status: Status, action: Action) -> Outcome {
        Outcome {
            status,
            action,
            log: None,
            notes: Vec::new(),
            cache: CacheUse::None,
            events: Vec::new(),
            cookies: Vec::new(),
        }
    }

    /// Add `Set-Cookie` values to whatever answers the request.
    pub(crate) fn with_cookies(mut self, mut cookies: Vec<String>) -> Outcome {
        match &mut self.action {
            Action::Respond(response) => response.cookies.append(&mut cookies),
            _ => self.cookies.append(&mut cookies),
        }
        self
    }

    pub(crate) fn respond(status: Status, response: Response) -> Outcome {
        Outcome::new(status, Action::Respond(response))
    }

    pub(crate) fn with_event(mut self, event: Event) -> Outcome {
        self.events.push(event);
        self
    }

    pub(crate) fn logged(mut self, level: Level, message: String) -> Outcome {
        self.log = Some(LogLine { level, message });
        self
    }
}
