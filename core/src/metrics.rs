//! Prometheus counters, kept in one shared memory zone so that a scrape sums every worker and
//! the counts survive `nginx -s reload`.
//!
//! The zone is a slice of `AtomicU64` cells that the glue maps; this module owns its layout.
//! Each provider has a slot, found again by name after a reload: its name, then its counters.
//! A request costs one relaxed atomic add: the request counter is indexed by status and cache
//! use together, and the cache counters are sums of it. Labels come only from configuration
//! (provider names) and fixed enums, never from requests.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::decision::Status;

/// Providers a zone holds counters for.
pub const MAX_PROVIDERS: usize = 64;
const NAME_WORDS: usize = 8;
const COUNTER_WORDS: usize = 120;
const SLOT_WORDS: usize = NAME_WORDS + COUNTER_WORDS;

/// Cells a zone needs.
pub const CELLS: usize = MAX_PROVIDERS * SLOT_WORDS;

const STATUSES: [Status; 6] = [
    Status::Ok,
    Status::Skipped,
    Status::Missing,
    Status::Expired,
    Status::Invalid,
    Status::Forbidden,
];

/// Whether a decision used the verified-credential cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// No credential was looked up (none sent, or an endpoint).
    None,
    Hit,
    Miss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    Started,
    Completed,
    Failed,
}

/// The grant of a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl Grant {
    const ALL: [Grant; 3] = [
        Grant::AuthorizationCode,
        Grant::RefreshToken,
        Grant::ClientCredentials,
    ];

    fn label(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::RefreshToken => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
        }
    }
}

/// How a token request ended: tokens that verified; an answer of authentik that was refused
/// (an OAuth error, or tokens that do not verify); or no usable answer (unreachable, 5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenResult {
    Success,
    Rejected,
    Failure,
}

impl TokenResult {
    const ALL: [TokenResult; 3] = [
        TokenResult::Success,
        TokenResult::Rejected,
        TokenResult::Failure,
    ];

    fn label(self) -> &'static str {
        match self {
            TokenResult::Success => "success",
            TokenResult::Rejected => "rejected",
            TokenResult::Failure => "failure",
        }
    }
}

/// Upper bounds of the token-request duration histogram, in milliseconds.
const BUCKETS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// Where each counter lives in a provider's slot (after its name).
mod at {
    pub const REQUESTS: usize = 0; // 6 statuses × 3 cache uses
    pub const LOGINS: usize = 18; // 3
    pub const TOKEN_REQUESTS: usize = 21; // 3 grants × 3 results
    pub const DURATION_BUCKETS: usize = 30; // 11 buckets, then +Inf
    pub const DURATION_SUM_MS: usize = 42;
    pub const DURATION_COUNT: usize = 43;
    /// Counters the later features add: 76 cells, indexed by `Extra`.
    pub const EXTRA: usize = 44;
}

/// The counters of the features beyond the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    RefreshRenewed,
    RefreshEnded,
    RefreshKept,
    BackchannelAccepted,
    BackchannelRefused,
    BackchannelFull,
    BasicExchanged,
    BasicRefused,
    BasicCachedHit,
    BasicFailure,
    JwksFetched,
    JwksFailed,
}

struct ExtraSpec {
    extra: Extra,
    family: &'static str,
    label: &'static str,
}

const EXTRAS: [ExtraSpec; 12] = [
    ExtraSpec {
        extra: Extra::RefreshRenewed,
        family: "authentik_refreshes_total",
        label: "renewed",
    },
    ExtraSpec {
        extra: Extra::RefreshEnded,
        family: "authentik_refreshes_total",
        label: "ended",
    },
    ExtraSpec {
        extra: Extra::RefreshKept,
        family: "authentik_refreshes_total",
        label: "kept",
    },
    ExtraSpec {
        extra: Extra::BackchannelAccepted,
        family: "authentik_backchannel_logouts_total",
        label: "accepted",
    },
    ExtraSpec {
        extra: Extra::BackchannelRefused,
        family: "authentik_backchannel_logouts_total",
        label: "refused",
    },
    ExtraSpec {
        extra: Extra::BackchannelFull,
        family: "authentik_backchannel_logouts_total",
        label: "zone_full",
    },
    ExtraSpec {
        extra: Extra::BasicExchanged,
        family: "authentik_basic_auth_total",
        label: "exchanged",
    },
    ExtraSpec {
        extra: Extra::BasicRefused,
        family: "authentik_basic_auth_total",
        label: "refused",
    },
    ExtraSpec {
        extra: Extra::BasicCachedHit,
        family: "authentik_basic_auth_total",
        label: "cached",
    },
    ExtraSpec {
        extra: Extra::BasicFailure,
        family: "authentik_basic_auth_total",
        label: "failure",
    },
    ExtraSpec {
        extra: Extra::JwksFetched,
        family: "authentik_jwks_fetches_total",
        label: "success",
    },
    ExtraSpec {
        extra: Extra::JwksFailed,
        family: "authentik_jwks_fetches_total",
        label: "failure",
    },
];

