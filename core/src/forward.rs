//! The outpost's forward-auth endpoints, for a proxy that cannot load the module (Traefik,
//! Caddy, Envoy, an nginx with `auth_request`): the proxy asks about a request and this nginx
//! answers as authentik's outpost does (docs/architecture.md §5, "Forward auth").
//!
//! The request asked about (the *original* request) is rebuilt from the forwarded headers
//! into [`RequestFacts`] of its own, and decided like any request of the location: the same
//! authentication, groups, `authentik_require` and `skip_path`. What differs is the answer:
//! an allowed request gets 200 with the identity headers in the response, a skipped one 200
//! without them, and `/auth/nginx` never gets a redirect (`auth_request` turns one into a 500).

use std::borrow::Cow;

use percent_encoding::percent_decode;

use crate::access::OUTPOST_PREFIX;
use crate::auth::Worker;
use crate::conf::Location;
use crate::decision::{Action, Level, Outcome, Response, Status};
use crate::metrics::CacheUse;
use crate::provider::Provider;
use crate::redirect::query_arg;
use crate::request::{Method, RequestFacts};

/// The front proxy an endpoint is for: `/outpost.goauthentik.io/auth/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Traefik,
    Caddy,
    /// nginx's `auth_request`, in an nginx without the module.
    Nginx,
    /// Envoy's `ext_authz` HTTP service: the original path follows `/auth/envoy`.
    Envoy,
}

const ENVOY: &[u8] = b"/outpost.goauthentik.io/auth/envoy";

impl Peer {
    /// The peer of endpoint `endpoint` (the path after `/outpost.goauthentik.io/`), if it is a
    /// forward-auth endpoint.
    pub fn of(endpoint: &[u8]) -> Option<Peer> {
        match endpoint.strip_prefix(b"auth/")? {
            b"traefik" => Some(Peer::Traefik),
            b"caddy" => Some(Peer::Caddy),
            b"nginx" => Some(Peer::Nginx),
            name if name == b"envoy" || name.starts_with(b"envoy/") => Some(Peer::Envoy),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Peer::Traefik => "traefik",
            Peer::Caddy => "caddy",
            Peer::Nginx => "nginx",
            Peer::Envoy => "envoy",
        }
    }
}

/// Whether a request for `uri` (nginx's `$uri`) is a forward-auth request, whose forwarded
/// headers the glue reads. No other request has them read: a client cannot make the module
/// believe another URL or host anywhere else.
pub fn reads_forwarded_headers(uri: &[u8]) -> bool {
    uri.strip_prefix(OUTPOST_PREFIX)
        .and_then(Peer::of)
        .is_some()
}

/// The forwarded headers of a forward-auth request, as sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forwarded<'a> {
    pub method: Option<&'a [u8]>,
    pub proto: Option<&'a [u8]>,
    pub host: Option<&'a [u8]>,
    pub uri: Option<&'a [u8]>,
    /// `X-Original-URL` (nginx's `auth_request`, as authentik documents it).
    pub original_url: Option<&'a [u8]>,
    /// `X-Original-URI` (ingress-nginx).
    pub original_uri: Option<&'a [u8]>,
    /// One of them came more than once: which one the proxy meant is not known.
    pub repeated: bool,
}

impl<'a> Forwarded<'a> {
    /// Keep `value` when `name` is one of the forwarded headers; whether it was.
    pub fn read(&mut self, name: &[u8], value: &'a [u8]) -> bool {
        let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
        let slot = match name.len() {
            14 if is(b"x-original-url") => &mut self.original_url,
            14 if is(b"x-original-uri") => &mut self.original_uri,
            15 if is(b"x-forwarded-uri") => &mut self.uri,
            16 if is(b"x-forwarded-host") => &mut self.host,
            17 if is(b"x-forwarded-proto") => &mut self.proto,
            18 if is(b"x-forwarded-method") => &mut self.method,
            _ => return false,
        };
        if slot.is_some() {
            self.repeated = true;
        } else {
            *slot = Some(value);
        }
        true
    }
}

