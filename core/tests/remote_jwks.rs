//! Remote JWKS (`jwks_request`) through the decisions the glue asks for: when a worker
//! fetches, what a fetched set replaces, and what a failed or invalid fetch keeps.

use std::sync::atomic::{AtomicU64, Ordering};

use authentik_core::auth::Worker;
use authentik_core::conf::{Location, LocationSettings, PlainUnits, ProviderSettings};
use authentik_core::decision::{Action, Event, Level, Outcome, Pending, TokenResponse};
use authentik_core::logout::BACKCHANNEL_EVENT;
use authentik_core::metrics::{CacheUse, Extra};
use authentik_core::provider::Provider;
use authentik_core::remote_jwks::{RETRY_SECS, RETRY_WITHOUT_KEYS_SECS, UNKNOWN_KID_SECS};
use authentik_core::request::{Method, RequestFacts};
use authentik_core::revocation::{cells_for, Revocations, WriteLock};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const ISSUER: &str = "https://auth.example/application/o/app/";
const SECRET: &str = "client-secret-client-secret-client-secret-0123456789";
const NOW: u64 = 1_800_000_000;
const JWKS: &str = include_str!("fixtures/keys_jwks.json");
const RSA1: &str = include_str!("fixtures/keys_rsa1.pem");
const RSA2: &str = include_str!("fixtures/keys_rsa2.pem");

