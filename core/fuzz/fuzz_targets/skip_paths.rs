//! `skip_path` (authentik's unauthenticated paths): `SkipPaths::matches` with arbitrary
//! subjects against a fixed set whose meaning is easy to restate (prefix, substring, suffix),
//! and `SkipPaths::compile` with arbitrary patterns (bounded compile size: no panic, no
//! runaway time or memory; blank patterns are ignored, never "match everything").
//! Input: first byte even = subject for the fixed set; odd = `pattern \0 subject`.
#![no_main]

use authentik_core::skip::SkipPaths;
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

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let expected = rest.starts_with(b"/public/")
            || rest.windows(5).any(|w| w == b"/skip")
            || rest.ends_with(b".css")
            // `$` also matches before a final "\n" only in multi-line mode, which is off.
            ;
        assert_eq!(
            FIXED.matches(rest),
            expected,
            "{:?}",
            String::from_utf8_lossy(rest)
        );
        return;
    }
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
            let expected = re.is_match(subject);
            let mut set = SkipPaths::default();
            set.push(re);
            assert_eq!(set.matches(subject), expected);
            assert!(!set.is_empty());
        }
        Err(e) => assert!(!e.is_empty()),
    }
});