/// The original request, as the proxy described it.
#[derive(Debug)]
struct Original<'a> {
    method: Method,
    tls: bool,
    websocket: bool,
    /// `host[:port]` as sent.
    host: &'a [u8],
    /// The host name alone, lower-case (what nginx's `$host` would be).
    server: Vec<u8>,
    /// The path, percent-decoded and with runs of slashes merged (what nginx's `$uri` would be).
    path: Vec<u8>,
    /// The path and query as sent.
    target: Cow<'a, [u8]>,
}

impl<'a> Original<'a> {
    /// Read the original request of `peer`'s forward-auth request `request`; on failure, what
    /// the proxy did not send right.
    fn read(peer: Peer, request: &RequestFacts<'a>) -> Result<Original<'a>, &'static str> {
        let forwarded = &request.forwarded;
        if forwarded.repeated {
            return Err("a forwarded header came more than once");
        }
        let proto = |default: bool| match forwarded.proto {
            Some(proto) => scheme(proto).ok_or("X-Forwarded-Proto is not http or https"),
            None => Ok((default, false)),
        };
        let (tls, websocket, host, target) = match peer {
            Peer::Traefik | Peer::Caddy => {
                if forwarded.proto.is_none() {
                    return Err("no X-Forwarded-Proto");
                }
                let (tls, websocket) = proto(false)?;
                let host = forwarded.host.ok_or("no X-Forwarded-Host")?;
                let target = forwarded.uri.ok_or("no X-Forwarded-Uri")?;
                (tls, websocket, host, Cow::Borrowed(target))
            }
            Peer::Nginx => match (forwarded.original_url, forwarded.original_uri) {
                (Some(url), _) => {
                    let url =
                        absolute_url(url).ok_or("X-Original-URL is not an absolute http(s) URL")?;
                    (url.tls, false, url.authority, url.target)
                }
                (None, Some(uri)) => {
                    let (tls, websocket) = proto(request.tls)?;
                    (tls, websocket, request.host, Cow::Borrowed(uri))
                }
                (None, None) => return Err("no X-Original-URL or X-Original-URI"),
            },
            Peer::Envoy => {
                let (tls, websocket) = proto(request.tls)?;
                let target = request.request_uri.strip_prefix(ENVOY).ok_or(
                    "the request target does not start with /outpost.goauthentik.io/auth/envoy",
                )?;
                let target = match target.first() {
                    None | Some(b'?') => Cow::Owned([b"/", target].concat()),
                    Some(b'/') => Cow::Borrowed(target),
                    Some(_) => return Err("the path after /auth/envoy does not start with /"),
                };
                (tls, websocket, request.host, target)
            }
        };
        let server = host_name(host).ok_or("the forwarded host is not a host name")?;
        if !is_target(&target) {
            return Err("the forwarded URI is not a path of printable ASCII");
        }
        let path = normalised(split_query(&target).0)
            .ok_or("the forwarded path decodes to control bytes")?;
        let method = match (peer, forwarded.method) {
            (Peer::Traefik | Peer::Caddy, Some(method)) => method_of(method),
            _ => request.method,
        };
        Ok(Original {
            method,
            tls,
            websocket,
            host,
            server,
            path,
            target,
        })
    }

    /// The original request's facts: its URL from the proxy, everything else (cookies,
    /// credentials, fetch metadata) from the forward-auth request, which carries the
    /// original's headers.
    fn facts<'s>(&'s self, peer: Peer, request: &RequestFacts<'s>) -> RequestFacts<'s> {
        RequestFacts {
            method: self.method,
            tls: self.tls,
            host: self.host,
            server: &self.server,
            uri: &self.path,
            args: split_query(&self.target).1,
            request_uri: &self.target,
            upgrade: request.upgrade || self.websocket,
            content_type: None,
            content_length: None,
            forwarded: Forwarded::default(),
            behind_auth_request: peer == Peer::Nginx,
            ..*request
        }
    }
}

