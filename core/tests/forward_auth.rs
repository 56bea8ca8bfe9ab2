//! The forward-auth endpoints' decisions (`/outpost.goauthentik.io/auth/{traefik,caddy,nginx,
//! envoy}`): the original request rebuilt from the forwarded headers, and the answers.

use authentik_core::auth::Worker;
use authentik_core::conf::{Location, LocationSettings, PlainUnits, ProviderSettings};
use authentik_core::decision::{Action, Outcome, Pending, Response, Status};
use authentik_core::fields::FIELDS;
use authentik_core::forward::Forwarded;
use authentik_core::provider::Provider;
use authentik_core::redirect::query_arg;
use authentik_core::request::{Method, RequestFacts};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

const ISSUER: &str = "https://auth.example/application/o/app/";
const SECRET: &str = "client-secret-client-secret-client-secret-0123456789";
const NOW: u64 = 1_800_000_000;
const TRAEFIK: &[u8] = b"/outpost.goauthentik.io/auth/traefik";
const NGINX: &[u8] = b"/outpost.goauthentik.io/auth/nginx";

fn provider(extra: &[(&str, &str)]) -> Provider {
    let mut settings = ProviderSettings::new("app").unwrap();
    let lines = [
        ("issuer", ISSUER),
        ("client_id", "client"),
        ("client_secret", SECRET),
        ("cookie_secret", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
        ("token_request", "/_authentik_token"),
    ];
    let external = if extra.iter().any(|(k, _)| *k == "mode") {
        "https://auth.company.tld"
    } else {
        "https://app.example"
    };
    for (name, value) in lines
        .iter()
        .chain(&[("external_host", external)])
        .chain(extra)
    {
        settings.set(name, &[value], &PlainUnits).unwrap();
    }
    settings.build(0).unwrap().0
}

fn domain() -> Provider {
    provider(&[("mode", "domain"), ("cookie_domain", "company.tld")])
}

fn location(extra: &[(&str, &[&str])]) -> Location {
    let mut settings = LocationSettings::default();
    settings
        .set("authentik", &["app"], ("test.conf", 1))
        .unwrap();
    for (name, args) in extra {
        settings.set(name, args, ("test.conf", 2)).unwrap();
    }
    settings.resolve(&["app"]).unwrap()
}

fn token(user: &str, groups: &[&str]) -> String {
    let claims = json!({"iss": ISSUER, "aud": "client", "sub": "u1", "iat": NOW,
        "exp": NOW + 300, "preferred_username": user, "groups": groups,
        "ak_proxy": {"user_attributes": {"additionalHeaders": {"X-Team": "blue"}}}});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// Traefik's forward-auth request for `GET proto://host uri`, as Traefik sends it (GET to the
/// endpoint, the client's headers, X-Forwarded-*).
fn traefik<'a>(host: &'a [u8], uri: &'a [u8]) -> RequestFacts<'a> {
    RequestFacts {
        method: Method::Get,
        host: b"outpost.internal:9000",
        server: b"outpost.internal",
        uri: TRAEFIK,
        request_uri: TRAEFIK,
        sec_fetch_mode: Some(b"navigate"),
        accept: Some(b"text/html"),
        forwarded: Forwarded {
            method: Some(b"GET"),
            proto: Some(b"https"),
            host: Some(host),
            uri: Some(uri),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn decide(p: &Provider, location: &Location, request: &RequestFacts<'_>) -> Outcome {
    let mut worker = Worker::new(100, 1 << 20);
    p.decide(location, request, &mut worker, NOW)
}

fn response(outcome: &Outcome) -> &Response {
    match &outcome.action {
        Action::Respond(response) => response,
        other => panic!("expected a response, got {other:?}"),
    }
}

/// The return URL sealed in the login state of a 302 to authorize.
fn login_rd(p: &Provider, response: &Response) -> String {
    let location = response.location.as_deref().expect("a Location");
    assert!(
        location.starts_with("https://auth.example/application/o/authorize/?"),
        "{location}"
    );
    let state = query_arg(location.split_once('?').unwrap().1.as_bytes(), "state").unwrap();
    let name = p.login_state_cookie_name(&state);
    let cookie = response
        .cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .expect("the login-state cookie");
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    p.open_login_state(&state, Some(value.as_bytes()), NOW)
        .unwrap()
        .rd
}

#[test]
fn an_allowed_request_gets_200_with_every_identity_header() {
    let p = provider(&[]);
    let bearer = format!("Bearer {}", token("alice", &["users"]));
    let request = RequestFacts {
        authorization: Some(bearer.as_bytes()),
        ..traefik(b"app.example", b"/page")
    };
    let outcome = decide(&p, &location(&[]), &request);
    assert_eq!(outcome.status, Status::Ok);
    let Action::Answer(grant) = &outcome.action else {
        panic!("expected an answer, got {:?}", outcome.action);
    };
    let headers: Vec<(&str, &str)> = grant
        .upstream_headers(&p)
        .map(|h| (h.name, h.value))
        .collect();
    for spec in FIELDS {
        assert!(
            headers.iter().any(|(n, _)| *n == spec.header.name()),
            "{} missing from {headers:?}",
            spec.header.name()
        );
    }
    assert!(headers.contains(&("X-authentik-username", "alice")));
    assert!(headers.contains(&("X-authentik-email", "")), "{headers:?}");
    assert!(headers.contains(&("X-Team", "blue")), "{headers:?}");
}

#[test]
fn a_page_load_without_a_session_goes_to_authorize_and_returns_to_the_forwarded_url() {
    let p = provider(&[]);
    let outcome = decide(
        &p,
        &location(&[]),
        &traefik(b"app.example", b"/deep/page?x=1&y=2"),
    );
    assert_eq!(outcome.status, Status::Missing);
    let r = response(&outcome);
    assert_eq!(r.status, 302);
    assert_eq!(login_rd(&p, r), "https://app.example/deep/page?x=1&y=2");
}

#[test]
fn anything_else_without_a_session_gets_401() {
    let p = provider(&[]);
    for request in [
        RequestFacts {
            sec_fetch_mode: Some(b"cors"),
            ..traefik(b"app.example", b"/api")
        },
        RequestFacts {
            forwarded: Forwarded {
                method: Some(b"POST"),
                ..traefik(b"app.example", b"/api").forwarded
            },
            ..traefik(b"app.example", b"/api")
        },
        RequestFacts {
            forwarded: Forwarded {
                proto: Some(b"wss"),
                ..traefik(b"app.example", b"/socket").forwarded
            },
            ..traefik(b"app.example", b"/socket")
        },
    ] {
        let outcome = decide(&p, &location(&[]), &request);
        let r = response(&outcome);
        assert_eq!(r.status, 401, "{request:?}");
        assert!(r.location.is_none());
    }
}

#[test]
fn nginx_auth_request_never_gets_a_redirect() {
    let p = provider(&[]);
    let request = RequestFacts {
        uri: NGINX,
        request_uri: NGINX,
        forwarded: Forwarded {
            original_url: Some(b"https://app.example/page"),
            ..Default::default()
        },
        ..traefik(b"", b"")
    };
    for loc in [
        location(&[]),
        location(&[("authentik_unauthenticated", &["redirect"])]),
    ] {
        let outcome = decide(&p, &loc, &request);
        assert_eq!(response(&outcome).status, 401);
        assert!(response(&outcome).cookies.is_empty());
    }
    let bearer = format!("Bearer {}", token("alice", &[]));
    let uri_and_host = RequestFacts {
        host: b"app.example",
        authorization: Some(bearer.as_bytes()),
        forwarded: Forwarded {
            original_uri: Some(b"/page"),
            ..Default::default()
        },
        ..request
    };
    let outcome = decide(&p, &location(&[]), &uri_and_host);
    assert!(matches!(outcome.action, Action::Answer(_)));
}

#[test]
fn policy_denial_is_403() {
    let p = provider(&[]);
    let bearer = format!("Bearer {}", token("alice", &["users"]));
    let request = RequestFacts {
        authorization: Some(bearer.as_bytes()),
        ..traefik(b"app.example", b"/admin/")
    };
    let loc = location(&[("authentik_require_group", &["admins"])]);
    let outcome = decide(&p, &loc, &request);
    assert_eq!(outcome.status, Status::Forbidden);
    assert_eq!(response(&outcome).status, 403);
    // authentik_require: the glue's values decide, as for a proxied request.
    let allowed = decide(&p, &location(&[]), &request);
    let forbidden = p.enforce_require(&allowed, [&b"0"[..]]).expect("a 403");
    assert_eq!(response(&forbidden).status, 403);
    assert!(p.enforce_require(&allowed, [&b"yes"[..]]).is_none());
}

#[test]
fn skip_path_reads_the_forwarded_url() {
    let p = provider(&[("skip_path", "^/public/")]);
    let outcome = decide(
        &p,
        &location(&[]),
        &traefik(b"app.example", b"/public/a.css"),
    );
    assert_eq!(outcome.status, Status::Skipped);
    assert_eq!(response(&outcome), &Response::status(200));
    for hostile in [
        &b"/private/x"[..],
        b"/public/../admin",
        b"/public/%2e%2e/admin",
        b"/public%2f..%2fadmin",
    ] {
        let outcome = decide(&p, &location(&[]), &traefik(b"app.example", hostile));
        assert_ne!(
            outcome.status,
            Status::Skipped,
            "{}",
            String::from_utf8_lossy(hostile)
        );
    }
    // The endpoint's own path is never what skip_path reads.
    let p = provider(&[("skip_path", "^/outpost")]);
    let outcome = decide(&p, &location(&[]), &traefik(b"app.example", b"/page"));
    assert_eq!(response(&outcome).status, 302);
    // Domain mode: the full URL, from X-Forwarded-Proto and -Host.
    let mut p = ProviderSettings::new("app").unwrap();
    for (name, value) in [
        ("issuer", ISSUER),
        ("client_id", "client"),
        ("client_secret", SECRET),
        ("cookie_secret", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
        ("external_host", "https://auth.company.tld"),
        ("mode", "domain"),
        ("cookie_domain", "company.tld"),
        ("skip_path", "^https://public\\.company\\.tld/"),
    ] {
        p.set(name, &[value], &PlainUnits).unwrap();
    }
    let p = p.build(0).unwrap().0;
    let outcome = decide(&p, &location(&[]), &traefik(b"public.company.tld", b"/x"));
    assert_eq!(outcome.status, Status::Skipped);
    let outcome = decide(&p, &location(&[]), &traefik(b"app.company.tld", b"/x"));
    assert_eq!(outcome.status, Status::Missing);
}

#[test]
fn open_redirects_through_the_forwarded_headers_stay_home() {
    let single = provider(&[]);
    for (host, uri, rd) in [
        (&b"evil.test"[..], &b"/x"[..], "https://app.example/x"),
        (
            b"app.example",
            b"//evil.test/x",
            "https://app.example//evil.test/x",
        ),
        (b"app.example:444", b"/x", "https://app.example/x"),
    ] {
        let outcome = decide(&single, &location(&[]), &traefik(host, uri));
        assert_eq!(login_rd(&single, response(&outcome)), rd);
    }
    let domain = domain();
    for (host, rd) in [
        (&b"app.company.tld"[..], "https://app.company.tld/x"),
        (b"evil.test", "https://auth.company.tld/"),
        (b"evilcompany.tld", "https://auth.company.tld/"),
    ] {
        let outcome = decide(&domain, &location(&[]), &traefik(host, b"/x"));
        assert_eq!(login_rd(&domain, response(&outcome)), rd);
    }
}

#[test]
fn missing_or_malformed_forwarded_headers_get_400() {
    let p = provider(&[]);
    let base = traefik(b"app.example", b"/x");
    let cases = [
        Forwarded {
            proto: None,
            ..base.forwarded
        },
        Forwarded {
            host: None,
            ..base.forwarded
        },
        Forwarded {
            uri: None,
            ..base.forwarded
        },
        Forwarded {
            proto: Some(b"gopher"),
            ..base.forwarded
        },
        Forwarded {
            host: Some(b"user@evil.test"),
            ..base.forwarded
        },
        Forwarded {
            host: Some(b"app.example\x01"),
            ..base.forwarded
        },
        Forwarded {
            uri: Some(b"http://evil.test/"),
            ..base.forwarded
        },
        Forwarded {
            uri: Some(b"/a\x7fb"),
            ..base.forwarded
        },
        Forwarded {
            uri: Some(b"/a%0d%0aSet-Cookie:x=1"),
            ..base.forwarded
        },
        Forwarded {
            repeated: true,
            ..base.forwarded
        },
    ];
    for forwarded in cases {
        let request = RequestFacts { forwarded, ..base };
        let outcome = decide(&p, &location(&[]), &request);
        assert_eq!(response(&outcome).status, 400, "{forwarded:?}");
        assert!(outcome.log.is_some());
    }
    let nginx = RequestFacts {
        uri: NGINX,
        request_uri: NGINX,
        forwarded: Forwarded::default(),
        ..base
    };
    assert_eq!(response(&decide(&p, &location(&[]), &nginx)).status, 400);
}

#[test]
fn the_callback_and_sign_out_arrive_through_forward_auth() {
    let p = provider(&[]);
    let loc = location(&[]);
    let started = decide(&p, &loc, &traefik(b"app.example", b"/page"));
    let r = response(&started);
    let state = query_arg(
        r.location
            .as_deref()
            .unwrap()
            .split_once('?')
            .unwrap()
            .1
            .as_bytes(),
        "state",
    )
    .unwrap();
    let pair = r.cookies[0].split(';').next().unwrap().to_string();
    let cookies = [pair.as_bytes()];
    for uri in [
        format!(
            "/outpost.goauthentik.io/callback?X-authentik-auth-callback=true&code=c&state={state}"
        ),
        format!("/?X-authentik-auth-callback=true&code=c&state={state}"),
    ] {
        let request = RequestFacts {
            cookies: &cookies,
            ..traefik(b"app.example", uri.as_bytes())
        };
        let outcome = decide(&p, &loc, &request);
        let Action::Exchange(exchange) = outcome.action else {
            panic!(
                "{uri}: expected the code exchange, got {:?}",
                outcome.action
            );
        };
        let Pending::Login(login) = exchange.pending else {
            panic!("not a login");
        };
        assert_eq!(login.rd, "https://app.example/page");
        assert_eq!(
            query_arg(exchange.body.as_bytes(), "code").as_deref(),
            Some("c")
        );
    }
    let bad = decide(
        &p,
        &loc,
        &traefik(
            b"app.example",
            b"/outpost.goauthentik.io/callback?code=c&state=s",
        ),
    );
    assert_eq!(response(&bad).status, 400);
    for uri in [
        &b"/outpost.goauthentik.io/sign_out"[..],
        b"/x?X-authentik-logout=true",
    ] {
        let outcome = decide(&p, &loc, &traefik(b"app.example", uri));
        let r = response(&outcome);
        assert_eq!(r.status, 302);
        assert_eq!(
            r.location.as_deref(),
            Some("https://auth.example/application/o/app/end-session/")
        );
        assert!(r.cookies.iter().any(|c| c.contains("Max-Age=0")));
    }
    // nginx's auth_request never completes a login: that is the outpost location's job.
    let nginx = RequestFacts {
        uri: NGINX,
        request_uri: NGINX,
        forwarded: Forwarded {
            original_url: Some(b"https://app.example/outpost.goauthentik.io/sign_out"),
            ..Default::default()
        },
        ..traefik(b"", b"")
    };
    assert_eq!(response(&decide(&p, &loc, &nginx)).status, 401);
}

#[test]
fn envoy_reads_the_path_after_its_endpoint_and_the_host_header() {
    let p = provider(&[]);
    let request = RequestFacts {
        host: b"app.example",
        server: b"app.example",
        uri: b"/outpost.goauthentik.io/auth/envoy/app/x",
        request_uri: b"/outpost.goauthentik.io/auth/envoy/app/x?y=1",
        args: b"y=1",
        forwarded: Forwarded {
            proto: Some(b"https"),
            ..Default::default()
        },
        ..traefik(b"", b"")
    };
    let outcome = decide(&p, &location(&[]), &request);
    assert_eq!(
        login_rd(&p, response(&outcome)),
        "https://app.example/app/x?y=1"
    );
}
