//! Hostile input at the HTTP level, through the real nginx with the module.
//!
//! Hundreds of generated bad requests: malformed, truncated, oversized and duplicated cookies
//! and bearer tokens, hundreds of cookies, broken chunk sequences, tokens with every wrong
//! claim or algorithm, encoded paths and `rd` values, spoofed forwarding and identity headers,
//! other methods, websocket upgrades, and malformed request lines. For every answer:
//!
//! * the status is one docs/architecture.md §5 allows (302, 400, 401, 403; 404 for unknown
//!   `/outpost.goauthentik.io/` paths; 204 for its ping; nginx's own 400/414/431/494 for what
//!   it refuses before the module runs), never a 5xx;
//! * no request without a valid credential reaches the upstream: the echo upstream's counter
//!   only moves for `skip_path` requests, which are counted as expected, request by request;
//! * a 302 goes to authentik's authorize URL (or end-session for sign-out) and the `rd` sealed
//!   in its login state is on the application's own origin (single mode) or under the cookie
//!   domain (domain mode): no open redirect;
//! * no anonymous answer sets a session cookie, and no answer carries an injected header;
//! * no worker dies: the worker pid is the same at the end and the error log never has
//!   `exited on signal`.
//!
//! The test prints a summary (requests sent, answers by status) on stderr; run it with
//! `--nocapture` to see it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use authentik_core::seal::{open, SealKey};
use authentik_integration::procs::{wait_workers, worker_pids};
use authentik_integration::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// authentik's authorize URL for [`ISSUER`], as the module builds it.
const AUTHORIZE: &str = "https://authentik.company/application/o/authorize/?";
/// The default end-session URL of [`ISSUER`].
const END_SESSION: &str = "https://authentik.company/application/o/app/end-session/";
/// Cookie name of the domain-mode provider.
const DOM_COOKIE: &str = "dom_session";

/// Statuses an anonymous request to a protected location may get.
const ANON: &[u16] = &[302, 400, 401, 403];
/// A request that is not navigational: only 401 (or nginx's own 400).
const NOT_NAV: &[u16] = &[400, 401];
/// What nginx answers for a request it refuses before any module runs.
const NGINX_REFUSES: &[u16] = &[400, 414, 431, 494];
/// A `skip_path` request: the upstream answers.
const SKIPPED: &[u16] = &[200];

// ------------------------------------------------------------------------------------------
// Sending raw bytes and reading whatever comes back
// ------------------------------------------------------------------------------------------

/// A response, parsed loosely: status line and headers, body up to the close.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Whether `raw` holds a whole answer (head, and the body its framing announces).
fn answer_complete(raw: &[u8], head_only: bool) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if head_only || status == 204 || status == 304 || status < 200 {
        return true;
    }
    let body = &raw[end + 4..];
    let length = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(len) => body.len() >= len,
        None if head.contains("transfer-encoding: chunked") => body.ends_with(b"0\r\n\r\n"),
        None => false,
    }
}

/// Send `bytes` on a new connection to 127.0.0.1:`port`; `half_close` shuts the write side
/// after sending (a truncated request). `Ok(None)`: the server closed without answering.
fn exchange(port: u16, bytes: &[u8], half_close: bool) -> Result<Option<Answer>, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    // nginx may answer and close before it has read everything (oversized requests): a write
    // error is not a failure by itself; the answer decides.
    let _ = s.write_all(bytes);
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                // A kept-alive connection (e.g. `Connection: Upgrade`) stays open: stop at
                // the end of the answer.
                if answer_complete(&raw, bytes.starts_with(b"HEAD ")) {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(format!(
                    "no answer within 20 s ({} bytes so far)",
                    raw.len()
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(format!(
                    "no answer within 20 s ({} bytes so far)",
                    raw.len()
                ))
            }
            // A reset after (part of) an answer: parse what came.
            Err(_) => break,
        }
    }
    if raw.is_empty() {
        return Ok(None);
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of head in {:?}", String::from_utf8_lossy(&raw)))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    if !status_line.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .map(|l| match l.split_once(':') {
            Some((n, v)) => (n.to_string(), v.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect();
    Ok(Some(Answer {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }))
}

// ------------------------------------------------------------------------------------------
// Cases and the runner that checks every answer
// ------------------------------------------------------------------------------------------

/// One hostile request and what may come back.
struct Case {
    group: &'static str,
    label: String,
    bytes: Vec<u8>,
    allowed: &'static [u16],
    /// The request is on a `skip_path`: the upstream answers (and is counted).
    upstream: bool,
    /// The request is truncated: the server may close without answering.
    truncated: bool,
}

impl Case {
    fn new(group: &'static str, label: impl Into<String>, req: &Request) -> Case {
        Case::raw(group, label, req.to_bytes())
    }

    fn raw(group: &'static str, label: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Case {
        Case {
            group,
            label: label.into(),
            bytes: bytes.into(),
            allowed: ANON,
            upstream: false,
            truncated: false,
        }
    }

    fn allow(mut self, allowed: &'static [u16]) -> Case {
        self.allowed = allowed;
        self
    }

    fn skipped(mut self) -> Case {
        self.allowed = SKIPPED;
        self.upstream = true;
        self
    }

    fn truncated(mut self) -> Case {
        self.truncated = true;
        self
    }
}

struct Runner<'a> {
    ng: &'a Nginx,
    name: &'static str,
    sent: usize,
    by_status: BTreeMap<String, usize>,
    by_group: BTreeMap<&'static str, usize>,
    expected_upstream: usize,
    failures: Vec<String>,
    redirects_checked: usize,
}

impl<'a> Runner<'a> {
    fn new(ng: &'a Nginx, name: &'static str) -> Runner<'a> {
        Runner {
            ng,
            name,
            sent: 0,
            by_status: BTreeMap::new(),
            by_group: BTreeMap::new(),
            expected_upstream: 0,
            failures: Vec::new(),
            redirects_checked: 0,
        }
    }

    fn fail(&mut self, case: &Case, what: String) {
        let shown: String = String::from_utf8_lossy(&case.bytes[..case.bytes.len().min(300)])
            .escape_debug()
            .collect();
        self.failures.push(format!(
            "[{}] {} — {what}\n    request: {shown}",
            case.group, case.label
        ));
    }

    fn run_all(&mut self, cases: Vec<Case>) {
        for case in cases {
            self.run(case);
        }
    }

    fn run(&mut self, case: Case) -> Option<Answer> {
        let before = self.ng.upstream_count();
        if case.upstream {
            self.expected_upstream += 1;
        }
        let result = exchange(self.ng.port, &case.bytes, case.truncated);
        self.sent += 1;
        *self.by_group.entry(case.group).or_default() += 1;
        let after = self.ng.upstream_count();
        let answer = match result {
            Err(e) => {
                *self.by_status.entry("error".into()).or_default() += 1;
                self.fail(&case, e);
                return None;
            }
            Ok(None) => {
                *self.by_status.entry("closed".into()).or_default() += 1;
                if !case.truncated {
                    self.fail(&case, "closed without an answer".into());
                }
                if after != before {
                    self.fail(&case, format!("reached the upstream ({before} → {after})"));
                }
                return None;
            }
            Ok(Some(a)) => a,
        };
        *self.by_status.entry(answer.status.to_string()).or_default() += 1;
        if !case.allowed.contains(&answer.status) {
            let body: String = String::from_utf8_lossy(&answer.body)
                .chars()
                .take(200)
                .collect();
            self.fail(
                &case,
                format!(
                    "status {} not in {:?}; body {body:?}",
                    answer.status, case.allowed
                ),
            );
        }
        let reached = after - before;
        if case.upstream {
            if reached != 1 {
                self.fail(
                    &case,
                    format!(
                        "skip_path request reached the upstream {reached} times, expected once"
                    ),
                );
            } else if answer.status == 200 {
                self.check_upstream_saw_no_identity(&case, &answer);
            }
        } else if reached != 0 {
            self.fail(
                &case,
                format!(
                    "REACHED THE UPSTREAM without a valid credential (status {})",
                    answer.status
                ),
            );
        }
        self.check_headers(&case, &answer);
        if answer.status == 302 {
            self.check_redirect(&case, &answer);
        }
        Some(answer)
    }

    /// On a skip path, the request goes on without identity: no X-authentik-* upstream.
    fn check_upstream_saw_no_identity(&mut self, case: &Case, answer: &Answer) {
        let Some(seen) = Seen::parse(&answer.body) else {
            if !case.label.starts_with("HEAD") {
                self.fail(case, "a 200 that is not the echo upstream's".into());
            }
            return;
        };
        let leaked: Vec<String> = seen
            .authentik_headers()
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        if !leaked.is_empty() {
            self.fail(case, format!("identity headers upstream: {leaked:?}"));
        }
    }

    fn check_headers(&mut self, case: &Case, answer: &Answer) {
        if answer
            .headers
            .iter()
            .any(|(n, _)| n.trim().eq_ignore_ascii_case("X-Injected"))
        {
            self.fail(
                case,
                format!("injected response header: {:?}", answer.headers),
            );
        }
        for set in answer.all("Set-Cookie") {
            let Some((name, rest)) = set.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or("");
            let session =
                name.starts_with(&default_cookie_name(CLIENT_ID)) || name.starts_with(DOM_COOKIE);
            if session && !name.contains("_login_") && !value.is_empty() {
                self.fail(
                    case,
                    format!("an anonymous request got a session cookie: {set}"),
                );
            }
        }
    }

    /// A 302 goes to authorize (with a login state whose rd is safe) or to end-session.
    fn check_redirect(&mut self, case: &Case, answer: &Answer) {
        let location = answer.header("Location").unwrap_or("").to_string();
        if location.starts_with(END_SESSION) {
            return;
        }
        if !location.starts_with(AUTHORIZE) {
            self.fail(
                case,
                format!("302 to {location:?}: not authentik's authorize URL"),
            );
            return;
        }
        let states: Vec<(String, String)> = answer
            .all("Set-Cookie")
            .iter()
            .filter_map(|c| {
                let (name, rest) = c.split_once('=')?;
                let value = rest.split(';').next().unwrap_or("");
                name.contains("_login_")
                    .then(|| (name.to_string(), value.to_string()))
            })
            .collect();
        let [(name, value)] = states.as_slice() else {
            self.fail(
                case,
                format!("302 to authorize with login-state cookies {states:?}"),
            );
            return;
        };
        let key = SealKey::derive(COOKIE_SECRET.as_bytes(), "login-state");
        let Some(state) = open(&key, name, value.as_bytes())
            .ok()
            .and_then(|plain| serde_json::from_slice::<Value>(&plain).ok())
        else {
            self.fail(case, format!("login-state cookie {name} does not open"));
            return;
        };
        let rd = state["r"].as_str().unwrap_or("").to_string();
        let domain = name.starts_with(DOM_COOKIE);
        if let Err(why) = rd_is_safe(&rd, domain) {
            self.fail(case, format!("OPEN REDIRECT: saved rd {rd:?} ({why})"));
        }
        self.redirects_checked += 1;
    }

    fn summary(&self) -> String {
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect();
        let groups: Vec<String> = self
            .by_group
            .iter()
            .map(|(g, n)| format!("{g} {n}"))
            .collect();
        format!(
            "{}: {} requests; answers {}; upstream reached {} times ({} skip_path requests \
             expected); {} redirects' rd checked\n  by group: {}",
            self.name,
            self.sent,
            statuses.join(", "),
            self.ng.upstream_count(),
            self.expected_upstream,
            self.redirects_checked,
            groups.join(", ")
        )
    }
}

