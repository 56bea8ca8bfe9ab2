//! `Authorization: Basic` through the decisions the glue asks for: `decide`, then `resume`
//! with the `client_credentials` answer (app passwords), or a bearer token under username
//! `goauthentik.io/token`.

use authentik_core::auth::Worker;
use authentik_core::basic::{
    BASIC_CACHE_SECS, BASIC_CHALLENGE, BASIC_REFUSAL_SECS, BASIC_UNAVAILABLE_SECS,
    MAX_BASIC_EXCHANGES, TOKEN_USERNAME,
};
use authentik_core::conf::{Location, LocationSettings, PlainUnits, ProviderSettings};
use authentik_core::decision::Event;
use authentik_core::decision::{Action, Outcome, Pending, Response, Status, TokenResponse};
use authentik_core::metrics::{CacheUse, Extra};
use authentik_core::provider::Provider;
use authentik_core::request::{Method, RequestFacts};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const ISSUER: &str = "https://auth.example/application/o/app/";
const SECRET: &str = "client-secret-client-secret-client-secret-0123456789";
const NOW: u64 = 1_800_000_000;

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

fn location(extra: &[(&str, &str)]) -> Location {
    let mut settings = LocationSettings::default();
    settings
        .set("authentik", &["app"], ("test.conf", 1))
        .unwrap();
    for (name, value) in extra {
        settings.set(name, &[value], ("test.conf", 2)).unwrap();
    }
    settings.resolve(&["app"]).unwrap()
}

fn token(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn claims(user: &str, iat: u64, ttl: u64) -> Value {
    json!({"iss": ISSUER, "aud": "client", "sub": format!("sub-{user}"), "iat": iat,
        "exp": iat + ttl, "preferred_username": user})
}

/// authentik's `client_credentials` answer for `user`.
fn answer(user: &str, iat: u64, ttl: u64) -> String {
    json!({"access_token": token(claims(user, iat, ttl)), "token_type": "Bearer",
        "expires_in": ttl, "id_token": token(claims(user, iat, ttl))})
    .to_string()
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
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

fn page_load(authorization: &str) -> RequestFacts<'_> {
    RequestFacts {
        method: Method::Get,
        sec_fetch_mode: Some(b"navigate"),
        accept: Some(b"text/html"),
        ..facts(authorization)
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
            loc: location(&[]),
            w: Worker::new(100, 1 << 20),
        }
    }

    fn decide(&mut self, authorization: &str, now: u64) -> Outcome {
        self.p
            .decide(&self.loc, &facts(authorization), &mut self.w, now)
    }

    fn resume(
        &mut self,
        authorization: &str,
        outcome: Outcome,
        status: u16,
        body: &str,
        now: u64,
    ) -> Outcome {
        let Action::Exchange(exchange) = outcome.action else {
            panic!("not an exchange: {outcome:?}");
        };
        let answer = TokenResponse {
            status,
            body: body.as_bytes(),
        };
        self.p.resume(
            &self.loc,
            &facts(authorization),
            &mut self.w,
            exchange.pending,
            answer,
            now,
        )
    }
}

fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn allowed_user(outcome: &Outcome) -> String {
    match &outcome.action {
        Action::Allow(grant) => {
            assert!(
                grant.strip_authorization,
                "the client's Authorization stays here"
            );
            grant.identity.username().to_string()
        }
        other => panic!("not allowed: {other:?}"),
    }
}

fn basic_401(outcome: &Outcome) {
    let Action::Respond(response) = &outcome.action else {
        panic!("not a response: {outcome:?}");
    };
    assert_eq!(response.status, 401, "{outcome:?}");
    assert_eq!(
        response.headers,
        vec![("WWW-Authenticate", BASIC_CHALLENGE.to_string())]
    );
    assert_eq!(response.location, None);
    assert_eq!(outcome.status, Status::Invalid);
}

fn has(outcome: &Outcome, extra: Extra) -> bool {
    outcome.events.contains(&Event::Extra(extra))
}

