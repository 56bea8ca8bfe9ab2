//! `rd` validation (DESIGN §5) judged by a WHATWG URL parser (the `url` crate, what browsers
//! do with a `Location` header). For every input the result must:
//! * parse as an absolute URL, with no userinfo;
//! * contain no control byte, no backslash, nothing outside ASCII;
//! * in single mode, have external_host's scheme, host and port;
//! * in domain mode, have a host equal to cookie_domain or ending in "." + cookie_domain.
//! Also `url::Origin::parse` (the gate) against the same parser: whatever it accepts must be
//! a valid URL with that scheme, host and port.
//! Input: one byte choosing the provider, then rd (UTF-8, lossily).
#![no_main]

use authentik_core::provider::{Mode, Provider};
use authentik_core::url::Origin;
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

/// WHATWG's "ends in a number": the last label is decimal digits or 0x-hex.
fn ends_in_number(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or("");
    let hex = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X"));
    (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
        || hex.is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A label with the IDNA ACE prefix, which WHATWG decodes (and refuses when invalid).
fn has_ace_label(host: &str) -> bool {
    host.split('.')
        .any(|label| label.len() >= 4 && label[..4].eq_ignore_ascii_case("xn--"))
}

/// Domain mode's allowed host set: cookie_domain, lowercase, without a leading dot.
fn allowed_domain(p: &Provider) -> String {
    let domain = p
        .cookie_domain
        .as_deref()
        .expect("domain mode has a cookie_domain");
    domain.trim_start_matches('.').to_ascii_lowercase()
}

/// `host` is the domain itself or a subdomain of it (on a dot boundary).
fn in_domain(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

fn check_origin(rd: &str) {
    let Some(origin) = Origin::parse(rd) else {
        return;
    };
    let url = match Url::parse(rd) {
        Ok(url) => url,
        // WHATWG reads a host whose last label is a number as IPv4 ("a.0x", "a.1"). Such a
        // host is never equal to, nor a subdomain of, a configured host name, so validate_rd
        // cannot be fooled by it; an IP-literal external_host compares textually (safe).
        Err(url::ParseError::InvalidIpv4Address) if ends_in_number(&origin.host) => return,
        // An "xn--" label that is not valid punycode: browsers refuse the URL (no redirect).
        Err(url::ParseError::IdnaError) if has_ace_label(&origin.host) => return,
        Err(e) => panic!("Origin::parse accepts {rd:?}, a URL parser refuses it: {e}"),
    };
    assert_eq!(url.scheme(), origin.scheme, "{rd:?}");
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "userinfo in {rd:?}"
    );
    assert_eq!(
        url.port_or_known_default(),
        Some(origin.effective_port()),
        "port of {rd:?}"
    );
    if let Some(Host::Domain(_)) = url.host() {
        assert_eq!(
            dns_host(&url).as_deref(),
            Some(origin.host.as_str()),
            "host of {rd:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let rd = String::from_utf8_lossy(rest);
    check_origin(&rd);
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
    let url = match Url::parse(&out) {
        Ok(url) => url,
        // Refused by browsers (no redirect at all), as long as the host is still in the set.
        Err(url::ParseError::IdnaError) => {
            let origin = Origin::parse(&out).expect("validated");
            assert!(has_ace_label(&origin.host), "{rd:?} -> {out:?}: IDNA error");
            if let Mode::Domain = p.mode {
                let domain = allowed_domain(p);
                assert!(
                    in_domain(&origin.host, &domain),
                    "{rd:?} -> {out:?}: outside {domain}"
                );
            } else {
                assert_eq!(origin, Origin::parse(&p.external_host).unwrap());
            }
            return;
        }
        Err(e) => panic!("{rd:?} -> {out:?}: not a URL ({e})"),
    };
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{rd:?} -> {out:?}: userinfo"
    );
    let host = dns_host(&url).unwrap_or_else(|| panic!("{rd:?} -> {out:?}: no host"));
    match p.mode {
        Mode::Single => {
            let own = Url::parse(&p.external_host).unwrap();
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