/// A view of the zone's cells.
#[derive(Clone, Copy)]
pub struct Metrics<'a> {
    cells: &'a [AtomicU64],
}

/// A provider's slot in the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(usize);

impl<'a> Metrics<'a> {
    /// A view of `cells`, which must be [`CELLS`] long (zeroed when the zone is new).
    pub fn new(cells: &'a [AtomicU64]) -> Option<Metrics<'a>> {
        (cells.len() >= CELLS).then_some(Metrics { cells })
    }

    /// The slot of provider `name`: the one that already carries the name (after a reload),
    /// else the first free one. `None` when every slot is taken. Called while a configuration
    /// loads, in the master process only.
    pub fn slot(&self, name: &str) -> Option<Slot> {
        let words = name_words(name);
        let slots = (0..MAX_PROVIDERS).map(Slot);
        if let Some(found) = slots.clone().find(|&s| self.name_of(s) == words) {
            return Some(found);
        }
        let free = slots.into_iter().find(|&s| self.name_of(s)[0] == 0)?;
        for (cell, word) in self.cells[free.0 * SLOT_WORDS..].iter().zip(words) {
            cell.store(word, Ordering::Relaxed);
        }
        Some(free)
    }

    fn name_of(&self, slot: Slot) -> [u64; NAME_WORDS] {
        let mut words = [0u64; NAME_WORDS];
        for (word, cell) in words.iter_mut().zip(&self.cells[slot.0 * SLOT_WORDS..]) {
            *word = cell.load(Ordering::Relaxed);
        }
        words
    }

    fn cell(&self, slot: Slot, index: usize) -> &AtomicU64 {
        &self.cells[slot.0 * SLOT_WORDS + NAME_WORDS + index]
    }

    fn add(&self, slot: Slot, index: usize, n: u64) {
        self.cell(slot, index).fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self, slot: Slot, index: usize) -> u64 {
        self.cell(slot, index).load(Ordering::Relaxed)
    }

    /// One decided request: its status and its use of the cache.
    pub fn request(&self, slot: Slot, status: Status, cache: CacheUse) {
        self.add(slot, request_index(status, cache), 1);
    }

    pub fn login(&self, slot: Slot, result: LoginResult) {
        self.add(slot, at::LOGINS + result as usize, 1);
    }

    /// One token request, and how long authentik took.
    pub fn token_request(&self, slot: Slot, grant: Grant, result: TokenResult, millis: u64) {
        self.add(
            slot,
            at::TOKEN_REQUESTS + grant as usize * 3 + result as usize,
            1,
        );
        let bucket = BUCKETS_MS
            .iter()
            .position(|&b| millis <= b)
            .unwrap_or(BUCKETS_MS.len());
        self.add(slot, at::DURATION_BUCKETS + bucket, 1);
        self.add(slot, at::DURATION_SUM_MS, millis);
        self.add(slot, at::DURATION_COUNT, 1);
    }

    pub fn extra(&self, slot: Slot, extra: Extra) {
        self.add(slot, at::EXTRA + extra as usize, 1);
    }

    /// The text exposition format (`text/plain; version=0.0.4`) of every claimed slot among
    /// `providers`, plus `gauges` (name, help, value) of the whole zone.
    pub fn render(&self, providers: &[(&str, Slot)], gauges: &[(&str, &str, u64)]) -> String {
        let mut out = String::with_capacity(4096 + providers.len() * 4096);
        family(
            &mut out,
            "authentik_requests_total",
            "Requests decided, by $authentik_status.",
            "counter",
        );
        for &(name, slot) in providers {
            for status in STATUSES {
                let n: u64 = [CacheUse::None, CacheUse::Hit, CacheUse::Miss]
                    .iter()
                    .map(|&c| self.get(slot, request_index(status, c)))
                    .sum();
                sample(
                    &mut out,
                    "authentik_requests_total",
                    &[("provider", name), ("status", status.as_str())],
                    n,
                );
            }
        }
        for (metric, cache, help) in [
            (
                "authentik_cache_hits_total",
                CacheUse::Hit,
                "Credentials found in a worker's verified-credential cache.",
            ),
            (
                "authentik_cache_misses_total",
                CacheUse::Miss,
                "Credentials verified because no worker cache held them.",
            ),
        ] {
            family(&mut out, metric, help, "counter");
            for &(name, slot) in providers {
                let n: u64 = STATUSES
                    .iter()
                    .map(|&s| self.get(slot, request_index(s, cache)))
                    .sum();
                sample(&mut out, metric, &[("provider", name)], n);
            }
        }
        family(
            &mut out,
            "authentik_logins_total",
            "Logins started, completed and failed.",
            "counter",
        );
        for &(name, slot) in providers {
            for (result, label) in [
                (LoginResult::Started, "started"),
                (LoginResult::Completed, "completed"),
                (LoginResult::Failed, "failed"),
            ] {
                let n = self.get(slot, at::LOGINS + result as usize);
                sample(
                    &mut out,
                    "authentik_logins_total",
                    &[("provider", name), ("result", label)],
                    n,
                );
            }
        }
        family(
            &mut out,
            "authentik_token_requests_total",
            "Requests to authentik's token endpoint.",
            "counter",
        );
        for &(name, slot) in providers {
            for grant in Grant::ALL {
                for result in TokenResult::ALL {
                    let n = self.get(
                        slot,
                        at::TOKEN_REQUESTS + grant as usize * 3 + result as usize,
                    );
                    sample(
                        &mut out,
                        "authentik_token_requests_total",
                        &[
                            ("provider", name),
                            ("grant", grant.label()),
                            ("result", result.label()),
                        ],
                        n,
                    );
                }
            }
        }
        let histogram = "authentik_token_request_duration_seconds";
        family(
            &mut out,
            histogram,
            "How long authentik's token endpoint took to answer.",
            "histogram",
        );
        for &(name, slot) in providers {
            let mut cumulative = 0;
            for (i, ms) in BUCKETS_MS.iter().enumerate() {
                cumulative += self.get(slot, at::DURATION_BUCKETS + i);
                let le = format!("{}", *ms as f64 / 1000.0);
                sample(
                    &mut out,
                    &format!("{histogram}_bucket"),
                    &[("provider", name), ("le", &le)],
                    cumulative,
                );
            }
            cumulative += self.get(slot, at::DURATION_BUCKETS + BUCKETS_MS.len());
            sample(
                &mut out,
                &format!("{histogram}_bucket"),
                &[("provider", name), ("le", "+Inf")],
                cumulative,
            );
            let sum = self.get(slot, at::DURATION_SUM_MS) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "{histogram}_sum{{provider=\"{}\"}} {sum}",
                escape(name)
            );
            sample(
                &mut out,
                &format!("{histogram}_count"),
                &[("provider", name)],
                self.get(slot, at::DURATION_COUNT),
            );
        }
        let mut current = "";
        for spec in &EXTRAS {
            if spec.family != current {
                current = spec.family;
                family(&mut out, spec.family, extra_help(spec.family), "counter");
                for &(name, slot) in providers {
                    for same in EXTRAS.iter().filter(|e| e.family == spec.family) {
                        let n = self.get(slot, at::EXTRA + same.extra as usize);
                        sample(
                            &mut out,
                            spec.family,
                            &[("provider", name), ("result", same.label)],
                            n,
                        );
                    }
                }
            }
        }
        for &(metric, help, value) in gauges {
            family(&mut out, metric, help, "gauge");
            let _ = writeln!(out, "{metric} {value}");
        }
        out
    }
}