#[test]
fn app_password_is_exchanged_with_authentiks_form() {
    let mut site = Site::new(&[]);
    let header = basic("alice", "alice app&password=");
    let outcome = site.decide(&header, NOW);
    let Action::Exchange(exchange) = &outcome.action else {
        panic!("{outcome:?}");
    };
    assert_eq!(exchange.uri, "/_authentik_token");
    assert!(matches!(exchange.pending, Pending::Basic(_)));
    let fields = form(&exchange.body);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["grant_type", "client_id", "username", "password", "scope"]
    );
    let value = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    assert_eq!(value("grant_type"), "client_credentials");
    assert_eq!(value("client_id"), "client");
    assert_eq!(value("username"), "alice");
    assert_eq!(value("password"), "alice app&password=");
    assert!(value("scope").contains("openid"));
    assert!(!exchange.body.contains(SECRET), "no client secret");
    assert_eq!(site.w.basic.in_flight(), 1);

    let allowed = site.resume(&header, outcome, 200, &answer("alice", NOW, 300), NOW);
    assert_eq!(allowed_user(&allowed), "alice");
    assert_eq!(allowed.cache, CacheUse::Miss);
    assert!(has(&allowed, Extra::BasicExchanged));
    assert_eq!(site.w.basic.in_flight(), 0, "the slot is given back");
}

#[test]
fn successes_are_cached_for_a_minute_at_most() {
    let mut site = Site::new(&[]);
    let header = basic("alice", "pw");
    let first = site.decide(&header, NOW);
    site.resume(&header, first, 200, &answer("alice", NOW, 300), NOW);
    for later in [1, BASIC_CACHE_SECS - 1] {
        let hit = site.decide(&header, NOW + later);
        assert_eq!(allowed_user(&hit), "alice", "+{later}s");
        assert_eq!(hit.cache, CacheUse::Hit);
        assert!(has(&hit, Extra::BasicCachedHit));
    }
    let expired = site.decide(&header, NOW + BASIC_CACHE_SECS);
    assert!(matches!(expired.action, Action::Exchange(_)), "{expired:?}");

    // A token that expires sooner is trusted until its exp.
    let mut site = Site::new(&[]);
    let first = site.decide(&header, NOW);
    site.resume(&header, first, 200, &answer("alice", NOW, 20), NOW);
    assert_eq!(allowed_user(&site.decide(&header, NOW + 19)), "alice");
    assert!(matches!(
        site.decide(&header, NOW + 20).action,
        Action::Exchange(_)
    ));
    // Another password is another key.
    assert!(matches!(
        site.decide(&basic("alice", "other"), NOW + 1).action,
        Action::Exchange(_)
    ));
}

