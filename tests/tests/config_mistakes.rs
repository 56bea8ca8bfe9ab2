//! Each configuration mistake of issue "A fresh Debian 12 runs the README's two commands"
//! (item 4) fails `nginx -t` with the directive's name and ` in <file>:<line>`; the warning
//! cases pass with a `[warn]` line; times use nginx's own syntax (docs/architecture.md §2).

use authentik_integration::*;

/// The standard provider with `from` replaced by `to`.
fn provider_replacing(from: &str, to: &str) -> String {
    let p = provider("app", "");
    assert!(p.contains(from), "{from:?} not in the provider block");
    p.replace(from, to)
}

fn with_site(provider_block: String) -> String {
    provider_block + &server("authentik app; location / { @PROXY@ }")
}

#[test]
fn cookie_domain_with_separators_spaces_or_control_characters() {
    // Pasted into Set-Cookie: `;` would add attributes, a space or a control byte would break
    // the header.
    for value in [
        "company;",
        "company; Secure",
        "com pany",
        "company\u{7}",
        "company\t",
        "company,evil",
    ] {
        let line = format!("cookie_domain \"{value}\";");
        let t = nginx_t(&with_site(provider("app", &format!("mode domain; {line}"))));
        t.assert_error_at("invalid cookie_domain", &line);
    }
}

#[test]
fn end_session_and_authorize_urls_must_be_absolute_http_urls() {
    for directive in ["end_session_url", "authorize_url"] {
        for value in [
            "foo",
            "javascript:alert(1)",
            "/application/o/authorize/",
            "ftp://authentik.company/x",
            "https://",
            "https://user@authentik.company/x",
        ] {
            let line = format!("{directive} \"{value}\";");
            let t = nginx_t(&with_site(provider("app", &line)));
            t.assert_error_at(
                &format!("\"{directive}\" must be an absolute http or https URL"),
                &line,
            );
        }
        let line = format!("{directive} https://authentik.company/x/;");
        nginx_t(&with_site(provider("app", &line))).assert_ok();
    }
}

#[test]
fn external_host_with_a_path_query_or_fragment() {
    for value in [
        "http://app.company/app",
        "http://app.company/app/",
        "http://app.company?x=1",
        "http://app.company/#f",
    ] {
        let line = format!("external_host \"{value}\";");
        let t = nginx_t(&with_site(provider_replacing(
            &format!("external_host {EXTERNAL_HOST};"),
            &line,
        )));
        t.assert_error_at("\"external_host\" must be an origin", &line);
    }
    // A trailing slash alone is the origin.
    nginx_t(&with_site(provider_replacing(
        &format!("external_host {EXTERNAL_HOST};"),
        "external_host http://app.company/;",
    )))
    .assert_ok();
}

#[test]
fn domain_mode_with_external_host_outside_cookie_domain() {
    for domain in ["other.tld", "pany", "app.company.evil"] {
        let t = nginx_t(&with_site(provider(
            "app",
            &format!("mode domain; cookie_domain {domain};"),
        )));
        t.assert_error(&format!(
            "external_host \"{EXTERNAL_HOST}\" is outside cookie_domain \"{domain}\""
        ));
    }
    for domain in ["company", ".company", "app.company"] {
        let t = nginx_t(&with_site(provider(
            "app",
            &format!("mode domain; cookie_domain {domain};"),
        )));
        t.assert_ok();
    }
}

#[test]
fn cookie_domain_in_single_mode_is_a_warning() {
    let t = nginx_t(&with_site(provider("app", "cookie_domain company;")));
    t.assert_ok();
    let warning = t
        .stderr
        .lines()
        .find(|l| l.contains("cookie_domain \"company\" is ignored in single mode"))
        .unwrap_or_else(|| panic!("no warning:\n{}", t.stderr));
    assert!(warning.contains("[warn]"), "{warning}");
    assert!(
        warning.contains(&format!(" in {}:", t.conf_path.display())),
        "{warning}"
    );
}

#[test]
fn an_issuer_without_its_trailing_slash_names_the_fix() {
    let bare = ISSUER.trim_end_matches('/');
    let line = format!("issuer {bare};");
    let t = nginx_t(&with_site(provider_replacing(
        &format!("issuer {ISSUER};"),
        &line,
    )));
    t.assert_error_at("\"issuer\" must end with \"/\"", &line);
    assert!(
        t.stderr.contains(&format!("use \"{ISSUER}\"")),
        "{}",
        t.stderr
    );
}

#[test]
fn an_hs_client_secret_shorter_than_its_hash() {
    // RFC 7518 §3.2: an HMAC key at least as long as the hash output.
    for (algorithms, len, needed) in [
        ("", 31, 32),
        ("algorithms HS384;", 47, 48),
        ("algorithms HS256 HS512;", 63, 64),
    ] {
        let short = "s".repeat(len);
        let t = nginx_t(&with_site(
            provider_replacing(
                &format!("client_secret {CLIENT_SECRET};"),
                &format!("client_secret {short};"),
            )
            .replace("}\n", &format!("{algorithms}\n}}\n")),
        ));
        t.assert_error(&format!(
            "the client secret has {len} bytes, but HS{} needs at least {needed} (RFC 7518 §3.2)",
            needed * 8
        ));
    }
    let exact = "s".repeat(32);
    nginx_t(&with_site(provider_replacing(
        &format!("client_secret {CLIENT_SECRET};"),
        &format!("client_secret {exact};"),
    )))
    .assert_ok();
}

#[test]
fn an_empty_require_group() {
    let t = nginx_t(
        &(provider("app", "")
            + &server("authentik app;\nlocation / {\nauthentik_require_group \"\";\n@PROXY@ }")),
    );
    t.assert_error_at(
        "authentik_require_group \"\" names no group",
        "authentik_require_group \"\";",
    );
}

#[test]
fn a_token_request_that_names_no_location() {
    let t = nginx_t(&with_site(provider("app", "token_request /_nowhere;")));
    t.assert_error_at(
        "token_request \"/_nowhere\" names no location",
        "token_request /_nowhere;",
    );
    let t = nginx_t(
        &(provider("app", "token_request /_t;")
            + &server("authentik app;\nlocation / { @PROXY@ }\nlocation = /_t { internal; proxy_pass http://127.0.0.1:9/; }")),
    );
    t.assert_ok();
}

#[test]
fn leeway_has_an_upper_bound_and_times_use_nginx_syntax() {
    for value in ["301s", "6m", "1h", "1d", "4w"] {
        let line = format!("leeway {value};");
        let t = nginx_t(&with_site(provider("app", &line)));
        t.assert_error_at("leeway", &line);
        assert!(t.stderr.contains("is more than 300s"), "{}", t.stderr);
    }
    for line in ["leeway 1m30s;", "leeway 300s;", "leeway 5m;", "leeway 0;"] {
        nginx_t(&with_site(provider("app", line))).assert_ok();
    }
    nginx_t(&with_site(provider("app", "refresh_interval 1m30s;"))).assert_ok();
    let t = nginx_t(&with_site(provider("app", "leeway 99999999999999999999;")));
    t.assert_error_at("invalid leeway", "leeway 9999");
}