fn extra_help(family: &str) -> &'static str {
    match family {
        "authentik_refreshes_total" => "Session refreshes: renewed, ended by authentik, or kept after a failure.",
        "authentik_backchannel_logouts_total" => "Back-channel logout requests: accepted, refused, or refused because the revocation zone is full.",
        "authentik_basic_auth_total" => "Basic credentials: exchanged with authentik, refused, answered from the cache, or failed.",
        _ => "Remote JWKS fetches.",
    }
}

fn request_index(status: Status, cache: CacheUse) -> usize {
    let status = STATUSES.iter().position(|&s| s == status).unwrap_or(0);
    let cache = match cache {
        CacheUse::None => 0,
        CacheUse::Hit => 1,
        CacheUse::Miss => 2,
    };
    at::REQUESTS + status * 3 + cache
}

/// A provider name as the words of its slot: up to 64 bytes, zero-padded; never all zero.
fn name_words(name: &str) -> [u64; NAME_WORDS] {
    let mut bytes = [0u8; NAME_WORDS * 8];
    let name = name.as_bytes();
    let len = name.len().min(bytes.len() - 1);
    bytes[0] = len as u8 + 1;
    bytes[1..=len].copy_from_slice(&name[..len]);
    let mut words = [0u64; NAME_WORDS];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *word = u64::from_le_bytes(b);
    }
    words
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    out.push('{');
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{key}=\"{}\"", escape(value));
    }
    let _ = writeln!(out, "}} {value}");
}

