//! A scripted browser for the login flow: URLs, a cookie jar, and redirects followed across
//! nginx and the IdP with the raw client ([`crate::client`]).
//!
//! Every host resolves to 127.0.0.1: a URL is sent to `127.0.0.1:<its port>` with its
//! authority as the `Host` header, so `http://app1.company.test:<port>/` reaches the nginx
//! listening on that port with `Host: app1.company.test:<port>`. Only URLs on the ports the
//! browser was told about are fetched; any other URL (an open redirect to `evil.test`, say)
//! stops the walk.

use crate::client::{Request, Response};

/// An absolute `http://` URL (what the flow needs: no https, no userinfo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    /// `host[:port]` as written.
    pub authority: String,
    /// Lower-case host, no port.
    pub host: String,
    pub port: Option<u16>,
    /// Path and query, `/` when empty.
    pub target: String,
}

impl Url {
    /// Parse an absolute URL; `None` for anything else.
    pub fn parse(url: &str) -> Option<Url> {
        let (scheme, rest) = url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let mut target = rest[end..].split('#').next().unwrap_or("").to_string();
        if target.is_empty() || target.starts_with('?') {
            target.insert(0, '/');
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (h, Some(p.parse().ok()?))
            }
            _ => (authority, None),
        };
        Some(Url {
            scheme: scheme.to_ascii_lowercase(),
            authority: authority.to_string(),
            host: host.to_ascii_lowercase(),
            port,
            target,
        })
    }

    /// `location` (absolute, or a path on this URL's origin) resolved against this URL.
    pub fn join(&self, location: &str) -> Option<Url> {
        if location.starts_with('/') && !location.starts_with("//") {
            Url::parse(&format!("{}{location}", self.origin()))
        } else {
            Url::parse(location)
        }
    }

    /// `scheme://authority`
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    /// The decoded query argument `name`.
    pub fn arg(&self, name: &str) -> Option<String> {
        query_arg(self.query(), name)
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.origin(), self.target)
    }
}

/// The decoded value of query argument `name` in `query` (no `?`).
pub fn query_arg(query: &str, name: &str) -> Option<String> {
    authentik_core::redirect::query_arg(query.as_bytes(), name)
}

/// Query (form) encoding of `value`.
pub fn encode(value: &str) -> String {
    authentik_core::redirect::encode(value)
}

/// One parsed `Set-Cookie` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Attributes in order, names lower-cased (`("max-age", "0")`, `("httponly", "")`).
    pub attrs: Vec<(String, String)>,
}