fn provider(extra: &[(&str, &str)]) -> Provider {
    let mut settings = ProviderSettings::new("app").unwrap();
    let lines = [
        ("issuer", ISSUER),
        ("client_id", "client"),
        ("client_secret", SECRET),
        ("cookie_secret", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
        ("external_host", "https://app.example"),
        ("token_request", "/_authentik_token"),
        ("jwks_request", "/_authentik_jwks"),
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

/// The fixture's key `kid`.
fn jwk(kid: &str) -> Value {
    let all: Value = serde_json::from_str(JWKS).unwrap();
    all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .cloned()
        .unwrap()
}

fn jwks(kids: &[&str]) -> String {
    json!({"keys": kids.iter().map(|k| jwk(k)).collect::<Vec<_>>()}).to_string()
}

/// An RS256 token of `pem` under `kid`.
fn rs256(pem: &str, kid: &str, iat: u64) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    let claims = json!({"iss": ISSUER, "aud": "client", "sub": "u1", "iat": iat,
        "exp": iat + 3600, "preferred_username": "alice"});
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn facts(authorization: &str) -> RequestFacts<'_> {
    RequestFacts {
        uri: b"/app",
        request_uri: b"/app",
        host: b"app.example",
        server: b"app.example",
        authorization: Some(authorization.as_bytes()),
        ..Default::default()
    }
}

struct Site {
    p: Provider,
    loc: Location,
    w: Worker,
}

impl Site {
    fn new(extra: &[(&str, &str)]) -> Site {
        Site {
            p: provider(extra),
            loc: location(),
            w: Worker::new(0, 0), // no cache: every request verifies
        }
    }

    fn decide(&mut self, token: &str, now: u64) -> Outcome {
        let authorization = bearer(token);
        self.p
            .decide(&self.loc, &facts(&authorization), &mut self.w, now)
    }

    /// Answer the JWKS fetch `outcome` asks for.
    fn answer(
        &mut self,
        token: &str,
        outcome: Outcome,
        status: u16,
        body: &str,
        now: u64,
    ) -> Outcome {
        let Action::Exchange(exchange) = outcome.action else {
            panic!("not a fetch: {outcome:?}");
        };
        assert_eq!(exchange.uri, "/_authentik_jwks");
        assert!(exchange.body.is_empty());
        assert!(matches!(exchange.pending, Pending::Jwks(_)));
        let authorization = bearer(token);
        let answer = TokenResponse {
            status,
            body: body.as_bytes(),
        };
        self.p.resume(
            &self.loc,
            &facts(&authorization),
            &mut self.w,
            exchange.pending,
            answer,
            now,
        )
    }

    /// A request with `token` that fetches first, answered with `body`.
    fn fetched(&mut self, token: &str, body: &str, now: u64) -> Outcome {
        let first = self.decide(token, now);
        self.answer(token, first, 200, body, now)
    }
}

fn is_fetch(outcome: &Outcome) -> bool {
    matches!(&outcome.action, Action::Exchange(e) if matches!(e.pending, Pending::Jwks(_)))
}

fn allowed(outcome: &Outcome) -> bool {
    matches!(outcome.action, Action::Allow(_))
}

fn status(outcome: &Outcome) -> u16 {
    match &outcome.action {
        Action::Respond(r) => r.status,
        Action::Allow(_) => 200,
        other => panic!("{other:?}"),
    }
}

#[test]
fn first_request_fetches_then_is_decided_with_the_keys() {
    let mut site = Site::new(&[]);
    let token = rs256(RSA1, "rsa1-rs256", NOW);
    let first = site.decide(&token, NOW);
    assert!(is_fetch(&first), "{first:?}");
    let outcome = site.answer(&token, first, 200, &jwks(&["rsa1-rs256"]), NOW);
    assert!(allowed(&outcome), "{outcome:?}");
    assert!(outcome.events.contains(&Event::Extra(Extra::JwksFetched)));
    let note = &outcome.notes[0];
    assert_eq!(note.level, Level::Info);
    assert!(note.message.contains("\"rsa1-rs256\""), "{}", note.message);
    // The next request needs no fetch.
    assert!(allowed(&site.decide(&token, NOW + 1)));
    // HS256 tokens keep working with the client secret.
    let hs = encode(
        &Header::default(),
        &json!({"iss": ISSUER, "aud": "client", "sub": "u1", "exp": NOW + 60}),
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    assert!(allowed(&site.decide(&hs, NOW + 1)));
}

#[test]
fn unknown_kid_fetches_at_most_once_a_minute() {
    let mut site = Site::new(&[]);
    let old = rs256(RSA1, "rsa1-rs256", NOW);
    site.fetched(&old, &jwks(&["rsa1-rs256"]), NOW);
    // authentik rotates: a token of the new key fetches at once.
    let new = rs256(RSA2, "rsa2-rs256", NOW);
    let outcome = site.decide(&new, NOW + 1);
    assert!(is_fetch(&outcome));
    let outcome = site.answer(
        &new,
        outcome,
        200,
        &jwks(&["rsa2-rs256", "rsa1-rs256"]),
        NOW + 1,
    );
    assert!(allowed(&outcome), "rotation without reload: {outcome:?}");
    // Unknown kids within the minute do not fetch; they are refused.
    for i in 0..100 {
        let random = rs256(RSA2, &format!("random-{i}"), NOW);
        let outcome = site.decide(&random, NOW + 2 + i % 50);
        assert_eq!(status(&outcome), 401, "{i}: {outcome:?}");
    }
    let outcome = site.decide(&rs256(RSA2, "random-x", NOW), NOW + 1 + UNKNOWN_KID_SECS);
    assert!(is_fetch(&outcome), "a minute later");
    // A fetch of the same keys logs nothing.
    let outcome = site.answer(
        &new,
        outcome,
        200,
        &jwks(&["rsa2-rs256", "rsa1-rs256"]),
        NOW + 61,
    );
    assert!(outcome.notes.is_empty(), "{:?}", outcome.notes);
}

#[test]
fn refresh_after_jwks_refresh_replaces_the_keys() {
    let mut site = Site::new(&[("jwks_refresh", "10m")]);
    let old = rs256(RSA1, "rsa1-rs256", NOW);
    site.fetched(&old, &jwks(&["rsa1-rs256"]), NOW);
    assert!(allowed(&site.decide(&old, NOW + 599)));
    let refresh = site.decide(&old, NOW + 600);
    assert!(is_fetch(&refresh));
    // authentik dropped the old key: its tokens stop verifying, with no further fetch.
    let outcome = site.answer(&old, refresh, 200, &jwks(&["rsa2-rs256"]), NOW + 600);
    assert_eq!(status(&outcome), 401, "{outcome:?}");
    assert!(allowed(
        &site.decide(&rs256(RSA2, "rsa2-rs256", NOW), NOW + 601)
    ));
}

#[test]
fn failed_or_invalid_fetches_keep_the_last_good_keys() {
    let private = {
        let mut key = jwk("rsa1-rs256");
        key["d"] = json!("AQAB");
        json!({"keys": [key]}).to_string()
    };
    let symmetric = json!({"keys": [{"kty": "oct", "kid": "o", "alg": "HS256", "k": "c2VjcmV0"}, jwk("rsa2-rs256")]}).to_string();
    let huge = format!(
        "{{\"keys\":[{}],\"padding\":\"{}\"}}",
        jwk("rsa2-rs256"),
        "x".repeat(2 << 20)
    );
    let cases: Vec<(u16, String, &str)> = vec![
        (0, String::new(), "no answer"),
        (503, "Service Unavailable".into(), "HTTP status 503"),
        (200, "<html>".into(), "invalid JWKS"),
        (200, r#"{"keys":[]}"#.into(), "no keys"),
        (200, private, "private member"),
        (200, symmetric, "symmetric"),
        (200, huge, "over 1048576 bytes"),
    ];
    for (code, body, reason) in cases {
        let mut site = Site::new(&[("jwks_refresh", "1m")]);
        let token = rs256(RSA1, "rsa1-rs256", NOW);
        site.fetched(&token, &jwks(&["rsa1-rs256"]), NOW);
        let refresh = site.decide(&token, NOW + 60);
        let outcome = site.answer(&token, refresh, code, &body, NOW + 60);
        assert!(
            allowed(&outcome),
            "{reason}: the last good keys still verify"
        );
        assert!(outcome.events.contains(&Event::Extra(Extra::JwksFailed)));
        let note = &outcome.notes[0];
        assert_eq!(note.level, Level::Warn, "{reason}");
        assert!(
            note.message.contains(reason) && note.message.contains("keeping the last good keys"),
            "{reason}: {}",
            note.message
        );
        // An unknown kid is still refused, and fetches only once the retry time has passed.
        let other = rs256(RSA2, "rsa2-rs256", NOW);
        assert_eq!(status(&site.decide(&other, NOW + 61)), 401, "{reason}");
        assert!(allowed(&site.decide(&token, NOW + 60 + RETRY_SECS - 1)));
        let fetch = site.decide(&other, NOW + 60 + RETRY_SECS);
        let outcome = site.answer(&other, fetch, code, &body, NOW + 60 + RETRY_SECS);
        assert_eq!(status(&outcome), 401, "{reason}: never an unknown kid");
        assert!(allowed(&site.decide(&token, NOW + 61 + RETRY_SECS)));
    }
}

#[test]
fn without_keys_a_failed_fetch_retries_soon_and_clears_no_session() {
    let mut site = Site::new(&[]);
    let token = rs256(RSA1, "rsa1-rs256", NOW);
    let first = site.decide(&token, NOW);
    let outcome = site.answer(&token, first, 0, "", NOW);
    assert_eq!(status(&outcome), 401);
    assert!(outcome.notes[0]
        .message
        .contains("no public key to verify tokens with"));
    let Action::Respond(response) = &outcome.action else {
        unreachable!()
    };
    assert!(response.cookies.is_empty());
    assert_eq!(
        status(&site.decide(&token, NOW + RETRY_WITHOUT_KEYS_SECS - 1)),
        401
    );
    let retry = site.decide(&token, NOW + RETRY_WITHOUT_KEYS_SECS);
    assert!(is_fetch(&retry));
    assert!(allowed(&site.answer(
        &token,
        retry,
        200,
        &jwks(&["rsa1-rs256"]),
        NOW + 10
    )));
}

#[test]
fn in_flight_fetches_are_bounded() {
    let mut site = Site::new(&[]);
    let token = rs256(RSA1, "rsa1-rs256", NOW);
    // Without keys, a few requests fetch at once; the rest are decided without keys.
    let running: Vec<Outcome> = (0..4).map(|_| site.decide(&token, NOW)).collect();
    assert!(running.iter().all(is_fetch));
    assert_eq!(status(&site.decide(&token, NOW)), 401);
    // A request that goes away gives its fetch back.
    drop(running);
    assert!(is_fetch(&site.decide(&token, NOW)));
}

#[test]
fn jwks_file_is_used_until_a_fetch_succeeds() {
    let dir = std::env::temp_dir().join(format!("remote-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.jwks");
    std::fs::write(&file, jwks(&["rsa1-rs256"])).unwrap();
    let path = file.to_str().unwrap().to_string();
    let mut site = Site::new(&[("jwks_file", &path)]);
    let old = rs256(RSA1, "rsa1-rs256", NOW);
    // The first request still fetches; when that fails, the file's keys verify.
    let first = site.decide(&old, NOW);
    let outcome = site.answer(&old, first, 503, "", NOW);
    assert!(allowed(&outcome));
    assert!(outcome.notes[0]
        .message
        .contains("keeping the keys of jwks_file"));
    // With keys to go on, the next try waits a minute; once a fetch succeeds, its keys
    // replace the file's.
    let new = rs256(RSA2, "rsa2-rs256", NOW);
    assert_eq!(status(&site.decide(&new, NOW + RETRY_SECS - 1)), 401);
    let outcome = site.fetched(&new, &jwks(&["rsa2-rs256"]), NOW + RETRY_SECS);
    assert!(allowed(&outcome));
    let fetch = site.decide(&old, NOW + RETRY_SECS + 1);
    let outcome = site.answer(
        &old,
        fetch,
        200,
        &jwks(&["rsa2-rs256"]),
        NOW + RETRY_SECS + 1,
    );
    assert_eq!(status(&outcome), 401, "the file's key is gone");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pinned_algorithms_apply_to_fetched_keys() {
    let mut site = Site::new(&[("algorithms", "RS256")]);
    let token = rs256(RSA1, "rsa1-rs256", NOW);
    // A JWKS without an RS256 key is refused as jwks_file would be.
    let first = site.decide(&token, NOW);
    let ec_only = jwks(&["ec256"]);
    let outcome = site.answer(&token, first, 200, &ec_only, NOW);
    assert_eq!(status(&outcome), 401);
    assert!(
        outcome.notes[0].message.contains("no RS256 key"),
        "{:?}",
        outcome.notes
    );
    let retry = site.decide(&token, NOW + RETRY_WITHOUT_KEYS_SECS);
    assert!(allowed(&site.answer(
        &token,
        retry,
        200,
        &jwks(&["rsa1-rs256", "ec256"]),
        NOW + 10
    )));
    // HS256 is not in the list: never accepted, whatever the keys.
    let hs = encode(
        &Header::default(),
        &json!({"iss": ISSUER, "aud": "client", "sub": "u1", "exp": NOW + 60}),
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(status(&site.decide(&hs, NOW + 11)), 401);
}

#[test]
fn a_login_answer_with_an_unknown_kid_fetches_then_finishes() {
    let mut site = Site::new(&[]);
    let old = rs256(RSA1, "rsa1-rs256", NOW);
    site.fetched(&old, &jwks(&["rsa1-rs256"]), NOW);
    // The session renewal's answer is signed with a key this worker has not seen.
    let new = rs256(RSA2, "rsa2-rs256", NOW + 5);
    let body = json!({"access_token": new, "id_token": new}).to_string();
    let header = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "alice:pw")
    );
    let first = site
        .p
        .decide(&site.loc, &facts(&header), &mut site.w, NOW + 5);
    let Action::Exchange(exchange) = first.action else {
        panic!("{first:?}")
    };
    let answer = TokenResponse {
        status: 200,
        body: body.as_bytes(),
    };
    let fetch = site.p.resume(
        &site.loc,
        &facts(&header),
        &mut site.w,
        exchange.pending,
        answer,
        NOW + 5,
    );
    assert!(is_fetch(&fetch), "{fetch:?}");
    let Action::Exchange(exchange) = fetch.action else {
        unreachable!()
    };
    let keys = jwks(&["rsa2-rs256"]);
    let answer = TokenResponse {
        status: 200,
        body: keys.as_bytes(),
    };
    let outcome = site.p.resume(
        &site.loc,
        &facts(&header),
        &mut site.w,
        exchange.pending,
        answer,
        NOW + 5,
    );
    assert!(allowed(&outcome), "{outcome:?}");
    assert!(outcome
        .events
        .contains(&Event::Extra(Extra::BasicExchanged)));
    assert!(outcome.events.contains(&Event::Extra(Extra::JwksFetched)));
}

#[test]
fn configuration_checks() {
    let build = |lines: &[(&str, &str)]| {
        let mut settings = ProviderSettings::new("app").unwrap();
        for (name, value) in [
            ("issuer", ISSUER),
            ("client_id", "client"),
            ("client_secret", SECRET),
            ("cookie_secret", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
            ("external_host", "https://app.example"),
        ]
        .iter()
        .chain(lines)
        {
            settings
                .set(name, &[value], &PlainUnits)
                .map_err(|e| e.to_string())?;
        }
        settings.build(0).map(|_| ()).map_err(|e| e.to_string())
    };
    assert!(build(&[("jwks_request", "/_jwks"), ("algorithms", "RS256")]).is_ok());
    assert!(build(&[("jwks_request", "/_jwks"), ("jwks_refresh", "30s")]).is_ok());
    for (lines, message) in [
        (
            vec![("jwks_request", "_jwks")],
            "must be a URI starting with \"/\"",
        ),
        (
            vec![("jwks_refresh", "1h")],
            "jwks_refresh needs jwks_request",
        ),
        (
            vec![("jwks_request", "/j"), ("jwks_refresh", "0")],
            "invalid jwks_refresh",
        ),
        (
            vec![("jwks_request", "/j"), ("jwks_refresh", "soon")],
            "invalid jwks_refresh",
        ),
        (vec![("basic", "yes")], "must be \"on\" or \"off\""),
        (vec![("basic", "on"), ("basic", "off")], "duplicate"),
        (
            vec![("jwks_request", "/a"), ("jwks_request", "/b")],
            "duplicate",
        ),
    ] {
        let error = build(&lines).unwrap_err();
        assert!(error.contains(message), "{lines:?}: {error}");
    }
    // Without jwks_request an asymmetric algorithm still needs jwks_file.
    assert!(build(&[("algorithms", "RS256")])
        .unwrap_err()
        .contains("no RS256 key"));
}

#[test]
fn a_dropped_key_takes_its_cached_tokens_along() {
    let mut site = Site::new(&[("jwks_refresh", "10m")]);
    site.w = Worker::new(100, 1 << 20);
    let token = rs256(RSA1, "rsa1-rs256", NOW);
    site.fetched(&token, &jwks(&["rsa1-rs256"]), NOW);
    assert_eq!(site.decide(&token, NOW + 1).cache, CacheUse::Hit);
    // A refresh that adds a key keeps the cache.
    let refresh = site.decide(&token, NOW + 600);
    let outcome = site.answer(
        &token,
        refresh,
        200,
        &jwks(&["rsa1-rs256", "rsa2-rs256"]),
        NOW + 600,
    );
    assert!(allowed(&outcome));
    assert_eq!(outcome.cache, CacheUse::Hit);
    // One that drops the token's key checks it again, and refuses it.
    let refresh = site.decide(&token, NOW + 1200);
    let outcome = site.answer(&token, refresh, 200, &jwks(&["rsa2-rs256"]), NOW + 1200);
    assert_eq!(status(&outcome), 401, "{outcome:?}");
}

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

#[test]
fn a_logout_token_of_a_new_key_fetches_then_revokes() {
    let mut site = Site::new(&[]);
    let cells: Vec<AtomicU64> = (0..cells_for(1 << 16)).map(|_| AtomicU64::new(0)).collect();
    site.w.revocations = Revocations::new(Box::leak(cells.into_boxed_slice()), &LOCK);
    let old = rs256(RSA1, "rsa1-rs256", NOW);
    site.fetched(&old, &jwks(&["rsa1-rs256"]), NOW);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa2-rs256".into());
    let claims = json!({"iss": ISSUER, "aud": "client", "iat": NOW + 5, "jti": "j1",
        "sid": "sid-1", "events": {BACKCHANNEL_EVENT: {}}});
    let token = encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(RSA2.as_bytes()).unwrap(),
    )
    .unwrap();
    let body = format!("logout_token={token}");
    let request = RequestFacts {
        method: Method::Post,
        uri: b"/outpost.goauthentik.io/backchannel_logout",
        content_type: Some(b"application/x-www-form-urlencoded"),
        content_length: Some(body.len() as u64),
        ..Default::default()
    };
    let fetch = site
        .p
        .backchannel_logout(&request, Some(body.as_bytes()), &mut site.w, NOW + 5);
    let Action::Exchange(exchange) = fetch.action else {
        panic!("{fetch:?}")
    };
    let keys = jwks(&["rsa2-rs256"]);
    let answer = TokenResponse {
        status: 200,
        body: keys.as_bytes(),
    };
    let outcome = site.p.resume(
        &site.loc,
        &request,
        &mut site.w,
        exchange.pending,
        answer,
        NOW + 5,
    );
    assert_eq!(status(&outcome), 200, "{outcome:?}");
    assert!(outcome
        .events
        .contains(&Event::Extra(Extra::BackchannelAccepted)));
}
