//! README.md matches the code: every directive the module registers (src/directives.rs) has a
//! `Syntax:` entry and every provider setting (core/src/conf/provider.rs) a table row, and the
//! reference names nothing the code lacks; the documented defaults and bounds are the code's.

use std::collections::BTreeSet;

use authentik_core::conf::{DEFAULT_CACHE_BYTES, DEFAULT_CACHE_ENTRIES};
use authentik_core::login::{LOGIN_STATE_BUDGET, MAX_LOGIN_STATES};
use authentik_core::provider::DEFAULT_SCOPES;
use authentik_core::redirect::MAX_RETURN_URL;

fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The quoted names in `text` after each `marker` (`ngx_string!("NAME")`, `"NAME",`).
fn quoted_after(text: &str, marker: &str) -> BTreeSet<String> {
    text.match_indices(marker)
        .filter_map(|(i, _)| {
            let rest = &text[i + marker.len()..];
            rest.split('"').next().map(str::to_string)
        })
        .collect()
}

fn registered_directives() -> BTreeSet<String> {
    quoted_after(&repo_file("src/directives.rs"), "ngx_string!(\"")
}

fn provider_settings() -> BTreeSet<String> {
    let source = repo_file("core/src/conf/provider.rs");
    let start = source.find("const SETTINGS").expect("the SETTINGS list");
    let list = &source[start..start + source[start..].find("];").unwrap()];
    list.lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
        .filter(|name| *name != "authentik_provider")
        .map(str::to_string)
        .collect()
}

/// The README between two headings.
fn section<'a>(readme: &'a str, from: &str, to: &str) -> &'a str {
    let start = readme.find(from).unwrap_or_else(|| panic!("no {from:?}"));
    let end = start
        + readme[start..]
            .find(to)
            .unwrap_or_else(|| panic!("no {to:?}"));
    &readme[start..end]
}

#[test]
fn every_directive_has_a_syntax_entry_and_every_entry_a_directive() {
    let readme = repo_file("README.md");
    let documented: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("Syntax:"))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|name| name.trim_end_matches(';').to_string())
        .collect();
    let registered = registered_directives();
    assert!(registered.len() >= 10, "{registered:?}");
    let missing: Vec<_> = registered.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "directives without a Syntax entry: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "Syntax entries the module lacks: {unknown:?}"
    );
}

#[test]
fn every_provider_setting_has_a_row_and_every_row_a_setting() {
    let readme = repo_file("README.md");
    let table = section(
        &readme,
        "### `authentik_provider`",
        "### Directives for http, server and location",
    );
    let rows: BTreeSet<String> = table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let cell = l.split(" | ").next().unwrap_or_default();
            cell.split('`')
                .skip(1)
                .step_by(2)
                .filter_map(|code| code.split([' ', ';']).next())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let settings = provider_settings();
    assert!(settings.len() >= 25, "{settings:?}");
    let missing: Vec<_> = settings.difference(&rows).collect();
    let unknown: Vec<_> = rows.difference(&settings).collect();
    assert!(
        missing.is_empty(),
        "provider settings without a row: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "rows for settings the code lacks: {unknown:?}"
    );
}

#[test]
fn documented_defaults_and_bounds_are_the_codes() {
    let readme = repo_file("README.md");
    let cache = format!(
        "Default: authentik_cache {DEFAULT_CACHE_ENTRIES} {}m;",
        DEFAULT_CACHE_BYTES >> 20
    );
    assert!(readme.contains(&cache), "README lacks {cache:?}");
    let scopes = format!("| `scopes SCOPE ...;` | `{DEFAULT_SCOPES}` |");
    assert!(readme.contains(&scopes), "README lacks {scopes:?}");
    let states = format!(
        "A browser keeps at most {MAX_LOGIN_STATES} of them, {} bytes together",
        thousands(LOGIN_STATE_BUDGET)
    );
    let flat = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&states), "README lacks {states:?}");
    let rd = format!("kept whole up to {} bytes", thousands(MAX_RETURN_URL));
    assert!(flat.contains(&rd), "README lacks {rd:?}");
    let security = repo_file("SECURITY.md");
    let flat = security.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        format!("at most **{MAX_LOGIN_STATES}** login states"),
        format!("at most **{} bytes**", thousands(LOGIN_STATE_BUDGET)),
        format!(
            "at most {} bytes (`MAX_RETURN_URL`)",
            thousands(MAX_RETURN_URL)
        ),
    ] {
        assert!(flat.contains(&needle), "SECURITY.md lacks {needle:?}");
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
