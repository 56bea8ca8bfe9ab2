//! The forward-auth endpoints (docs/architecture.md §5, "Forward auth") on arbitrary forwarded
//! headers and no credentials. For every input the decision must:
//! * never allow (no credentials were sent), never answer with identity headers;
//! * answer 200 only as a `skip_path` match, and only when the forwarded path reads `/public/…`
//!   in the plain (no dot segment, no encoded dot, slash or backslash) way;
//! * redirect only outside `/auth/nginx`, to authentik's authorize or end-session URL;
//! * otherwise answer 400 or 401, with no control byte in any header value.
//!
//! Input: one byte choosing the endpoint and provider, then the header values separated by
//! 0xff: X-Forwarded-Method, -Proto, -Host, -Uri, X-Original-URL, X-Original-URI, Host.
#![no_main]

use std::sync::LazyLock;

use authentik_core::auth::Worker;
use authentik_core::conf::{Location, LocationSettings, PlainUnits, ProviderSettings};
use authentik_core::decision::{Action, Status};
use authentik_core::forward::Forwarded;
use authentik_core::provider::Provider;
use authentik_core::request::RequestFacts;
use fuzz_support::{AUD, ISS, SECRET_A};
use libfuzzer_sys::fuzz_target;

const ENDPOINTS: [&[u8]; 5] = [
    b"/outpost.goauthentik.io/auth/traefik",
    b"/outpost.goauthentik.io/auth/caddy",
    b"/outpost.goauthentik.io/auth/nginx",
    b"/outpost.goauthentik.io/auth/envoy",
    b"/outpost.goauthentik.io/auth/envoy/public/x",
];

fn provider(domain: bool) -> Provider {
    let mut settings = ProviderSettings::new("app").expect("name");
    let secret = String::from_utf8_lossy(SECRET_A).into_owned();
    let mut lines = vec![
        ("issuer", ISS),
        ("client_id", AUD),
        ("client_secret", secret.as_str()),
        ("cookie_secret", "cookie-secret-cookie-secret-cookie-secret"),
        ("token_request", "/_authentik_token"),
    ];
    if domain {
        lines.extend([
            ("external_host", "https://auth.company.tld"),
            ("mode", "domain"),
            ("cookie_domain", "company.tld"),
        ]);
    } else {
        lines.extend([
            ("external_host", "https://app.example"),
            ("skip_path", "^/public/"),
        ]);
    }
    for (name, value) in lines {
        settings.set(name, &[value], &PlainUnits).expect(name);
    }
    settings.build(0).expect("fuzz provider").0
}

static PROVIDERS: LazyLock<[Provider; 2]> = LazyLock::new(|| [provider(false), provider(true)]);
static LOCATION: LazyLock<Location> = LazyLock::new(|| {
    let mut settings = LocationSettings::default();
    settings
        .set("authentik", &["app"], ("fuzz", 1))
        .expect("authentik");
    settings.resolve(&["app"]).expect("resolve")
});

/// The raw path of an origin-form target, when it is a plain `/public/…` path.
fn plain_public(target: &[u8]) -> bool {
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    path.starts_with(b"/public/")
        && !path.contains(&b'\\')
        && !["%2e", "%2f", "%5c"]
            .iter()
            .any(|h| lower.windows(3).any(|w| w == h.as_bytes()))
        && !path.split(|&b| b == b'/').any(|s| {
            let s = s.split(|&b| b == b';').next().unwrap_or_default();
            s == b"." || s == b".."
        })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.split(|&b| b == 0xff);
    let mut next = || parts.next().filter(|p| !p.is_empty());
    let (method, proto, host, uri, original_url, original_uri, host_header) =
        (next(), next(), next(), next(), next(), next(), next());
    let endpoint = ENDPOINTS[(which & 0x7) as usize % ENDPOINTS.len()];
    let domain = which & 0x80 != 0;
    let p = &PROVIDERS[usize::from(domain)];
    let request = RequestFacts {
        host: host_header.unwrap_or(b"outpost.internal"),
        server: b"outpost.internal",
        uri: endpoint,
        request_uri: endpoint,
        sec_fetch_mode: (which & 0x40 != 0).then_some(&b"navigate"[..]),
        forwarded: Forwarded {
            method,
            proto,
            host,
            uri,
            original_url,
            original_uri,
            repeated: which & 0x20 != 0,
        },
        ..Default::default()
    };
    let mut worker = Worker::new(16, 1 << 16);
    let outcome = p.decide(&LOCATION, &request, &mut worker, fuzz_support::NOW);
    let response = match &outcome.action {
        Action::Respond(response) => response,
        other => panic!("no credentials, yet {other:?}"),
    };
    let nginx = endpoint.ends_with(b"/nginx");
    match response.status {
        200 => {
            assert_eq!(outcome.status, Status::Skipped);
            assert!(!domain, "domain mode has no skip_path here");
            let target: &[u8] = match endpoint {
                e if e.starts_with(b"/outpost.goauthentik.io/auth/envoy") => {
                    &e[b"/outpost.goauthentik.io/auth/envoy".len()..]
                }
                _ if nginx => original_uri.unwrap_or_default(),
                _ => uri.unwrap_or_default(),
            };
            let target = if nginx && original_url.is_some() {
                let url = original_url.unwrap_or_default();
                let after = url
                    .windows(3)
                    .position(|w| w == b"://")
                    .map_or(url, |i| &url[i + 3..]);
                let start = after
                    .iter()
                    .position(|&b| b == b'/' || b == b'?')
                    .unwrap_or(after.len());
                &after[start..]
            } else {
                target
            };
            assert!(
                plain_public(target),
                "skipped {:?}",
                String::from_utf8_lossy(target)
            );
        }
        302 => {
            assert!(!nginx, "auth_request got a redirect");
            let location = response.location.as_deref().expect("a Location");
            assert!(
                location.starts_with("https://auth.example/application/o/authorize/?")
                    || location.starts_with("https://auth.example/application/o/app/end-session/"),
                "{location}"
            );
        }
        400 | 401 => {}
        other => panic!("status {other}"),
    }
    for value in response
        .cookies
        .iter()
        .map(String::as_str)
        .chain(response.location.as_deref())
        .chain(response.headers.iter().map(|(_, v)| v.as_str()))
    {
        assert!(!value.bytes().any(|b| b < 0x20 || b == 0x7f), "{value:?}");
    }
});