/// A label value as the exposition format writes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Vec<AtomicU64> {
        (0..CELLS).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn slots_are_found_again_by_name() {
        let cells = zone();
        let m = Metrics::new(&cells).unwrap();
        let a = m.slot("app").unwrap();
        let b = m.slot("other").unwrap();
        assert_ne!(a, b);
        assert_eq!(m.slot("app"), Some(a), "a reload finds the same slot");
        for i in 0..MAX_PROVIDERS - 2 {
            assert!(m.slot(&format!("p{i}")).is_some());
        }
        assert_eq!(m.slot("one too many"), None);
        assert_eq!(m.slot("app"), Some(a));
    }

    #[test]
    fn counts_render_as_prometheus_text() {
        let cells = zone();
        let m = Metrics::new(&cells).unwrap();
        let app = m.slot("app").unwrap();
        for _ in 0..3 {
            m.request(app, Status::Ok, CacheUse::Hit);
        }
        m.request(app, Status::Ok, CacheUse::Miss);
        m.request(app, Status::Invalid, CacheUse::Miss);
        m.request(app, Status::Missing, CacheUse::None);
        m.login(app, LoginResult::Started);
        m.token_request(app, Grant::AuthorizationCode, TokenResult::Success, 7);
        m.token_request(app, Grant::AuthorizationCode, TokenResult::Failure, 20_000);
        m.extra(app, Extra::JwksFetched);
        let text = m.render(
            &[("ap\"p", app)],
            &[("authentik_revocations", "Entries.", 2)],
        );
        for line in [
            "authentik_requests_total{provider=\"ap\\\"p\",status=\"ok\"} 4",
            "authentik_requests_total{provider=\"ap\\\"p\",status=\"invalid\"} 1",
            "authentik_requests_total{provider=\"ap\\\"p\",status=\"missing\"} 1",
            "authentik_cache_hits_total{provider=\"ap\\\"p\"} 3",
            "authentik_cache_misses_total{provider=\"ap\\\"p\"} 2",
            "authentik_logins_total{provider=\"ap\\\"p\",result=\"started\"} 1",
            "authentik_token_requests_total{provider=\"ap\\\"p\",grant=\"authorization_code\",result=\"success\"} 1",
            "authentik_token_request_duration_seconds_bucket{provider=\"ap\\\"p\",le=\"0.005\"} 0",
            "authentik_token_request_duration_seconds_bucket{provider=\"ap\\\"p\",le=\"0.01\"} 1",
            "authentik_token_request_duration_seconds_bucket{provider=\"ap\\\"p\",le=\"10\"} 1",
            "authentik_token_request_duration_seconds_bucket{provider=\"ap\\\"p\",le=\"+Inf\"} 2",
            "authentik_token_request_duration_seconds_sum{provider=\"ap\\\"p\"} 20.007",
            "authentik_token_request_duration_seconds_count{provider=\"ap\\\"p\"} 2",
            "authentik_jwks_fetches_total{provider=\"ap\\\"p\",result=\"success\"} 1",
            "# TYPE authentik_token_request_duration_seconds histogram",
            "authentik_revocations 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
