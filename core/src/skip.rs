//! `skip_path`: authentik's "unauthenticated paths", and when a request may use them.
//!
//! Patterns are unanchored regular expressions in the syntax authentik's users write: Python's
//! `re` (authentik stores them for its Python side), with look-around and back-references,
//! through `fancy-regex` with a bounded backtracking budget. They are matched against the path
//! in single mode and against `scheme://host/path?query` in domain mode. Empty patterns are
//! ignored, so a stray blank line never makes everything public. A match that exhausts the
//! backtracking budget counts as no match: the request needs credentials.
//!
//! A request has two readings of its path: nginx's normalised `$uri` (dot segments resolved,
//! `%XX` decoded, slashes merged) and the raw path of `$request_uri`, which `proxy_pass`
//! without a URI part, `fastcgi_param REQUEST_URI` and most application routers see. A skip
//! is only safe when both readings agree, so [`SkipPaths::skips`] requires:
//!
//! 1. the raw path has no dot segment (`.` or `..`, also before a `;` parameter), no encoded
//!    dot (`%2e`), no encoded slash (`%2f`), and no backslash, plain or encoded (`%5c`);
//! 2. some pattern matches the normalised subject, and some pattern matches the raw subject.
//!
//! Anything else needs credentials (docs/architecture.md, "skip_path").

use fancy_regex::{Regex, RegexBuilder};

use crate::provider::Mode;

/// Largest compiled program accepted for one pattern.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Backtracking steps one match may take (fancy-regex's default is a million).
const BACKTRACK_LIMIT: usize = 100_000;

#[derive(Debug, Default)]
pub struct SkipPaths {
    patterns: Vec<Regex>,
}

/// The parts of a request a skip decision reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct SkipRequest<'a> {
    /// `http` or `https`.
    pub scheme: &'a [u8],
    /// The host nginx serves the request for.
    pub host: &'a [u8],
    /// nginx's normalised path (`$uri`).
    pub uri: &'a [u8],
    /// The query (`$args`), without `?`.
    pub args: &'a [u8],
    /// The request target as the client sent it (`$request_uri`): origin form or absolute
    /// form, with its query.
    pub request_uri: &'a [u8],
}

impl SkipPaths {
    /// Compile one pattern; `Ok(None)` for an empty (ignored) pattern.
    pub fn compile(pattern: &str) -> Result<Option<Regex>, String> {
        if pattern.trim().is_empty() {
            return Ok(None);
        }
        RegexBuilder::new(&python_to_rust(pattern))
            .delegate_size_limit(REGEX_SIZE_LIMIT)
            .backtrack_limit(BACKTRACK_LIMIT)
            .build()
            .map(Some)
            .map_err(|e| e.to_string())
    }

