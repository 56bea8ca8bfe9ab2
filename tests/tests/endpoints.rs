//! `/outpost.goauthentik.io/` belongs to the module and never reaches the upstream (docs/architecture.md §5).

use authentik_integration::*;

fn site() -> Nginx {
    let http = provider("app", "skip_path ^/;") + &server("authentik app; location / { @PROXY@ }");
    Conf::new(http).start()
}

#[test]
fn unknown_outpost_paths_are_404_and_never_proxied() {
    // skip_path ^/ would let anything else through anonymously: the endpoints come first.
    let ng = site();
    let cookies = session(&token());
    for path in [
        "/outpost.goauthentik.io/anything",
        "/outpost.goauthentik.io/anything/else?x=1",
        "/outpost.goauthentik.io/",
    ] {
        let r = ng.get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        let r = ng.send(&Request::get(path).cookies(&cookies));
        assert_eq!(r.status, 404, "{path} with a session: {}", r.text());
        let r = ng.send(&Request::get(path).bearer(&token()));
        assert_eq!(r.status, 404, "{path} with a bearer token: {}", r.text());
    }
    assert_eq!(ng.upstream_count(), 0);
    // Sanity: the same server does proxy other paths.
    assert_eq!(ng.get("/x").status, 200);
    assert_eq!(ng.upstream_count(), 1);
}

#[test]
fn ping_answers_204() {
    let ng = site();
    let r = ng.get("/outpost.goauthentik.io/ping");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(ng.upstream_count(), 0);
}
