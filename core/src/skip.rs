//! `skip_path`: authentik's "unauthenticated paths".
//!
//! Unanchored regexes (RE2 semantics, as in authentik), matched against the normalised path in
//! single mode and against `scheme://host/path?query` in domain mode. Empty patterns are
//! ignored, so a stray blank line never makes everything public.

use regex::bytes::{Regex, RegexBuilder};

/// Largest compiled program accepted for one pattern.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Default)]
pub struct SkipPaths {
    patterns: Vec<Regex>,
}

impl SkipPaths {
    /// Compile one pattern; `Ok(None)` for an empty (ignored) pattern.
    pub fn compile(pattern: &str) -> Result<Option<Regex>, String> {
        if pattern.trim().is_empty() {
            return Ok(None);
        }
        RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
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

    pub fn matches(&self, subject: &[u8]) -> bool {
        self.patterns.iter().any(|p| p.is_match(subject))
    }
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
}
