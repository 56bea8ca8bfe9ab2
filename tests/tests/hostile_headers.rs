//! Headers a client or a token must not control (docs/architecture.md §3; issue "Hostile-client
//! findings" 2 and 4, part 2 items 3 and 8).
//!
//! * Client-sent `X-authentik-*` headers (separators `-`, `_`, `.`, any case) are removed in
//!   every location once any `authentik_provider` exists, also in servers and locations
//!   without any `authentik` directive, unless `authentik_strip_identity_headers off`.
//! * `ak_proxy.user_attributes.additionalHeaders` cannot set the request's framing, host,
//!   cookies, credentials, hop-by-hop or forwarding headers, or identity headers, neither
//!   through `proxy_pass` nor through `fastcgi_pass`, where nginx hands every header to the
//!   application as an `HTTP_*` param.
//! * What nginx itself logs at `info` when a client sends `Authorization` twice.

use authentik_integration::fastcgi::{FastCgi, Params};
use authentik_integration::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

/// Every spelling of a client identity header nginx can be made to pass on.
const SPOOFS: &[(&str, &str)] = &[
    ("X-authentik-username", "evil"),
    ("X_authentik_username", "evil"),
    ("X.authentik.username", "evil"),
    ("x-AUTHENTIK-groups", "evil"),
    ("X_Authentik_Groups", "evil"),
    ("x.Authentik_EMAIL", "evil@evil"),
    ("X-authentik-uid", "evil-1"),
    ("X-authentik-uid", "evil-2"),
    ("X-authentik-jwt", "evil"),
    ("X-AUTHENTIK-META-APP", "evil"),
    ("X-Authentik-Something-Else", "evil"),
];

/// Headers that look alike but are not identity headers: they pass.
const KEPT: &[(&str, &str)] = &[
    ("X-Other_Header", "kept"),
    ("X.Other.Header", "kept"),
    ("X-authentikusername", "kept"),
];

fn spoofed(path: &str, host: &str) -> Request {
    SPOOFS
        .iter()
        .chain(KEPT)
        .fold(Request::get(path).header("Host", host), |r, (n, v)| {
            r.header(n, v)
        })
}

