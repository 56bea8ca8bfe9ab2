//! Big tokens travel in chunked cookies NAME, NAME_1, … (docs/architecture.md §4).

use authentik_integration::*;
use serde_json::json;

fn site() -> Nginx {
    let http = provider("app", "")
        + &server(
            r#"
    large_client_header_buffers 4 64k;
    authentik app;
    location / { @PROXY@ }
"#,
        );
    Conf::new(http).start()
}

/// A token of at least `size` bytes: user_attributes padded, as big group attributes do.
fn big_token(size: usize) -> String {
    let mut claims = claims();
    let mut pad = size * 3 / 4;
    loop {
        claims["ak_proxy"]["user_attributes"]["padding"] = json!("p".repeat(pad));
        let t = hs256(&claims);
        if t.len() >= size {
            return t;
        }
        pad += 256;
    }
}

#[test]
fn ten_kb_token_in_chunked_cookies() {
    let ng = site();
    let jwt = big_token(10 * 1024);
    let pairs = session(&jwt);
    assert!(
        pairs.len() >= 3,
        "expected chunking, got {} cookie(s)",
        pairs.len()
    );
    let name = default_cookie_name(CLIENT_ID);
    assert_eq!(pairs[0].0, name);
    for (i, (n, _)) in pairs.iter().enumerate().skip(1) {
        assert_eq!(n, &format!("{name}_{i}"));
    }

    // One Cookie header, as a browser sends it.
    let r = ng.send(&Request::get("/").cookies(&pairs));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.authentik_status(), "ok");
    let up = r.upstream();
    assert_eq!(up.one("X-authentik-username"), "akadmin");
    assert_eq!(up.one("X-authentik-jwt"), jwt);

    // One Cookie header per chunk, and chunks in any order.
    let r = ng.send(&Request::get("/").cookies_split(&pairs));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut reversed = pairs.clone();
    reversed.reverse();
    let r = ng.send(&Request::get("/").cookies(&reversed));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-username"), "akadmin");
}

#[test]
fn sixteen_kb_token_works() {
    let ng = site();
    let jwt = big_token(16 * 1024);
    let r = ng.send(&Request::get("/").cookies(&session(&jwt)));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream().one("X-authentik-jwt"), jwt);
}

#[test]
fn missing_or_foreign_chunks_get_401() {
    let ng = site();
    let jwt = big_token(10 * 1024);
    let pairs = session(&jwt);
    assert!(pairs.len() >= 3);
    let other = session(&big_token(10 * 1024 + 300));
    assert_eq!(other.len(), pairs.len());

    let mut cases: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for drop in 1..pairs.len() {
        let mut p = pairs.clone();
        p.remove(drop);
        cases.push((format!("chunk {drop} missing"), p));
    }
    cases.push(("only the first chunk".into(), pairs[..1].to_vec()));
    cases.push(("chunks without the first".into(), pairs[1..].to_vec()));
    let mut swapped = pairs.clone();
    swapped[1] = other[1].clone();
    cases.push(("a chunk of another session".into(), swapped));
    let mut truncated = pairs.clone();
    let last = truncated.len() - 1;
    truncated[last].1.truncate(10);
    cases.push(("last chunk truncated".into(), truncated));

    for (what, cookies) in cases {
        let r = ng.send(&Request::get("/").cookies(&cookies));
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_ne!(r.authentik_status(), "ok", "{what}");
    }
    assert_eq!(ng.upstream_count(), 0);
}
