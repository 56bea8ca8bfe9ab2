//! The login flow's decisions: login state, authorize URL, rd validation, token response.

use authentik_core::conf::{PlainUnits, ProviderSettings};
use authentik_core::login::{CallbackError, Issued, LoginState, LOGIN_STATE_TTL_SECS};
use authentik_core::login::{LoginStart, LOGIN_STATE_BUDGET, MAX_LOGIN_STATES};
use authentik_core::provider::{Mode, Provider};
use authentik_core::redirect::{query_arg, MAX_RETURN_URL};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const ISSUER: &str = "https://auth.example/application/o/app/";
const SECRET: &str = "client-secret-client-secret-client-secret";
const NOW: u64 = 1_800_000_000;

fn provider_with(mode: Mode, cookie_secret: &str) -> Provider {
    let mut settings = ProviderSettings::new("app").unwrap();
    let external = match mode {
        Mode::Single => "https://app.example",
        Mode::Domain => "https://auth.company.tld",
    };
    let mut lines = vec![
        ("issuer", ISSUER),
        ("client_id", "client"),
        ("client_secret", SECRET),
        ("cookie_secret", cookie_secret),
        ("external_host", external),
        ("token_request", "/_authentik_token"),
    ];
    if mode == Mode::Domain {
        lines.extend([("mode", "domain"), ("cookie_domain", "company.tld")]);
    }
    for (name, value) in lines {
        settings.set(name, &[value], &PlainUnits).unwrap();
    }
    settings.build(0).unwrap().0
}

