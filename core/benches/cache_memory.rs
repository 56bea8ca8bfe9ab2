//! Heap bytes per verified-token cache entry, counted by a wrapping allocator (not a timing
//! benchmark). Run with `cargo bench -p authentik-core --bench cache_memory`; BENCHMARKS.md
//! compares it with the RSS that `scripts/memory-check` measures in nginx.
//!
//! An entry is the sealed cookie value as its key (stored once, shared by the index and the
//! LRU slot), the slot, the index bucket, and the `Rc<Identity>`: every header value and the
//! claims for `$authentik_claim_*`. "malloc" counts what glibc really hands out for each
//! request: the size plus its 8-byte header, rounded up to 16, at least 32.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use authentik_core::auth::Worker;
use authentik_core::request::RequestFacts;
use authentik_core::seal::SealKey;
use authentik_core::session;

#[path = "common.rs"]
mod common;
use common::{CLIENT_ID, CLIENT_SECRET, COOKIE_SECRET, ISSUER};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

struct Counting;

static REQUESTED: AtomicUsize = AtomicUsize::new(0);
static CHUNKS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn chunk(size: usize) -> usize {
    ((size + 8 + 15) & !15).max(32)
}

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        REQUESTED.fetch_add(layout.size(), Relaxed);
        CHUNKS.fetch_add(chunk(layout.size()), Relaxed);
        LIVE.fetch_add(1, Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        REQUESTED.fetch_sub(layout.size(), Relaxed);
        CHUNKS.fetch_sub(chunk(layout.size()), Relaxed);
        LIVE.fetch_sub(1, Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn snapshot() -> (usize, usize, usize) {
    (
        REQUESTED.load(Relaxed),
        CHUNKS.load(Relaxed),
        LIVE.load(Relaxed),
    )
}

const COOKIE_NAME: &str = "ak_hs";
const NOW: u64 = 1_750_000_000;
const ENTRIES: usize = 10_000;

/// The same authentik-shaped token as scripts/bench-keys mints, one per user.
fn token(serial: usize) -> String {
    let claims = json!({
        "iss": ISSUER, "sub": "3944a1807a752510bdd77383390dc5f4c7802d97ca77464c1d5416e90dbb6dfe",
        "aud": CLIENT_ID, "exp": NOW + 86400, "iat": NOW - 5, "auth_time": NOW - 120,
        "acr": "goauthentik.io/providers/oauth2/default", "amr": ["pwd"],
        "sid": "f427888b284cd64852137a3413bace07b6b039695e91a900408fd5fa62296620",
        "jti": format!("{serial:032x}"), "azp": CLIENT_ID,
        "uid": "4b5124fae70fd93478b3be6afc361eb8",
        "scope": "openid profile email entitlements ak_proxy",
        "email": "admin@authentik.company", "email_verified": false,
        "name": "authentik Default Admin", "given_name": "authentik Default Admin",
        "preferred_username": format!("user{serial:06}"), "nickname": "akadmin",
        "groups": ["authentik Admins", "users"], "entitlements": ["app-admin", "billing"],
        "ak_proxy": {"user_attributes": {"additionalHeaders": {"X-Foo": "bar", "X-Team": "platform"}},
                     "is_superuser": true}
    });
    jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn main() {
    let provider = common::provider(COOKIE_NAME, None);
    let session_key = SealKey::derive(COOKIE_SECRET.as_bytes(), "session");
    let headers: Vec<String> = (0..ENTRIES)
        .map(|i| {
            let sealed = session::seal_session(&session_key, COOKIE_NAME, token(i).as_bytes())
                .unwrap()
                .remove(0)
                .1;
            format!("theme=dark; {COOKIE_NAME}={sealed}")
        })
        .collect();
    let sealed_len = headers[0].len() - "theme=dark; ak_hs=".len();

    // One identity on its own.
    let before = snapshot();
    let identity = provider
        .verify_session(&headers[0].as_bytes()["theme=dark; ak_hs=".len()..], NOW)
        .0
        .unwrap();
    let after = snapshot();
    let identity_heap = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    drop(identity);

    // A full cache.
    let mut worker = Worker::new(ENTRIES, usize::MAX / 2);
    let before = snapshot();
    for header in &headers {
        let cookies = [header.as_bytes()];
        let facts = RequestFacts {
            cookies: &cookies,
            ..Default::default()
        };
        provider
            .authenticate(&facts, &mut worker, NOW)
            .result
            .unwrap();
    }
    let after = snapshot();
    assert_eq!(worker.cache.len(), ENTRIES);
    let per = |a: usize, b: usize| (b - a) as f64 / ENTRIES as f64;

    println!(
        "sealed session value: {sealed_len} bytes (token {} bytes)",
        token(0).len()
    );
    println!(
        "one Identity: {} bytes requested in {} allocations, {} bytes from malloc \
         (+ size_of::<Identity>() = {} in its Rc)",
        identity_heap.0,
        identity_heap.2,
        identity_heap.1,
        std::mem::size_of::<authentik_core::identity::Identity>()
    );
    println!(
        "cache of {ENTRIES} entries: {:.0} bytes requested per entry in {:.1} allocations, \
         {:.0} bytes from malloc per entry",
        per(before.0, after.0),
        per(before.2, after.2),
        per(before.1, after.1),
    );
    println!(
        "  of which the key: {} bytes (boxed), the Rc<Identity>: {} + {}, \
         the slot and index bucket: the rest (table and slot vector grow by doubling)",
        sealed_len,
        16 + std::mem::size_of::<authentik_core::identity::Identity>(),
        identity_heap.0
    );
}
