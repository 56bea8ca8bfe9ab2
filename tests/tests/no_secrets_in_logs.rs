//! Tokens and secrets never appear in the module's log lines, at any level, nor in any
//! non-debug line or the access log (SECURITY.md, "Logs").
//!
//! A full login against the real IdP, logins that fail at every step after the code exchange,
//! then cookie, bearer and Basic (app password) requests, valid and invalid, with
//! `error_log … debug`. The logs are
//! then searched for the client secret, the cookie secret, every sealed session value, the
//! raw access token, and any JWT signed by the IdP (which catches the id_token and the access
//! token wherever they appear).
//!
//! What this does not cover, on purpose: nginx's own debug lines print request and upstream
//! headers (`http header: "Cookie: …"`, `http proxy header: … X-authentik-jwt: …`) and the
//! code-exchange body (`client_secret=…`, and an app-password exchange's `password=…`). That is nginx core, not the module; debug logging
//! must not be enabled in production. The test counts those lines and prints the count.

use authentik_integration::idp::Idp;
use authentik_integration::navigate::Browser;
use authentik_integration::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

/// A cookie secret only this test uses (48 bytes).
const TEST_COOKIE_SECRET: &str = "nS3cr3tC00k13-K3y-f0r-th3-l0g-t3st-0nly-4812345";

/// One log entry: its first line and any continuation lines (a debug entry such as
/// `http proxy header:` spans several lines).
struct Entry {
    file: &'static str,
    level: String,
    text: String,
}

fn entries(file: &'static str, log: &str) -> Vec<Entry> {
    let starts_entry = |l: &str| {
        let b = l.as_bytes();
        b.len() > 21
            && b[4] == b'/'
            && b[7] == b'/'
            && b[10] == b' '
            && b[19] == b' '
            && b[20] == b'['
    };
    let mut out: Vec<Entry> = Vec::new();
    for line in log.lines() {
        if starts_entry(line) || out.is_empty() {
            let level = line
                .get(21..)
                .and_then(|rest| rest.split(']').next())
                .unwrap_or("")
                .to_string();
            out.push(Entry {
                file,
                level,
                text: line.to_string(),
            });
        } else if let Some(last) = out.last_mut() {
            last.text.push('\n');
            last.text.push_str(line);
        }
    }
    out
}

/// A line the module wrote: `… [level] pid#tid: [*conn ]authentik: …`.
fn is_module_entry(e: &Entry) -> bool {
    let first = e.text.lines().next().unwrap_or("");
    let Some(after) = first.split_once("]").map(|(_, r)| r) else {
        return false;
    };
    let after = after.trim_start();
    let Some((_, msg)) = after.split_once(": ") else {
        return false;
    };
    let msg = match msg.strip_prefix('*') {
        Some(m) => m.split_once(' ').map(|(_, r)| r).unwrap_or(""),
        None => msg,
    };
    msg.starts_with("authentik: ")
}

/// Every substring that looks like a compact JWS (`eyJ….….…`).
fn jws_in(text: &str) -> Vec<&str> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("eyJ") {
        let candidate = &rest[i..];
        let end = candidate
            .char_indices()
            .find(|&(_, c)| !(is_b64(c) || c == '.'))
            .map_or(candidate.len(), |(j, _)| j);
        let jws = &candidate[..end];
        if jws.split('.').count() == 3 {
            out.push(jws);
        }
        rest = &candidate[3..];
    }
    out
}

fn signed_by(jws: &str, secret: &[u8]) -> bool {
    let Some((input, sig)) = jws.rsplit_once('.') else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, input.as_bytes(), &sig).is_ok()
}

/// The names of the secrets `text` holds: whole, or their first or last 32 characters
/// (nginx cuts long lines), or a JWT signed with the client secret.
fn leaks(text: &str, secrets: &[(String, String)], client_secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (name, secret) in secrets {
        let n = secret.len().min(32);
        if text.contains(secret.as_str())
            || text.contains(&secret[..n])
            || text.contains(&secret[secret.len() - n..])
        {
            found.push(name.clone());
        }
    }
    if jws_in(text)
        .iter()
        .any(|j| signed_by(j, client_secret.as_bytes()))
    {
        found.push("a JWT signed by the IdP".into());
    }
    found
}

