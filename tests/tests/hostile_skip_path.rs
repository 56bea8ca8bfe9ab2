//! The skip_path bypass through dot segments, and its mirror images: no anonymous request may
//! deliver a protected path upstream, whichever reading of the path the upstream uses.
//!
//! nginx matches locations on its normalised `$uri`, but `proxy_pass` without a URI part
//! forwards the raw request target, and routers such as Flask's do not resolve dot segments.
//! A request is skipped only when both readings match `skip_path` (core `skip` module).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use authentik_integration::*;

/// Each of these is `/public/x` to nginx and `/secret/…` to a router that does not resolve
/// dot segments.
const ATTACKS: &[&str] = &[
    "/secret/../public/x",
    "/secret/%2e%2e/public/x",
    "/secret/%2E%2E/public/x",
    "/secret/.%2e/public/x",
    "/secret/..%2Fpublic/x",
    "/secret%2f..%2fpublic/x",
    "/secret/a/b/../../../public/x",
    "//secret/../public/x",
    "/secret;/../public/x",
    "http://localhost/secret/../public/x",
];

/// The other direction: under /public/ when read raw, elsewhere once normalised.
const MIRRORS: &[&str] = &[
    "/public/../secret/x",
    "/public/%2e%2e/secret/x",
    "/public/%2E%2E/secret/x",
    "/public/.%2e/secret/x",
    "/public/..%2Fsecret/x",
    "/public%2f..%2fsecret/x",
    "/public/a/b/../../../secret/x",
    "//public/../secret/x",
    "/public;/../secret/x",
    "http://localhost/public/../secret/x",
];

fn page_load(path: &str) -> Request {
    Request::get(path)
        .header("Sec-Fetch-Mode", "navigate")
        .header("Accept", "text/html")
}

/// Every attack and mirror, plain and as a page load: 401 or 302, never upstream.
fn assert_all_refused(ng: &Nginx) -> Vec<String> {
    let mut lines = Vec::new();
    for path in ATTACKS.iter().chain(MIRRORS) {
        for (kind, req) in [("api", Request::get(path)), ("page", page_load(path))] {
            let before = ng.upstream_count();
            let r = ng.send(&req);
            lines.push(format!(
                "{kind} {path} -> {} {}",
                r.status,
                r.authentik_status()
            ));
            let expected = if kind == "api" { 401 } else { 302 };
            assert_eq!(
                r.status,
                expected,
                "{kind} {path}: status {} ({}), must need credentials\n{}",
                r.status,
                r.authentik_status(),
                r.text()
            );
            assert_ne!(r.authentik_status(), "skipped", "{kind} {path}");
            assert_eq!(
                ng.upstream_count(),
                before,
                "{kind} {path} reached the upstream"
            );
        }
    }
    lines
}

#[test]
fn single_mode_never_skips_an_ambiguous_path() {
    // The shape of nginx-conf/single-application.conf before the fix: proxy_pass without a
    // URI part, so the upstream gets the raw request target.
    let http = provider("app", "skip_path ^/public/; token_request /_t;")
        + &server(
            r#"
    authentik app;
    location / { @PROXY@ }
    location = /_t { internal; proxy_pass http://127.0.0.1:9/; }
"#,
        );
    let ng = Conf::new(http).start();
    let lines = assert_all_refused(&ng);
    // The fix keeps plain public paths public.
    for path in ["/public/x", "/public/x?y=1", "http://localhost/public/x"] {
        let r = ng.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.authentik_status(), "skipped");
        assert!(r.upstream().uri.starts_with("/public/x"), "{path}");
    }
    eprintln!("skip_path probes (single mode):\n  {}", lines.join("\n  "));
}

