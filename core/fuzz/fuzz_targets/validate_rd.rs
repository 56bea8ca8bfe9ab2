//! `rd` validation (docs/architecture.md §5) judged by a WHATWG URL parser (the `url` crate, what browsers
//! do with a `Location` header). For every input the result must:
//! * parse as an absolute URL, with no userinfo;
//! * contain no control byte, no backslash, nothing outside ASCII;
//! * in single mode, have external_host's scheme, host and port;
//! * in domain mode, have a host equal to cookie_domain or ending in "." + cookie_domain.
//! Input: one byte choosing the provider, then rd (UTF-8, lossily).
#![no_main]

use authentik_core::provider::{Mode, Provider};
use fuzz_support::{
    provider, COOKIE_DOMAIN, EXTERNAL_DOMAIN, EXTERNAL_SINGLE, EXTERNAL_SINGLE_PORT,
};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use url::{Host, Url};

static PROVIDERS: LazyLock<Vec<Provider>> = LazyLock::new(|| {
    vec![
        provider(Mode::Single, EXTERNAL_SINGLE, None),
        provider(Mode::Single, EXTERNAL_SINGLE_PORT, None),
        provider(Mode::Domain, EXTERNAL_DOMAIN, Some(COOKIE_DOMAIN)),
        provider(Mode::Domain, EXTERNAL_DOMAIN, Some(".Company.TLD")),
    ]
});

/// The host as DNS sees it: lowercase, without the root's trailing dot.
fn dns_host(url: &Url) -> Option<String> {
    match url.host()? {
        Host::Domain(d) => Some(d.trim_end_matches('.').to_ascii_lowercase()),
        Host::Ipv4(ip) => Some(ip.to_string()),
        Host::Ipv6(ip) => Some(format!("[{ip}]")),
    }
}

/// Domain mode's allowed host set: cookie_domain, lowercase, without a leading dot.
fn allowed_domain(p: &Provider) -> String {
    let domain = p.cookie_domain().expect("domain mode has a cookie_domain");
    domain.trim_start_matches('.').to_ascii_lowercase()
}

/// `host` is the domain itself or a subdomain of it (on a dot boundary).
fn in_domain(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let rd = String::from_utf8_lossy(rest);
    let p = &PROVIDERS[which as usize % PROVIDERS.len()];
    let arg = if rest.is_empty() && which & 0x80 != 0 {
        None
    } else {
        Some(&*rd)
    };
    let out = p.validate_rd(arg);

    assert!(
        !out.bytes()
            .any(|b| b.is_ascii_control() || b == b'\\' || !b.is_ascii()),
        "{rd:?} -> {out:?}: control byte, backslash or non-ASCII"
    );
    let url = Url::parse(&out).unwrap_or_else(|e| panic!("{rd:?} -> {out:?}: not a URL ({e})"));
    assert_eq!(
        url.as_str(),
        out,
        "{rd:?}: the result is a URL's own serialization"
    );
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{rd:?} -> {out:?}: userinfo"
    );
    let host = dns_host(&url).unwrap_or_else(|| panic!("{rd:?} -> {out:?}: no host"));
    match p.mode() {
        Mode::Single => {
            let own = Url::parse(p.external_host()).unwrap();
            assert_eq!(url.scheme(), own.scheme(), "{rd:?} -> {out:?}: scheme");
            assert_eq!(
                Some(host.clone()),
                dns_host(&own),
                "{rd:?} -> {out:?}: host"
            );
            assert_eq!(
                url.port_or_known_default(),
                own.port_or_known_default(),
                "{rd:?} -> {out:?}: port"
            );
        }
        Mode::Domain => {
            let domain = allowed_domain(p);
            assert!(
                in_domain(&host, &domain),
                "{rd:?} -> {out:?}: host {host} outside {domain}"
            );
            assert!(
                matches!(url.scheme(), "http" | "https"),
                "{rd:?} -> {out:?}: scheme"
            );
        }
    }
});