#[test]
fn tokens_and_secrets_never_reach_module_or_non_debug_log_lines() {
    let idp = Idp::builder().auto_login("akadmin").start();
    let http = format!(
        r#"
error_log @PREFIX@/logs/debug.log debug;
authentik_provider app {{
    issuer {issuer};
    client_id {client_id};
    client_secret_file @PREFIX@/secrets/client.secret;
    cookie_secret_file @PREFIX@/secrets/cookie.secret;
    external_host http://127.0.0.1:@PORT@;
    token_request /_authentik_token;
}}
{server}"#,
        issuer = idp.issuer,
        client_id = idp.client_id,
        server = server(&format!(
            "authentik app;\n\
             location / {{ @PROXY@ }}\n\
             location /admins/ {{ authentik_require_group nobody-is-in-this-group; @PROXY@ }}\n\
             {}",
            idp.token_location()
        )),
    );
    let ng = Conf::new(http)
        .file("secrets/client.secret", format!("{}\n", idp.client_secret))
        .file("secrets/cookie.secret", format!("{TEST_COOKIE_SECRET}\n"))
        .start();
    let name = default_cookie_name(&idp.client_id);

    // A good login.
    let mut browser = Browser::new(&[ng.port, idp.port]);
    let walk = browser.navigate(&format!("http://127.0.0.1:{}/home", ng.port));
    assert_eq!(walk.last().response.status, 200, "{}", walk.trace());
    let session: Vec<(String, String)> = browser
        .jar
        .named_like(&name)
        .into_iter()
        .filter(|c| !c.name.contains("_login_"))
        .map(|c| (c.name.clone(), c.value.clone()))
        .collect();
    assert!(!session.is_empty(), "no session after the login");
    let r = ng.send(&Request::get("/home").cookies(&session));
    assert_eq!(r.status, 200, "{}", r.text());
    let access_token = r.upstream().one("X-authentik-jwt").to_string();

    // Logins that fail after the code exchange, each with a log line.
    let mut failed_logins = Vec::new();
    for mode in [
        "invalid_grant",
        "server_error",
        "garbage",
        "bad_signature",
        "wrong_key",
        "wrong_issuer",
        "wrong_audience",
        "expired",
        "not_yet_valid",
        "alg_none",
        "nonce_mismatch",
        "opaque_access_token",
    ] {
        idp.token_mode(mode, true);
        let mut b = Browser::new(&[ng.port, idp.port]);
        let walk = b.navigate(&format!("http://127.0.0.1:{}/{mode}", ng.port));
        failed_logins.push(format!("{mode} → {}", walk.last().response.status));
    }

    // Requests with valid and invalid credentials.
    let mut signed = claims();
    signed["iss"] = json!(idp.issuer);
    signed["aud"] = json!(idp.client_id);
    let secret = idp.client_secret.as_bytes();
    let minted = hs256_with(&signed, secret);
    let mut expired = signed.clone();
    expired["exp"] = json!(now() - 3600);
    let expired = hs256_with(&expired, secret);
    let wrong_key = hs256_with(&signed, b"not the secret");
    let tampered_session: Vec<(String, String)> = session
        .iter()
        .map(|(n, v)| (n.clone(), tamper_value(v)))
        .collect();
    let sealed_expired = seal_for(TEST_COOKIE_SECRET.as_bytes(), &name, &expired);
    let basic = |user: &str, password: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    };
    let app_password = idp.app_password("alice");
    let wrong_app_password = "wr0ng-app-passw0rd-f0r-th3-l0g-t3st".to_string();
    let basic_good = basic("alice", &app_password);
    let basic_wrong = basic("bob", &wrong_app_password);
    let basic_token = basic("goauthentik.io/token", &access_token);
    let requests: Vec<(&str, Request, u16)> = vec![
        ("session", Request::get("/a").cookies(&session), 200),
        (
            "session, denied by policy",
            Request::get("/admins/x").cookies(&session),
            403,
        ),
        (
            "tampered session",
            Request::get("/a").cookies(&tampered_session),
            401,
        ),
        (
            "sealed expired token",
            Request::get("/a").cookies(&sealed_expired),
            401,
        ),
        (
            "bearer access token",
            Request::get("/a").bearer(&access_token),
            200,
        ),
        ("bearer minted", Request::get("/a").bearer(&minted), 200),
        ("bearer expired", Request::get("/a").bearer(&expired), 401),
        (
            "bearer wrong key",
            Request::get("/a").bearer(&wrong_key),
            401,
        ),
        (
            "bearer tampered",
            Request::get("/a").bearer(&tamper_value(&minted)),
            401,
        ),
        (
            "bearer, page load",
            Request::get("/a")
                .bearer(&wrong_key)
                .header("Accept", "text/html")
                .header("Sec-Fetch-Mode", "navigate"),
            302,
        ),
        (
            "Basic app password",
            Request::get("/a").header("Authorization", &basic_good),
            200,
        ),
        (
            "Basic app password, cached",
            Request::get("/a").header("Authorization", &basic_good),
            200,
        ),
        (
            "Basic wrong app password",
            Request::get("/a").header("Authorization", &basic_wrong),
            401,
        ),
        (
            "Basic goauthentik.io/token",
            Request::get("/a").header("Authorization", &basic_token),
            200,
        ),
        (
            "sign out",
            Request::get("/outpost.goauthentik.io/sign_out").cookies(&session),
            302,
        ),
    ];
    for (what, req, status) in &requests {
        let r = ng.send(req);
        assert_eq!(r.status, *status, "{what}: {}", r.text());
    }

    let secrets: Vec<(String, String)> = [
        ("client secret".to_string(), idp.client_secret.clone()),
        ("cookie secret".to_string(), TEST_COOKIE_SECRET.to_string()),
        ("access token".to_string(), access_token.clone()),
        ("minted bearer token".to_string(), minted.clone()),
        ("expired bearer token".to_string(), expired.clone()),
        ("app password".to_string(), app_password.clone()),
        ("wrong app password".to_string(), wrong_app_password.clone()),
        ("Basic header".to_string(), basic_good.clone()),
        ("wrong Basic header".to_string(), basic_wrong.clone()),
    ]
    .into_iter()
    .chain(
        session
            .iter()
            .map(|(n, v)| (format!("sealed session value {n}"), v.clone())),
    )
    .chain(
        sealed_expired
            .iter()
            .map(|(n, v)| (format!("sealed expired session {n}"), v.clone())),
    )
    .collect();

    let read = |rel: &str| std::fs::read_to_string(ng.prefix().join(rel)).unwrap_or_default();
    let debug_log = read("logs/debug.log");
    let error_log = read("logs/error.log");
    let access_log = read("logs/access.log");
    let stderr_log = read("logs/stderr.log");
    assert!(
        debug_log.contains("[debug]"),
        "no debug lines: is nginx built with --with-debug?"
    );

    let mut bad = Vec::new();
    let mut module_entries = 0;
    let mut core_debug_with_secrets = 0;
    let mut core_debug_kinds = std::collections::BTreeSet::new();
    for e in entries("error.log", &error_log)
        .into_iter()
        .chain(entries("debug.log", &debug_log))
    {
        let module = is_module_entry(&e);
        module_entries += usize::from(module);
        let found = leaks(&e.text, &secrets, &idp.client_secret);
        if found.is_empty() {
            continue;
        }
        if module || e.level != "debug" {
            bad.push(format!("{} [{}] {:?}: {}", e.file, e.level, found, e.text));
        } else {
            core_debug_with_secrets += 1;
            let kind: String = e
                .text
                .split_once(": ")
                .map(|(_, m)| m)
                .unwrap_or("")
                .trim_start_matches(|c: char| c == '*' || c.is_ascii_digit())
                .trim_start()
                .chars()
                .take_while(|&c| c != ':' && c != '"')
                .collect();
            core_debug_kinds.insert(kind.trim().to_string());
        }
    }
    for (file, text) in [("access.log", &access_log), ("stderr.log", &stderr_log)] {
        for line in text.lines() {
            let found = leaks(line, &secrets, &idp.client_secret);
            if !found.is_empty() {
                bad.push(format!("{file} {found:?}: {line}"));
            }
        }
    }
    eprintln!(
        "logs: error.log {} B, debug.log {} B, access.log {} lines; {} module entries, none \
         with a secret: {}; nginx core debug entries showing a token or secret: {} ({:?})\n\
         failed logins: {}",
        error_log.len(),
        debug_log.len(),
        access_log.lines().count(),
        module_entries,
        bad.is_empty(),
        core_debug_with_secrets,
        core_debug_kinds,
        failed_logins.join(", ")
    );
    assert!(
        module_entries >= 10,
        "too few module log lines to mean anything"
    );
    assert!(
        bad.is_empty(),
        "tokens or secrets in module or non-debug log lines:\n{}",
        bad.join("\n")
    );
}

