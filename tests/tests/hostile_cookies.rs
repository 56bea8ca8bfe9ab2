//! Login-state cookies stay bounded whatever a client (or a hostile page embedding protected
//! URLs) does, and a login whose state was evicted fails cleanly with a fresh login link
//! (docs/architecture.md §5, "Login"; issue "Hostile-client findings" 1, part 2 item 2).
//!
//! Each unauthenticated page load starts a login and sets a `NAME_login_<tag>` cookie. The
//! module keeps at most 4 live ones (4,096 bytes in all) and clears the oldest beyond that,
//! plus any that no longer open, in the same response. So 1,000 page loads never build a
//! `Cookie` header that nginx's default `large_client_header_buffers` (4 × 8k) refuses.

use authentik_core::conf::{PlainUnits, ProviderSettings};
use authentik_core::login::{LoginState, LOGIN_STATE_BUDGET, MAX_LOGIN_STATES};
use authentik_core::provider::Provider;
use authentik_integration::idp::Idp;
use authentik_integration::navigate::{set_cookies, Browser, Url};
use authentik_integration::*;

const CALLBACK: &str = "/outpost.goauthentik.io/callback";

/// The standard provider with a login route (its token location is never reached here), and
/// nginx's default header buffers: no `large_client_header_buffers` anywhere.
fn site() -> Nginx {
    let http = provider("app", "token_request /_t;")
        + &server(
            r#"
    authentik app;
    location / { @PROXY@ }
    location = /_t { internal; proxy_pass http://127.0.0.1:9/; }
"#,
        );
    let ng = Conf::new(http).start();
    assert!(
        !ng.conf_text.contains("large_client_header_buffers"),
        "the bound must hold with nginx's default buffers"
    );
    ng
}

/// The provider as authentik-core builds it from the settings of [`site`].
fn core_provider() -> Provider {
    let mut settings = ProviderSettings::new("app").expect("name");
    for (name, value) in [
        ("issuer", ISSUER),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("cookie_secret", COOKIE_SECRET),
        ("external_host", EXTERNAL_HOST),
        ("token_request", "/_t"),
    ] {
        settings.set(name, &[value], &PlainUnits).expect(name);
    }
    settings.build(0).expect("provider").0
}

fn login_prefix() -> String {
    format!("{}_login_", default_cookie_name(CLIENT_ID))
}

fn page_load(target: &str) -> Request {
    Request::get(target)
        .header("Accept", "text/html,application/xhtml+xml")
        .header("Sec-Fetch-Mode", "navigate")
}

/// The `state` of the authorize URL a 302 points to.
fn state_of(r: &Response) -> String {
    let location = r.header("Location").expect("a 302 has a Location");
    Url::parse(location)
        .and_then(|u| u.arg("state"))
        .unwrap_or_else(|| panic!("no state in {location}"))
}

/// The login state a 302 created, opened with the module's own code.
fn opened_state(r: &Response) -> (LoginState, usize) {
    let state = state_of(r);
    let p = core_provider();
    let name = p.login_state_cookie_name(&state);
    let header = r
        .header_all("Set-Cookie")
        .into_iter()
        .find(|h| h.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie {name}: {:?}", r.headers));
    let value = header[name.len() + 1..].split(';').next().unwrap_or("");
    let login = p
        .open_login_state(&state, Some(value.as_bytes()), now() as u64)
        .unwrap_or_else(|e| panic!("the new login state does not open: {e}"));
    (login, header.len())
}

/// `loads` page loads of `target(i)` by one browser: every response is a 302, the jar never
/// holds more than 4 login-state cookies, and the Cookie header size is returned.
fn many_page_loads(ng: &Nginx, loads: usize, target: impl Fn(usize) -> String) -> usize {
    let mut b = Browser::new(&[ng.port]);
    let prefix = login_prefix();
    let mut largest = 0;
    for i in 0..loads {
        let url = Url::parse(&format!("http://localhost:{}{}", ng.port, target(i))).unwrap();
        let sent = cookie_header(&b.jar.for_url(&url)).len();
        largest = largest.max(sent);
        let r = b.request("GET", &url, &[]);
        assert_eq!(
            r.status,
            302,
            "page load {i} with a {sent}-byte Cookie header: {}",
            r.text()
        );
        let live = b.jar.named_like(&prefix).len();
        assert!(
            live <= MAX_LOGIN_STATES,
            "after page load {i} the browser keeps {live} login-state cookies"
        );
        let bytes: usize = b
            .jar
            .named_like(&prefix)
            .iter()
            .map(|c| c.name.len() + c.value.len() + 1)
            .sum();
        assert!(
            bytes <= LOGIN_STATE_BUDGET,
            "after page load {i} the login-state cookies take {bytes} bytes"
        );
    }
    assert_eq!(ng.upstream_count(), 0, "a page load reached the upstream");
    let url = Url::parse(&format!("http://localhost:{}/next", ng.port)).unwrap();
    let header = cookie_header(&b.jar.for_url(&url));
    // The next page load still gets its 302 through nginx's default buffers.
    let r = b.request("GET", &url, &[]);
    assert_eq!(r.status, 302, "the page load after {loads}: {}", r.text());
    assert!(
        largest < 8192,
        "a Cookie header of {largest} bytes was sent"
    );
    header.len()
}

#[test]
fn a_thousand_page_loads_keep_the_cookie_header_under_8k() {
    let ng = site();
    let size = many_page_loads(&ng, 1000, |i| format!("/page/{i}?tab={i}"));
    eprintln!("Cookie header after 1,000 page loads (short URLs): {size} bytes");
    assert!(size < 8192, "{size} bytes");
    assert!(
        size <= LOGIN_STATE_BUDGET,
        "only login-state cookies are in the jar: {size} bytes"
    );
}

#[test]
fn a_thousand_page_loads_of_long_urls_keep_the_cookie_header_under_8k() {
    // 1 KB URLs are kept whole in the login state: the biggest state cookies there are.
    let ng = site();
    let size = many_page_loads(&ng, 1000, |i| {
        let path = format!("/long/{i}/");
        format!("{path}{}", "a".repeat(1000 - path.len()))
    });
    eprintln!("Cookie header after 1,000 page loads (1 KB URLs): {size} bytes");
    assert!(size < 8192, "{size} bytes");
}

#[test]
fn login_state_cookies_that_no_longer_open_are_cleared() {
    let ng = site();
    let prefix = login_prefix();
    let junk: Vec<(String, String)> = (0..6)
        .map(|i| (format!("{prefix}{i:012x}"), "A".repeat(200)))
        .collect();
    let r = ng.send(&page_load("/page").cookies(&junk));
    assert_eq!(r.status, 302, "{}", r.text());
    let cookies = set_cookies(&r);
    for (name, _) in &junk {
        assert!(
            cookies.iter().any(|c| &c.name == name && c.deletes()),
            "{name} was not cleared: {:?}",
            r.header_all("Set-Cookie")
        );
    }
    let set: Vec<_> = cookies
        .iter()
        .filter(|c| c.name.starts_with(&prefix) && !c.deletes())
        .collect();
    assert_eq!(set.len(), 1, "one new login state: {set:?}");
}

#[test]
fn the_oldest_login_states_are_cleared_first() {
    let ng = site();
    let mut b = Browser::new(&[ng.port]);
    let prefix = login_prefix();
    let url = |p: &str| format!("http://localhost:{}{p}", ng.port);
    let first = b.get(&url("/first"));
    let first_name = core_provider().login_state_cookie_name(&state_of(&first));
    // Login states carry their creation time in seconds: make the first strictly the oldest.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for i in 0..3 {
        assert_eq!(b.get(&url(&format!("/later/{i}"))).status, 302);
    }
    assert_eq!(b.jar.named_like(&prefix).len(), 4);
    assert!(b.jar.get(&first_name).is_some(), "four are kept");
    let r = b.get(&url("/fifth"));
    assert_eq!(r.status, 302);
    assert!(
        set_cookies(&r)
            .iter()
            .any(|c| c.name == first_name && c.deletes()),
        "the oldest login state is cleared: {:?}",
        r.header_all("Set-Cookie")
    );
    assert_eq!(b.jar.named_like(&prefix).len(), 4);
    assert!(b.jar.get(&first_name).is_none());
}

/// Login states carry their creation time in whole seconds. Within one second the Cookie
/// header's order tells their age: browsers send cookies of the same path oldest first
/// (RFC 6265 §5.4), as the harness's jar does. The first one sent must be the first cleared,
/// so that a burst of page loads never evicts the newest login instead of the oldest.
#[test]
fn within_one_second_the_first_sent_login_state_is_cleared_first() {
    let ng = site();
    let mut b = Browser::new(&[ng.port]);
    let prefix = login_prefix();
    let url = |p: &str| format!("http://localhost:{}{p}", ng.port);
    // Start right after a second boundary, so that the five loads share one second.
    let t = now();
    while now() == t {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut names = Vec::new();
    for i in 0..4 {
        let r = b.get(&url(&format!("/burst/{i}")));
        assert_eq!(r.status, 302);
        names.push(core_provider().login_state_cookie_name(&state_of(&r)));
    }
    let r = b.get(&url("/burst/4"));
    let cleared: Vec<String> = set_cookies(&r)
        .into_iter()
        .filter(|c| c.name.starts_with(&prefix) && c.deletes())
        .map(|c| c.name)
        .collect();
    let position = |n: &String| names.iter().position(|x| x == n);
    assert_eq!(
        cleared,
        vec![names[0].clone()],
        "cleared the login states sent at positions {:?} of {}, not the oldest (0)",
        cleared.iter().map(position).collect::<Vec<_>>(),
        names.len()
    );
}

#[test]
fn long_return_urls_keep_the_state_cookie_under_4096_bytes() {
    let ng = site();
    let ext = EXTERNAL_HOST;
    // (what, request target, expected rd)
    let q = "q".repeat(1500);
    let deep = "d".repeat(6000);
    let whole = format!("/kept/{}", "k".repeat(900));
    let cases: Vec<(&str, String, String)> = vec![
        (
            "a URL under 1 KB via /start is kept whole",
            format!(
                "/outpost.goauthentik.io/start?rd={}",
                navigate::encode(&format!("{ext}{whole}?x=1"))
            ),
            format!("{ext}{whole}?x=1"),
        ),
        (
            "a 1.5 KB query via /start is dropped, the path kept",
            format!(
                "/outpost.goauthentik.io/start?rd={}",
                navigate::encode(&format!("{ext}/app/page?q={q}"))
            ),
            format!("{ext}/app/page"),
        ),
        (
            "a 6 KB rd via /start returns to the root",
            format!(
                "/outpost.goauthentik.io/start?rd={}",
                navigate::encode(&format!("{ext}/{deep}"))
            ),
            format!("{ext}/"),
        ),
        (
            "a 6 KB rd with a 6 KB query via /start returns to the root",
            format!(
                "/outpost.goauthentik.io/start?rd={}",
                navigate::encode(&format!(
                    "{ext}/{}?q={}",
                    "p".repeat(3000),
                    "q".repeat(3000)
                ))
            ),
            format!("{ext}/"),
        ),
        (
            "a page load under 1 KB is kept whole",
            format!("{whole}?x=1"),
            format!("{ext}{whole}?x=1"),
        ),
        (
            "a page load with a 1.5 KB query keeps its path",
            format!("/app/page?q={q}"),
            format!("{ext}/app/page"),
        ),
        (
            "a 6 KB page-load URL returns to the root",
            format!("/{deep}"),
            format!("{ext}/"),
        ),
        (
            "a 6 KB page-load query on a short path keeps the path",
            format!("/short?{}", "q".repeat(6000)),
            format!("{ext}/short"),
        ),
    ];
    for (what, target, rd) in cases {
        assert!(target.len() < 8000, "{what}: fits nginx's default buffer");
        let r = ng.send(&page_load(&target));
        assert_eq!(r.status, 302, "{what}: {}", r.text());
        let (login, set_cookie_len) = opened_state(&r);
        assert_eq!(login.rd, rd, "{what}");
        assert!(
            set_cookie_len < 4096,
            "{what}: the login-state Set-Cookie is {set_cookie_len} bytes"
        );
        eprintln!("{what}: Set-Cookie {set_cookie_len} bytes");
    }
    assert_eq!(ng.upstream_count(), 0);
}

/// The `href` of `<a id="login" href="…">` in a callback's 400 page, HTML-unescaped.
fn login_link(page: &str) -> String {
    let anchor = r#"<a id="login" href=""#;
    let start = page
        .find(anchor)
        .unwrap_or_else(|| panic!("no login link in the page:\n{page}"))
        + anchor.len();
    let end = start + page[start..].find('"').expect("closing quote");
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[test]
fn a_callback_whose_state_was_evicted_gets_400_with_a_fresh_login_link() {
    let idp = Idp::builder().auto_login("akadmin").start();
    let http = idp.provider("app", "http://app.test:@PORT@", "")
        + &format!(
            "server {{\n\
             listen 127.0.0.1:@PORT@;\n\
             server_name app.test;\n\
             add_header X-Authentik-Status $authentik_status always;\n\
             authentik app;\n\
             location / {{ @PROXY@ }}\n\
             {}\n\
             }}\n",
            idp.token_location()
        );
    let ng = Conf::new(http).start();
    let ext = format!("http://app.test:{}", ng.port);
    let session_name = default_cookie_name(&idp.client_id);
    let prefix = format!("{session_name}_login_");
    let mut b = Browser::new(&[ng.port, idp.port]);
    let until_callback = |b: &mut Browser, path: &str| -> Url {
        let walk = b.navigate_until(&format!("{ext}{path}"), |u| u.path() == CALLBACK);
        match walk.stopped_at {
            Some(u) if u.path() == CALLBACK => u,
            _ => panic!("no callback:\n{}", walk.trace()),
        }
    };
    let first = until_callback(&mut b, "/tab/first");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut later = Vec::new();
    for i in 0..MAX_LOGIN_STATES {
        later.push(until_callback(&mut b, &format!("/tab/{i}")));
    }
    assert_eq!(b.jar.named_like(&prefix).len(), MAX_LOGIN_STATES);

    // The first login's state cookie was evicted: its callback fails with the 400 page.
    let r = b.get(&first.to_string());
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("Location"), None, "a 400, not a redirect");
    assert!(
        set_cookies(&r)
            .iter()
            .all(|c| c.name != session_name || c.deletes()),
        "no session from a failed callback"
    );
    assert!(
        ng.error_log()
            .contains("login callback failed: no login-state cookie for this state"),
        "{}",
        ng.error_log()
    );
    let link = login_link(&r.text());
    let start = format!("{ext}/outpost.goauthentik.io/start?rd=");
    assert!(link.starts_with(&start), "{link}");

    // Following the link starts a new login, which completes.
    let walk = b.navigate(&link);
    let hop0 = &walk.hops[0];
    assert_eq!(hop0.response.status, 302, "{}", walk.trace());
    assert!(
        login_cookie_set(&hop0.response, &prefix),
        "the link starts a new login:\n{}",
        walk.trace()
    );
    let last = walk.last();
    assert_eq!(last.response.status, 200, "{}", walk.trace());
    assert_eq!(last.url.to_string(), format!("{ext}/"));
    assert_eq!(
        last.response.upstream().one("X-authentik-username"),
        "akadmin"
    );
    // A later tab whose state is still kept completes its login.
    let p = core_provider_for(&idp, &ext);
    let kept = later
        .iter()
        .find(|cb| {
            let state = cb.arg("state").expect("state");
            b.jar.get(&p.login_state_cookie_name(&state)).is_some()
        })
        .expect("some later login is still kept");
    let r = b.get(&kept.to_string());
    assert_eq!(r.status, 302, "{}", r.text());
}

fn core_provider_for(idp: &Idp, ext: &str) -> Provider {
    let mut settings = ProviderSettings::new("app").expect("name");
    for (name, value) in [
        ("issuer", idp.issuer.as_str()),
        ("client_id", &idp.client_id),
        ("client_secret", &idp.client_secret),
        ("cookie_secret", COOKIE_SECRET),
        ("external_host", ext),
        ("token_request", "/_authentik_token"),
    ] {
        settings.set(name, &[value], &PlainUnits).expect(name);
    }
    settings.build(0).expect("provider").0
}

fn login_cookie_set(r: &Response, prefix: &str) -> bool {
    set_cookies(r)
        .iter()
        .any(|c| c.name.starts_with(prefix) && !c.deletes())
}