/// A name read the way applications read it: lower case, `_` and `.` as `-`.
fn normalised(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// Client-sent identity headers that reached the upstream (by value: only the module's own
/// values are allowed).
fn leaked(up: &Seen) -> Vec<(String, String)> {
    up.headers
        .iter()
        .filter(|(n, v)| {
            normalised(n).starts_with("x-authentik-")
                && (v.starts_with("evil") || n.contains(['_', '.']))
        })
        .cloned()
        .collect()
}

fn identity_headers(up: &Seen) -> Vec<(String, String)> {
    up.headers
        .iter()
        .filter(|(n, _)| normalised(n).starts_with("x-authentik-"))
        .cloned()
        .collect()
}

fn assert_kept(up: &Seen, what: &str) {
    for (name, value) in KEPT {
        assert_eq!(up.all(name), vec![*value], "{what}: {name} must pass");
    }
}

/// One provider, a protected server, and a server with no `authentik` directive anywhere in
/// its configuration. nginx passes underscore and dotted names on (the settings below), so
/// only the module can remove them. `extra_http` goes at the http level.
fn two_servers(extra_http: &str, unprotected_server: &str) -> Nginx {
    let http = format!(
        "underscores_in_headers on;\nignore_invalid_headers off;\n{extra_http}\n{}",
        provider("app", "skip_path ^/public/;")
    ) + &server(
        r#"
    authentik app;
    location / { @PROXY@ }
    location /health { authentik off; @PROXY@ }
"#,
    ) + &format!(
        "server {{\n\
         listen 127.0.0.1:@PORT@;\n\
         server_name other.test;\n\
         {unprotected_server}\n\
         }}\n"
    );
    assert_eq!(
        http.matches("authentik ").count(),
        2,
        "the second server has no authentik directive"
    );
    Conf::new(http).start()
}

const PLAIN_SERVER: &str = r#"
    location / { @PROXY@ }
    location /nested/ { location /nested/deeper/ { @PROXY@ } }
"#;

#[test]
fn client_identity_headers_are_stripped_in_a_server_without_any_authentik_directive() {
    let ng = two_servers("", PLAIN_SERVER);
    for path in ["/", "/x?y=1", "/nested/deeper/z"] {
        let r = ng.send(&spoofed(path, "other.test"));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let up = r.upstream();
        assert!(
            identity_headers(&up).is_empty(),
            "{path}: {:?}",
            identity_headers(&up)
        );
        assert_kept(&up, path);
    }
}

#[test]
fn client_identity_headers_are_stripped_in_every_location_of_a_protected_server() {
    let ng = two_servers("", PLAIN_SERVER);
    let session = session(&token());
    for (what, req) in [
        ("authentik off", spoofed("/health", "localhost")),
        (
            "authentik off, logged in",
            spoofed("/health", "localhost").cookies(&session),
        ),
        ("skip_path", spoofed("/public/x", "localhost")),
        ("logged in", spoofed("/", "localhost").cookies(&session)),
        (
            "skip_path, logged in",
            spoofed("/public/x", "localhost").cookies(&session),
        ),
    ] {
        let r = ng.send(&req);
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        let up = r.upstream();
        assert!(leaked(&up).is_empty(), "{what}: {:?}", leaked(&up));
        assert_kept(&up, what);
        if what.ends_with("logged in") && !what.starts_with("authentik off") {
            assert_eq!(up.one("X-authentik-username"), "akadmin", "{what}");
            assert_eq!(up.one("X-authentik-uid"), SUB, "{what}");
            assert_eq!(identity_headers(&up).len(), 12, "{what}");
        } else {
            assert!(identity_headers(&up).is_empty(), "{what}");
        }
    }
    // Never an identity from the spoofed headers alone.
    let r = ng.send(&spoofed("/", "localhost"));
    assert_eq!(r.status, 401, "{}", r.text());
}

#[test]
fn strip_identity_headers_off_at_the_http_level_passes_them_everywhere_unprotected() {
    let ng = two_servers("authentik_strip_identity_headers off;", PLAIN_SERVER);
    for (path, host) in [("/", "other.test"), ("/health", "localhost")] {
        let r = ng.send(&spoofed(path, host));
        assert_eq!(r.status, 200, "{host}{path}: {}", r.text());
        let up = r.upstream();
        assert_eq!(up.all("X.authentik.username"), vec!["evil"], "{host}{path}");
        assert_eq!(up.all("X_authentik_username"), vec!["evil"], "{host}{path}");
        assert_eq!(up.all("X-authentik-uid"), vec!["evil-1", "evil-2"]);
    }
}

#[test]
fn strip_identity_headers_off_in_one_server_or_location_only() {
    let ng = two_servers(
        "",
        r#"
    authentik_strip_identity_headers off;
    location / { @PROXY@ }
    location /strict/ { authentik_strip_identity_headers on; @PROXY@ }
"#,
    );
    let r = ng.send(&spoofed("/", "other.test"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().all("X-authentik-username"), vec!["evil"]);
    let r = ng.send(&spoofed("/strict/", "other.test"));
    assert!(identity_headers(&r.upstream()).is_empty());
    // The protected server still strips.
    let r = ng.send(&spoofed("/health", "localhost"));
    assert!(identity_headers(&r.upstream()).is_empty());

    // Off in one location of the protected server.
    let http = format!("underscores_in_headers on;\n{}", provider("app", ""))
        + &server(
            r#"
    authentik app;
    location / { @PROXY@ }
    location /legacy/ { authentik off; authentik_strip_identity_headers off; @PROXY@ }
"#,
        );
    let ng = Conf::new(http).start();
    let r = ng.send(&spoofed("/legacy/", "localhost"));
    assert_eq!(r.upstream().all("X_authentik_username"), vec!["evil"]);
    let r = ng.send(&spoofed("/", "localhost").cookies(&session(&token())));
    let up = r.upstream();
    assert!(leaked(&up).is_empty(), "{:?}", leaked(&up));
}

/// Off in a protected location: an authenticated request's identity headers are the module's
/// alone (never a client copy next to them, which a first-wins upstream would read); what
/// passes without identity (skip_path, `authentik_set_headers off`) keeps the client's.
#[test]
fn strip_identity_headers_off_never_lets_a_client_copy_join_the_modules_headers() {
    let http = format!(
        "underscores_in_headers on;\n{}",
        provider("app", "skip_path ^/public/;")
    ) + &server(
        r#"
    authentik app;
    authentik_strip_identity_headers off;
    location / { @PROXY@ }
    location /raw/ { authentik_set_headers off; @PROXY@ }
"#,
    );
    let ng = Conf::new(http).start();
    for req in [
        spoofed("/x", "localhost").cookies(&session(&token())),
        spoofed("/x", "localhost").bearer(&token()),
    ] {
        let r = ng.send(&req);
        assert_eq!(r.status, 200, "{}", r.text());
        let up = r.upstream();
        assert!(leaked(&up).is_empty(), "{:?}", leaked(&up));
        assert_eq!(up.all("X-authentik-username"), vec!["akadmin"]);
        assert_eq!(up.all("X-authentik-uid"), vec![SUB]);
    }
    let r = ng.send(&spoofed("/public/x", "localhost"));
    assert_eq!(r.authentik_status(), "skipped");
    assert_eq!(r.upstream().all("X_authentik_username"), vec!["evil"]);
    let r = ng.send(&spoofed("/raw/x", "localhost").cookies(&session(&token())));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream().all("X-authentik-uid"),
        vec!["evil-1", "evil-2"]
    );
}

#[test]
fn without_any_authentik_provider_the_module_changes_nothing() {
    let http = "underscores_in_headers on;\n".to_string() + &server("location / { @PROXY@ }");
    let ng = Conf::new(http).start();
    let r = ng.send(&spoofed("/", "localhost"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().all("X_authentik_username"), vec!["evil"]);
}

// ---------------------------------------------------------------------------------------------
// additionalHeaders
// ---------------------------------------------------------------------------------------------

/// `additionalHeaders` entries a token may not set, with hostile values.
fn refused_entries() -> Value {
    json!({
        "Host": "evil.test",
        "Cookie": "evil=from-the-token",
        "Authorization": "Basic ZXZpbDpldmls",
        "Content-Length": "5",
        "Transfer-Encoding": "chunked",
        "Connection": "close, X-Kept",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Trailer": "X-Evil",
        "Upgrade": "websocket",
        "Proxy-Authorization": "Basic ZXZpbDpldmls",
        "Proxy-Connection": "keep-alive",
        "Forwarded": "for=6.6.6.6",
        "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Host": "evil.test",
        "X-Forwarded-Proto": "https",
        "X-Real-IP": "6.6.6.6",
        "X-authentik-username": "evil",
        "x-AUTHENTIK-groups": "evil",
        "X.authentik.email": "evil@evil",
    })
}

fn hostile_token(extra: Value) -> String {
    let mut c = claims();
    let mut headers = refused_entries();
    for (k, v) in extra.as_object().expect("object") {
        headers[k] = v.clone();
    }
    headers["X-Foo"] = json!("bar");
    headers["X-Crlf"] = json!("a\r\nX-Injected: 1\r\n\r\nGET /evil HTTP/1.1");
    c["ak_proxy"]["user_attributes"]["additionalHeaders"] = headers;
    hs256(&c)
}

const BASIC: &str =
    "basic_auth_user_attribute basic_user; basic_auth_password_attribute basic_password;";

fn refused_log_lines(ng: &Nginx) -> Vec<String> {
    ng.error_log()
        .lines()
        .filter(|l| l.contains("additionalHeaders not set upstream: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn additional_headers_cannot_set_refused_names_through_proxy_pass() {
    let http = provider("app", BASIC)
        + &server(
            r#"
    authentik app;
    location / { proxy_set_header X-Client-Host $http_host; @PROXY@ }
"#,
        );
    let ng = Conf::new(http).start();
    let jwt = hostile_token(json!({}));
    let mut cookies = session(&jwt);
    cookies.push(("theme".into(), "dark".into()));
    let r = ng.send(
        &Request::get("/page")
            .header("Host", "app.company")
            .cookies(&cookies),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    // The client's own Host and Cookie, once each.
    assert_eq!(up.one("X-Client-Host"), "app.company");
    assert_eq!(up.all("Host").len(), 1, "{:?}", up.all("Host"));
    assert_ne!(up.one("Host"), "evil.test");
    assert_eq!(up.one("Cookie"), cookie_header(&cookies));
    // The module's own Basic header, never the token's.
    assert_eq!(
        up.one("Authorization"),
        format!("Basic {}", STANDARD.encode("akadmin:s3cret"))
    );
    for name in [
        "Content-Length",
        "Transfer-Encoding",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Upgrade",
        "Proxy-Authorization",
        "Proxy-Connection",
        "Forwarded",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "X-Real-IP",
    ] {
        assert!(
            !up.has(name),
            "{name} reached the upstream: {:?}",
            up.all(name)
        );
    }
    assert_eq!(up.all("Connection"), vec!["close"], "nginx's own");
    assert!(leaked(&up).is_empty(), "{:?}", leaked(&up));
    assert_eq!(up.one("X-authentik-username"), "akadmin");
    assert_eq!(up.one("X-authentik-groups"), "authentik Admins|users");
    assert_eq!(up.one("X-authentik-email"), "admin@authentik.company");
    // What is allowed still passes; CR and LF became spaces.
    assert_eq!(up.one("X-Foo"), "bar");
    assert_eq!(up.one("X-Crlf"), "a  X-Injected: 1    GET /evil HTTP/1.1");
    assert!(!up.has("X-Injected"));
    assert_eq!(up.method, "GET");
    assert_eq!(up.uri, "/page");
    assert_eq!(ng.upstream_count(), 1, "no smuggled second request");

    let lines = refused_log_lines(&ng);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("[info]"), "{}", lines[0]);
    for name in [
        "Host",
        "Cookie",
        "Authorization",
        "Transfer-Encoding",
        "X-Real-IP",
    ] {
        assert!(lines[0].contains(name), "{name} not named in {}", lines[0]);
    }
}

/// Logged when the token is verified, not again for each request the cache answers: a
/// browser sends the same session cookie every time.
#[test]
fn the_refused_additional_headers_are_logged_once_per_token() {
    let ng =
        Conf::new(provider("app", "") + &server("authentik app; location / { @PROXY@ }")).start();
    let jwt = hostile_token(json!({}));
    let cookies = session(&jwt);
    for _ in 0..5 {
        let r = ng.send(&Request::get("/").cookies(&cookies));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let lines = refused_log_lines(&ng);
    assert_eq!(
        lines.len(),
        1,
        "5 requests, one session:\n{}",
        lines.join("\n")
    );
    for _ in 0..3 {
        let r = ng.send(&Request::get("/").bearer(&jwt));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let lines = refused_log_lines(&ng);
    assert_eq!(
        lines.len(),
        2,
        "then 3 as a bearer token:\n{}",
        lines.join("\n")
    );
}

fn fastcgi_site(fcgi: &FastCgi, extra_provider: &str) -> Nginx {
    let http = provider("app", extra_provider)
        + &server(&format!(
            "underscores_in_headers on;\nauthentik app;\nlocation / {{\n{}\n}}\n",
            fcgi.pass()
        ));
    Conf::new(http).start()
}

#[test]
fn additional_headers_cannot_set_refused_names_through_fastcgi() {
    let fcgi = FastCgi::start();
    let ng = fastcgi_site(&fcgi, BASIC);
    let jwt = hostile_token(json!({}));
    let mut cookies = session(&jwt);
    cookies.push(("theme".into(), "dark".into()));
    let r = ng.send(
        &Request::get("/index.php?a=1")
            .header("Host", "app.company")
            .cookies(&cookies),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let p = Params::of(&r);
    assert_eq!(p.one("HTTP_HOST"), "app.company");
    assert_eq!(p.one("HTTP_COOKIE"), cookie_header(&cookies));
    assert_eq!(
        p.one("HTTP_AUTHORIZATION"),
        format!("Basic {}", STANDARD.encode("akadmin:s3cret"))
    );
    for name in [
        "HTTP_CONTENT_LENGTH",
        "HTTP_TRANSFER_ENCODING",
        "HTTP_KEEP_ALIVE",
        "HTTP_TE",
        "HTTP_TRAILER",
        "HTTP_UPGRADE",
        "HTTP_PROXY_AUTHORIZATION",
        "HTTP_PROXY_CONNECTION",
        "HTTP_FORWARDED",
        "HTTP_X_FORWARDED_FOR",
        "HTTP_X_FORWARDED_HOST",
        "HTTP_X_FORWARDED_PROTO",
        "HTTP_X_REAL_IP",
    ] {
        assert!(!p.has(name), "the app sees {name}: {:?}", p.all(name));
    }
    // The client's own Connection header (the raw client sends `close`), not the token's.
    assert_eq!(p.all("HTTP_CONNECTION"), vec!["close"]);
    assert_eq!(p.one("CONTENT_LENGTH"), "");
    assert_eq!(p.one("REQUEST_METHOD"), "GET");
    assert_eq!(p.one("REQUEST_URI"), "/index.php?a=1");
    assert_eq!(p.one("HTTP_X_AUTHENTIK_USERNAME"), "akadmin");
    assert_eq!(p.one("HTTP_X_AUTHENTIK_GROUPS"), "authentik Admins|users");
    assert_eq!(p.one("HTTP_X_AUTHENTIK_EMAIL"), "admin@authentik.company");
    assert_eq!(p.one("HTTP_X_FOO"), "bar");
    assert_eq!(
        p.one("HTTP_X_CRLF"),
        "a  X-Injected: 1    GET /evil HTTP/1.1"
    );
    assert!(!p.has("HTTP_X_INJECTED"));

    // Without Basic configured, the token's Authorization is still refused, and a client's own
    // Authorization header passes unchanged.
    let ng = fastcgi_site(&fcgi, "");
    let r = ng.send(
        &Request::get("/")
            .cookies(&session(&jwt))
            .header("Authorization", "Basic Y2xpZW50OmNsaWVudA=="),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let p = Params::of(&r);
    assert_eq!(p.one("HTTP_AUTHORIZATION"), "Basic Y2xpZW50OmNsaWVudA==");
    assert_eq!(p.one("HTTP_HOST"), "localhost");
}

/// nginx hands header names with dots to a FastCGI application as they are
/// (`HTTP_X.FORWARDED.FOR`), and PHP registers them with `.` read as `_`
/// (`$_SERVER['HTTP_X_FORWARDED_FOR']`): a dotted spelling of a refused name is the refused
/// header to the application, as `X.authentik.username` is an identity header.
#[test]
fn dotted_spellings_of_refused_additional_headers_never_reach_a_fastcgi_app() {
    let fcgi = FastCgi::start();
    let ng = fastcgi_site(&fcgi, "");
    let jwt = hostile_token(json!({
        "X.Forwarded.For": "6.6.6.6",
        "X-Forwarded.Host": "evil.test",
        "X.Real.IP": "6.6.6.6",
        "Proxy.Authorization": "Basic ZXZpbDpldmls",
        "Content.Length": "5",
        "Transfer.Encoding": "chunked",
    }));
    let r = ng.send(&Request::get("/").cookies(&session(&jwt)));
    assert_eq!(r.status, 200, "{}", r.text());
    let p = Params::of(&r);
    let seen: Vec<(&str, &str)> = [
        "HTTP_X_FORWARDED_FOR",
        "HTTP_X_FORWARDED_HOST",
        "HTTP_X_REAL_IP",
        "HTTP_PROXY_AUTHORIZATION",
        "HTTP_CONTENT_LENGTH",
        "HTTP_TRANSFER_ENCODING",
    ]
    .into_iter()
    .flat_map(|n| p.all(n).into_iter().map(move |v| (n, v)))
    .collect();
    assert!(
        seen.is_empty(),
        "a PHP application reads these from the token: {seen:?}\nparams: {:#?}",
        p.0
    );
}

// ---------------------------------------------------------------------------------------------
// what nginx logs
// ---------------------------------------------------------------------------------------------

/// SECURITY.md §11: nginx core, not the module, quotes a repeated `Authorization` header at
/// `info`, with the credential in it. The request is refused with 400 before the module runs.
#[test]
fn nginx_quotes_a_repeated_authorization_header_at_info() {
    let ng =
        Conf::new(provider("app", "") + &server("authentik app; location / { @PROXY@ }")).start();
    let first = token();
    let second = "second-credential-sent-twice";
    let r = ng.send(
        &Request::get("/")
            .bearer(&first)
            .header("Authorization", format!("Bearer {second}")),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(ng.upstream_count(), 0);
    let log = ng.error_log();
    let line = log
        .lines()
        .find(|l| l.contains("client sent duplicate header line"))
        .unwrap_or_else(|| panic!("no duplicate-header line at info:\n{log}"));
    assert!(line.contains("[info]"), "{line}");
    assert!(
        line.contains(second) && line.contains(&first),
        "nginx quotes both values: {line}"
    );
    assert!(
        !line.contains("authentik:"),
        "a core line, not the module's"
    );
}