/// `nginx -t` with broken secret settings names the file and line, never the secret.
#[test]
fn configuration_errors_never_print_a_secret() {
    let short_secret = "sh0rtS3cretValue-31-bytes-long!";
    assert_eq!(short_secret.len(), 31);
    let client_secret = "cl13ntS3cretValue-that-must-stay-hidden-0123456789";
    for (what, block, files) in [
        (
            "short cookie_secret",
            format!(
                "issuer {ISSUER}; client_id {CLIENT_ID}; client_secret {client_secret}; \
                 cookie_secret {short_secret}; external_host {EXTERNAL_HOST};"
            ),
            vec![],
        ),
        (
            "short cookie_secret_file",
            format!(
                "issuer {ISSUER}; client_id {CLIENT_ID}; client_secret {client_secret}; \
                 cookie_secret_file @PREFIX@/c.secret; external_host {EXTERNAL_HOST};"
            ),
            vec![("c.secret", short_secret.to_string())],
        ),
        (
            "two values for client_secret",
            format!(
                "issuer {ISSUER}; client_id {CLIENT_ID}; client_secret {client_secret} {short_secret}; \
                 cookie_secret {COOKIE_SECRET}; external_host {EXTERNAL_HOST};"
            ),
            vec![],
        ),
        (
            "duplicate client_secret",
            format!(
                "issuer {ISSUER}; client_id {CLIENT_ID}; client_secret {client_secret}; \
                 client_secret {short_secret}; cookie_secret {COOKIE_SECRET}; \
                 external_host {EXTERNAL_HOST};"
            ),
            vec![],
        ),
        (
            "client_secret and client_secret_file",
            format!(
                "issuer {ISSUER}; client_id {CLIENT_ID}; client_secret {client_secret}; \
                 client_secret_file @PREFIX@/s.secret; cookie_secret {COOKIE_SECRET}; \
                 external_host {EXTERNAL_HOST};"
            ),
            vec![("s.secret", short_secret.to_string())],
        ),
        (
            "no issuer",
            format!(
                "client_id {CLIENT_ID}; client_secret {client_secret}; \
                 cookie_secret {COOKIE_SECRET}; external_host {EXTERNAL_HOST};"
            ),
            vec![],
        ),
    ] {
        let http = format!("authentik_provider app {{ {block} }}\n")
            + &server("authentik app; location / { @PROXY@ }");
        let conf = files
            .iter()
            .fold(Conf::new(http), |c, (rel, text)| c.file(rel, text));
        let t = conf.test();
        assert!(!t.success, "{what}: nginx -t succeeded\n{}", t.stderr);
        for secret in [short_secret, client_secret, COOKIE_SECRET] {
            assert!(
                !t.stderr.contains(secret),
                "{what}: nginx -t printed a secret:\n{}",
                t.stderr
            );
        }
        eprintln!("{what}: {}", t.stderr.lines().next().unwrap_or(""));
    }
}