#[test]
fn refusals_are_cached_and_never_redirect() {
    let mut site = Site::new(&[]);
    let header = basic("alice", "wrong");
    let first = site.decide(&header, NOW);
    let refused = site.resume(&header, first, 400, r#"{"error":"invalid_grant"}"#, NOW);
    basic_401(&refused);
    assert!(has(&refused, Extra::BasicRefused));
    let line = refused.log.as_ref().unwrap().message.clone();
    assert!(line.contains("\"alice\"") && line.contains("400"), "{line}");
    assert!(!line.contains("wrong"), "never the password: {line}");
    // Page loads too: a client that sent credentials wants an answer.
    let again = site
        .p
        .decide(&site.loc, &page_load(&header), &mut site.w, NOW + 1);
    basic_401(&again);
    assert_eq!(again.cache, CacheUse::Hit);
    assert!(again.log.is_none(), "one line per refusal, not per request");
    let later = site.decide(&header, NOW + BASIC_REFUSAL_SECS - 1);
    basic_401(&later);
    assert!(matches!(
        site.decide(&header, NOW + BASIC_REFUSAL_SECS).action,
        Action::Exchange(_)
    ));
    // Tokens that do not verify are a refusal too.
    let header = basic("bob", "pw");
    let first = site.decide(&header, NOW);
    let mut wrong_issuer = claims("bob", NOW, 300);
    wrong_issuer["iss"] = json!("https://evil.example/");
    let body =
        json!({"access_token": token(wrong_issuer.clone()), "id_token": token(wrong_issuer)})
            .to_string();
    basic_401(&site.resume(&header, first, 200, &body, NOW));
    basic_401(&site.decide(&header, NOW + 1));
}

#[test]
fn authentik_down_refuses_new_credentials_and_keeps_cached_ones() {
    let mut site = Site::new(&[]);
    let cached = basic("alice", "pw");
    let first = site.decide(&cached, NOW);
    site.resume(&cached, first, 200, &answer("alice", NOW, 300), NOW);

    let new = basic("carol", "pw");
    for status in [0, 502, 503] {
        let mut site = Site::new(&[]);
        let first = site.decide(&new, NOW);
        let down = site.resume(&new, first, status, "", NOW);
        basic_401(&down);
        assert!(has(&down, Extra::BasicFailure), "{status}");
        assert_eq!(
            down.log.as_ref().unwrap().level,
            authentik_core::decision::Level::Warn
        );
        // Held briefly, then asked again.
        basic_401(&site.decide(&new, NOW + BASIC_UNAVAILABLE_SECS - 1));
        assert!(matches!(
            site.decide(&new, NOW + BASIC_UNAVAILABLE_SECS).action,
            Action::Exchange(_)
        ));
    }
    assert_eq!(allowed_user(&site.decide(&cached, NOW + 30)), "alice");
}

#[test]
fn token_username_verifies_the_password_as_a_bearer_token() {
    let mut site = Site::new(&[]);
    let jwt = token(claims("alice", NOW, 300));
    let header = basic(TOKEN_USERNAME, &jwt);
    let outcome = site.decide(&header, NOW);
    assert_eq!(allowed_user(&outcome), "alice");
    assert_eq!(outcome.cache, CacheUse::Miss);
    assert_eq!(site.decide(&header, NOW + 1).cache, CacheUse::Hit);
    let bad = basic(TOKEN_USERNAME, &format!("{jwt}x"));
    let refused = site.decide(&bad, NOW);
    basic_401(&refused);
    // With bearer off, no token reaches the module as Basic credentials either.
    let mut off = Site::new(&[("bearer", "off")]);
    basic_401(&off.decide(&header, NOW));
}

#[test]
fn malformed_headers_are_401_without_an_exchange() {
    let mut site = Site::new(&[]);
    for header in [
        "Basic".to_string(),
        "Basic !!!".to_string(),
        format!("Basic {}", STANDARD.encode("no-colon")),
        format!("Basic {}", STANDARD.encode("nul\0user:pw")),
        format!("Basic {}", STANDARD.encode(":pw")),
        format!("Basic {}", "A".repeat(100_000)),
    ] {
        let outcome = site.decide(&header, NOW);
        basic_401(&outcome);
        assert!(outcome.log.is_some(), "{header:.30}");
    }
    assert_eq!(site.w.basic.in_flight(), 0);
}

#[test]
fn basic_off_leaves_the_header_alone() {
    let mut site = Site::new(&[("basic", "off")]);
    let outcome = site.decide(&basic("alice", "pw"), NOW);
    let Action::Respond(response) = &outcome.action else {
        panic!("{outcome:?}");
    };
    assert_eq!(response.status, 401);
    assert_eq!(
        response.headers,
        vec![("WWW-Authenticate", "Bearer realm=\"authentik\"".to_string())],
        "no Basic challenge with basic off"
    );
    assert_eq!(outcome.status, Status::Missing);
}

#[test]
fn exchanges_are_capped_per_worker() {
    let mut site = Site::new(&[]);
    let mut running = Vec::new();
    for i in 0..MAX_BASIC_EXCHANGES {
        let outcome = site.decide(&basic(&format!("u{i}"), "pw"), NOW);
        assert!(matches!(outcome.action, Action::Exchange(_)));
        running.push(outcome);
    }
    let over = site.decide(&basic("one-more", "pw"), NOW);
    let Action::Respond(Response {
        status: 503,
        headers,
        ..
    }) = &over.action
    else {
        panic!("{over:?}");
    };
    assert_eq!(headers, &vec![("Retry-After", "1".to_string())]);
    // A request that goes away mid-exchange gives its place back.
    running.pop();
    assert!(matches!(
        site.decide(&basic("one-more", "pw"), NOW).action,
        Action::Exchange(_)
    ));
}

#[test]
fn without_token_request_app_passwords_are_refused() {
    let mut settings = ProviderSettings::new("app").unwrap();
    for (name, value) in [
        ("issuer", ISSUER),
        ("client_id", "client"),
        ("client_secret", SECRET),
        ("cookie_secret", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
        ("external_host", "https://app.example"),
    ] {
        settings.set(name, &[value], &PlainUnits).unwrap();
    }
    let p = settings.build(0).unwrap().0;
    let mut w = Worker::new(10, 1 << 16);
    let header = basic("alice", "pw");
    basic_401(&p.decide(&location(&[]), &facts(&header), &mut w, NOW));
}

#[test]
fn sessions_and_skip_paths_come_first() {
    let mut site = Site::new(&[("skip_path", "^/public")]);
    let header = basic("alice", "wrong");
    let public = RequestFacts {
        uri: b"/public/x",
        request_uri: b"/public/x",
        ..facts(&header)
    };
    let first = site.p.decide(&site.loc, &public, &mut site.w, NOW);
    let Action::Exchange(exchange) = first.action else {
        panic!("{first:?}")
    };
    let answer = TokenResponse {
        status: 400,
        body: b"{}",
    };
    let outcome = site.p.resume(
        &site.loc,
        &public,
        &mut site.w,
        exchange.pending,
        answer,
        NOW,
    );
    assert!(matches!(outcome.action, Action::Pass), "{outcome:?}");
    assert_eq!(outcome.status, Status::Skipped);
}

#[test]
fn non_browsers_are_challenged_for_basic() {
    let mut site = Site::new(&[]);
    let mut w = Worker::new(10, 1 << 16);
    let cli = RequestFacts {
        uri: b"/app",
        request_uri: b"/app",
        ..Default::default()
    };
    let outcome = site.p.decide(&site.loc, &cli, &mut w, NOW);
    let Action::Respond(response) = &outcome.action else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        response.headers,
        vec![
            ("WWW-Authenticate", "Bearer realm=\"authentik\"".to_string()),
            ("WWW-Authenticate", BASIC_CHALLENGE.to_string()),
        ]
    );
    let fetch = RequestFacts {
        sec_fetch_mode: Some(b"cors"),
        ..cli
    };
    let outcome = site.p.decide(&site.loc, &fetch, &mut site.w, NOW);
    let Action::Respond(response) = &outcome.action else {
        panic!("{outcome:?}")
    };
    assert_eq!(response.headers.len(), 1, "browsers get no Basic dialog");
    // Browsers send no Sec-Fetch-Mode to plain-http origins: their user agent tells them.
    let plain_http_fetch = RequestFacts {
        user_agent: Some(b"Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0"),
        ..cli
    };
    let outcome = site
        .p
        .decide(&site.loc, &plain_http_fetch, &mut site.w, NOW);
    let Action::Respond(response) = &outcome.action else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        response.headers.len(),
        1,
        "browsers get no Basic dialog over http"
    );
}

