//! Session renewal, back-channel logout and sign-out, through the decisions the glue asks
//! for: `decide`, `resume` and `backchannel_logout`.

use std::sync::atomic::{AtomicU64, Ordering};

use authentik_core::auth::Worker;
use authentik_core::conf::{Location, LocationSettings, PlainUnits, ProviderSettings};
use authentik_core::decision::{Action, Outcome, Pending, Response, Status, TokenResponse};
use authentik_core::login::{Issued, LoginState};
use authentik_core::logout::BACKCHANNEL_EVENT;
use authentik_core::provider::Provider;
use authentik_core::request::{Method, RequestFacts};
use authentik_core::revocation::{cells_for, Revocations, WriteLock};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const ISSUER: &str = "https://auth.example/application/o/app/";
const SECRET: &str = "client-secret-client-secret-client-secret-0123456789";
const NOW: u64 = 1_800_000_000;
const TTL: u64 = 300;

struct TestLock(AtomicU64);

impl WriteLock for TestLock {
    fn lock(&self) {
        while self
            .0
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
    }
    fn unlock(&self) {
        self.0.store(0, Ordering::Release);
    }
}

static LOCK: TestLock = TestLock(AtomicU64::new(0));

fn provider(extra: &[(&str, &str)]) -> Provider {
    let mut settings = ProviderSettings::new("app").unwrap();
    let lines = [
        ("issuer", ISSUER),
        ("client_id", "client"),
        ("client_secret", SECRET),
        ("cookie_secret", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
        ("external_host", "https://app.example"),
        ("token_request", "/_authentik_token"),
    ];
    for (name, value) in lines.iter().chain(extra) {
        settings.set(name, &[value], &PlainUnits).unwrap();
    }
    settings.build(0).unwrap().0
}

fn location() -> Location {
    let mut settings = LocationSettings::default();
    settings
        .set("authentik", &["app"], ("test.conf", 1))
        .unwrap();
    settings.resolve(&["app"]).unwrap()
}

fn worker(bytes: usize) -> Worker {
    let cells: Vec<AtomicU64> = (0..cells_for(bytes)).map(|_| AtomicU64::new(0)).collect();
    let cells: &'static [AtomicU64] = Box::leak(cells.into_boxed_slice());
    let mut worker = Worker::new(100, 1 << 20);
    worker.revocations = Revocations::new(cells, &LOCK);
    worker
}

fn token(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn access(iat: u64, extra: Value) -> String {
    let mut claims = json!({"iss": ISSUER, "aud": "client", "sub": "u1", "iat": iat,
        "exp": iat + TTL, "preferred_username": "alice", "sid": "sid-1"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut claims, extra) {
        base.extend(extra);
    }
    token(claims)
}

/// `Cookie` header pieces (`name=value`) of `Set-Cookie` values that set something.
fn cookie_pairs(set_cookies: &[String]) -> Vec<String> {
    set_cookies
        .iter()
        .map(|c| c.split(';').next().unwrap().to_string())
        .filter(|pair| !pair.ends_with('='))
        .collect()
}

/// A session cookie for a token issued at `iat`, with refresh token `refresh`.
fn session(p: &Provider, iat: u64, refresh: Option<&str>) -> String {
    let issued = Issued {
        token: access(iat, json!({})),
        exp: iat + TTL,
        subject: "u1".into(),
        refresh: refresh.map(Into::into),
        id_token: false,
    };
    let login = LoginState::new("https://app.example/".into(), iat).unwrap();
    let cookies = p.session_cookies(&issued, &login, iat).unwrap();
    cookie_pairs(&cookies).join("; ")
}

fn facts<'a>(cookies: &'a [&'a [u8]]) -> RequestFacts<'a> {
    RequestFacts {
        uri: b"/app",
        request_uri: b"/app",
        host: b"app.example",
        server: b"app.example",
        cookies,
        sec_fetch_mode: Some(b"cors"),
        ..Default::default()
    }
}

fn decide(p: &Provider, w: &mut Worker, cookie: &str, now: u64) -> Outcome {
    let cookies = [cookie.as_bytes()];
    p.decide(&location(), &facts(&cookies), w, now)
}

fn resume(
    p: &Provider,
    w: &mut Worker,
    cookie: &str,
    outcome: Outcome,
    status: u16,
    body: &str,
    now: u64,
) -> Outcome {
    let Action::Exchange(exchange) = outcome.action else {
        panic!("expected a token request, got {:?}", outcome.action);
    };
    assert!(matches!(exchange.pending, Pending::Refresh(_)));
    let cookies = [cookie.as_bytes()];
    let answer = TokenResponse {
        status,
        body: body.as_bytes(),
    };
    p.resume(
        &location(),
        &facts(&cookies),
        w,
        exchange.pending,
        answer,
        now,
    )
}

fn refreshed(iat: u64, refresh: Option<&str>) -> String {
    let mut body = json!({"access_token": access(iat, json!({})),
        "id_token": access(iat, json!({})), "token_type": "Bearer", "expires_in": TTL});
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    body.to_string()
}

fn response(outcome: &Outcome) -> &Response {
    match &outcome.action {
        Action::Respond(response) => response,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn clears_session(response: &Response) -> bool {
    response
        .cookies
        .iter()
        .any(|c| c.starts_with("authentik_nginx_") && c.contains("Max-Age=0"))
}

#[test]
fn a_valid_session_is_not_renewed() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let cookie = session(&p, NOW, Some("r1"));
    let outcome = decide(&p, &mut w, &cookie, NOW + 10);
    assert!(matches!(outcome.action, Action::Allow(_)));
    assert!(outcome.cookies.is_empty());
}

#[test]
fn a_session_near_expiry_is_renewed_in_the_same_request() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let cookie = session(&p, NOW, Some("r1"));
    // Within leeway (60 s) of exp.
    let now = NOW + TTL - 30;
    let outcome = decide(&p, &mut w, &cookie, now);
    let Action::Exchange(exchange) = &outcome.action else {
        panic!("{:?}", outcome.action)
    };
    assert_eq!(exchange.uri, "/_authentik_token");
    assert!(exchange
        .body
        .starts_with("grant_type=refresh_token&refresh_token=r1&client_id=client&client_secret="));
    let outcome = resume(
        &p,
        &mut w,
        &cookie,
        outcome,
        200,
        &refreshed(now, Some("r2")),
        now,
    );
    assert!(
        matches!(outcome.action, Action::Allow(_)),
        "{:?}",
        outcome.action
    );
    assert_eq!(outcome.status, Status::Ok);
    let new_cookie = cookie_pairs(&outcome.cookies).join("; ");
    assert!(!new_cookie.is_empty());
    // The new cookie holds the rotated refresh token and the renewal time.
    let sealed = new_cookie.split_once('=').unwrap().1;
    let tokens = p.session_tokens(sealed.as_bytes()).unwrap();
    assert_eq!(tokens.refresh.as_deref(), Some(&b"r2"[..]));
    assert_eq!(tokens.renewed_at, now);
    // The renewed session is in the cache already.
    let next = decide(&p, &mut w, &new_cookie, now + 1);
    assert!(matches!(next.action, Action::Allow(_)));
    assert_eq!(next.cache, authentik_core::metrics::CacheUse::Hit);
}

#[test]
fn an_expired_session_is_renewed_and_keeps_a_refresh_token_that_is_not_rotated() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let cookie = session(&p, NOW, Some("r1"));
    let now = NOW + TTL + 3600;
    let outcome = decide(&p, &mut w, &cookie, now);
    let outcome = resume(
        &p,
        &mut w,
        &cookie,
        outcome,
        200,
        &refreshed(now, None),
        now,
    );
    assert!(matches!(outcome.action, Action::Allow(_)));
    let new_cookie = cookie_pairs(&outcome.cookies).join("; ");
    let sealed = new_cookie.split_once('=').unwrap().1;
    assert_eq!(
        p.session_tokens(sealed.as_bytes())
            .unwrap()
            .refresh
            .as_deref(),
        Some(&b"r1"[..])
    );
}

#[test]
fn a_refused_refresh_ends_an_expired_session() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let cookie = session(&p, NOW, Some("r1"));
    let now = NOW + TTL + 100;
    let outcome = decide(&p, &mut w, &cookie, now);
    let outcome = resume(
        &p,
        &mut w,
        &cookie,
        outcome,
        400,
        r#"{"error":"invalid_grant"}"#,
        now,
    );
    let response = response(&outcome);
    assert_eq!(response.status, 401);
    assert!(clears_session(response));
    assert_eq!(outcome.status, Status::Invalid);
}

#[test]
fn tokens_that_fail_verification_or_name_another_user_end_the_session() {
    let p = provider(&[]);
    for body in [
        json!({"access_token": access(NOW, json!({"aud": "other"})), "id_token": access(NOW, json!({}))}).to_string(),
        json!({"access_token": access(NOW, json!({"sub": "u2"})), "id_token": access(NOW, json!({"sub": "u2"}))}).to_string(),
        "<html>bad gateway</html>".to_string(),
    ] {
        let mut w = worker(64 << 10);
        // Still valid (refresh_interval due): bad tokens end it anyway, with no grace.
        let p = provider(&[("refresh_interval", "60")]);
        let cookie = session(&p, NOW - 100, Some("r1"));
        let outcome = decide(&p, &mut w, &cookie, NOW);
        let outcome = resume(&p, &mut w, &cookie, outcome, 200, &body, NOW);
        assert!(clears_session(response(&outcome)), "{body}");
    }
    let _ = p;
}

#[test]
fn refresh_interval_renews_a_valid_session_and_a_refusal_ends_it_after_the_grace() {
    let p = provider(&[("refresh_interval", "60")]);
    let mut w = worker(64 << 10);
    let cookie = session(&p, NOW, Some("r1"));
    assert!(matches!(
        decide(&p, &mut w, &cookie, NOW + 59).action,
        Action::Allow(_)
    ));
    let now = NOW + 61;
    let outcome = decide(&p, &mut w, &cookie, now);
    // Refused while the token is still valid: a parallel request may have rotated it.
    let outcome = resume(
        &p,
        &mut w,
        &cookie,
        outcome,
        400,
        r#"{"error":"invalid_grant"}"#,
        now,
    );
    assert!(matches!(outcome.action, Action::Allow(_)));
    // Within the grace: served, no new token request.
    assert!(matches!(
        decide(&p, &mut w, &cookie, now + 5).action,
        Action::Allow(_)
    ));
    // After it: the session ends.
    let ended = decide(&p, &mut w, &cookie, now + 11);
    assert!(clears_session(response(&ended)));
}

#[test]
fn authentik_unreachable_keeps_the_token_until_exp_and_never_past_it() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let cookie = session(&p, NOW, Some("r1"));
    let now = NOW + TTL - 30;
    let outcome = decide(&p, &mut w, &cookie, now);
    let outcome = resume(&p, &mut w, &cookie, outcome, 502, "", now);
    assert!(matches!(outcome.action, Action::Allow(_)));
    let log = outcome.log.expect("one warn line");
    assert!(log.message.contains("renewal failed"));
    assert!(!log.message.contains("r1") && !log.message.contains(SECRET));
    // Held back for a moment: no token request, the token is served.
    assert!(matches!(
        decide(&p, &mut w, &cookie, now + 5).action,
        Action::Allow(_)
    ));
    // Past exp, still unreachable: no session, but the cookie stays for a later renewal.
    let later = NOW + TTL + 1;
    let outcome = decide(&p, &mut w, &cookie, later);
    let outcome = resume(&p, &mut w, &cookie, outcome, 0, "", later);
    let response = response(&outcome);
    assert_eq!(response.status, 401);
    assert!(!clears_session(response));
    // authentik is back: the next request renews.
    let back = later + 11;
    let outcome = decide(&p, &mut w, &cookie, back);
    let outcome = resume(
        &p,
        &mut w,
        &cookie,
        outcome,
        200,
        &refreshed(back, Some("r2")),
        back,
    );
    assert!(matches!(outcome.action, Action::Allow(_)));
}

#[test]
fn refresh_off_or_no_refresh_token_never_renews() {
    let off = provider(&[("refresh", "off")]);
    let mut w = worker(64 << 10);
    let cookie = session(&off, NOW, Some("r1"));
    let outcome = decide(&off, &mut w, &cookie, NOW + TTL + 100);
    assert_eq!(response(&outcome).status, 401);
    let p = provider(&[]);
    let cookie = session(&p, NOW, None);
    let outcome = decide(&p, &mut w, &cookie, NOW + TTL + 100);
    assert_eq!(response(&outcome).status, 401);
}

fn logout_token(claims: Value) -> String {
    let header = Header {
        typ: Some("logout+jwt".into()),
        ..Header::default()
    };
    encode(
        &header,
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn logout_claims(extra: Value) -> Value {
    let mut claims = json!({"iss": ISSUER, "aud": "client", "iat": NOW, "exp": NOW + 120,
        "jti": "j1", "sid": "sid-1", "sub": "u1", "events": {BACKCHANNEL_EVENT: {}}});
    if let (Value::Object(base), Value::Object(extra)) = (&mut claims, extra) {
        for (k, v) in extra {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
    claims
}

fn backchannel(p: &Provider, w: &mut Worker, content_type: &str, body: &[u8], now: u64) -> Outcome {
    let request = RequestFacts {
        method: Method::Post,
        uri: b"/outpost.goauthentik.io/backchannel_logout",
        content_type: Some(content_type.as_bytes()),
        content_length: Some(body.len() as u64),
        ..Default::default()
    };
    let first = p.decide(&location(), &request, w, now);
    assert!(
        matches!(first.action, Action::ReadBody(_)),
        "{:?}",
        first.action
    );
    p.backchannel_logout(&request, Some(body), w, now)
}

fn form(token: &str) -> Vec<u8> {
    format!("logout_token={token}").into_bytes()
}

const FORM: &str = "application/x-www-form-urlencoded";

#[test]
fn a_backchannel_logout_ends_the_session_of_its_sid() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let cookie = session(&p, NOW, Some("r1"));
    assert!(matches!(
        decide(&p, &mut w, &cookie, NOW + 1).action,
        Action::Allow(_)
    ));
    let outcome = backchannel(
        &p,
        &mut w,
        FORM,
        &form(&logout_token(logout_claims(json!({})))),
        NOW + 2,
    );
    let answer = response(&outcome);
    assert_eq!(answer.status, 200);
    assert!(answer
        .headers
        .contains(&("Cache-Control", "no-store".into())));
    // The cached session is refused from now on, and never renewed.
    let outcome = decide(&p, &mut w, &cookie, NOW + 3);
    assert!(clears_session(response(&outcome)));
    let outcome = decide(&p, &mut w, &cookie, NOW + TTL + 100);
    assert!(
        matches!(outcome.action, Action::Respond(_)),
        "an expired revoked session is not renewed"
    );
    // The same logout token again: replayed.
    let again = backchannel(
        &p,
        &mut w,
        FORM,
        &form(&logout_token(logout_claims(json!({})))),
        NOW + 4,
    );
    assert_eq!(response(&again).status, 400);
}

#[test]
fn a_sub_only_logout_refuses_the_users_earlier_tokens() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let old = session(&p, NOW - 10, None);
    let claims = logout_claims(json!({"sid": null}));
    assert_eq!(
        response(&backchannel(
            &p,
            &mut w,
            FORM,
            &form(&logout_token(claims)),
            NOW
        ))
        .status,
        200
    );
    assert!(matches!(
        decide(&p, &mut w, &old, NOW + 1).action,
        Action::Respond(_)
    ));
    let newer = session(&p, NOW + 1, None);
    assert!(matches!(
        decide(&p, &mut w, &newer, NOW + 2).action,
        Action::Allow(_)
    ));
}

#[test]
fn hostile_logout_requests_get_400_and_revoke_nothing() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let cookie = session(&p, NOW, None);
    let wrong_key = encode(
        &Header::default(),
        &logout_claims(json!({})),
        &EncodingKey::from_secret(b"another-secret-another-secret-another-secret").unwrap(),
    )
    .unwrap();
    let unsigned = {
        let t = logout_token(logout_claims(json!({})));
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[2] = "";
        let none = base64_url(br#"{"alg":"none"}"#);
        parts[0] = &none;
        parts.join(".")
    };
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        ("forged", FORM.into(), form(&wrong_key)),
        ("alg none", FORM.into(), form(&unsigned)),
        (
            "expired",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"iat": NOW - 3600, "exp": NOW - 3000, "jti": "e"}),
            ))),
        ),
        (
            "old iat",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"iat": NOW - 600, "exp": null, "jti": "o"}),
            ))),
        ),
        (
            "future iat",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"iat": NOW + 600, "jti": "f"}),
            ))),
        ),
        (
            "no iat",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"iat": null, "jti": "i"}),
            ))),
        ),
        (
            "nonce",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"nonce": "n", "jti": "n"}),
            ))),
        ),
        (
            "no events",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"events": null, "jti": "v"}),
            ))),
        ),
        (
            "other event",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"events": {"urn:other": {}}, "jti": "w"}),
            ))),
        ),
        (
            "event not an object",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"events": {BACKCHANNEL_EVENT: "x"}, "jti": "x"}),
            ))),
        ),
        (
            "wrong aud",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"aud": "other", "jti": "a"}),
            ))),
        ),
        (
            "wrong iss",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"iss": "https://evil.example/", "jti": "s"}),
            ))),
        ),
        (
            "no sid or sub",
            FORM.into(),
            form(&logout_token(logout_claims(
                json!({"sid": null, "sub": null, "jti": "b"}),
            ))),
        ),
        (
            "no jti",
            FORM.into(),
            form(&logout_token(logout_claims(json!({"jti": null})))),
        ),
        (
            "json body",
            "application/json".into(),
            br#"{"logout_token":"x"}"#.to_vec(),
        ),
        (
            "no content type",
            String::new(),
            form(&logout_token(logout_claims(json!({"jti": "c"})))),
        ),
        ("no token", FORM.into(), b"other=1".to_vec()),
        (
            "two tokens",
            FORM.into(),
            format!(
                "logout_token=a&logout_token={}",
                logout_token(logout_claims(json!({"jti": "t"})))
            )
            .into_bytes(),
        ),
        ("garbage", FORM.into(), b"logout_token=%ff%00..".to_vec()),
        (
            "duplicate member",
            FORM.into(),
            form(&{
                let header = base64_url(br#"{"alg":"HS256","typ":"JWT"}"#);
                let payload = base64_url(format!(r#"{{"iss":"{ISSUER}","aud":"client","iat":{NOW},"jti":"d","sid":"sid-1","sid":"other","events":{{"{BACKCHANNEL_EVENT}":{{}}}}}}"#).as_bytes());
                sign_hs256(&format!("{header}.{payload}"))
            }),
        ),
    ];
    for (name, content_type, body) in cases {
        let outcome = backchannel(&p, &mut w, &content_type, &body, NOW);
        let answer = response(&outcome);
        assert_eq!(answer.status, 400, "{name}");
        let json: Value = serde_json::from_slice(&answer.body.as_ref().unwrap().bytes).unwrap();
        assert_eq!(json["error"], "invalid_request", "{name}");
    }
    assert!(matches!(
        decide(&p, &mut w, &cookie, NOW + 1).action,
        Action::Allow(_)
    ));
}

#[test]
fn other_methods_and_large_bodies_are_refused() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let get = RequestFacts {
        uri: b"/outpost.goauthentik.io/backchannel_logout",
        ..Default::default()
    };
    let outcome = p.decide(&location(), &get, &mut w, NOW);
    assert_eq!(response(&outcome).status, 405);
    let big = RequestFacts {
        method: Method::Post,
        content_length: Some(64 * 1024 + 1),
        ..get
    };
    assert_eq!(
        response(&p.decide(&location(), &big, &mut w, NOW)).status,
        413
    );
    let chunked = RequestFacts {
        method: Method::Post,
        ..get
    };
    assert_eq!(
        response(&p.backchannel_logout(&chunked, None, &mut w, NOW)).status,
        413
    );
}