fn split_query(target: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'?', target) {
        Some(q) => (&target[..q], &target[q + 1..]),
        None => (target, &[]),
    }
}

/// `http`/`ws` or `https`/`wss` (Traefik names WebSocket requests `ws`/`wss`): (TLS, WebSocket).
fn scheme(proto: &[u8]) -> Option<(bool, bool)> {
    let is = |name: &[u8]| proto.eq_ignore_ascii_case(name);
    if is(b"http") {
        Some((false, false))
    } else if is(b"https") {
        Some((true, false))
    } else if is(b"ws") {
        Some((false, true))
    } else if is(b"wss") {
        Some((true, true))
    } else {
        None
    }
}

fn method_of(method: &[u8]) -> Method {
    match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" => Method::Post,
        _ => Method::Other,
    }
}

/// The parts of `X-Original-URL` the original request is read from.
struct AbsoluteUrl<'a> {
    tls: bool,
    authority: &'a [u8],
    /// Path and query, `/` for an empty path.
    target: Cow<'a, [u8]>,
}

/// `scheme://authority[path][?query]`, http or https.
fn absolute_url(url: &[u8]) -> Option<AbsoluteUrl<'_>> {
    let separator = memchr::memmem::find(url, b"://")?;
    let (tls, websocket) = scheme(&url[..separator])?;
    if websocket {
        return None;
    }
    let rest = &url[separator + 3..];
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    let target = match target.first() {
        Some(b'/') => Cow::Borrowed(target),
        _ => Cow::Owned([b"/", target].concat()),
    };
    Some(AbsoluteUrl {
        tls,
        authority,
        target,
    })
}