#[test]
fn policy_still_applies() {
    let mut site = Site::new(&[]);
    site.loc = location(&[("authentik_require_group", "admins")]);
    let header = basic("alice", "pw");
    let first = site.decide(&header, NOW);
    let outcome = site.resume(&header, first, 200, &answer("alice", NOW, 300), NOW);
    assert_eq!(outcome.status, Status::Forbidden);
}

#[test]
fn forward_auth_endpoints_take_app_passwords_too() {
    use authentik_core::forward::Forwarded;
    const TRAEFIK: &[u8] = b"/outpost.goauthentik.io/auth/traefik";
    let mut site = Site::new(&[]);
    let header = basic("alice", "pw");
    let traefik = RequestFacts {
        uri: TRAEFIK,
        request_uri: TRAEFIK,
        host: b"outpost.internal",
        server: b"outpost.internal",
        sec_fetch_mode: Some(b"navigate"),
        accept: Some(b"text/html"),
        authorization: Some(header.as_bytes()),
        forwarded: Forwarded {
            method: Some(b"GET"),
            proto: Some(b"https"),
            host: Some(b"app.example"),
            uri: Some(b"/repo"),
            ..Default::default()
        },
        ..Default::default()
    };
    let first = site.p.decide(&site.loc, &traefik, &mut site.w, NOW);
    let Action::Exchange(exchange) = first.action else {
        panic!("{first:?}")
    };
    let body = answer("alice", NOW, 300);
    let answer = TokenResponse {
        status: 200,
        body: body.as_bytes(),
    };
    let outcome = site.p.resume(
        &site.loc,
        &traefik,
        &mut site.w,
        exchange.pending,
        answer,
        NOW,
    );
    let Action::Answer(grant) = &outcome.action else {
        panic!("a forward-auth answer: {outcome:?}")
    };
    assert_eq!(grant.identity.username(), "alice");
    // Cached: answered at once; a wrong password is a 401 with the Basic challenge.
    let cached = site.p.decide(&site.loc, &traefik, &mut site.w, NOW + 1);
    assert!(matches!(cached.action, Action::Answer(_)), "{cached:?}");
    let wrong = basic("alice", "wrong");
    let refused = RequestFacts {
        authorization: Some(wrong.as_bytes()),
        ..traefik
    };
    let first = site.p.decide(&site.loc, &refused, &mut site.w, NOW);
    let Action::Exchange(exchange) = first.action else {
        panic!("{first:?}")
    };
    let answer = TokenResponse {
        status: 400,
        body: b"{}",
    };
    basic_401(&site.p.resume(
        &site.loc,
        &refused,
        &mut site.w,
        exchange.pending,
        answer,
        NOW,
    ));
}