#[test]
fn a_full_zone_answers_500_and_keeps_every_entry() {
    let p = provider(&[]);
    // The smallest table: a handful of entries.
    let mut w = worker(8 * (72 + 6 * 4));
    let mut accepted = 0;
    let mut status = 200;
    for i in 0..10 {
        let claims = logout_claims(json!({"sid": format!("s{i}"), "jti": format!("j{i}")}));
        status = response(&backchannel(
            &p,
            &mut w,
            FORM,
            &form(&logout_token(claims)),
            NOW,
        ))
        .status;
        if status != 200 {
            break;
        }
        accepted += 1;
    }
    assert_eq!(status, 500);
    assert!(accepted >= 1);
    let outcome = backchannel(
        &p,
        &mut w,
        FORM,
        &form(&logout_token(logout_claims(
            json!({"sid": "x", "jti": "y"}),
        ))),
        NOW,
    );
    assert_eq!(
        outcome.log.as_ref().unwrap().level,
        authentik_core::decision::Level::Crit
    );
}

#[test]
fn sign_out_revokes_the_sid_here_too() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let cookie = session(&p, NOW, None);
    let cookies = [cookie.as_bytes()];
    let request = RequestFacts {
        uri: b"/outpost.goauthentik.io/sign_out",
        ..facts(&cookies)
    };
    let outcome = p.decide(&location(), &request, &mut w, NOW + 1);
    let answer = response(&outcome);
    assert_eq!(answer.status, 302);
    assert_eq!(
        answer.location.as_deref(),
        Some(p.end_session_url()),
        "no id_token: no hint"
    );
    assert!(clears_session(answer));
    // A copy of the cookie no longer works.
    assert!(matches!(
        decide(&p, &mut w, &cookie, NOW + 2).action,
        Action::Respond(_)
    ));
}