impl SetCookie {
    pub fn parse(header: &str) -> Option<SetCookie> {
        let mut parts = header.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let attrs = parts
            .map(|a| {
                let (k, v) = a.split_once('=').unwrap_or((a, ""));
                (k.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        Some(SetCookie {
            name: name.trim().to_string(),
            value: value.trim().to_string(),
            attrs,
        })
    }

    /// The value of attribute `name` (case-insensitive); `Some("")` for a flag.
    pub fn attr(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.attrs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Max-Age` ≤ 0 or `Expires` in 1970: the cookie is deleted.
    pub fn deletes(&self) -> bool {
        self.attr("max-age")
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|v| v <= 0)
            || self.attr("expires").is_some_and(|v| v.contains("1970"))
    }
}

/// Every `Set-Cookie` of `r`, parsed.
pub fn set_cookies(r: &Response) -> Vec<SetCookie> {
    r.header_all("Set-Cookie")
        .into_iter()
        .map(|h| SetCookie::parse(h).unwrap_or_else(|| panic!("bad Set-Cookie {h:?}")))
        .collect()
}

/// A cookie in the jar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    /// The host it was set by, or its `Domain` attribute.
    pub domain: String,
    pub host_only: bool,
    pub path: String,
}

/// A browser's cookie store (RFC 6265 domain and path matching; ports are ignored, as
/// browsers do).
#[derive(Debug, Clone, Default)]
pub struct Jar {
    pub cookies: Vec<Cookie>,
}

fn domain_match(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

fn path_match(path: &str, cookie_path: &str) -> bool {
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')))
}

impl Jar {
    /// Store the `Set-Cookie` headers of `r`, the response to `url`.
    pub fn store(&mut self, url: &Url, r: &Response) {
        for sc in set_cookies(r) {
            let (domain, host_only) = match sc.attr("domain") {
                Some(d) if !d.is_empty() => {
                    let d = d.trim_start_matches('.').to_ascii_lowercase();
                    if !domain_match(&url.host, &d) {
                        continue; // a browser rejects a Domain the host is not in
                    }
                    (d, false)
                }
                _ => (url.host.clone(), true),
            };
            let path = match sc.attr("path") {
                Some(p) if p.starts_with('/') => p.to_string(),
                _ => {
                    let p = url.path();
                    match p.rfind('/') {
                        Some(0) | None => "/".to_string(),
                        Some(i) => p[..i].to_string(),
                    }
                }
            };
            self.cookies
                .retain(|c| !(c.name == sc.name && c.domain == domain && c.path == path));
            if !sc.deletes() {
                self.cookies.push(Cookie {
                    name: sc.name,
                    value: sc.value,
                    domain,
                    host_only,
                    path,
                });
            }
        }
    }

    /// The cookies a browser sends to `url`.
    pub fn for_url(&self, url: &Url) -> Vec<(String, String)> {
        self.cookies
            .iter()
            .filter(|c| {
                (if c.host_only {
                    c.domain == url.host
                } else {
                    domain_match(&url.host, &c.domain)
                }) && path_match(url.path(), &c.path)
            })
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect()
    }

    /// The value of the first cookie named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value.as_str())
    }

    /// Cookies whose name starts with `prefix`.
    pub fn named_like(&self, prefix: &str) -> Vec<&Cookie> {
        self.cookies
            .iter()
            .filter(|c| c.name.starts_with(prefix))
            .collect()
    }

    pub fn remove(&mut self, name: &str) {
        self.cookies.retain(|c| c.name != name);
    }
}

/// One request of a walk and its response.
#[derive(Debug, Clone)]
pub struct Hop {
    pub url: Url,
    pub response: Response,
}

impl Hop {
    pub fn location(&self) -> Option<&str> {
        self.response.header("Location")
    }
}

/// Where a walk ended.
#[derive(Debug, Clone)]
pub struct Walk {
    pub hops: Vec<Hop>,
    /// The redirect target that was not fetched (the stop condition held, or the URL is on a
    /// port the browser does not know), or `None` when the last response was not a redirect.
    pub stopped_at: Option<Url>,
}

impl Walk {
    pub fn last(&self) -> &Hop {
        self.hops.last().expect("a walk has at least one hop")
    }

    /// The first hop whose path is `path`.
    pub fn hop(&self, path: &str) -> Option<&Hop> {
        self.hops.iter().find(|h| h.url.path() == path)
    }

    /// `status url` per hop, for assertion messages.
    pub fn trace(&self) -> String {
        let mut lines: Vec<String> = self
            .hops
            .iter()
            .map(|h| format!("{} {}", h.response.status, h.url))
            .collect();
        if let Some(u) = &self.stopped_at {
            lines.push(format!("(stopped before {u})"));
        }
        lines.join("\n")
    }
}

/// A scripted browser: a cookie jar and the loopback ports it may fetch from.
#[derive(Debug, Clone)]
pub struct Browser {
    pub jar: Jar,
    ports: Vec<u16>,
    /// Headers sent with every request (the defaults are a page load's).
    pub headers: Vec<(String, String)>,
}

/// Most redirects a walk follows before it is called a loop.
pub const MAX_HOPS: usize = 20;

impl Browser {
    /// A browser that fetches from 127.0.0.1 on `ports`, sending page-load headers
    /// (`Accept: text/html,…`, `Sec-Fetch-Mode: navigate`).
    pub fn new(ports: &[u16]) -> Browser {
        Browser {
            jar: Jar::default(),
            ports: ports.to_vec(),
            headers: vec![
                (
                    "Accept".into(),
                    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".into(),
                ),
                ("Sec-Fetch-Mode".into(), "navigate".into()),
            ],
        }
    }

    /// Whether the browser may fetch `url` (http, and a port it knows).
    pub fn knows(&self, url: &Url) -> bool {
        url.scheme == "http" && url.port.is_some_and(|p| self.ports.contains(&p))
    }

    /// `method url` with the jar's cookies and `extra` headers; the response's cookies are
    /// stored.
    pub fn request(&mut self, method: &str, url: &Url, extra: &[(&str, &str)]) -> Response {
        assert!(self.knows(url), "the browser does not fetch {url}");
        let mut req = Request::new(method, &url.target).header("Host", &url.authority);
        for (n, v) in &self.headers {
            req = req.header(n, v);
        }
        for (n, v) in extra {
            req = req.header(n, v);
        }
        let cookies = self.jar.for_url(url);
        if !cookies.is_empty() {
            req = req.cookies(&cookies);
        }
        let r = req.send(url.port.expect("known urls have a port"));
        self.jar.store(url, &r);
        r
    }

    /// `GET url` (no redirects followed).
    pub fn get(&mut self, url: &str) -> Response {
        let url = Url::parse(url).unwrap_or_else(|| panic!("not an absolute URL: {url}"));
        self.request("GET", &url, &[])
    }

    /// GET `url` and follow redirects on known ports. Panics on a redirect loop.
    pub fn navigate(&mut self, url: &str) -> Walk {
        self.navigate_until(url, |_| false)
    }

    /// GET `url` and follow redirects on known ports until the next URL satisfies `stop`
    /// (it is not fetched: it is returned in [`Walk::stopped_at`]).
    pub fn navigate_until(&mut self, url: &str, stop: impl Fn(&Url) -> bool) -> Walk {
        let mut next = Url::parse(url).unwrap_or_else(|| panic!("not an absolute URL: {url}"));
        let mut hops: Vec<Hop> = Vec::new();
        loop {
            if stop(&next) || !self.knows(&next) {
                return Walk {
                    hops,
                    stopped_at: Some(next),
                };
            }
            if hops.len() >= MAX_HOPS {
                let walk = Walk {
                    hops,
                    stopped_at: Some(next),
                };
                panic!("more than {MAX_HOPS} redirects:\n{}", walk.trace());
            }
            let response = self.request("GET", &next, &[]);
            let redirect = matches!(response.status, 301 | 302 | 303 | 307 | 308);
            let location = response.header("Location").map(str::to_string);
            let url = next.clone();
            hops.push(Hop { url, response });
            match location.filter(|_| redirect) {
                Some(loc) => {
                    next = next
                        .join(&loc)
                        .unwrap_or_else(|| panic!("unparsable Location {loc:?} from {next}"));
                }
                None => {
                    return Walk {
                        hops,
                        stopped_at: None,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://App.Test:8080/a/b?x=1&y=%2F#frag").unwrap();
        assert_eq!(u.host, "app.test");
        assert_eq!(u.port, Some(8080));
        assert_eq!(u.target, "/a/b?x=1&y=%2F");
        assert_eq!(u.path(), "/a/b");
        assert_eq!(u.arg("y").as_deref(), Some("/"));
        assert_eq!(u.origin(), "http://App.Test:8080");
        let v = u.join("/c?z").unwrap();
        assert_eq!(v.to_string(), "http://App.Test:8080/c?z");
        assert_eq!(Url::parse("http://e.test").unwrap().target, "/");
        assert_eq!(Url::parse("http://e.test?q").unwrap().target, "/?q");
        assert!(Url::parse("/relative").is_none());
    }

    fn response(set_cookies: &[&str]) -> Response {
        Response {
            status: 200,
            headers: set_cookies
                .iter()
                .map(|c| ("Set-Cookie".to_string(), c.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn jar_domains_paths_and_deletion() {
        let mut jar = Jar::default();
        let auth =
            Url::parse("http://auth.company.test:1/outpost.goauthentik.io/callback").unwrap();
        jar.store(
            &auth,
            &response(&[
                "s=1; Path=/; Domain=company.test; Max-Age=60",
                "h=2; Path=/",
                "evil=3; Domain=evil.test",
                "p=4; Path=/interaction/x",
            ]),
        );
        let app = Url::parse("http://app2.company.test:1/").unwrap();
        assert_eq!(jar.for_url(&app), vec![("s".to_string(), "1".to_string())]);
        assert_eq!(jar.for_url(&auth).len(), 2);
        let inter = Url::parse("http://auth.company.test:1/interaction/x/login").unwrap();
        assert_eq!(jar.for_url(&inter).len(), 3);
        jar.store(
            &auth,
            &response(&["s=; Path=/; Domain=company.test; Max-Age=0"]),
        );
        assert_eq!(jar.for_url(&app), vec![]);
        assert!(jar.get("evil").is_none());
    }
}
