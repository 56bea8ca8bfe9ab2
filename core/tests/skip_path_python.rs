//! `skip_path` reads patterns as authentik does: Python's `re.search`. A corpus of
//! authentik-style "unauthenticated paths" (anchors, alternations, look-ahead and
//! look-behind, back-references, inline flags, atomic groups, `\Z`), each against every
//! subject below, with `python3` as the oracle: every pattern Python accepts compiles, and
//! every answer is Python's, but one: Python's `$` also matches before a final newline, ours
//! only at the end. That is stricter, and moot for a skip: a decoded `$uri` ending in a
//! newline comes from a raw `%0A`, which `$` does not match in either reading.

use std::io::Write;
use std::process::{Command, Stdio};

use authentik_core::skip::SkipPaths;
use serde_json::{json, Value};

const PATTERNS: &[&str] = &[
    r"^/api/.*",
    r"^/static/",
    r"/health$",
    r"^/$",
    r"^/(?!api/)",
    r"^/(?!admin|api/v1/private)",
    r"^/public/(?=.*\.css$)",
    r"(?<!/admin)/ping$",
    r"(?<=^/v)\d+/open",
    r"^/(favicon\.ico|robots\.txt)$",
    r"^/app/[a-z0-9-]+/manifest\.json$",
    r"\.(css|js|png|svg|woff2?)$",
    r"^/api/v[0-9]+/status\Z",
    r"\A/public/",
    r"(?i)^/public/",
    r"^/(?i:public)/",
    r"^/(?P<lang>en|de)/docs/",
    r"^/(?P<x>a)/(?P=x)/",
    r"^/(a)/\1/",
    r"^/items/\d{1,5}$",
    r"^/\w+/public$",
    r"^/a{2,}b",
    r"^/x/.*?/y",
    r"^/(?:foo|bar)/?$",
    r"^/caf\u00e9/",
    r"^/[^\W\d]+/$",
    r"^/\.well-known/",
    r"^/api/(?!internal)[^/]+/public",
    r"^/(?>a+)b",
    r"^/a++b",
    r"(?x) ^/pub  lic/  # verbose",
    r"(?m)^/x$",
    r"(?s)^/x.y",
    r"^/(a)?(?(1)b|c)",
    r"^/x(?#a comment)y",
    r"^https?://app\.company/public/",
    r"^http://[^/]+\.company/static/",
    r"public",
    r"\?q=",
];

const SUBJECTS: &[&str] = &[
    "/",
    "/api/x",
    "/api/",
    "/admin",
    "/admin/x",
    "/api/v1/private/x",
    "/public/x",
    "/public/a.css",
    "/PUBLIC/x",
    "/Public/x",
    "/health",
    "/x/health",
    "/health/x",
    "/ping",
    "/admin/ping",
    "/v12/open",
    "/x/v12/open",
    "/favicon.ico",
    "/robots.txt",
    "/robots.txt/x",
    "/app/my-app/manifest.json",
    "/app/My_App/manifest.json",
    "/static/app.js",
    "/font.woff2",
    "/api/v2/status",
    "/api/v2/status/",
    "/en/docs/x",
    "/fr/docs/x",
    "/a/a/",
    "/a/b/",
    "/items/12345",
    "/items/123456",
    "/abc/public",
    "/aab",
    "/ab",
    "/aaab",
    "/x/1/2/y",
    "/foo/",
    "/bar",
    "/café/",
    "/caf%C3%A9/",
    "/ünï/",
    "/.well-known/openid-configuration",
    "/api/internal/public",
    "/api/v1/public",
    "/?q=/public/",
    "/x",
    "/x\ny",
    "/x\n",
    "/health\n",
    "/xy",
    "/b",
    "/c",
    "http://app.company/public/x",
    "https://app.company/public/",
    "http://a.company/static/x",
    "http://evil.example/?u=app.company/public/",
];

/// Python's answers: `[[re.search(p, s) is not None for s in subjects] or null for p]`,
/// `null` for a pattern Python refuses.
fn python_answers() -> Vec<Option<Vec<bool>>> {
    const ORACLE: &str = r#"
import json, re, sys
q = json.load(sys.stdin)
out = []
for p in q["patterns"]:
    try:
        r = re.compile(p)
    except re.error:
        out.append(None)
        continue
    out.append([r.search(s) is not None for s in q["subjects"]])
json.dump(out, sys.stdout)
"#;
    let mut child = Command::new("python3")
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/setup installs it)");
    let query = json!({ "patterns": PATTERNS, "subjects": SUBJECTS });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(query.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 failed");
    let answers: Value = serde_json::from_slice(&out.stdout).unwrap();
    answers
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .map(|r| r.iter().map(|b| b.as_bool().unwrap()).collect())
        })
        .collect()
}

#[test]
fn every_pattern_python_accepts_compiles_and_matches_as_in_python() {
    let answers = python_answers();
    let mut differences = Vec::new();
    let mut pairs = 0;
    for (pattern, expected) in PATTERNS.iter().zip(answers) {
        let expected =
            expected.unwrap_or_else(|| panic!("python refuses {pattern:?}: fix the corpus"));
        let compiled = SkipPaths::compile(pattern)
            .unwrap_or_else(|e| panic!("{pattern:?} compiles in Python, not here: {e}"))
            .expect("not empty");
        let mut set = SkipPaths::default();
        set.push(compiled);
        for (subject, python) in SUBJECTS.iter().zip(expected) {
            pairs += 1;
            let ours = set.matches(subject.as_bytes());
            let stricter_dollar =
                python && !ours && subject.ends_with('\n') && pattern.contains('$');
            if ours != python && !stricter_dollar {
                differences.push(format!("{pattern:?} on {subject:?}: python {python}"));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {pairs} answers differ from Python:\n{}",
        differences.len(),
        differences.join("\n")
    );
    eprintln!(
        "{} patterns x {} subjects: {pairs} answers as in Python",
        PATTERNS.len(),
        SUBJECTS.len()
    );
}

#[test]
fn patterns_python_refuses_are_refused() {
    // fancy-regex accepts a little more than Python: `a{2,1}` (read as `a{1,2}`),
    // variable-width look-behind (`(?<=a+)b`), a back-reference before its group
    // (`\1(a)`, which never matches), a group name used twice. A pattern written for
    // authentik has none of them: authentik's Python would refuse it.
    for pattern in [r"^/(unclosed", r"^/(?<!", r"^/[z-a]"] {
        let answers = {
            let out = Command::new("python3")
                .args([
                    "-c",
                    "import re,sys\ntry:\n re.compile(sys.argv[1]); print('ok')\nexcept re.error: print('error')",
                    pattern,
                ])
                .output()
                .expect("python3");
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(answers.trim(), "error", "python accepts {pattern:?}");
        assert!(
            SkipPaths::compile(pattern).is_err(),
            "{pattern:?} is refused by Python, accepted here"
        );
    }
}