#[test]
fn domain_mode_never_skips_an_ambiguous_path() {
    let http = provider(
        "dom",
        "mode domain; cookie_domain localhost; skip_path ^http://localhost/public/; \
         token_request /_t;",
    )
    .replace(
        &format!("external_host {EXTERNAL_HOST};"),
        "external_host http://auth.localhost;",
    ) + &server(
        r#"
    authentik dom;
    location / { @PROXY@ }
    location = /_t { internal; proxy_pass http://127.0.0.1:9/; }
"#,
    );
    let ng = Conf::new(http).start();
    assert_all_refused(&ng);
    let r = ng.get("/public/x?y=1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "skipped");
}

/// The Flask router of tests/fixtures/router_app.py, on a free port.
struct Router {
    child: Child,
    port: u16,
}

impl Router {
    fn start() -> Router {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/router_app.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Flask router (Debian's python3-flask)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("router stdout"))
            .read_line(&mut line)
            .expect("router port line");
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("router printed no port: {line:?} (is python3-flask installed?)")
        });
        Router { child, port }
    }

    /// GET `target` straight from the router, bypassing nginx.
    fn direct(&self, target: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect router");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    }

    fn secret_hits(&self) -> String {
        let answer = self.direct("/_secret_hits");
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.trim().to_string())
            .unwrap_or_default()
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_router_that_keeps_dot_segments_never_serves_its_secret_anonymously() {
    let router = Router::start();
    // The router really is exposed to the raw reading: straight to it, the attacks route to
    // /secret.
    let direct = router.direct("/secret/../public/x");
    assert!(
        direct.contains("SECRET"),
        "router did not route raw: {direct}"
    );
    let http = provider("app", "skip_path ^/public/; token_request /_t;")
        + &server(&format!(
            r#"
    authentik app;
    location / {{ proxy_pass http://127.0.0.1:{port}; }}
    location = /_t {{ internal; proxy_pass http://127.0.0.1:9/; }}
"#,
            port = router.port
        ));
    let ng = Conf::new(http).start();
    let before = router.secret_hits();
    assert_eq!(before, "[\"/secret/../public/x\"]", "only the direct probe");
    for path in ATTACKS.iter().chain(MIRRORS) {
        for req in [Request::get(path), page_load(path)] {
            let r = ng.send(&req);
            assert!(
                matches!(r.status, 401 | 302),
                "{path}: {} {}",
                r.status,
                r.text()
            );
            assert!(!r.text().contains("SECRET"), "{path}: {}", r.text());
        }
    }
    assert_eq!(
        router.secret_hits(),
        before,
        "an anonymous request reached /secret"
    );
    // Public pages still work anonymously, and the secret with a session.
    let r = ng.get("/public/x");
    assert_eq!((r.status, r.text().trim()), (200, "public x"));
    let r = ng.send(&Request::get("/secret/x").cookies(&session(&token())));
    assert_eq!((r.status, r.text().trim()), (200, "SECRET x"));
}

#[test]
fn dotted_identity_headers_are_stripped_everywhere() {
    let http = provider("app", "skip_path ^/public/;")
        + &server(
            r#"
    ignore_invalid_headers off;
    underscores_in_headers on;
    authentik app;
    location / { @PROXY@ }
    location /public/ { @PROXY@ }
    location /health { authentik off; @PROXY@ }
"#,
        );
    let ng = Conf::new(http).start();
    let spoof = |path: &str| {
        Request::get(path)
            .header("X.authentik.username", "evil")
            .header("x.AUTHENTIK_groups", "evil")
            .header("X-Other.Header", "kept")
    };
    // Makes the test meaningful: nginx passes dotted names on with this setting.
    let r = ng.send(&spoof("/health"));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert_eq!(up.one("X-Other.Header"), "kept");
    for (path, session_cookie) in [("/health", false), ("/public/x", false), ("/", true)] {
        let mut req = spoof(path);
        if session_cookie {
            req = req.cookies(&session(&token()));
        }
        let r = ng.send(&req);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let up = r.upstream();
        let dotted: Vec<_> = up
            .headers
            .iter()
            .filter(|(n, _)| n.to_ascii_lowercase().contains("authentik") && n.contains('.'))
            .collect();
        assert!(dotted.is_empty(), "{path}: {dotted:?}");
        assert!(
            up.all("X-authentik-username")
                .iter()
                .all(|v| *v == "akadmin"),
            "{path}"
        );
    }
}