fn provider(mode: Mode) -> Provider {
    provider_with(mode, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk")
}

fn token(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn claims(extra: Value) -> Value {
    let mut base = json!({"iss": ISSUER, "aud": "client", "sub": "u1", "exp": NOW + 300,
        "iat": NOW, "preferred_username": "akadmin"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
        base.extend(extra);
    }
    base
}

/// The login state cookie value from a `Set-Cookie` header value.
fn cookie_value(set_cookie: &str) -> (&str, &str) {
    let pair = set_cookie.split(';').next().unwrap();
    pair.split_once('=').unwrap()
}

fn start_at(p: &Provider, rd: &str, now: u64) -> (String, String, String) {
    let LoginStart { location, cookies } =
        p.start_login(rd.into(), now, std::iter::empty()).unwrap();
    let query = location.split_once('?').unwrap().1.as_bytes().to_vec();
    let state = query_arg(&query, "state").unwrap();
    (location, cookies[0].clone(), state)
}

fn start(p: &Provider) -> (String, String, String) {
    start_at(p, "https://app.example/deep?x=1", NOW)
}

#[test]
fn authorize_url_carries_every_parameter() {
    let p = provider(Mode::Single);
    let (location, set_cookie, state) = start(&p);
    assert!(location.starts_with("https://auth.example/application/o/authorize/?"));
    let query = location.split_once('?').unwrap().1.as_bytes();
    let arg = |name| query_arg(query, name).unwrap();
    assert_eq!(arg("client_id"), "client");
    assert_eq!(
        arg("redirect_uri"),
        "https://app.example/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
    );
    assert_eq!(arg("response_type"), "code");
    assert_eq!(
        arg("scope"),
        "openid profile email entitlements ak_proxy offline_access"
    );
    assert_eq!(arg("code_challenge_method"), "S256");
    assert_eq!(arg("code_challenge").len(), 43);
    assert_eq!(arg("nonce").len(), 43);
    assert_eq!(state.len(), 43);
    let (name, _) = cookie_value(&set_cookie);
    assert_eq!(name, p.login_state_cookie_name(&state));
    for flag in [
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        &format!("Max-Age={LOGIN_STATE_TTL_SECS}"),
    ] {
        assert!(set_cookie.contains(flag), "{set_cookie} lacks {flag}");
    }
    assert!(!set_cookie.contains("Domain="));
}

#[test]
fn login_state_round_trip_and_pkce() {
    let p = provider(Mode::Single);
    let (location, set_cookie, state) = start(&p);
    let (_, value) = cookie_value(&set_cookie);
    let login = p
        .open_login_state(&state, Some(value.as_bytes()), NOW + 5)
        .unwrap();
    assert_eq!(login.rd, "https://app.example/deep?x=1");
    let query = location.split_once('?').unwrap().1.as_bytes();
    let challenge = query_arg(query, "code_challenge").unwrap();
    assert_eq!(login.code_challenge(), challenge);
    let body = p.token_request_body("the-code", &login);
    let body = body.as_bytes();
    assert_eq!(query_arg(body, "grant_type").unwrap(), "authorization_code");
    assert_eq!(query_arg(body, "code").unwrap(), "the-code");
    assert_eq!(query_arg(body, "client_secret").unwrap(), SECRET);
    assert_eq!(
        query_arg(body, "code_verifier").unwrap(),
        login.code_verifier
    );
    assert_eq!(query_arg(body, "client_id").unwrap(), "client");
}

#[test]
fn forged_replayed_or_expired_state_is_refused() {
    let p = provider(Mode::Single);
    let (_, set_cookie, state) = start(&p);
    let (_, value) = cookie_value(&set_cookie);
    let (_, other_cookie, other_state) = start(&p);
    let (_, other_value) = cookie_value(&other_cookie);
    // Another login's cookie under this state's name.
    assert_eq!(
        p.open_login_state(&state, Some(other_value.as_bytes()), NOW),
        Err(CallbackError::StateInvalid)
    );
    assert_eq!(
        p.open_login_state(&state, None, NOW),
        Err(CallbackError::StateCookieMissing)
    );
    assert_eq!(
        p.open_login_state("forged", Some(value.as_bytes()), NOW),
        Err(CallbackError::StateInvalid)
    );
    let mut tampered = value.as_bytes().to_vec();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        p.open_login_state(&state, Some(&tampered), NOW),
        Err(CallbackError::StateInvalid)
    );
    assert_eq!(
        p.open_login_state(&state, Some(value.as_bytes()), NOW + LOGIN_STATE_TTL_SECS),
        Err(CallbackError::StateExpired)
    );
    // At the end of time the checks fail closed instead of overflowing.
    let (_, late_cookie, late_state) = start_at(&p, "https://app.example/", u64::MAX - 30);
    let late_value = cookie_value(&late_cookie).1.as_bytes();
    assert!(p
        .open_login_state(&late_state, Some(late_value), u64::MAX - 10)
        .is_ok());
    assert_eq!(
        p.open_login_state(&late_state, Some(late_value), u64::MAX),
        Err(CallbackError::StateExpired)
    );
    // A state cookie from another provider's secret never opens.
    let other = provider_with(Mode::Single, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
    assert_eq!(
        other.open_login_state(&state, Some(value.as_bytes()), NOW),
        Err(CallbackError::StateInvalid)
    );
    assert!(p
        .open_login_state(&other_state, Some(other_value.as_bytes()), NOW)
        .is_ok());
}

#[test]
fn parallel_logins_keep_separate_cookies() {
    let p = provider(Mode::Single);
    let (_, a, state_a) = start(&p);
    let (_, b, state_b) = start(&p);
    assert_ne!(cookie_value(&a).0, cookie_value(&b).0);
    assert!(p
        .open_login_state(&state_a, Some(cookie_value(&a).1.as_bytes()), NOW)
        .is_ok());
    assert!(p
        .open_login_state(&state_b, Some(cookie_value(&b).1.as_bytes()), NOW)
        .is_ok());
}

fn login() -> LoginState {
    LoginState::new("https://app.example/".into(), NOW).unwrap()
}

#[test]
fn token_response_checks_both_tokens_and_the_nonce() {
    let p = provider(Mode::Single);
    let login = login();
    let id_token = token(claims(json!({"nonce": login.nonce})));
    let access = token(claims(json!({"azp": "client", "scope": "openid"})));
    let body =
        json!({"access_token": access, "id_token": id_token, "token_type": "Bearer"}).to_string();
    let issued = p.finish_login(200, body.as_bytes(), &login, NOW).unwrap();
    assert_eq!(issued.token, access);
    assert_eq!(issued.exp, NOW + 300);
    assert!(!issued.id_token);
    assert_eq!(issued.refresh, None);

    let opaque =
        json!({"access_token": "opaque", "id_token": id_token, "refresh_token": "r1"}).to_string();
    let issued = p.finish_login(200, opaque.as_bytes(), &login, NOW).unwrap();
    assert_eq!(
        (issued.token.as_str(), issued.id_token),
        (id_token.as_str(), true)
    );
    assert_eq!(issued.refresh.as_deref(), Some("r1"));

    let other_user = token(claims(json!({"sub": "someone-else"})));
    let body = json!({"access_token": other_user, "id_token": id_token}).to_string();
    assert!(matches!(
        p.finish_login(200, body.as_bytes(), &login, NOW),
        Err(CallbackError::Token(_))
    ));

    let wrong_nonce = token(claims(json!({"nonce": "other"})));
    let body = json!({"access_token": access, "id_token": wrong_nonce}).to_string();
    assert_eq!(
        p.finish_login(200, body.as_bytes(), &login, NOW),
        Err(CallbackError::NonceMismatch)
    );

    let no_nonce =
        json!({"access_token": access, "id_token": token(claims(json!({})))}).to_string();
    assert_eq!(
        p.finish_login(200, no_nonce.as_bytes(), &login, NOW),
        Err(CallbackError::NonceMismatch)
    );

    let bad_access = token(claims(json!({"iss": "https://evil.example/"})));
    let body = json!({"access_token": bad_access, "id_token": id_token}).to_string();
    assert!(matches!(
        p.finish_login(200, body.as_bytes(), &login, NOW),
        Err(CallbackError::Token(_))
    ));

    assert_eq!(
        p.finish_login(400, br#"{"error":"invalid_grant"}"#, &login, NOW),
        Err(CallbackError::ExchangeFailed(400))
    );
    assert_eq!(
        p.finish_login(200, b"<html>", &login, NOW),
        Err(CallbackError::BadTokenResponse)
    );
    assert_eq!(
        p.finish_login(200, b"{}", &login, NOW),
        Err(CallbackError::BadTokenResponse)
    );
}

#[test]
fn session_cookies_have_the_token_lifetime_and_clear_the_state() {
    let p = provider(Mode::Domain);
    let login = login();
    let issued = Issued {
        token: "a.b.c".into(),
        exp: NOW + 120,
        subject: "u".into(),
        refresh: None,
        id_token: false,
    };
    let cookies = p.session_cookies(&issued, &login, NOW).unwrap();
    assert_eq!(cookies.len(), 2);
    assert!(cookies[0].starts_with(&format!("{}=", p.cookie_name())));
    assert!(cookies[0].contains("Max-Age=120"));
    assert!(cookies[0].contains("Domain=company.tld"));
    assert!(cookies[1].starts_with(&format!("{}=;", p.login_state_cookie_name(&login.state))));
    assert!(cookies[1].contains("Max-Age=0"));
    let with_refresh = Issued {
        refresh: Some("r".into()),
        ..issued
    };
    let cookies = p.session_cookies(&with_refresh, &login, NOW).unwrap();
    assert!(cookies[0].contains(&format!(
        "Max-Age={}",
        authentik_core::login::SESSION_WITH_REFRESH_MAX_AGE
    )));
    let cleared = p.clear_session_cookies();
    assert_eq!(cleared.len(), authentik_core::session::MAX_CHUNKS);
    assert!(cleared
        .iter()
        .all(|c| c.contains("Max-Age=0") && c.contains("Domain=company.tld")));
}

#[test]
fn rd_single_mode_allows_only_the_external_host() {
    let p = provider(Mode::Single);
    let fallback = "https://app.example/";
    for ok in [
        ("https://app.example/x?y=1", "https://app.example/x?y=1"),
        ("https://APP.example:443/x", "https://app.example/x"),
        ("https://app.example", "https://app.example/"),
    ] {
        assert_eq!(p.validate_rd(Some(ok.0)), ok.1, "{ok:?}");
    }
    assert_eq!(
        p.validate_rd(Some("/relative?q=1")),
        "https://app.example/relative?q=1"
    );
    for bad in [
        "",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "http://app.example/",
        "https://app.example:8443/",
        "https://app.example.evil.com/",
        "https://evil.example/?https://app.example/",
        "https://app.example@evil.example/",
        "https://user:pw@app.example/",
        "javascript:alert(1)",
        "data:text/html,x",
        "https://аpp.example/",
        "https://app.example/\r\nSet-Cookie: x=1",
        "https://app%2eexample/",
        "ftp://app.example/",
    ] {
        assert_eq!(p.validate_rd(Some(bad)), fallback, "{bad:?}");
    }
    assert_eq!(p.validate_rd(None), fallback);
}

#[test]
fn rd_domain_mode_allows_the_domain_on_a_dot_boundary() {
    let p = provider(Mode::Domain);
    let fallback = "https://auth.company.tld/";
    for ok in [
        "https://company.tld/",
        "https://app.company.tld/x",
        "http://deep.app.company.tld:8080/",
    ] {
        assert_eq!(p.validate_rd(Some(ok)), ok, "{ok}");
    }
    assert_eq!(
        p.validate_rd(Some("https://APP.Company.TLD/")),
        "https://app.company.tld/"
    );
    for bad in [
        "https://evil-company.tld/",
        "https://evilcompany.tld/",
        "https://company.tld.evil.com/",
        "https://app.company.tld@evil.com/",
        "https://evil.com/app.company.tld",
        "https://evil.com\\.company.tld/",
        "https://app.company.tld%2F.evil.com/",
        "//app.company.tld/",
    ] {
        assert_eq!(p.validate_rd(Some(bad)), fallback, "{bad:?}");
        let result = url::Url::parse(&p.validate_rd(Some(bad))).unwrap();
        let host = result.host_str().unwrap();
        assert!(host == "company.tld" || host.ends_with(".company.tld"));
    }
}

#[test]
fn provider_error_codes_cannot_forge_log_lines() {
    let error = CallbackError::provider_error("access_denied\r\n2026/01/01 [emerg] forged\0\"x\"");
    let text = error.to_string();
    assert!(!text.bytes().any(|b| b.is_ascii_control()), "{text:?}");
    assert!(!text.contains('"') || text.starts_with("the provider returned error \""));
    assert_eq!(
        CallbackError::provider_error("access_denied"),
        CallbackError::ProviderError("access_denied".into())
    );
    assert_eq!(
        CallbackError::provider_error(&"a".repeat(200)),
        CallbackError::ProviderError("a".repeat(64))
    );
}

/// Every page load without a session starts a login; the browser must never collect more
/// login-state cookies than it can send.
#[test]
fn login_state_cookies_are_bounded_newest_kept() {
    let p = provider(Mode::Single);
    let mut jar: Vec<(String, String)> = Vec::new();
    for i in 0..1000u64 {
        let LoginStart { cookies, .. } = p
            .start_login(
                "https://app.example/page".into(),
                NOW + i,
                jar.iter()
                    .map(|(n, v)| (n.as_str().into(), v.as_str().into())),
            )
            .unwrap();
        for set_cookie in cookies {
            let (name, value) = cookie_value(&set_cookie);
            jar.retain(|(n, _)| n != name);
            if !set_cookie.contains("Max-Age=0") {
                jar.push((name.to_string(), value.to_string()));
            }
        }
        assert!(
            jar.len() <= MAX_LOGIN_STATES,
            "{} cookies after {i} loads",
            jar.len()
        );
        let bytes: usize = jar.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
        assert!(bytes <= LOGIN_STATE_BUDGET, "{bytes} bytes after {i} loads");
    }
    assert_eq!(jar.len(), MAX_LOGIN_STATES);
    // The jar holds logins in the order they started: the next one clears exactly the
    // oldest, jar[0].
    let start = p
        .start_login(
            "https://app.example/".into(),
            NOW + 1000,
            jar.iter()
                .map(|(n, v)| (n.as_str().into(), v.as_str().into())),
        )
        .unwrap();
    let cleared: Vec<&str> = start.cookies[1..]
        .iter()
        .map(|c| cookie_value(c).0)
        .collect();
    assert_eq!(cleared, [jar[0].0.as_str()]);
}

/// Login states carry their start in whole seconds: within one second the Cookie header's
/// order (oldest first) decides, so a burst of page loads clears the first sent.
#[test]
fn within_one_second_the_first_sent_login_state_is_cleared() {
    let p = provider(Mode::Single);
    let mut jar: Vec<(String, String)> = Vec::new();
    for _ in 0..MAX_LOGIN_STATES {
        let (_, set_cookie, _) = start_at(&p, "https://app.example/", NOW);
        let (name, value) = cookie_value(&set_cookie);
        jar.push((name.to_string(), value.to_string()));
    }
    let start = p
        .start_login(
            "https://app.example/".into(),
            NOW,
            jar.iter()
                .map(|(n, v)| (n.as_str().into(), v.as_str().into())),
        )
        .unwrap();
    let cleared: Vec<&str> = start.cookies[1..]
        .iter()
        .map(|c| cookie_value(c).0)
        .collect();
    assert_eq!(cleared, [jar[0].0.as_str()]);
}

#[test]
fn unopenable_or_expired_login_states_are_cleared() {
    let p = provider(Mode::Single);
    let (_, old, _) = start_at(&p, "https://app.example/", NOW - 700);
    let (old_name, old_value) = cookie_value(&old);
    let bogus_name = format!("{}_login_ffffffffffff", p.cookie_name());
    let start = p
        .start_login(
            "https://app.example/".into(),
            NOW,
            [
                (old_name.into(), old_value.into()),
                (bogus_name.as_str().into(), "garbage".into()),
            ]
            .into_iter(),
        )
        .unwrap();
    assert_eq!(start.cookies.len(), 3);
    assert!(start.cookies[1..].iter().all(|c| c.contains("Max-Age=0")));
}

#[test]
fn long_return_urls_are_capped_so_the_state_cookie_fits() {
    let p = provider(Mode::Single);
    let deep = format!(
        "https://app.example/{}?q={}",
        "p".repeat(500),
        "x".repeat(600)
    );
    let path_only = format!("https://app.example/{}", "p".repeat(500));
    assert_eq!(p.validate_rd(Some(&deep)), path_only);
    let huge = format!("https://app.example/{}", "p".repeat(6000));
    assert_eq!(p.validate_rd(Some(&huge)), "https://app.example/");
    let fits = format!("https://app.example/{}", "p".repeat(MAX_RETURN_URL - 20));
    assert_eq!(p.validate_rd(Some(&fits)), fits);
    for rd in [deep, huge, fits] {
        let (_, cookie, _) = start_at(&p, &p.validate_rd(Some(&rd)), NOW);
        assert!(cookie.len() < 4096, "{} bytes", cookie.len());
    }
}