/// The rd a login returns to is on the app's origin (single mode, `http://app.company`) or
/// on a host under the cookie domain `company` (domain mode).
fn rd_is_safe(rd: &str, domain_mode: bool) -> Result<(), &'static str> {
    if rd
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || !b.is_ascii())
    {
        return Err("control, space, backslash or non-ASCII byte");
    }
    let url = url::Url::parse(rd).map_err(|_| "not an absolute URL")?;
    let host = url.host_str().ok_or("no host")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("userinfo");
    }
    if domain_mode {
        if host == "company" || host.ends_with(".company") {
            return Ok(());
        }
        return Err("host outside the cookie domain");
    }
    if url.scheme() == "http" && host == "app.company" && url.port_or_known_default() == Some(80) {
        return Ok(());
    }
    Err("not the application's origin")
}

// ------------------------------------------------------------------------------------------
// Token factories
// ------------------------------------------------------------------------------------------

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWS with any header and payload text, HMAC-signed with `key` (`bits` 256/384/512).
fn hmac_jws(header: &str, payload: &str, key: &[u8], bits: u16) -> String {
    let alg = match bits {
        384 => ring::hmac::HMAC_SHA384,
        512 => ring::hmac::HMAC_SHA512,
        _ => ring::hmac::HMAC_SHA256,
    };
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = ring::hmac::sign(&ring::hmac::Key::new(alg, key), input.as_bytes());
    format!("{input}.{}", b64(sig.as_ref()))
}

fn hs_header() -> &'static str {
    r#"{"alg":"HS256","typ":"JWT"}"#
}