#[test]
fn sign_out_sends_the_id_token_as_hint_when_the_session_holds_it() {
    let p = provider(&[]);
    let mut w = worker(64 << 10);
    let id_token = access(NOW, json!({}));
    let issued = Issued {
        token: id_token.clone(),
        exp: NOW + TTL,
        subject: "u1".into(),
        refresh: None,
        id_token: true,
    };
    let login = LoginState::new("https://app.example/".into(), NOW).unwrap();
    let cookie = cookie_pairs(&p.session_cookies(&issued, &login, NOW).unwrap()).join("; ");
    let cookies = [cookie.as_bytes()];
    let request = RequestFacts {
        uri: b"/outpost.goauthentik.io/sign_out",
        ..facts(&cookies)
    };
    let outcome = p.decide(&location(), &request, &mut w, NOW + 1);
    let location = response(&outcome).location.clone().unwrap();
    assert_eq!(
        location,
        format!("{}?id_token_hint={id_token}", p.end_session_url())
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn sign_hs256(message: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", base64_url(tag.as_ref()))
}

/// Claims shaped like an authentik access token (scope mappings openid, profile, email,
/// entitlements, ak_proxy, offline_access), with `groups` groups and `headers`
/// additionalHeaders entries.
fn authentik_claims(groups: usize, headers: usize) -> Value {
    let hex = |seed: &str| format!("{:0>64}", seed.repeat(8))[..64].to_string();
    let additional: serde_json::Map<String, Value> = (0..headers)
        .map(|i| {
            (
                format!("X-App-Attribute-{i}"),
                json!(format!("value-{i}-").repeat(4)),
            )
        })
        .collect();
    json!({
        "iss": ISSUER, "sub": hex("4e77ee23"), "aud": "Q2xpZW50SWRPZkFQcm94eVByb3ZpZGVyMDEyMzQ1",
        "exp": NOW + TTL, "iat": NOW, "auth_time": NOW - 30,
        "acr": "goauthentik.io/providers/oauth2/default", "amr": ["pwd"],
        "sid": hex("22ef4c35"), "jti": hex("9f1c0c6a")[..32],
        "email": "jane.doe@company.example", "email_verified": true,
        "name": "Jane Doe", "given_name": "Jane Doe",
        "preferred_username": "jane.doe", "nickname": "jane.doe",
        "groups": (0..groups).map(|i| format!("department-group-{i:03}")).collect::<Vec<_>>(),
        "entitlements": ["app-user"], "roles": ["app-user"],
        "ak_proxy": {"user_attributes": {"additionalHeaders": additional}, "is_superuser": false},
        "azp": "Q2xpZW50SWRPZkFQcm94eVByb3ZpZGVyMDEyMzQ1", "uid": hex("7c1d")[..32],
        "scope": "openid profile email entitlements ak_proxy offline_access",
    })
}

/// What a browser sends back for a session: the `Cookie` bytes of every chunk.
fn session_size(p: &Provider, token: &str, refresh: Option<&str>) -> (usize, usize) {
    let issued = Issued {
        token: token.into(),
        exp: NOW + TTL,
        subject: "u1".into(),
        refresh: refresh.map(Into::into),
        id_token: false,
    };
    let login = LoginState::new("https://app.example/".into(), NOW).unwrap();
    let pairs = cookie_pairs(&p.session_cookies(&issued, &login, NOW).unwrap());
    let chunks = pairs.iter().filter(|c| !c.contains("_login_")).count();
    (pairs.join("; ").len(), chunks)
}

/// The figures the README gives: a typical and a large authentik session, with and without
/// the refresh token, and what keeping the id_token as well would add.
#[test]
fn cookie_sizes_of_typical_and_large_sessions() {
    let p = provider(&[]);
    // authentik's refresh tokens are 128-character random strings.
    let refresh = "r".repeat(128);
    for (what, groups, headers) in [("typical", 3, 0), ("large", 100, 20)] {
        let token = token(authentik_claims(groups, headers));
        let (without, _) = session_size(&p, &token, None);
        let (with, chunks) = session_size(&p, &token, Some(&refresh));
        // Keeping the id_token too would seal a second token of about the same size.
        let (with_id_token, id_chunks) =
            session_size(&p, &format!("{token}{token}"), Some(&refresh));
        println!(
            "{what}: token {} B; Cookie {without} B without the refresh token, {with} B with it \
             ({chunks} chunk(s)); keeping the id_token as well: {with_id_token} B ({id_chunks})",
            token.len()
        );
        assert!(chunks <= 8, "{what}: {chunks} chunks");
        assert!(
            with - without < 250,
            "{what}: the refresh token costs {} B",
            with - without
        );
    }
}