    pub fn push(&mut self, pattern: Regex) {
        self.patterns.push(pattern);
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether some pattern matches `subject`.
    pub fn matches(&self, subject: &[u8]) -> bool {
        let subject = String::from_utf8_lossy(subject);
        self.patterns
            .iter()
            .any(|p| p.is_match(subject.as_ref()).unwrap_or(false))
    }

    /// Whether `request` may go on without credentials: both readings of its path are
    /// unambiguous and both match (see the module documentation).
    pub fn skips(&self, mode: Mode, request: &SkipRequest<'_>) -> bool {
        if self.is_empty() {
            return false;
        }
        let (raw_path, raw_query) = split_target(request.request_uri);
        if !raw_path_is_plain(raw_path) {
            return false;
        }
        let normalised = subject(
            mode,
            request.scheme,
            request.host,
            request.uri,
            request.args,
        );
        if !self.matches(&normalised) {
            return false;
        }
        let raw = subject(mode, request.scheme, request.host, raw_path, raw_query);
        self.matches(&raw)
    }
}

/// Python's `\Z` (end of text) is `\z` in fancy-regex; everything else users write reads
/// the same in both.
fn python_to_rust(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut escaped = false;
    for c in pattern.chars() {
        if escaped {
            out.push(if c == 'Z' { 'z' } else { c });
            escaped = false;
        } else {
            escaped = c == '\\';
            out.push(c);
        }
    }
    out
}

/// The subject patterns see: the path in single mode, the full URL in domain mode
/// (docs/architecture.md §5, "skip_path").
pub fn subject(mode: Mode, scheme: &[u8], host: &[u8], path: &[u8], query: &[u8]) -> Vec<u8> {
    match mode {
        Mode::Single => path.to_vec(),
        Mode::Domain => {
            let mut url =
                Vec::with_capacity(scheme.len() + host.len() + path.len() + query.len() + 4);
            url.extend_from_slice(scheme);
            url.extend_from_slice(b"://");
            url.extend_from_slice(host);
            url.extend_from_slice(path);
            if !query.is_empty() {
                url.push(b'?');
                url.extend_from_slice(query);
            }
            url
        }
    }
}

/// The raw path and query of a request target. An absolute-form target
/// (`http://host/path?q`) loses its scheme and authority; an authority with no path gives an
/// empty path.
pub fn split_target(target: &[u8]) -> (&[u8], &[u8]) {
    let without_authority = if target.first() == Some(&b'/') {
        target
    } else {
        match find(target, b"://") {
            Some(i) => {
                let after = &target[i + 3..];
                let end = after
                    .iter()
                    .position(|&b| b == b'/' || b == b'?')
                    .unwrap_or(after.len());
                &after[end..]
            }
            None => target,
        }
    };
    match without_authority.iter().position(|&b| b == b'?') {
        Some(q) => (&without_authority[..q], &without_authority[q + 1..]),
        None => (without_authority, &[]),
    }
}

/// True when a raw path reads the same to every router: no dot segment (also `..;x`), no
/// encoded dot or slash, no backslash in any form.
pub fn raw_path_is_plain(path: &[u8]) -> bool {
    if path.contains(&b'\\') {
        return false;
    }
    let encoded_hazard = path.windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                &[w[1].to_ascii_lowercase(), w[2].to_ascii_lowercase()],
                b"2e" | b"2f" | b"5c"
            )
    });
    if encoded_hazard {
        return false;
    }
    !path.split(|&b| b == b'/').any(|segment| {
        let name = match segment.iter().position(|&b| b == b';') {
            Some(i) => &segment[..i],
            None => segment,
        };
        name == b"." || name == b".."
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(patterns: &[&str]) -> SkipPaths {
        let mut skip = SkipPaths::default();
        for p in patterns {
            if let Some(re) = SkipPaths::compile(p).unwrap() {
                skip.push(re);
            }
        }
        skip
    }

    #[test]
    fn unanchored_like_authentik() {
        let skip = set(&["/skip.*"]);
        assert!(skip.matches(b"/skip"));
        assert!(skip.matches(b"/a/skip/b"));
        assert!(!skip.matches(b"/app"));
        let anchored = set(&["^/public/"]);
        assert!(anchored.matches(b"/public/x"));
        assert!(!anchored.matches(b"/x/public/"));
    }

    #[test]
    fn empty_patterns_are_ignored() {
        let skip = set(&["", "  ", "^/a$"]);
        assert!(!skip.matches(b"/anything"));
        assert!(skip.matches(b"/a"));
        assert!(set(&[""]).is_empty());
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(SkipPaths::compile("(").is_err());
        assert!(SkipPaths::compile("a{99999}{99999}").is_err());
    }

    #[test]
    fn python_syntax() {
        let lookahead = set(&["^/(?!api/)"]);
        assert!(lookahead.matches(b"/public"));
        assert!(!lookahead.matches(b"/api/x"));
        assert!(set(&[r"\.css\Z"]).matches(b"/api/x.css"));
        assert!(!set(&[r"\.css\Z"]).matches(b"/api/x.cssx"));
        let backref = set(&[r"^/(?P<v>v[0-9])/(?P=v)$"]);
        assert!(backref.matches(b"/v1/v1"));
        assert!(!backref.matches(b"/v1/v2"));
        assert_eq!(python_to_rust(r"a\\Z\Z"), r"a\\Z\z");
    }

    #[test]
    fn runaway_backtracking_is_no_match() {
        let skip = set(&["^(a+)+$(?<=x)"]);
        assert!(!skip.matches(&[b'a'; 64]));
    }

    fn single(uri: &str, request_uri: &str) -> SkipRequest<'static> {
        let uri: &'static str = Box::leak(uri.to_string().into_boxed_str());
        let request_uri: &'static str = Box::leak(request_uri.to_string().into_boxed_str());
        let (_, args) = split_target(request_uri.as_bytes());
        SkipRequest {
            scheme: b"https",
            host: b"app.company",
            uri: uri.as_bytes(),
            args,
            request_uri: request_uri.as_bytes(),
        }
    }

    /// The paths of the skip_path bypass report: nginx normalises each to /public/x, the raw
    /// path routes to /secret elsewhere. None may be skipped.
    #[test]
    fn raw_and_normalised_must_both_match() {
        let skip = set(&["^/public/"]);
        for raw in [
            "/secret/../public/x",
            "/secret/%2e%2e/public/x",
            "/secret/%2E%2E/public/x",
            "/secret/.%2e/public/x",
            "/secret/..%2Fpublic/x",
            "/secret%2f..%2fpublic/x",
            "/secret/a/b/../../../public/x",
            "//secret/../public/x",
            "/secret;/../public/x",
            "http://app.company/secret/../public/x",
            "HTTP://app.company:443/secret/../public/x",
        ] {
            assert!(
                !skip.skips(Mode::Single, &single("/public/x", raw)),
                "{raw}"
            );
        }
        // Mirror images: the normalised path leaves /public/, the raw one does not.
        for raw in [
            "/public/../secret",
            "/public/%2e%2e/secret",
            "/public/..%2fsecret",
            "//public/../secret",
            "http://app.company/public/../secret",
        ] {
            assert!(!skip.skips(Mode::Single, &single("/secret", raw)), "{raw}");
        }
        assert!(skip.skips(Mode::Single, &single("/public/x", "/public/x")));
        assert!(skip.skips(Mode::Single, &single("/public/x", "/public/x?a=1")));
        assert!(skip.skips(
            Mode::Single,
            &single("/public/x", "http://app.company/public/x")
        ));
        assert!(skip.skips(Mode::Single, &single("/public/A", "/public/%41")));
        // An encoded letter the pattern needs: the raw reading does not match.
        assert!(!skip.skips(Mode::Single, &single("/public/x", "/%70ublic/x")));
        // A merged slash: the raw reading does not match an anchored pattern.
        assert!(!skip.skips(Mode::Single, &single("/public/x", "//public/x")));
    }

    #[test]
    fn java_and_windows_separators_are_never_skipped() {
        let skip = set(&["^/public/"]);
        for raw in [
            "/public/..;/admin/",
            "/public/.;x/admin/",
            "/public/..\\admin/",
            "/public/%5c../admin/",
            "/public/%2e%2e%5cadmin/",
        ] {
            assert!(!skip.skips(Mode::Single, &single(raw, raw)), "{raw}");
        }
        // A plain `;` parameter or a double-encoded dot is one reading for every router.
        assert!(skip.skips(Mode::Single, &single("/public/x;v=1", "/public/x;v=1")));
        assert!(skip.skips(
            Mode::Single,
            &single("/public/%2e%2e/admin/", "/public/%252e%252e/admin/")
        ));
    }

    #[test]
    fn domain_mode_reads_the_full_url_both_ways() {
        let skip = set(&["^https://app\\.company/public/", "\\?open$"]);
        let request = |uri: &'static str, request_uri: &'static str| {
            let (_, args) = split_target(request_uri.as_bytes());
            SkipRequest {
                scheme: b"https",
                host: b"app.company",
                uri: uri.as_bytes(),
                args,
                request_uri: request_uri.as_bytes(),
            }
        };
        assert!(skip.skips(Mode::Domain, &request("/public/x", "/public/x")));
        assert!(skip.skips(Mode::Domain, &request("/a", "/a?open")));
        assert!(!skip.skips(Mode::Domain, &request("/public/x", "/secret/../public/x")));
        assert!(!skip.skips(Mode::Domain, &request("/a/b", "/a/%2e/b?open")));
    }

    #[test]
    fn targets_split_into_path_and_query() {
        assert_eq!(split_target(b"/a?b=c"), (&b"/a"[..], &b"b=c"[..]));
        assert_eq!(split_target(b"/a"), (&b"/a"[..], &b""[..]));
        assert_eq!(split_target(b"http://h/a?q"), (&b"/a"[..], &b"q"[..]));
        assert_eq!(split_target(b"http://h"), (&b""[..], &b""[..]));
        assert_eq!(split_target(b"http://h?q"), (&b""[..], &b"q"[..]));
    }

    #[test]
    fn plain_paths() {
        for plain in [
            "/",
            "/a/b",
            "/a.b/c..d",
            "/...",
            "/a;b",
            "/%41",
            "/.well-known/x",
        ] {
            assert!(raw_path_is_plain(plain.as_bytes()), "{plain}");
        }
        for hazard in [
            "/.", "/..", "/a/./b", "/a/../b", "/a/..;/b", "/%2e", "/%2E/", "/a%2fb", "/a%2Fb",
            "/a\\b", "/a%5cb", "/a%5C", "/./",
        ] {
            assert!(!raw_path_is_plain(hazard.as_bytes()), "{hazard}");
        }
    }
}