/// Every token that must be refused, with a label. All are tried as a bearer token and sealed
/// in the session cookie.
fn bad_tokens() -> Vec<(String, String)> {
    let now = now();
    let secret = CLIENT_SECRET.as_bytes();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut claim = |label: &str, name: &str, value: Value| {
        let mut c = claims();
        if value == json!("<remove>") {
            c.as_object_mut().expect("object").remove(name);
        } else {
            c[name] = value;
        }
        out.push((format!("{name}: {label}"), hs256(&c)));
    };
    claim(
        "other issuer",
        "iss",
        json!("https://evil.company/application/o/app/"),
    );
    claim(
        "no trailing slash",
        "iss",
        json!(ISSUER.trim_end_matches('/')),
    );
    claim("upper case", "iss", json!(ISSUER.to_uppercase()));
    claim("suffix", "iss", json!(format!("{ISSUER}x")));
    claim(
        "other slug",
        "iss",
        json!("https://authentik.company/application/o/other/"),
    );
    claim("array", "iss", json!([ISSUER]));
    claim("number", "iss", json!(1));
    claim("null", "iss", Value::Null);
    claim("missing", "iss", json!("<remove>"));
    claim("CR LF", "iss", json!(format!("{ISSUER}\r\nX-Injected: 1")));
    claim("other client", "aud", json!("other-client"));
    claim("lower case", "aud", json!(CLIENT_ID.to_lowercase()));
    claim("prefix", "aud", json!(&CLIENT_ID[..10]));
    claim("array without the client", "aud", json!(["a", "b"]));
    claim("empty array", "aud", json!([]));
    claim("number", "aud", json!(5));
    claim("object", "aud", json!({ "aud": CLIENT_ID }));
    claim("null", "aud", Value::Null);
    claim("missing", "aud", json!("<remove>"));
    claim("an hour ago", "exp", json!(now - 3600));
    claim("beyond the leeway", "exp", json!(now - 75));
    claim(
        "a float in the past",
        "exp",
        json!((now - 3600) as f64 + 0.5),
    );
    claim("zero", "exp", json!(0));
    claim("negative", "exp", json!(-1));
    claim("string", "exp", json!((now + 3600).to_string()));
    claim("bool", "exp", json!(true));
    claim("array", "exp", json!([now + 3600]));
    claim("null", "exp", Value::Null);
    claim("missing", "exp", json!("<remove>"));
    claim("in an hour", "nbf", json!(now + 3600));
    claim("beyond the leeway", "nbf", json!(now + 120));
    claim("string", "nbf", json!("0"));
    claim("object", "nbf", json!({}));
    claim("in an hour", "iat", json!(now + 3600));
    claim("beyond the leeway", "iat", json!(now + 120));
    claim("string", "iat", json!("yesterday"));

    let c = claims();
    let payload = c.to_string();
    let rsa_kid = AsymKey::Rsa.kid();
    let mut add = |label: &str, token: String| out.push((label.to_string(), token));
    // alg none and friends.
    add("alg none", alg_none(&c));
    for alg in ["None", "NONE", "nOnE", "none "] {
        add(
            &format!("alg {alg:?} unsigned"),
            format!(
                "{}.{}.",
                b64(format!(r#"{{"alg":"{alg}"}}"#)),
                b64(&payload)
            ),
        );
    }
    add(
        "alg none with an HMAC signature",
        hmac_jws(r#"{"alg":"none"}"#, &payload, secret, 256),
    );
    add(
        "no alg, HMAC",
        hmac_jws(r#"{"typ":"JWT"}"#, &payload, secret, 256),
    );
    add(
        "alg null, HMAC",
        hmac_jws(r#"{"alg":null}"#, &payload, secret, 256),
    );
    add(
        "alg number, HMAC",
        hmac_jws(r#"{"alg":256}"#, &payload, secret, 256),
    );
    add(
        "alg lower case hs256",
        hmac_jws(r#"{"alg":"hs256"}"#, &payload, secret, 256),
    );
    add(
        "HS384 (not allowed)",
        hmac_jws(r#"{"alg":"HS384"}"#, &payload, secret, 384),
    );
    add(
        "HS512 (not allowed)",
        hmac_jws(r#"{"alg":"HS512"}"#, &payload, secret, 512),
    );
    add(
        "header HS384, HS256 MAC",
        hmac_jws(r#"{"alg":"HS384"}"#, &payload, secret, 256),
    );
    // Wrong keys.
    add("HS256 wrong secret", hs256_with(&c, b"wrong secret"));
    add("HS256 empty secret", hs256_with(&c, b""));
    add("HS256 half the secret", hs256_with(&c, &secret[..64]));
    add(
        "HS256 secret plus newline",
        hs256_with(&c, format!("{CLIENT_SECRET}\n").as_bytes()),
    );
    add(
        "HS256 with the cookie secret",
        hs256_with(&c, COOKIE_SECRET.as_bytes()),
    );
    // Algorithm confusion (peers §5.1): the RSA public key's PEM as an HMAC key.
    let pem = RSA_PUBLIC_PEM.as_bytes();
    add(
        "HS256 keyed with the RSA PEM",
        hmac_jws(hs_header(), &payload, pem, 256),
    );
    add(
        "HS256 keyed with the RSA PEM, RSA kid",
        hmac_jws(
            &format!(r#"{{"alg":"HS256","kid":"{rsa_kid}"}}"#),
            &payload,
            pem,
            256,
        ),
    );
    add(
        "HS256 keyed with the RSA PEM minus its newline",
        hmac_jws(
            hs_header(),
            &payload,
            RSA_PUBLIC_PEM.trim_end().as_bytes(),
            256,
        ),
    );
    add(
        "HS256 keyed with the JWKS text",
        hmac_jws(hs_header(), &payload, JWKS.as_bytes(), 256),
    );
    let jwks: Value = serde_json::from_str(JWKS).expect("jwks");
    let n = jwks["keys"]
        .as_array()
        .and_then(|k| k.iter().find(|k| k["kty"] == "RSA"))
        .and_then(|k| k["n"].as_str())
        .unwrap_or("");
    add(
        "HS256 keyed with the RSA modulus",
        hmac_jws(
            hs_header(),
            &payload,
            &URL_SAFE_NO_PAD.decode(n).unwrap_or_default(),
            256,
        ),
    );
    add(
        "HS256 keyed with the RSA PEM, header says RS256",
        hmac_jws(
            &format!(r#"{{"alg":"RS256","kid":"{rsa_kid}"}}"#),
            &payload,
            pem,
            256,
        ),
    );
    add(
        "header RS256, HMAC with the client secret",
        hmac_jws(
            &format!(r#"{{"alg":"RS256","kid":"{rsa_kid}"}}"#),
            &payload,
            secret,
            256,
        ),
    );
    add(
        "RS256 other key under the RSA kid",
        sign_asym(AsymKey::RsaOther, Some(&rsa_kid), &c),
    );
    add(
        "RS256 other key without kid",
        sign_asym(AsymKey::RsaOther, None, &c),
    );
    add(
        "RS256 unknown kid",
        sign_asym(AsymKey::Rsa, Some("no-such-kid"), &c),
    );
    add(
        "ES256 under the RSA kid",
        sign_asym(AsymKey::Ec, Some(&rsa_kid), &c),
    );
    add(
        "EdDSA under the EC kid",
        sign_asym(AsymKey::Ed, Some(&AsymKey::Ec.kid()), &c),
    );
    {
        let other = EncodingKey::from_rsa_pem(include_bytes!("../fixtures/rsa-other.pem"))
            .expect("rsa-other fixture");
        let mut h = Header::new(Algorithm::RS256);
        h.jku = Some("http://127.0.0.1:9/jwks".into());
        h.x5u = Some("http://127.0.0.1:9/cert".into());
        h.kid = Some("attacker".into());
        add(
            "RS256 other key, jku/x5u pointing elsewhere",
            jsonwebtoken::encode(&h, &c, &other).expect("sign"),
        );
    }
    // Structure.
    let good = token();
    let parts: Vec<&str> = good.split('.').collect();
    let other_sig = hs256(&claims_with(&[("jti", json!("other"))]));
    add("signature stripped", format!("{}.{}.", parts[0], parts[1]));
    add(
        "signature of another token",
        format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            other_sig.split('.').nth(2).unwrap_or("")
        ),
    );
    add(
        "username changed, signature kept",
        tamper_payload(&good, |c| c["preferred_username"] = json!("evil")),
    );
    add(
        "groups changed, signature kept",
        tamper_payload(&good, |c| c["groups"] = json!(["authentik Admins"])),
    );
    add(
        "header with a kid added, signature kept",
        format!(
            "{}.{}.{}",
            b64(r#"{"alg":"HS256","typ":"JWT","kid":"x"}"#),
            parts[1],
            parts[2]
        ),
    );
    add("an extra segment", format!("{good}.x"));
    add("four dots", "a.b.c.d".into());
    add("one segment", "abc".into());
    add("two segments", format!("{}.{}", parts[0], parts[1]));
    add("dots only", "..".into());
    add("empty segments", ".e30.".into());
    add("padding on the signature", format!("{good}=="));
    add(
        "standard base64 signature",
        format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            STANDARD.encode(URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default())
        ),
    );
    add(
        "signature one byte short",
        good[..good.len() - 1].to_string(),
    );
    add(
        "signature not base64",
        format!("{}.{}.!!!!", parts[0], parts[1]),
    );
    add(
        "payload not base64",
        format!("{}.%%%.{}", parts[0], parts[2]),
    );
    add(
        "payload not JSON",
        hmac_jws(hs_header(), "not json", secret, 256),
    );
    add(
        "payload a JSON array",
        hmac_jws(hs_header(), "[1,2,3]", secret, 256),
    );
    add(
        "payload a JSON string",
        hmac_jws(hs_header(), "\"akadmin\"", secret, 256),
    );
    add("payload empty", hmac_jws(hs_header(), "", secret, 256));
    add(
        "header not JSON",
        hmac_jws("{alg:HS256", &payload, secret, 256),
    );
    add(
        "header an array",
        hmac_jws(r#"["HS256"]"#, &payload, secret, 256),
    );
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let mut deep_claims = claims();
    deep_claims["deep"] = serde_json::from_str(&deep).expect("deep json");
    add("payload nested 40 deep", hs256(&deep_claims));
    add(
        "header nested 40 deep",
        hmac_jws(
            &format!(r#"{{"alg":"HS256","x":{deep}}}"#),
            &payload,
            secret,
            256,
        ),
    );
    add(
        "payload with 10000 nested opening brackets",
        hmac_jws(hs_header(), &"[".repeat(10_000), secret, 256),
    );
    add(
        "unicode in the token",
        format!("{}.{}.ẞ", parts[0], parts[1]),
    );
    out
}

/// A valid token of at least `size` bytes (padding in user_attributes).
fn big_token(size: usize) -> String {
    let mut c = claims();
    c["ak_proxy"]["user_attributes"]["padding"] = json!("p".repeat(size * 3 / 4 + 64));
    hs256(&c)
}

// ------------------------------------------------------------------------------------------
// The configurations
// ------------------------------------------------------------------------------------------

/// Two providers on one port: `app` (single mode, `skip_path ^/public/`, a JWKS so that
/// algorithm confusion with its RSA key can be tried) for `Host: localhost`, and `dom`
/// (domain mode under `company`) for every other host. Their token location points at a
/// closed port, so a code exchange fails with 502.
fn hostile_conf(big_buffers: bool) -> Conf {
    let buffers = if big_buffers {
        "large_client_header_buffers 4 160k;"
    } else {
        ""
    };
    let token_location = r#"
    location = /_authentik_token {
        internal;
        proxy_method POST;
        proxy_pass_request_headers off;
        proxy_set_body $authentik_token_request_body;
        proxy_connect_timeout 2s;
        proxy_read_timeout 5s;
        proxy_pass http://127.0.0.1:9/application/o/token/;
    }"#;
    let app = provider(
        "app",
        "jwks_file @PREFIX@/app.jwks; skip_path ^/public/; token_request /_authentik_token;",
    );
    let dom = provider(
        "dom",
        &format!(
            "mode domain; cookie_domain company; cookie_name {DOM_COOKIE}; \
             token_request /_authentik_token;"
        ),
    )
    .replace(
        &format!("external_host {EXTERNAL_HOST};"),
        "external_host http://auth.company;",
    );
    let app_server = server(&format!(
        r#"
    underscores_in_headers on;
    authentik app;
    location / {{ @PROXY@ }}
    location /admin {{ authentik_require_group "authentik Admins"; @PROXY@ }}
    location /api/ {{ authentik_unauthenticated 401; @PROXY@ }}
    {token_location}
"#
    ));
    let dom_server = format!(
        r#"
server {{
    listen 127.0.0.1:@PORT@;
    server_name ~.;
    underscores_in_headers on;
    add_header X-Authentik-Status $authentik_status always;
    authentik dom;
    location / {{ @PROXY@ }}
    {token_location}
}}
"#
    );
    let http = format!("{buffers}\n{app}{dom}{app_server}{dom_server}");
    Conf::new(http).file("app.jwks", JWKS)
}

// ------------------------------------------------------------------------------------------
// Case generators
// ------------------------------------------------------------------------------------------

fn nav(req: Request) -> Request {
    req.header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("Sec-Fetch-Mode", "navigate")
}

fn session_name() -> String {
    default_cookie_name(CLIENT_ID)
}

fn cookie_cases() -> Vec<Case> {
    let name = session_name();
    let value = session(&token())[0].1.clone();
    let mut values: Vec<(String, String)> = Vec::new();
    for n in [
        0,
        1,
        2,
        5,
        10,
        16,
        17,
        22,
        23,
        40,
        value.len() / 2,
        value.len() - 1,
    ] {
        values.push((format!("truncated to {n}"), value[..n].to_string()));
    }
    for i in [
        0,
        1,
        2,
        3,
        10,
        17,
        30,
        value.len() / 2,
        value.len() - 20,
        value.len() - 1,
    ] {
        let mut b = value.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        values.push((
            format!("byte {i} changed"),
            String::from_utf8(b).expect("ascii"),
        ));
    }
    for (label, v) in [
        ("appended A", format!("{value}A")),
        ("appended =", format!("{value}=")),
        ("appended ==", format!("{value}==")),
        ("prefixed x", format!("x{value}")),
        ("standard base64", value.replace('-', "+").replace('_', "/")),
        (
            "quoted and tampered",
            format!("\"{}\"", tamper_value(&value)),
        ),
        (
            "quote inside",
            format!("{}\"{}", &value[..10], &value[10..]),
        ),
        ("percent-encoded", value.replace('-', "%2D")),
        ("space inside", format!("{} {}", &value[..20], &value[20..])),
        ("tab inside", format!("{}\t{}", &value[..20], &value[20..])),
        ("bang", "!".repeat(64)),
        ("only =", "=".into()),
        ("empty", String::new()),
        ("one dot", ".".into()),
        ("version 0 and zeros", b64([0u8; 60])),
        (
            "version 1 and zeros",
            b64([[1u8].as_slice(), &[0u8; 59]].concat()),
        ),
        ("version 2", b64([[2u8].as_slice(), &[7u8; 59]].concat())),
        ("JSON", r#"{"sub":"akadmin"}"#.into()),
        ("the raw token", token()),
        ("an alg:none token", alg_none(&claims())),
        ("1000 A", "A".repeat(1000)),
    ] {
        values.push((label.to_string(), v));
    }
    // Sealed, but not a session for this provider.
    for (label, pairs) in [
        (
            "sealed with another cookie secret",
            seal_for(
                b"another-cookie-secret-of-32-bytes-or-more",
                &name,
                &token(),
            ),
        ),
        (
            "sealed for another cookie name",
            seal_for(COOKIE_SECRET.as_bytes(), "other_cookie", &token()),
        ),
        (
            "sealed for the domain provider's name",
            seal_for(COOKIE_SECRET.as_bytes(), DOM_COOKIE, &token()),
        ),
        (
            "sealed empty plaintext",
            seal_for(COOKIE_SECRET.as_bytes(), &name, ""),
        ),
        (
            "sealed garbage plaintext",
            seal_for(COOKIE_SECRET.as_bytes(), &name, "not a token at all"),
        ),
        (
            "sealed NUL bytes",
            seal_for(COOKIE_SECRET.as_bytes(), &name, "\0\0\0\0"),
        ),
    ] {
        values.push((label.to_string(), pairs[0].1.clone()));
    }
    // A login-state cookie value moved into the session cookie.
    {
        let key = SealKey::derive(COOKIE_SECRET.as_bytes(), "login-state");
        let v = authentik_core::seal::seal(&key, &name, token().as_bytes()).expect("seal");
        values.push(("sealed with the login-state key".into(), v));
    }
    let mut cases = Vec::new();
    for (label, v) in &values {
        cases.push(
            Case::new(
                "cookie",
                format!("cookie {label}"),
                &Request::get("/").header("Cookie", format!("{name}={v}")),
            )
            .allow(NOT_NAV),
        );
        cases.push(Case::new(
            "cookie",
            format!("cookie {label}, page load"),
            &nav(Request::get("/admin/")).header("Cookie", format!("{name}={v}")),
        ));
    }
    // Name games with a valid value: none of these is the session cookie.
    for other in [
        name.to_uppercase(),
        format!("x{name}"),
        format!("{name}x"),
        format!(" {name}x"),
        format!("{name}_1"),
        format!("{name}_login_000000000000"),
        name.replace('_', "-"),
        DOM_COOKIE.to_string(),
    ] {
        cases.push(
            Case::new(
                "cookie",
                format!("valid value under the name {other:?}"),
                &Request::get("/").header("Cookie", format!("{other}={value}")),
            )
            .allow(NOT_NAV),
        );
    }
    cases
}

fn chunk_cases() -> Vec<Case> {
    let name = session_name();
    let pairs = session(&big_token(10 * 1024));
    assert!(pairs.len() >= 3, "expected chunks, got {}", pairs.len());
    let other = session(&big_token(10 * 1024 + 500));
    let (_, first_rest) = pairs[0].1.split_once('.').expect("count prefix");
    let with_first = |first: String| {
        let mut p = pairs.clone();
        p[0].1 = first;
        p
    };
    let mut variants: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for prefix in [
        "0",
        "1",
        "9",
        "10",
        "99",
        "999",
        "4294967297",
        "18446744073709551617",
        "99999999999999999999999999",
        "-2",
        "+3",
        " 3",
        "3 ",
        "a",
        "",
        "0x3",
        "03",
        "3e0",
        "٣",
    ] {
        variants.push((
            format!("count {prefix:?}"),
            with_first(format!("{prefix}.{first_rest}")),
        ));
    }
    variants.push((
        "two dots".into(),
        with_first(format!("{}.{first_rest}", pairs[0].1)),
    ));
    variants.push(("count only".into(), with_first(format!("{}.", pairs.len()))));
    variants.push((
        "count of one more".into(),
        with_first(format!("{}.{first_rest}", pairs.len() + 1)),
    ));
    variants.push((
        "count of one less".into(),
        with_first(format!("{}.{first_rest}", pairs.len() - 1)),
    ));
    variants.push((
        "count 8, chunks missing".into(),
        with_first(format!("8.{first_rest}")),
    ));
    for drop in 1..pairs.len() {
        let mut p = pairs.clone();
        p.remove(drop);
        variants.push((format!("chunk {drop} missing"), p));
    }
    variants.push(("first chunk alone".into(), pairs[..1].to_vec()));
    variants.push(("chunks without the first".into(), pairs[1..].to_vec()));
    {
        let mut p = pairs.clone();
        p[1].1.clear();
        variants.push(("chunk 1 empty".into(), p));
    }
    {
        let mut p = pairs.clone();
        p.swap(1, 2);
        let (a, b) = (p[1].0.clone(), p[2].0.clone());
        p[1].0 = b;
        p[2].0 = a;
        variants.push(("chunk values swapped".into(), p));
    }
    {
        let mut p = pairs.clone();
        p[1] = other[1].clone();
        variants.push(("a chunk of another session".into(), p));
    }
    {
        let mut p = pairs.clone();
        let v = p[1].1.clone();
        p.insert(1, (p[1].0.clone(), tamper_value(&v)));
        variants.push(("chunk 1 twice, tampered first".into(), p));
    }
    {
        let mut p = pairs.clone();
        let last = p.len() - 1;
        p[last].1.truncate(10);
        variants.push(("last chunk truncated".into(), p));
    }
    {
        let mut p = pairs.clone();
        p[0].1 = format!("{}.{}", pairs.len(), tamper_value(first_rest));
        variants.push(("first chunk tampered".into(), p));
    }
    {
        let mut p = pairs.clone();
        p.push((format!("{name}_0"), "x".into()));
        p.push((format!("{name}_9"), "x".into()));
        p.push((format!("{name}_99"), "x".into()));
        let mut q = p.clone();
        q.remove(1);
        variants.push(("chunks _0, _9, _99 added, chunk 1 missing".into(), q));
    }
    {
        let p: Vec<(String, String)> = (0..8)
            .map(|i| {
                let n = if i == 0 {
                    name.clone()
                } else {
                    format!("{name}_{i}")
                };
                let v = if i == 0 {
                    format!("8.{}", "A".repeat(3000))
                } else {
                    "A".repeat(3800)
                };
                (n, v)
            })
            .collect();
        variants.push(("8 chunks of garbage".into(), p));
    }
    let mut cases = Vec::new();
    for (label, p) in variants {
        cases.push(
            Case::new(
                "chunks",
                format!("chunks: {label}"),
                &Request::get("/").cookies(&p),
            )
            .allow(NOT_NAV),
        );
        cases.push(Case::new(
            "chunks",
            format!("chunks: {label}, one Cookie header each"),
            &nav(Request::get("/")).cookies_split(&p),
        ));
    }
    cases
}

fn many_cookie_cases() -> Vec<Case> {
    let name = session_name();
    let bad = tamper_value(&session(&token())[0].1);
    let filler = |n: usize, prefix: &str| -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("{prefix}{i}"), format!("v{i}")))
            .collect()
    };
    let mut cases = Vec::new();
    for n in [100, 300, 1000] {
        let mut p = filler(n, "c");
        p.push((name.clone(), bad.clone()));
        cases.push(
            Case::new(
                "many cookies",
                format!("{n} cookies, then a tampered session"),
                &Request::get("/").cookies(&p),
            )
            .allow(NOT_NAV),
        );
        let mut q = vec![(name.clone(), bad.clone())];
        q.extend(filler(n, "c"));
        cases.push(Case::new(
            "many cookies",
            format!("a tampered session, then {n} cookies"),
            &nav(Request::get("/")).cookies(&q),
        ));
    }
    let same: Vec<(String, String)> = (0..300)
        .map(|i| (name.clone(), format!("{bad}{i}")))
        .collect();
    cases.push(
        Case::new(
            "many cookies",
            "300 session cookies, all bad",
            &Request::get("/").cookies(&same),
        )
        .allow(NOT_NAV),
    );
    let chunks: Vec<(String, String)> = (1..400)
        .map(|i| (format!("{name}_{i}"), "A".repeat(20)))
        .collect();
    cases.push(
        Case::new(
            "many cookies",
            "399 chunk cookies, no first",
            &Request::get("/").cookies(&chunks),
        )
        .allow(NOT_NAV),
    );
    let mut split = filler(60, "h");
    split.push((name.clone(), bad.clone()));
    cases.push(
        Case::new(
            "many cookies",
            "61 Cookie headers",
            &Request::get("/").cookies_split(&split),
        )
        .allow(NOT_NAV),
    );
    for (label, header) in [
        ("5000 semicolons", ";".repeat(5000)),
        ("5000 empty names", "=x; ".repeat(5000)),
        ("5000 bare names", "a; ".repeat(5000)),
        ("deep quotes", "\"".repeat(5000)),
        ("name= repeated", format!("{name}=").repeat(500)),
    ] {
        cases.push(
            Case::new(
                "many cookies",
                label,
                &Request::get("/").header("Cookie", header),
            )
            .allow(NOT_NAV),
        );
    }
    cases
}

fn duplicate_cases() -> Vec<Case> {
    let name = session_name();
    let good = session(&token())[0].1.clone();
    let bad1 = tamper_value(&good);
    let bad2 = session(&hs256_with(&claims(), b"wrong"))[0].1.clone();
    let wrong = hs256_with(&claims(), b"wrong");
    let expired = hs256(&claims_with(&[("exp", json!(now() - 3600))]));
    let mut cases = Vec::new();
    let one = |label: &str, req: Request| Case::new("duplicates", label, &req).allow(NOT_NAV);
    cases.push(one(
        "two bad session cookies in one header",
        Request::get("/").header("Cookie", format!("{name}={bad1}; {name}={bad2}")),
    ));
    cases.push(one(
        "two bad session cookies in two headers",
        Request::get("/")
            .header("Cookie", format!("{name}={bad1}"))
            .header("Cookie", format!("{name}={bad2}")),
    ));
    cases.push(one(
        "an empty session cookie, then a bad one",
        Request::get("/").header("Cookie", format!("{name}=; {name}={bad1}")),
    ));
    cases.push(one(
        "two bad bearer tokens",
        Request::get("/").bearer(&wrong).bearer(&expired),
    ));
    cases.push(one(
        "a bad bearer token and a bad cookie",
        Request::get("/")
            .bearer(&wrong)
            .header("Cookie", format!("{name}={bad1}")),
    ));
    cases.push(one(
        "an expired bearer and a bad session",
        Request::get("/api/x")
            .bearer(&expired)
            .header("Cookie", format!("{name}={bad2}")),
    ));
    cases.push(one(
        "Bearer and Basic",
        Request::get("/")
            .bearer(&wrong)
            .header("Authorization", "Basic YWthZG1pbjpha2FkbWlu"),
    ));
    cases.push(one(
        "two tokens in one Authorization",
        Request::get("/").header("Authorization", format!("Bearer {wrong}, Bearer {expired}")),
    ));
    cases.push(one(
        "a bad token and the session cookie name in Authorization",
        Request::get("/").header("Authorization", format!("Bearer {name}={good}")),
    ));
    cases
}

fn bearer_cases() -> Vec<Case> {
    let good = token();
    let mut cases = Vec::new();
    for (label, value) in [
        ("empty", String::new()),
        ("B", "B".into()),
        ("Bearer", "Bearer".into()),
        ("Bearer space", "Bearer ".into()),
        ("Bearer spaces", "Bearer      ".into()),
        ("Bearer tab", "Bearer\t".into()),
        ("Bearer dot", "Bearer .".into()),
        ("Bearer one char", "Bearer x".into()),
        (
            "Bearer with tab separator",
            format!("Bearer\t{}", tamper_value(&good)),
        ),
        ("Bearerx", format!("Bearerx{good}")),
        ("Bear", format!("Bear {good}").replace("Bear ", "Bear")),
        ("Token scheme", format!("Token {}", tamper_value(&good))),
        ("Basic", "Basic YWthZG1pbjpha2FkbWluLXBhc3N3b3Jk".into()),
        (
            "Basic with the token",
            format!("Basic {}", STANDARD.encode(format!("akadmin:{good}"))),
        ),
        ("Digest", "Digest username=\"akadmin\"".into()),
        ("Negotiate", "Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag".into()),
        ("tampered", format!("Bearer {}", tamper_value(&good))),
        (
            "space inside the token",
            format!("Bearer {} {}", &good[..30], &good[30..]),
        ),
        (
            "token with quotes",
            format!("Bearer \"{}\"", tamper_value(&good)),
        ),
        (
            "token in a parameter",
            format!("Bearer token=\"{}\"", tamper_value(&good)),
        ),
        ("10 KB of A", format!("Bearer {}", "A".repeat(10_000))),
        ("1000 dots", format!("Bearer {}", ".".repeat(1000))),
        ("non-ASCII", "Bearer ẞẞẞ.ẞẞẞ.ẞẞẞ".into()),
        ("DEL byte", format!("Bearer {}\u{7f}", tamper_value(&good))),
    ] {
        cases.push(
            Case::new(
                "bearer",
                format!("Authorization {label}"),
                &Request::get("/").header("Authorization", &value),
            )
            .allow(NOT_NAV),
        );
    }
    cases
}

fn token_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (label, tok) in bad_tokens() {
        cases.push(
            Case::new(
                "tokens",
                format!("bearer: {label}"),
                &Request::get("/").bearer(&tok),
            )
            .allow(NOT_NAV),
        );
        if tok.len() > 16 * 1024 {
            continue; // too big for the session cookie's chunks
        }
        cases.push(Case::new(
            "tokens",
            format!("session: {label}"),
            &nav(Request::get("/")).cookies(&session(&tok)),
        ));
    }
    cases
}

/// Paths: (target, expectation). `Skip` paths are under `^/public/` after nginx's
/// normalisation; `Outpost` ones normalise into `/outpost.goauthentik.io/`.
#[derive(Clone, Copy, PartialEq)]
enum PathKind {
    Protected,
    Skip,
    Outpost,
    Refused,
}

fn path_list() -> Vec<(&'static str, PathKind)> {
    use PathKind::*;
    vec![
        ("/", Protected),
        ("/admin/", Protected),
        ("/admin", Protected),
        ("/api/x", Protected),
        ("//", Protected),
        ("//admin/", Protected),
        ("///admin/", Protected),
        ("/./admin/", Protected),
        ("/admin/./", Protected),
        ("/%61dmin/", Protected),
        ("/%2e%2e/admin/", Refused),
        ("/x/%2e%2e/admin/", Protected),
        ("/x/%2e%2e%2fadmin/", Protected),
        ("/x/..%2fadmin/", Protected),
        ("/%252e%252e/admin/", Protected),
        ("/public/../admin/", Protected),
        ("/public/%2e%2e/admin/", Protected),
        ("/public%2f../admin/", Protected),
        ("/public/%2E%2E/admin/", Protected),
        ("/public/..%2Fadmin/", Protected),
        ("/public/%2e%2e%2fadmin/", Protected),
        ("/public/.%2e/admin/", Protected),
        ("/public//../admin/", Protected),
        ("/public/./../admin/", Protected),
        ("/public\\..\\admin/", Protected),
        ("/public%5c../admin/", Protected),
        ("/PUBLIC/x", Protected),
        ("/public", Protected),
        ("/x/public/", Protected),
        ("/public%2fx", Protected),
        ("/public/", Skip),
        ("/public/x", Skip),
        ("/public/x?y=1", Skip),
        ("/public/%252e%252e/admin/", Skip),
        ("/public/..;/admin/", Protected),
        ("/public/..\\admin/", Protected),
        ("/public/x%0d%0aX-Injected:%201", Skip),
        ("/public/%00", Refused),
        ("/admin%00.html", Refused),
        ("/../admin/", Refused),
        ("/../../etc/passwd", Refused),
        ("/@evil.example", Protected),
        ("/\\evil.example", Protected),
        ("/%5cevil.example", Protected),
        ("/%2f%2fevil.example/", Protected),
        ("/.evil.example", Protected),
        ("/http://evil.example/", Protected),
        ("/https:/evil.example", Protected),
        ("/?rd=http://evil.example/", Protected),
        ("/x?%0d%0aX-Injected:%201", Protected),
        ("/%E2%80%AEnimda", Protected),
        ("/\u{0430}dmin/", Protected),
        ("/%D0%B0dmin/", Protected),
        ("/\u{ff41}\u{ff44}\u{ff4d}\u{ff49}\u{ff4e}/", Protected),
        ("/admin%20", Protected),
        ("/admin%09", Protected),
        ("/admin#fragment", Protected),
        ("/admin/%", Refused),
        ("/admin/%zz", Protected),
        ("/outpost.goauthentik.io/../admin/", Protected),
        ("/outpost.goauthentik.io/%2e%2e/admin/", Protected),
        ("/outpost.goauthentik.io", Protected),
        ("/x/..%2foutpost.goauthentik.io/ping", Outpost),
        ("/outpost.goauthentik.io//ping", Outpost),
        ("/outpost.goauthentik.io/./sign_out", Outpost),
    ]
}

fn path_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (path, kind) in path_list() {
        for (label, req) in [
            ("GET", Request::get(path).header("Accept", "*/*")),
            ("GET page load", nav(Request::get(path))),
            ("HEAD page load", nav(Request::new("HEAD", path))),
        ] {
            let case = Case::new("paths", format!("{label} {path}"), &req);
            cases.push(match kind {
                PathKind::Protected if label == "GET" => case.allow(NOT_NAV),
                PathKind::Protected => case,
                PathKind::Skip => case.skipped(),
                PathKind::Outpost => case.allow(&[204, 302, 400, 404]),
                PathKind::Refused => case.allow(NGINX_REFUSES),
            });
        }
    }
    cases
}

fn rd_values() -> Vec<&'static str> {
    vec![
        "http://evil.example",
        "https://evil.example/",
        "//evil.example",
        "///evil.example",
        "////evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "\\/evil.example",
        "http:evil.example",
        "http:/evil.example",
        "http:\\\\evil.example",
        "http://app.company.evil.example/",
        "http://app.company@evil.example/",
        "http://app.company:80@evil.example/",
        "http://evil.example@app.company/",
        "http://app.company%2f@evil.example/",
        "http://app.company%252f@evil.example/",
        "http://app.company%2eevil.example/",
        "http://evil.example%23@app.company/",
        "http://evil.example#@app.company/",
        "http://evil.example?@app.company/",
        "http://evil.example\\@app.company/",
        "http://evil.example%5c@app.company/",
        "http://app.company\\.evil.example/",
        "http://app.company\t.evil.example/",
        "http://app.company%09.evil.example/",
        "http://app.company%00.evil.example/",
        "http://app.company%0d%0aLocation:%20http://evil.example/",
        "%0d%0aSet-Cookie:%20x=y",
        "/%0d%0aX-Injected:%201",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "http://\u{0430}pp.company/",
        "http://app.c\u{043e}mpany/",
        "http://app.company\u{ff0e}evil.example/",
        "http://app.company%E3%80%82evil.example/",
        "http://xn--pp-8cd.company/",
        "http://app.company:8080/",
        "http://app.company:0/",
        "http://app.company:99999/",
        "https://app.company/",
        "ftp://app.company/",
        "http://[::1]/",
        "http://127.0.0.1/",
        "http://0x7f.1/",
        "http://2130706433/",
        "/%2f%2fevil.example",
        "/%5cevil.example",
        "%2f%2fevil.example",
        "%252f%252fevil.example",
        "%2F%2Fevil.example%2F",
        " //evil.example",
        "\t//evil.example",
        "http://evil.example/http://app.company/",
        "http://company.evil.example/",
        "http://evilcompany/",
        "http://x.company.evil.example/",
        "http://x.company@evil.example/",
        "http://evil.company/",
        "http://APP.COMPANY/ok",
        "http://app.company./ok",
        "/ok?next=http://evil.example",
        "",
    ]
}

fn rd_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for rd in rd_values() {
        let target = format!("/outpost.goauthentik.io/start?rd={}", rd_escape(rd));
        cases.push(
            Case::new("rd", format!("start rd={rd:?}"), &Request::get(&target)).allow(&[302]),
        );
        cases.push(
            Case::new(
                "rd",
                format!("start rd={rd:?} on the domain provider"),
                &Request::get(&target).header("Host", "app1.company"),
            )
            .allow(&[302]),
        );
    }
    // Raw (unencoded) values as an attacker would type them.
    for raw in [
        "http://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "http://app.company@evil.example",
    ] {
        let target = format!("/outpost.goauthentik.io/start?rd={raw}");
        cases.push(
            Case::new(
                "rd",
                format!("start raw rd {raw:?}"),
                &Request::get(&target),
            )
            .allow(&[302, 400]),
        );
    }
    // rd twice: the first one counts, and neither may escape.
    cases.push(
        Case::new(
            "rd",
            "start with two rd",
            &Request::get("/outpost.goauthentik.io/start?rd=http%3A%2F%2Fevil.example%2F&rd=%2Fok"),
        )
        .allow(&[302]),
    );
    // Domain mode builds rd from the Host: hostile hosts.
    for host in [
        "evil.example",
        "company.evil.example",
        "evilcompany",
        "app1.company.evil.example",
        "app1.company.",
        "APP1.COMPANY",
        "app1.company:8080",
        "app1.company:99999",
        "[::1]",
        "127.0.0.1",
        "app1.company@evil.example",
        "evil.example#.company",
        "evil.example?.company",
        "evil.example%2f.company",
        "xn--pp1-8cd.company",
    ] {
        cases.push(Case::new(
            "host",
            format!("page load with Host {host:?}"),
            &nav(Request::get("/dashboard")).header("Host", host),
        ));
    }
    cases.push(Case::raw(
        "host",
        "absolute-form target on another host",
        "GET http://evil.example/x HTTP/1.1\r\nHost: app1.company\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
    ));
    cases.push(Case::raw(
        "host",
        "absolute-form target on the app host",
        "GET http://localhost/admin/ HTTP/1.1\r\nHost: evil.example\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
    ));
    cases
}

/// Query-encode `rd` (form encoding), leaving `%` sequences the value already has.
fn rd_escape(rd: &str) -> String {
    let mut out = String::new();
    for ch in rd.chars() {
        match ch {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '.' | '_' | '~' | '%' => out.push(ch),
            _ => {
                let mut buf = [0u8; 4];
                for b in ch.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

fn spoof_cases() -> Vec<Case> {
    let valid = token();
    let spoofs: Vec<(&str, String)> = vec![
        ("X-Forwarded-Uri", "/public/x".into()),
        ("X-Forwarded-Path", "/public/x".into()),
        ("X-Forwarded-Prefix", "/public".into()),
        ("X-Original-URL", "/public/x".into()),
        ("X-Original-URI", "/public/x".into()),
        ("X-Rewrite-URL", "/public/x".into()),
        ("X-Forwarded-Host", "evil.example".into()),
        ("X-Forwarded-Proto", "https".into()),
        ("X-Forwarded-Port", "443".into()),
        ("X-Forwarded-For", "127.0.0.1".into()),
        ("X-Real-IP", "127.0.0.1".into()),
        (
            "Forwarded",
            "for=127.0.0.1;host=evil.example;proto=https".into(),
        ),
        ("X-HTTP-Method-Override", "GET".into()),
        ("X-authentik-username", "akadmin".into()),
        ("X_authentik_username", "akadmin".into()),
        ("X-authentik-groups", "authentik Admins".into()),
        ("X_Authentik_Groups", "authentik Admins".into()),
        ("X-authentik-uid", SUB.into()),
        ("X-authentik-jwt", valid.clone()),
        ("X_authentik_jwt", valid.clone()),
        ("X-authentik-meta-app", "app".into()),
        ("X-Authentik-Auth-Callback", "true".into()),
        ("X-Authentik-No-Redirect", "1".into()),
        ("X_Forwarded_Uri", "/public/x".into()),
        ("X_Original_URL", "/public/x".into()),
        ("X_Original_URI", "/public/x".into()),
        ("X-Authentik-Status", "ok".into()),
    ];
    let mut cases = Vec::new();
    for (name, value) in &spoofs {
        for path in ["/admin/x", "/"] {
            cases.push(
                Case::new(
                    "spoofed headers",
                    format!("{name} on {path}"),
                    &Request::get(path).header(name, value),
                )
                .allow(NOT_NAV),
            );
        }
        cases.push(Case::new(
            "spoofed headers",
            format!("{name} on a page load of /admin/x"),
            &nav(Request::get("/admin/x")).header(name, value),
        ));
        cases.push(
            Case::new(
                "spoofed headers",
                format!("{name} on the skip path"),
                &Request::get("/public/x").header(name, value),
            )
            .skipped(),
        );
    }
    let all = spoofs
        .iter()
        .fold(Request::get("/admin/x"), |r, (n, v)| r.header(n, v));
    cases.push(Case::new("spoofed headers", "every spoofed header at once", &all).allow(NOT_NAV));
    let all_nav = spoofs
        .iter()
        .fold(nav(Request::get("/")), |r, (n, v)| r.header(n, v));
    cases.push(Case::new(
        "spoofed headers",
        "every spoofed header at once, page load",
        &all_nav,
    ));
    cases
}

fn method_cases() -> Vec<Case> {
    let bad = tamper_value(&session(&token())[0].1);
    let mut cases = Vec::new();
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "MKCOL", "FOO",
    ] {
        for path in ["/", "/admin/x", "/api/x"] {
            // Not navigational whatever Accept says: 401, never a redirect.
            cases.push(
                Case::new(
                    "methods",
                    format!("{method} {path} page-load headers"),
                    &nav(Request::new(method, path)),
                )
                .allow(&[401]),
            );
            cases.push(
                Case::new(
                    "methods",
                    format!("{method} {path} with a body"),
                    &Request::new(method, path)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body("user=akadmin&admin=1"),
                )
                .allow(&[401]),
            );
        }
        cases.push(
            Case::new(
                "methods",
                format!("{method} with a tampered session"),
                &Request::new(method, "/").cookies(&[(session_name(), bad.clone())]),
            )
            .allow(&[401]),
        );
        cases.push(
            Case::new(
                "methods",
                format!("{method} on the skip path"),
                &Request::new(method, "/public/x").body("x"),
            )
            .skipped(),
        );
    }
    // A CORS preflight is an OPTIONS request: it must not bypass authentication.
    for path in ["/", "/admin/x", "/api/x"] {
        cases.push(
            Case::new(
                "methods",
                format!("OPTIONS preflight {path}"),
                &Request::new("OPTIONS", path)
                    .header("Origin", "http://evil.example")
                    .header("Access-Control-Request-Method", "GET")
                    .header("Access-Control-Request-Headers", "authorization"),
            )
            .allow(&[401]),
        );
    }
    cases.push(Case::new("methods", "OPTIONS *", &Request::new("OPTIONS", "*")).allow(&[400, 401]));
    cases.push(
        Case::new(
            "methods",
            "POST with Expect: 100-continue",
            &Request::new("POST", "/")
                .header("Expect", "100-continue")
                .header("Content-Length", "5"),
        )
        .allow(&[401]),
    );
    cases.push(
        Case::raw(
            "methods",
            "POST with a broken chunked body",
            "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nxx\r\n",
        )
        .allow(&[400, 401]),
    );
    cases.push(
        Case::raw(
            "methods",
            "POST with a huge chunk size",
            "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nffffffffffffffffff\r\nx\r\n",
        )
        .allow(&[400, 401, 413]),
    );
    cases.push(
        Case::new(
            "methods",
            "POST to start",
            &Request::new("POST", "/outpost.goauthentik.io/start?rd=%2Fx"),
        )
        .allow(&[302, 400, 401, 405]),
    );
    cases.push(
        Case::new(
            "methods",
            "POST to callback",
            &Request::new("POST", "/outpost.goauthentik.io/callback?code=x&state=y").body("code=x"),
        )
        .allow(&[400]),
    );
    cases.push(Case::new("methods", "HEAD /", &Request::new("HEAD", "/")).allow(&[401]));
    cases.push(
        Case::new(
            "methods",
            "HEAD / page load",
            &nav(Request::new("HEAD", "/")),
        )
        .allow(&[302]),
    );
    cases
}

fn websocket_cases() -> Vec<Case> {
    let ws = |path: &str| {
        nav(Request::get(path))
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13")
            .header("Origin", "http://evil.example")
    };
    let bad = tamper_value(&session(&token())[0].1);
    let mut cases = Vec::new();
    for path in [
        "/",
        "/ws",
        "/admin/ws",
        "/api/ws",
        "/outpost.goauthentik.io/ws",
    ] {
        let allowed: &'static [u16] = if path.starts_with("/outpost") {
            &[404]
        } else {
            &[401]
        };
        cases.push(Case::new("websocket", format!("upgrade {path}"), &ws(path)).allow(allowed));
        cases.push(
            Case::new(
                "websocket",
                format!("upgrade {path} with a tampered session"),
                &ws(path).cookies(&[(session_name(), bad.clone())]),
            )
            .allow(allowed),
        );
    }
    cases.push(
        Case::new(
            "websocket",
            "upgrade h2c",
            &nav(Request::get("/"))
                .header("Upgrade", "h2c")
                .header("Connection", "Upgrade, HTTP2-Settings"),
        )
        .allow(&[401]),
    );
    cases.push(
        Case::new(
            "websocket",
            "upgrade with a bad bearer",
            &ws("/").bearer(&hs256_with(&claims(), b"x")),
        )
        .allow(&[401]),
    );
    cases.push(Case::new("websocket", "upgrade on the skip path", &ws("/public/ws")).skipped());
    cases
}

fn outpost_cases() -> Vec<Case> {
    let o = "/outpost.goauthentik.io";
    let name = session_name();
    let mut cases = vec![
        Case::new("outpost", "ping", &Request::get(&format!("{o}/ping"))).allow(&[204]),
        Case::new("outpost", "root", &Request::get(&format!("{o}/"))).allow(&[404]),
        Case::new("outpost", "ping/", &Request::get(&format!("{o}/ping/"))).allow(&[404]),
        Case::new("outpost", "PING", &Request::get(&format!("{o}/PING"))).allow(&[404]),
        // The forward-auth endpoints without the forwarded headers that describe a request.
        Case::new(
            "outpost",
            "auth/nginx",
            &Request::get(&format!("{o}/auth/nginx")),
        )
        .allow(&[400]),
        Case::new(
            "outpost",
            "auth/traefik",
            &Request::get(&format!("{o}/auth/traefik")),
        )
        .allow(&[400]),
        Case::new(
            "outpost",
            "auth/traefik for an API call",
            &Request::get(&format!("{o}/auth/traefik"))
                .header("X-Forwarded-Proto", "https")
                .header("X-Forwarded-Host", "app.company")
                .header("X-Forwarded-Uri", "/api"),
        )
        .allow(&[401]),
        Case::new(
            "outpost",
            "auth/envoy",
            &Request::get(&format!("{o}/auth/envoy/admin")),
        )
        .allow(&[401]),
        Case::new(
            "outpost",
            "unknown",
            &Request::get(&format!("{o}/anything/else")),
        )
        .allow(&[404]),
        Case::new(
            "outpost",
            "encoded ?",
            &Request::get(&format!("{o}/start%3Frd=http://evil.example")),
        )
        .allow(&[404]),
        Case::new("outpost", "start", &Request::get(&format!("{o}/start"))).allow(&[302]),
        Case::new(
            "outpost",
            "start rd=",
            &Request::get(&format!("{o}/start?rd=")),
        )
        .allow(&[302]),
        Case::new(
            "outpost",
            "start with a 20 KB rd",
            &Request::get(&format!("{o}/start?rd=%2F{}", "a".repeat(20_000))),
        )
        .allow(&[302, 400, 414]),
        Case::new(
            "outpost",
            "sign_out",
            &Request::get(&format!("{o}/sign_out")),
        )
        .allow(&[302]),
        Case::new(
            "outpost",
            "sign_out?rd=evil",
            &Request::get(&format!("{o}/sign_out?rd=http://evil.example/")),
        )
        .allow(&[302]),
        Case::new(
            "outpost",
            "ping on the domain provider",
            &Request::get(&format!("{o}/ping")).header("Host", "auth.company"),
        )
        .allow(&[204]),
        Case::new(
            "outpost",
            "unknown on the domain provider",
            &Request::get(&format!("{o}/x")).header("Host", "auth.company"),
        )
        .allow(&[404]),
    ];
    let callback = format!("{o}/callback");
    for (label, query, cookie) in [
        ("no parameters", String::new(), None),
        (
            "only the marker",
            "?X-authentik-auth-callback=true".to_string(),
            None,
        ),
        ("state only", "?state=abc".to_string(), None),
        ("code only", "?code=abc".to_string(), None),
        (
            "code and state, no cookie",
            "?code=abc&state=abc".to_string(),
            None,
        ),
        ("empty code and state", "?code=&state=".to_string(), None),
        ("error", "?error=access_denied&state=abc".to_string(), None),
        (
            "error 10 KB",
            format!("?error={}&state=abc", "e".repeat(10_000)),
            None,
        ),
        (
            "error with CR LF",
            "?error=x%0d%0aX-Injected:%201&state=abc".to_string(),
            None,
        ),
        (
            "state 5 KB",
            format!("?code=x&state={}", "s".repeat(5000)),
            None,
        ),
        ("NUL escapes", "?code=%00&state=%00".to_string(), None),
        ("bad escapes", "?code=%zz&state=%zz".to_string(), None),
        (
            "state with CR LF",
            "?code=x&state=a%0d%0aSet-Cookie:%20x=y".to_string(),
            None,
        ),
        (
            "junk login-state cookie",
            "?code=abc&state=abc".to_string(),
            Some(("login-state", "A".repeat(100))),
        ),
        (
            "session cookie as the login state",
            "?code=abc&state=abc".to_string(),
            Some(("session", session(&token())[0].1.clone())),
        ),
    ] {
        let mut req = Request::get(&format!("{callback}{query}"));
        if let Some((kind, value)) = cookie {
            let cookie_name = if kind == "session" {
                name.clone()
            } else {
                // The right name for state "abc": sha256("abc")[..6] in hex.
                let d = ring::digest::digest(&ring::digest::SHA256, b"abc");
                let tag: String = d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
                format!("{name}_login_{tag}")
            };
            req = req.cookies(&[(cookie_name, value)]);
        }
        cases.push(Case::new("outpost", format!("callback {label}"), &req).allow(&[400]));
    }
    cases
}

/// A real login state from /start, then callbacks with it: bad codes, tampered cookies, a
/// state from another login. The token location points at a closed port, so a code exchange
/// that gets that far fails (502) and the callback answers 400.
fn callback_cases_with_state(runner: &mut Runner) {
    let o = "/outpost.goauthentik.io";
    for round in 0..4 {
        let start = runner
            .run(
                Case::new(
                    "callback",
                    format!("start #{round}"),
                    &Request::get(&format!("{o}/start?rd=%2Fx")),
                )
                .allow(&[302]),
            )
            .expect("start answers");
        let location = start.header("Location").unwrap_or("").to_string();
        let state = location
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("state="))
            .unwrap_or("")
            .to_string();
        let cookie = start
            .all("Set-Cookie")
            .into_iter()
            .find(|c| c.contains("_login_"))
            .and_then(|c| c.split(';').next())
            .unwrap_or("")
            .to_string();
        let (cname, cvalue) = cookie.split_once('=').unwrap_or(("", ""));
        let variants: Vec<(String, Request)> = vec![
            (
                "code junk, exchange fails".into(),
                Request::get(&format!(
                    "{o}/callback?X-authentik-auth-callback=true&code=junk&state={state}"
                ))
                .cookies(&[(cname.into(), cvalue.into())]),
            ),
            (
                "tampered login-state cookie".into(),
                Request::get(&format!("{o}/callback?code=junk&state={state}"))
                    .cookies(&[(cname.into(), tamper_value(cvalue))]),
            ),
            (
                "state of this login, cookie under another name".into(),
                Request::get(&format!("{o}/callback?code=junk&state={state}x"))
                    .cookies(&[(cname.to_string(), cvalue.into())]),
            ),
            (
                "login state as the session cookie".into(),
                Request::get("/").cookies(&[(session_name(), cvalue.into())]),
            ),
        ];
        for (label, req) in variants {
            let allowed: &'static [u16] = if label.starts_with("login state as") {
                &[401]
            } else {
                &[400]
            };
            runner.run(Case::new("callback", format!("{label} #{round}"), &req).allow(allowed));
        }
    }
}

fn raw_cases() -> Vec<Case> {
    let bad = tamper_value(&session(&token())[0].1);
    let name = session_name();
    let c = |label: &str, bytes: String| Case::raw("malformed", label, bytes.into_bytes());
    vec![
        c("no Host in HTTP/1.1", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("two Host headers", "GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("HTTP/1.0 without Host", "GET /admin/ HTTP/1.0\r\n\r\n".into()).allow(&[401]),
        c("HTTP/1.0 page load", "GET / HTTP/1.0\r\nAccept: text/html\r\n\r\n".into()),
        c("asterisk target", "GET * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("relative target", "GET admin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("NUL in the target", "GET /\0 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("junk after the version", "GET / HTTP/1.1 x\r\nHost: localhost\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("bad method characters", "G@T / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("lower-case method", "get / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into()).allow(&[400, 401]),
        c("tab separators", "GET\t/\tHTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into()).allow(&[400, 401]),
        c("empty request line", "\r\n\r\n".into()).allow(&[400]).truncated(),
        c("leading empty lines", "\r\n\r\nGET /admin/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into()).allow(&[400, 401]),
        c("LF line endings", "GET /admin/ HTTP/1.1\nHost: localhost\nConnection: close\n\n".into()).allow(&[400, 401]),
        c("bare CR in a cookie", format!("GET / HTTP/1.1\r\nHost: localhost\r\nCookie: {name}={bad}\rX-Injected: 1\r\nConnection: close\r\n\r\n")).allow(&[400, 401]),
        c("NUL in a cookie", format!("GET / HTTP/1.1\r\nHost: localhost\r\nCookie: {name}={bad}\0x\r\nConnection: close\r\n\r\n")).allow(&[400, 401]),
        c("NUL in Authorization", format!("GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\0{}\r\nConnection: close\r\n\r\n", &bad[..10], &bad[10..])).allow(&[400, 401]),
        c("NUL in a header name", "GET / HTTP/1.1\r\nHost: localhost\r\nX-authentik-user\0name: akadmin\r\nConnection: close\r\n\r\n".into()).allow(&[400, 401]),
        c("header without a colon", "GET / HTTP/1.1\r\nHost: localhost\r\nCookie\r\nConnection: close\r\n\r\n".into()).allow(&[400, 401]),
        c("space before the colon", format!("GET / HTTP/1.1\r\nHost: localhost\r\nCookie : {name}={bad}\r\nX-authentik-username : akadmin\r\nConnection: close\r\n\r\n")).allow(&[400, 401]),
        c("folded header", format!("GET / HTTP/1.1\r\nHost: localhost\r\nCookie: a=b;\r\n {name}={bad}\r\nConnection: close\r\n\r\n")).allow(&[400, 401]),
        c("folded X-authentik header", "GET /public/x HTTP/1.1\r\nHost: localhost\r\nX-Other: a\r\n X-authentik-username: akadmin\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("negative Content-Length", "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("huge Content-Length", "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("Content-Length and chunked", "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n".into()).allow(&[400]),
        c("two Content-Lengths", "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab".into()).allow(&[400]),
        c("2000 small headers", format!("GET / HTTP/1.1\r\nHost: localhost\r\n{}Connection: close\r\n\r\n", "X-N: v\r\n".repeat(2000))).allow(&[400, 401]),
        c("Host with a slash", "GET / HTTP/1.1\r\nHost: app1.company/evil\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("Host with a backslash", "GET / HTTP/1.1\r\nHost: app1.company\\evil\r\nAccept: text/html\r\nConnection: close\r\n\r\n".into()).allow(&[302, 400, 401]),
        c("empty Host", "GET / HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n".into()).allow(&[400, 401]),
        c("Host ..", "GET / HTTP/1.1\r\nHost: ..\r\nConnection: close\r\n\r\n".into()).allow(&[400]),
        c("truncated request line", "GET /adm".into()).truncated().allow(&[400]),
        c("truncated Host", "GET / HTTP/1.1\r\nHost: loc".into()).truncated().allow(&[400]),
        c("truncated cookie", format!("GET / HTTP/1.1\r\nHost: localhost\r\nCookie: {name}={}", &bad[..30])).truncated().allow(&[400]),
        c("truncated before the empty line", format!("GET / HTTP/1.1\r\nHost: localhost\r\nCookie: {name}={bad}\r\n")).truncated().allow(&[400]),
        c("truncated body", "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789".into()).truncated().allow(&[400, 401]),
        c("truncated chunked body", "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab".into()).truncated().allow(&[400, 401]),
        c("only a CR", "\r".into()).truncated().allow(&[400]),
        c("binary junk", String::from_utf8_lossy(&(0u8..=255).collect::<Vec<u8>>()).into_owned()).truncated().allow(&[400]),
        c("TLS hello on the plain port", String::from_utf8_lossy(&[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]).into_owned()).truncated().allow(&[400]),
    ]
}

/// Oversized inputs that large_client_header_buffers lets through to the module.
fn oversize_cases_big() -> Vec<Case> {
    let name = session_name();
    let token_70k = big_token(70 * 1024);
    assert!(token_70k.len() > 64 * 1024);
    let o = |label: &str, req: Request| {
        Case::new("oversize (160k buffers)", label, &req).allow(&[400, 401])
    };
    vec![
        o(
            "70 KB session cookie of junk",
            Request::get("/").header("Cookie", format!("{name}={}", "A".repeat(70 * 1024))),
        ),
        o(
            "100 KB session cookie of base64url",
            Request::get("/").header("Cookie", format!("{name}={}", "Ab-_".repeat(25 * 1024))),
        ),
        o(
            "session chunks of 9 KB each",
            Request::get("/").cookies(
                &(0..8)
                    .map(|i| {
                        if i == 0 {
                            (name.clone(), format!("8.{}", "A".repeat(9000)))
                        } else {
                            (format!("{name}_{i}"), "A".repeat(9000))
                        }
                    })
                    .collect::<Vec<_>>(),
            ),
        ),
        o(
            "70 KB bearer of junk",
            Request::get("/").bearer(&"A".repeat(70 * 1024)),
        ),
        o(
            "70 KB bearer, correctly signed",
            Request::get("/").bearer(&token_70k),
        ),
        Case::new(
            "oversize (160k buffers)",
            "70 KB bearer, correctly signed, page load",
            &nav(Request::get("/")).bearer(&token_70k),
        ),
        o(
            "100 KB X-Big header",
            Request::get("/").header("X-Big", "b".repeat(100 * 1024)),
        ),
        o(
            "100 KB X-authentik-jwt header",
            Request::get("/admin/").header("X-authentik-jwt", "j".repeat(100 * 1024)),
        ),
        o(
            "150 KB Cookie of 5000 cookies",
            Request::get("/").cookies(
                &(0..5000)
                    .map(|i| (format!("c{i}"), "v".repeat(20)))
                    .collect::<Vec<_>>(),
            ),
        ),
        o(
            "100 KB target",
            Request::get(&format!("/{}", "a".repeat(100 * 1024))),
        ),
        o(
            "100 KB query",
            Request::get(&format!("/?q={}", "a".repeat(100 * 1024))),
        ),
        Case::new(
            "oversize (160k buffers)",
            "200 KB header",
            &Request::get("/").header("X-Big", "b".repeat(200 * 1024)),
        )
        .allow(NGINX_REFUSES),
        Case::new(
            "oversize (160k buffers)",
            "200 KB target",
            &Request::get(&format!("/{}", "a".repeat(200 * 1024))),
        )
        .allow(NGINX_REFUSES),
        Case::new(
            "oversize (160k buffers)",
            "5 headers of 150 KB",
            &(0..5).fold(Request::get("/"), |r, i| {
                r.header(&format!("X-Big{i}"), "b".repeat(150 * 1024))
            }),
        )
        .allow(NGINX_REFUSES),
    ]
}

/// Oversized inputs against nginx's default buffers (4 × 8k): nginx answers 400/414 itself.
fn oversize_cases_default() -> Vec<Case> {
    let name = session_name();
    let d = |label: &str, req: Request| {
        Case::new("oversize (default buffers)", label, &req).allow(NGINX_REFUSES)
    };
    vec![
        d(
            "9 KB session cookie",
            Request::get("/").header("Cookie", format!("{name}={}", "A".repeat(9 * 1024))),
        ),
        d(
            "16 KB session in chunks, one header",
            Request::get("/").cookies(&session(&big_token(16 * 1024))),
        ),
        d(
            "9 KB bearer",
            Request::get("/").bearer(&"A".repeat(9 * 1024)),
        ),
        d(
            "70 KB bearer, correctly signed",
            Request::get("/").bearer(&big_token(70 * 1024)),
        ),
        d(
            "9 KB X-authentik-username",
            Request::get("/").header("X-authentik-username", "a".repeat(9 * 1024)),
        ),
        d(
            "10 KB target",
            Request::get(&format!("/{}", "a".repeat(10 * 1024))),
        ),
        d(
            "6 headers of 7 KB",
            (0..6).fold(Request::get("/"), |r, i| {
                r.header(&format!("X-H{i}"), "h".repeat(7 * 1024))
            }),
        ),
        d(
            "1 MB header",
            Request::get("/").header("X-Big", "b".repeat(1024 * 1024)),
        ),
    ]
}

// ------------------------------------------------------------------------------------------
// The tests
// ------------------------------------------------------------------------------------------

fn finish(
    runners: &[&Runner],
    workers_before: &[(String, Vec<i32>)],
    workers_after: &[(String, Vec<i32>)],
) {
    let total: usize = runners.iter().map(|r| r.sent).sum();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for r in runners {
        for (s, n) in &r.by_status {
            *by_status.entry(s.clone()).or_default() += n;
        }
    }
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{s}×{n}")).collect();
    eprintln!("\n==== hostile-input summary ====");
    for r in runners {
        eprintln!("{}", r.summary());
    }
    eprintln!(
        "total: {total} requests sent; answers by status: {}",
        statuses.join(", ")
    );
    for ((name, before), (_, after)) in workers_before.iter().zip(workers_after) {
        eprintln!("{name}: worker pids before {before:?}, after {after:?}");
    }
    let failures: Vec<&String> = runners.iter().flat_map(|r| &r.failures).collect();
    eprintln!("failures: {}", failures.len());
    eprintln!("===============================\n");
    assert!(total >= 300, "only {total} hostile requests were sent");
    assert!(
        failures.is_empty(),
        "{} of {total} hostile requests misbehaved:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for ((name, before), (_, after)) in workers_before.iter().zip(workers_after) {
        assert_eq!(
            before, after,
            "{name}: a worker was replaced during the run (it died)"
        );
    }
}

fn no_worker_died(ng: &Nginx, name: &str) {
    let log = ng.error_log();
    let died: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("exited on signal"))
        .collect();
    assert!(
        died.is_empty(),
        "{name}: workers died:\n{}",
        died.join("\n")
    );
}

#[test]
fn hostile_requests_never_pass_never_crash_never_5xx() {
    let big = hostile_conf(true).start();
    let small = hostile_conf(false).start();
    // nginx accepts once the master listens; the worker may come a moment later (much later
    // under valgrind).
    let before = vec![
        (
            "160k buffers".to_string(),
            wait_workers(&big, 1, &[], Duration::from_secs(120)),
        ),
        (
            "default buffers".to_string(),
            wait_workers(&small, 1, &[], Duration::from_secs(120)),
        ),
    ];

    let mut r = Runner::new(&big, "nginx with large_client_header_buffers 4 160k");
    r.run_all(cookie_cases());
    r.run_all(chunk_cases());
    r.run_all(many_cookie_cases());
    r.run_all(duplicate_cases());
    r.run_all(bearer_cases());
    r.run_all(token_cases());
    r.run_all(path_cases());
    r.run_all(rd_cases());
    r.run_all(spoof_cases());
    r.run_all(method_cases());
    r.run_all(websocket_cases());
    r.run_all(outpost_cases());
    callback_cases_with_state(&mut r);
    r.run_all(raw_cases());
    r.run_all(oversize_cases_big());

    let mut d = Runner::new(&small, "nginx with default buffers");
    d.run_all(oversize_cases_default());
    d.run_all(raw_cases());
    d.run_all(bearer_cases());
    d.run_all(spoof_cases());

    let after = vec![
        ("160k buffers".to_string(), worker_pids(&big)),
        ("default buffers".to_string(), worker_pids(&small)),
    ];
    finish(&[&r, &d], &before, &after);
    // The upstream saw exactly the skip_path requests, nothing else.
    assert_eq!(big.upstream_count(), r.expected_upstream, "{}", r.summary());
    assert_eq!(
        small.upstream_count(),
        d.expected_upstream,
        "{}",
        d.summary()
    );
    no_worker_died(&big, "160k buffers");
    no_worker_died(&small, "default buffers");
}

/// With `skip_path ^/public/`, dot segments and encoded slashes that leave /public/ after
/// nginx's normalisation never reach a protected location anonymously; what stays under
/// /public/ reaches only the public location.
#[test]
fn path_normalisation_never_unlocks_a_protected_location() {
    let http = provider("app", "skip_path ^/public/;")
        + &server(
            r#"
    authentik app;
    location / { proxy_set_header X-Location protected; @PROXY@ }
    location /admin/ { proxy_set_header X-Location admin; @PROXY@ }
    location /public/ { proxy_set_header X-Location public; @PROXY@ }
    location /normalised/ { proxy_set_header X-Location normalised; proxy_pass http://@ECHO@/; }
"#,
        );
    let ng = Conf::new(http).start();
    let must_not_skip = [
        "/public/../admin/",
        "/public/../admin/secret",
        "/public/%2e%2e/admin/",
        "/public/%2E%2E/admin/",
        "/public/.%2e/admin/",
        "/public/%2e./admin/",
        "/public%2f../admin/",
        "/public%2F../admin/",
        "/public/..%2fadmin/",
        "/public/%2e%2e%2fadmin/",
        "/public//../admin/",
        "/public/./../admin/",
        "/public/x/../../admin/",
        "/public/%2e%2e/%2e%2e/admin/",
        "/./public/../admin/",
        "//public/../admin/",
        "/public/../",
        "/public/..",
        "/public/%2e%2e",
        "/public%2f%2e%2e%2fadmin/",
        "/public/../normalised/x",
        "/public/%2e%2e/normalised/x",
    ];
    let mut lines = Vec::new();
    for path in must_not_skip {
        let r = ng.send(&Request::get(path));
        lines.push(format!("{path} → {} {}", r.status, r.authentik_status()));
        assert!(
            matches!(r.status, 400 | 401),
            "{path}: {} (status {:?}) — left /public/ after normalisation, must not be skipped\n{}",
            r.status,
            r.authentik_status(),
            r.text()
        );
    }
    assert_eq!(ng.upstream_count(), 0, "a protected location was reached");
    // Under /public/ after one decoding, but read differently by Java (`..;`) or Windows
    // (`\\`) routers: never skipped, since the raw path has a dot segment or a backslash.
    for path in [
        "/public/..;/admin/",
        "/public/..\\admin/",
        "/public/%5c../admin/",
        "/public/%2e%2e%5cadmin/",
    ] {
        let r = ng.send(&Request::get(path));
        lines.push(format!("{path} → {} {}", r.status, r.authentik_status()));
        assert!(matches!(r.status, 400 | 401), "{path}: {}", r.text());
    }
    assert_eq!(ng.upstream_count(), 0, "an ambiguous path was skipped");
    // A double-encoded dot is one reading for every router that decodes once: skipped, and
    // only the public location answers (SECURITY.md: never decode twice behind skip_path).
    let r = ng.send(&Request::get("/public/%252e%252e/admin/"));
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.upstream();
    assert_eq!(up.one("X-Location"), "public");
    assert!(up.authentik_headers().is_empty());
    eprintln!("path normalisation:\n  {}", lines.join("\n  "));
}

/// CR, LF and NUL in every claim that becomes a header or a variable come out as spaces; no
/// header is ever split, upstream or in the response.
#[test]
fn control_bytes_in_every_claim_never_split_a_header() {
    let string_claims = [
        "sub",
        "preferred_username",
        "name",
        "given_name",
        "nickname",
        "email",
        "acr",
        "sid",
        "jti",
        "uid",
        "azp",
        "scope",
    ];
    let mut vars = String::new();
    for c in string_claims
        .iter()
        .chain(["groups", "entitlements", "amr", "ak_proxy"].iter())
    {
        vars.push_str(&format!(
            "proxy_set_header X-Claim-{c} $authentik_claim_{c}; add_header X-Claim-{c} $authentik_claim_{c} always;\n"
        ));
    }
    for v in [
        "username",
        "groups",
        "entitlements",
        "email",
        "name",
        "uid",
        "jwt",
    ] {
        vars.push_str(&format!("add_header X-Var-{v} $authentik_{v} always;\n"));
    }
    let http = provider(
        "app",
        "basic_auth_user_attribute basic_user; basic_auth_password_attribute basic_password;",
    ) + &server(&format!(
        "authentik app;\nlocation / {{\n{vars}\n@PROXY@ }}"
    ));
    let ng = Conf::new(http).start();
    let evil = |c: &str| json!(format!("a\r\nX-Injected: {c}\0b\rc\nd\u{7f}e\u{1b}f"));
    let mut claims = claims();
    // The claims that name the user are refused when they hold control bytes (sanitize.rs);
    // every other claim is repaired.
    let naming = ["sub", "preferred_username", "email"];
    for c in string_claims.iter().filter(|c| !naming.contains(c)) {
        claims[*c] = evil(c);
    }
    claims["entitlements"] = json!(["e\0\r\nX-Injected: e"]);
    claims["amr"] = json!(["p\r\nX-Injected: amr"]);
    claims["ak_proxy"]["user_attributes"]["additionalHeaders"] = json!({
        "X-Foo": "bar\r\nX-Injected: additional",
        "X-Nul": "a\0b",
    });
    claims["ak_proxy"]["user_attributes"]["basic_user"] = json!("ak\r\nX-Injected: basic");
    claims["ak_proxy"]["user_attributes"]["basic_password"] = json!("p\0w\r\nd");
    let jwt = hs256(&claims);
    let mut sent = 0;
    for (what, req) in [
        ("session cookie", Request::get("/").cookies(&session(&jwt))),
        ("bearer", Request::get("/").bearer(&jwt)),
    ] {
        let r = ng.send(&req);
        sent += 1;
        assert!(
            r.status == 200 || r.status == 500,
            "{what}: {} {}",
            r.status,
            r.text()
        );
        let bad_response: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, v)| {
                n.trim().eq_ignore_ascii_case("X-Injected") || v.contains(['\r', '\n', '\0'])
            })
            .collect();
        assert!(
            bad_response.is_empty(),
            "{what}: response headers {bad_response:?}"
        );
        if r.status != 200 {
            continue;
        }
        let up = r.upstream();
        let bad_upstream: Vec<_> = up
            .headers
            .iter()
            .filter(|(n, v)| {
                n.trim().eq_ignore_ascii_case("X-Injected")
                    || n.contains(['\r', '\0'])
                    || v.contains(['\r', '\0'])
            })
            .collect();
        assert!(
            bad_upstream.is_empty(),
            "{what}: a claim split or corrupted an upstream header: {bad_upstream:?}\nall: {:#?}",
            up.headers
        );
        assert_eq!(up.one("X-authentik-name"), "a  X-Injected: name b c d e f");
        assert_eq!(up.one("X-Claim-acr"), "a  X-Injected: acr b c d e f");
        assert_eq!(up.one("X-Foo"), "bar  X-Injected: additional");
        assert_eq!(up.one("X-Nul"), "a b");
        // The Basic credentials are base64: control bytes in the attributes cannot split a
        // header there; show what the upstream would decode.
        let basic = up.one("Authorization");
        let decoded = STANDARD
            .decode(basic.trim_start_matches("Basic "))
            .unwrap_or_default();
        eprintln!(
            "{what}: Basic credentials upstream decode to {:?}",
            String::from_utf8_lossy(&decoded)
        );
    }
    assert_eq!(ng.upstream_count(), sent);
}

/// A callback's `error` parameter is client-controlled and logged: CR/LF in it must not
/// forge an error-log line.
#[test]
fn callback_error_parameter_cannot_forge_log_lines() {
    let http = provider("app", "token_request /_authentik_token;")
        + &server("authentik app; location / { @PROXY@ } location = /_authentik_token { internal; return 500; }");
    let ng = Conf::new(http).start();
    let forged = "2001/01/01 00:00:00 [emerg] 1#1: forged by the client";
    for escape in ["%0a", "%0d%0a", "%0d", "%00"] {
        let target = format!(
            "/outpost.goauthentik.io/callback?error=x{escape}{}&state=s",
            rd_escape(forged)
        );
        let r = ng.send(&Request::get(&target));
        assert_eq!(r.status, 400, "{target}: {}", r.text());
    }
    let log = ng.error_log();
    let forged_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("2001/01/01"))
        .collect();
    let control: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("forged by the client") && l.contains(['\r', '\0']))
        .collect();
    assert!(
        forged_lines.is_empty() && control.is_empty(),
        "the callback's error parameter forged error-log lines:\n{}\n{}\n\nfull log:\n{log}",
        forged_lines.join("\n"),
        control.join("\n")
    );
}