/// The lower-case host name of `host[:port]` (a DNS name, an IPv4 address or a bracketed IPv6
/// address), or `None` for anything else: userinfo, paths, spaces, control bytes.
fn host_name(host: &[u8]) -> Option<Vec<u8>> {
    let (name, port) = if host.first() == Some(&b'[') {
        let close = memchr::memchr(b']', host)?;
        let (name, rest) = host.split_at(close + 1);
        let inner = &name[1..name.len() - 1];
        if inner.is_empty()
            || !inner
                .iter()
                .all(|b| b.is_ascii_hexdigit() || b":.".contains(b))
        {
            return None;
        }
        (
            name,
            rest.strip_prefix(b":")
                .or(rest.is_empty().then_some(&[][..]))?,
        )
    } else {
        let (name, port) = match memchr::memchr(b':', host) {
            Some(colon) => (&host[..colon], &host[colon + 1..]),
            None => (host, &[][..]),
        };
        let label = |b: &u8| b.is_ascii_alphanumeric() || b"-._".contains(b);
        if name.is_empty() || name.len() > 253 || !name.iter().all(label) {
            return None;
        }
        (name, port)
    };
    let port_ok = port.len() <= 5 && port.iter().all(u8::is_ascii_digit);
    if !port_ok || (port.is_empty() && host.ends_with(b":")) {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// An origin-form request target: `/`, then printable ASCII (no space, no fragment).
fn is_target(target: &[u8]) -> bool {
    target.first() == Some(&b'/')
        && target
            .iter()
            .all(|&b| (0x21..0x7f).contains(&b) && b != b'#')
}

/// `path` as nginx's `$uri` reads it: percent-decoded, runs of slashes merged. `None` when it
/// decodes to a control byte. Dot segments are left: `skip_path` refuses such paths anyway.
fn normalised(path: &[u8]) -> Option<Vec<u8>> {
    let decoded: Cow<'_, [u8]> = percent_decode(path).into();
    if decoded
        .iter()
        .any(|&b| crate::sanitize::is_control(b) || b == b'\t')
    {
        return None;
    }
    let mut out = Vec::with_capacity(decoded.len());
    for &b in decoded.iter() {
        if !(b == b'/' && out.last() == Some(&b'/')) {
            out.push(b);
        }
    }
    Some(out)
}

/// A decision as a forward-auth answer: an allow is a 200 with the identity headers, a pass
/// (`skip_path`) a 200 without them.
pub(crate) fn forward_answer(outcome: Outcome) -> Outcome {
    let action = match outcome.action {
        Action::Allow(grant) => Action::Answer(grant),
        Action::Pass => Action::Respond(Response::status(200)),
        other => other,
    };
    Outcome { action, ..outcome }
}

/// A query flag authentik's outpost reacts to on any path: `name=true`.
fn flag(query: &[u8], name: &str) -> bool {
    memchr::memmem::find(query, b"X-authentik-").is_some()
        && query_arg(query, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

impl Provider {
    /// Answer a forward-auth request of `peer` in `location`.
    pub(crate) fn forward(
        &self,
        peer: Peer,
        location: &Location,
        request: &RequestFacts<'_>,
        worker: &mut Worker,
        now: u64,
    ) -> Outcome {
        let original = match Original::read(peer, request) {
            Ok(original) => original,
            Err(reason) => return self.bad_forward(peer, reason),
        };
        let facts = original.facts(peer, request);
        if peer != Peer::Nginx {
            if let Some(outcome) = self.forwarded_endpoint(&facts, worker, now) {
                return outcome;
            }
        }
        // No renewal here: the proxy may not hand a 200's Set-Cookie to the browser, and a
        // renewed refresh token that never arrives ends the session (docs/architecture.md §5).
        let authentication = self.authenticate(&facts, worker, now);
        let verified = authentication.cache != CacheUse::Hit;
        let outcome = match authentication.result {
            Ok(identity) => Outcome {
                cache: authentication.cache,
                ..self.admit(location, identity, verified)
            },
            // Basic credentials are tried in forward mode too, as the outpost does.
            Err(failure) => match self.basic_auth(location, &facts, worker, now, true) {
                Some(basic) => basic.for_forward_auth(),
                None => Outcome {
                    cache: authentication.cache,
                    ..self.unauthenticated(
                        location,
                        &facts,
                        failure,
                        authentication.session_sent,
                        now,
                    )
                },
            },
        };
        forward_answer(outcome)
    }

    /// The outpost's own URLs when the proxy forwards them instead of routing them here:
    /// the callback and sign-out (also as the `X-authentik-auth-callback=true` and
    /// `X-authentik-logout=true` flags on any path, as the outpost reads them) and `start`.
    fn forwarded_endpoint(
        &self,
        facts: &RequestFacts<'_>,
        worker: &mut Worker,
        now: u64,
    ) -> Option<Outcome> {
        let endpoint = facts.uri.strip_prefix(OUTPOST_PREFIX);
        if endpoint == Some(b"callback") || flag(facts.args, "X-authentik-auth-callback") {
            return Some(self.begin_callback(facts, now));
        }
        if endpoint == Some(b"sign_out") || flag(facts.args, "X-authentik-logout") {
            return Some(self.sign_out(facts, worker, now));
        }
        if endpoint == Some(b"start") {
            let rd = query_arg(facts.args, "rd");
            return Some(self.login_redirect(self.validate_rd(rd.as_deref()), facts, now));
        }
        None
    }

    /// 400: the proxy sent no usable description of the original request.
    fn bad_forward(&self, peer: Peer, reason: &str) -> Outcome {
        Outcome::respond(Status::Missing, Response::status(400)).logged(
            Level::Warn,
            format!(
                "authentik: provider \"{}\": forward auth ({}): {reason}",
                self.name,
                peer.name()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(Peer::of(b"auth/traefik"), Some(Peer::Traefik));
        assert_eq!(Peer::of(b"auth/caddy"), Some(Peer::Caddy));
        assert_eq!(Peer::of(b"auth/nginx"), Some(Peer::Nginx));
        assert_eq!(Peer::of(b"auth/envoy"), Some(Peer::Envoy));
        assert_eq!(Peer::of(b"auth/envoy/app?x"), Some(Peer::Envoy));
        for other in [
            &b"auth/envoyx"[..],
            b"auth/traefik/",
            b"auth/",
            b"auth",
            b"start",
        ] {
            assert_eq!(Peer::of(other), None, "{}", String::from_utf8_lossy(other));
        }
        assert!(reads_forwarded_headers(
            b"/outpost.goauthentik.io/auth/nginx"
        ));
        assert!(!reads_forwarded_headers(b"/outpost.goauthentik.io/start"));
        assert!(!reads_forwarded_headers(
            b"/app/outpost.goauthentik.io/auth/nginx"
        ));
    }

    #[test]
    fn reads_each_header_once() {
        let mut f = Forwarded::default();
        assert!(f.read(b"X-Forwarded-Host", b"app.test"));
        assert!(f.read(b"x-forwarded-uri", b"/a"));
        assert!(f.read(b"X-FORWARDED-PROTO", b"https"));
        assert!(f.read(b"X-Forwarded-Method", b"GET"));
        assert!(f.read(b"X-Original-URL", b"http://a/"));
        assert!(f.read(b"X-Original-URI", b"/b"));
        assert!(!f.read(b"X-Forwarded-For", b"1.2.3.4"));
        assert!(!f.read(b"X-Forwarded-Port", b"443"));
        assert!(!f.repeated);
        assert!(f.read(b"X-Forwarded-Host", b"evil.test"));
        assert!(f.repeated);
        assert_eq!(f.host, Some(&b"app.test"[..]));
    }

    #[test]
    fn host_names() {
        let ok = |h: &[u8], name: &[u8]| assert_eq!(host_name(h).as_deref(), Some(name));
        ok(b"App.Test", b"app.test");
        ok(b"app.test:8443", b"app.test");
        ok(b"127.0.0.1:80", b"127.0.0.1");
        ok(b"[::1]:8080", b"[::1]");
        ok(b"[::1]", b"[::1]");
        for bad in [
            &b""[..],
            b"a@evil.test",
            b"evil.test/x",
            b"a b",
            b"a\x01b",
            b"app.test:",
            b"app.test:80x",
            b"app.test:123456",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"a,b",
            b"evil.test#.app.test",
        ] {
            assert_eq!(host_name(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn targets_and_paths() {
        assert!(is_target(b"/"));
        assert!(is_target(b"/a/b?c=d&e=%2F"));
        assert!(is_target(b"//evil.test/x"));
        for bad in [
            &b""[..],
            b"a",
            b"http://a/",
            b"/a b",
            b"/a\x7f",
            b"/a#f",
            b"/\xc3\xa9",
        ] {
            assert!(!is_target(bad), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(normalised(b"/a//b/%41%2f").unwrap(), b"/a/b/A/");
        assert_eq!(normalised(b"/%zz").unwrap(), b"/%zz");
        assert_eq!(normalised(b"/a%00b"), None);
        assert_eq!(normalised(b"/a%0d%0ab"), None);
    }

    #[test]
    fn absolute_urls() {
        let url = absolute_url(b"https://app.test:8443/a?b").unwrap();
        assert!(url.tls);
        assert_eq!(url.authority, b"app.test:8443");
        assert_eq!(&*url.target, b"/a?b");
        let url = absolute_url(b"http://app.test?x=1").unwrap();
        assert!(!url.tls);
        assert_eq!(url.authority, b"app.test");
        assert_eq!(&*url.target, b"/?x=1");
        assert_eq!(&*absolute_url(b"http://app.test").unwrap().target, b"/");
        assert!(absolute_url(b"ftp://app.test/").is_none());
        assert!(absolute_url(b"/relative").is_none());
    }

    #[test]
    fn flags_are_case_insensitive_values() {
        assert!(flag(
            b"X-authentik-auth-callback=true&code=c",
            "X-authentik-auth-callback"
        ));
        assert!(flag(b"a=1&X-authentik-logout=TRUE", "X-authentik-logout"));
        assert!(!flag(b"X-authentik-logout=1", "X-authentik-logout"));
        assert!(!flag(b"x-authentik-logout=true", "X-authentik-logout"));
    }
}
