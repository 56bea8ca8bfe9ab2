//! `skip_path` (authentik's unauthenticated paths). The first input byte picks the property:
//!
//! * 0: `SkipPaths::matches` with an arbitrary subject against a fixed set whose meaning is
//!   easy to restate (prefix, substring, suffix);
//! * 1: `SkipPaths::compile` with an arbitrary pattern (`pattern \0 subject`): bounded compile
//!   size, blank patterns ignored, never "match everything";
//! * 2: the two readings of a path. The rest of the input spells a raw request target from
//!   path tokens (`/`, `..`, `%2e`, `;`, `\`, …). A request is never skipped unless its raw
//!   path, nginx's normalisation of it and the WHATWG resolution browsers and most routers
//!   apply (the `url` crate) all match the set; and never when the raw path has a dot
//!   segment, an encoded dot or slash, or a backslash.
#![no_main]

use authentik_core::provider::Mode;
use authentik_core::skip::{raw_path_is_plain, split_target, SkipPaths, SkipRequest};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static FIXED: LazyLock<SkipPaths> = LazyLock::new(|| {
    let mut s = SkipPaths::default();
    for p in ["^/public/", "/skip", r"\.css$", "", "   "] {
        if let Some(re) = SkipPaths::compile(p).unwrap() {
            s.push(re);
        }
    }
    s
});

/// The pieces a raw target is built from: separators, dot forms, encodings, names.
const TOKENS: &[&str] = &[
    "/", "/", "/", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "\\", ";", "public", "secret",
    "skip", "x", ".css", "%41", "%70", "%25", "?", "a=1", "//", "http://h", "%2e%2e",
];

/// nginx's reading (ngx_http_parse_complex_uri, simplified): decode `%XX` once, merge
/// slashes, resolve `.` and `..`; `None` where nginx answers 400 (`..` above the root).
fn nginx_normalise(raw_path: &[u8]) -> Option<Vec<u8>> {
    let mut decoded = Vec::with_capacity(raw_path.len());
    let mut i = 0;
    while i < raw_path.len() {
        let hex = raw_path
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (
            raw_path[i],
            hex.and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let mut segments: Vec<&[u8]> = Vec::new();
    let parts: Vec<&[u8]> = decoded.split(|&b| b == b'/').collect();
    let last = parts.len() - 1;
    for (index, segment) in parts.iter().enumerate() {
        match *segment {
            b"" if index != last => {}
            b"." => {}
            b".." => {
                segments.pop()?;
            }
            other => segments.push(other),
        }
    }
    let mut out = Vec::new();
    for segment in segments {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if out.is_empty() || decoded.ends_with(b"/") && !out.ends_with(b"/") {
        out.push(b'/');
    }
    Some(out)
}

/// The WHATWG reading: the path of `http://h` followed by the target (an origin-form target
/// is a path, never a network-path reference), or of the absolute-form target itself.
fn whatwg_path(target: &str) -> Option<String> {
    let url = if target.starts_with('/') {
        url::Url::parse(&format!("http://h{target}"))
    } else {
        url::Url::parse(target)
    };
    url.ok().map(|u| u.path().to_string())
}

fn two_readings(data: &[u8]) {
    let target: String = data
        .iter()
        .map(|&b| TOKENS[usize::from(b) % TOKENS.len()])
        .collect();
    let target = if target.starts_with('/') || target.starts_with("http://") {
        target
    } else {
        format!("/{target}")
    };
    if !nginx_accepts_authority(&target) {
        return;
    }
    let (raw_path, raw_query) = split_target(target.as_bytes());
    let Some(uri) = nginx_normalise(raw_path) else {
        return;
    };
    let request = SkipRequest {
        scheme: b"http",
        host: b"h",
        uri: &uri,
        args: raw_query,
        request_uri: target.as_bytes(),
    };
    if !FIXED.skips(Mode::Single, &request) {
        return;
    }
    assert!(
        raw_path_is_plain(raw_path),
        "skipped a hazardous raw path: {target:?}"
    );
    assert!(
        FIXED.matches(raw_path),
        "raw reading does not match: {target:?}"
    );
    assert!(
        FIXED.matches(&uri),
        "nginx reading does not match: {target:?}"
    );
    if let Some(path) = whatwg_path(&target) {
        assert!(
            FIXED.matches(path.as_bytes()),
            "WHATWG reading {path:?} does not match: {target:?}"
        );
    }
}

/// nginx's request-line parser takes an absolute-form host of letters, digits, `.` and `-`,
/// then an optional `:port` of digits; anything else there is a 400 before any phase runs
/// (`sw_host` in ngx_http_parse.c), so such targets never reach the module.
fn nginx_accepts_authority(target: &str) -> bool {
    let Some(rest) = target.strip_prefix("http://") else {
        return true;
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, port) = match rest[..end].split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (&rest[..end], None),
    };
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let expected = rest.starts_with(b"/public/")
                || rest.windows(5).any(|w| w == b"/skip")
                // `$` also matches before a final "\n" only in multi-line mode, which is off.
                || rest.ends_with(b".css");
            assert_eq!(
                FIXED.matches(rest),
                expected,
                "{:?}",
                String::from_utf8_lossy(rest)
            );
        }
        1 => {
            let (pattern, subject) = match rest.iter().position(|&b| b == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &b"/some/path?x=1"[..]),
            };
            let Ok(pattern) = std::str::from_utf8(pattern) else {
                return;
            };
            match SkipPaths::compile(pattern) {
                Ok(None) => assert!(pattern.trim().is_empty()),
                Ok(Some(re)) => {
                    assert!(!pattern.trim().is_empty());
                    let expected = re
                        .is_match(String::from_utf8_lossy(subject).as_ref())
                        .unwrap_or(false);
                    let mut set = SkipPaths::default();
                    set.push(re);
                    assert_eq!(set.matches(subject), expected);
                    assert!(!set.is_empty());
                }
                Err(e) => assert!(!e.is_empty()),
            }
        }
        _ => two_readings(rest),
    }
});
