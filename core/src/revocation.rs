//! The revocation list: sessions that authentik ended (back-channel logout) or that signed out
//! here, in one shared memory zone for every worker, kept across reloads.
//!
//! The zone is a slice of `AtomicU64` cells; this module owns its layout: a header, then an
//! open-addressing table of fixed-size entries. An entry is a 256-bit key (SHA-256 of what it
//! revokes: a session `sid`, a user `sub`, or a logout token's `jti`), when it expires, and for
//! `sub` entries the issue time before which that user's tokens are refused.
//!
//! Reads take no lock: an entry is published by storing its expiry last (release), and a
//! reader checks the expiry again after comparing the key, so it never acts on a half-written
//! entry. Writers (a back-channel logout, a sign-out) hold the zone's [`WriteLock`]: in nginx
//! the slab pool's mutex, which nginx releases when a worker dies holding it. A writer that
//! dies half-way leaves at most one slot that reads as empty or expired. An expired entry's
//! slot is reused. A full table refuses the insertion: a revocation is never dropped
//! silently.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::digest;

const LIVE: usize = 0;
/// Longest token lifetimes seen, by a hash of the provider name.
const LIFETIMES: usize = 8;
const LIFETIME_CELLS: usize = 64;
const HEADER: usize = LIFETIMES + LIFETIME_CELLS;
const ENTRY_WORDS: usize = 6;
const EXPIRES: usize = 4;
const CUTOFF: usize = 5;
/// The expiry word of a slot being rewritten: neither empty (which ends a probe) nor live.
const REWRITING: u64 = 1;

/// Bytes per entry in the zone.
pub const ENTRY_BYTES: usize = ENTRY_WORDS * 8;

/// A token lifetime to assume before any token of a provider has been seen: authentik's
/// default "Token validity" of a Proxy Provider.
pub const DEFAULT_LIFETIME_SECS: u64 = 24 * 3600;

/// The cells a zone of `bytes` holds.
pub fn cells_for(bytes: usize) -> usize {
    let entries = (bytes / 8).saturating_sub(HEADER) / ENTRY_WORDS;
    HEADER + entries * ENTRY_WORDS
}

/// The live count of a zone's cells, read without a view (for the metrics).
pub fn live_entries(cells: &[AtomicU64]) -> u64 {
    cells
        .get(LIVE)
        .map_or(0, |live| live.load(Ordering::Relaxed))
}

/// The entries a zone of `cells` cells holds.
pub fn capacity_of(cells: &[AtomicU64]) -> usize {
    cells.len().saturating_sub(HEADER) / ENTRY_WORDS
}

/// What a revocation refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every token carrying this `sid`.
    Session,
    /// This user's tokens issued before the entry's cutoff.
    Subject,
    /// A logout token already used.
    LogoutToken,
}

/// The key of a revocation: SHA-256 of the kind, the provider and the value.
pub fn key(kind: Kind, provider: &str, value: &str) -> [u64; 4] {
    let tag: &[u8] = match kind {
        Kind::Session => b"sid",
        Kind::Subject => b"sub",
        Kind::LogoutToken => b"jti",
    };
    let mut context = digest::Context::new(&digest::SHA256);
    for part in [tag, provider.as_bytes(), value.as_bytes()] {
        context.update(&(part.len() as u32).to_be_bytes());
        context.update(part);
    }
    let digest = context.finish();
    let mut words = [0u64; 4];
    for (word, chunk) in words.iter_mut().zip(digest.as_ref().chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *word = u64::from_le_bytes(b);
    }
    // Word 0 decides the first slot; never zero, so an empty key never matches.
    words[0] |= 1;
    words
}

/// The revocation keys of one verified token, computed once when it is verified so that a
/// request pays only the lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Marks {
    pub sid: Option<[u64; 4]>,
    pub sub: [u64; 4],
    /// The token's `iat`.
    pub issued: Option<u64>,
}

impl Marks {
    pub fn new(provider: &str, sid: Option<&str>, sub: &str, issued: Option<u64>) -> Marks {
        Marks {
            sid: sid.map(|sid| key(Kind::Session, provider, sid)),
            sub: key(Kind::Subject, provider, sub),
            issued,
        }
    }
}

/// A live entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub expires: u64,
    /// For `Subject` entries: tokens issued before this time are refused.
    pub cutoff: u64,
}

/// Why an insertion failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Full,
}

/// The lock every writer of a zone holds; readers take none.
pub trait WriteLock {
    fn lock(&self);
    fn unlock(&self);
}

#[derive(Clone, Copy)]
pub struct Revocations<'a> {
    cells: &'a [AtomicU64],
    writers: &'a dyn WriteLock,
}

impl<'a> Revocations<'a> {
    /// A view of the zone's `cells` (zeroed when the zone is new), written under `writers`.
    pub fn new(cells: &'a [AtomicU64], writers: &'a dyn WriteLock) -> Option<Revocations<'a>> {
        (cells.len() >= HEADER + ENTRY_WORDS).then_some(Revocations { cells, writers })
    }

    /// Entries the table can hold.
    pub fn capacity(&self) -> usize {
        capacity_of(self.cells)
    }

    /// Entries inserted and not yet reclaimed (some may have expired since).
    pub fn live(&self) -> u64 {
        live_entries(self.cells)
    }

    fn slot(&self, index: usize) -> &[AtomicU64] {
        let start = HEADER + index * ENTRY_WORDS;
        &self.cells[start..start + ENTRY_WORDS]
    }

    fn home(&self, key: &[u64; 4]) -> usize {
        (key[0] % self.capacity() as u64) as usize
    }

    /// The live entry for `key`, if any. Lock-free.
    pub fn lookup(&self, key: &[u64; 4], now: u64) -> Option<Entry> {
        if self.live() == 0 {
            return None;
        }
        let capacity = self.capacity();
        let mut index = self.home(key);
        for _ in 0..capacity {
            let slot = self.slot(index);
            let expires = slot[EXPIRES].load(Ordering::Acquire);
            if expires == 0 {
                return None;
            }
            if expires > now && expires != REWRITING && matches(slot, key) {
                let cutoff = slot[CUTOFF].load(Ordering::Relaxed);
                // Still the same entry after the comparison: not rewritten meanwhile.
                if slot[EXPIRES].load(Ordering::Acquire) == expires {
                    return Some(Entry { expires, cutoff });
                }
            }
            index = (index + 1) % capacity;
        }
        None
    }

    /// Whether a token with these marks is revoked: its `sid` is listed, or its user is, with
    /// a cutoff at or after the token's `iat` (a token without `iat` is refused then).
    pub fn refuses(&self, marks: &Marks, now: u64) -> bool {
        if self.live() == 0 {
            return false;
        }
        if marks
            .sid
            .is_some_and(|sid| self.lookup(&sid, now).is_some())
        {
            return true;
        }
        self.lookup(&marks.sub, now)
            .is_some_and(|entry| marks.issued.is_none_or(|iat| iat <= entry.cutoff))
    }

    /// Revoke `key` until `expires` (with `cutoff` for `Subject` entries). An existing entry
    /// keeps the later expiry and cutoff. Returns whether the entry is new.
    pub fn insert(
        &self,
        key: &[u64; 4],
        expires: u64,
        cutoff: u64,
        now: u64,
    ) -> Result<bool, Full> {
        let _held = Held::acquire(self.writers);
        let capacity = self.capacity();
        let mut index = self.home(key);
        let mut reusable = None;
        for _ in 0..capacity {
            let slot = self.slot(index);
            let current = slot[EXPIRES].load(Ordering::Acquire);
            if current == 0 {
                break;
            }
            if current > now && matches(slot, key) {
                slot[CUTOFF].fetch_max(cutoff, Ordering::Relaxed);
                slot[EXPIRES].fetch_max(expires, Ordering::Release);
                return Ok(false);
            }
            if current <= now && reusable.is_none() {
                reusable = Some(index);
            }
            index = (index + 1) % capacity;
        }
        let (target, reused) = match (reusable, self.slot(index)[EXPIRES].load(Ordering::Relaxed)) {
            (Some(slot), _) => (slot, true),
            (None, 0) => (index, false),
            (None, _) => return Err(Full::Full),
        };
        let slot = self.slot(target);
        if reused {
            // Readers skip the slot (and go on probing) while its key changes.
            slot[EXPIRES].store(REWRITING, Ordering::Release);
        }
        for (cell, word) in slot.iter().zip(key) {
            cell.store(*word, Ordering::Relaxed);
        }
        slot[CUTOFF].store(cutoff, Ordering::Relaxed);
        slot[EXPIRES].store(expires.max(REWRITING + 1), Ordering::Release);
        if !reused {
            self.cells[LIVE].fetch_add(1, Ordering::Relaxed);
        }
        Ok(true)
    }

    /// The longest token lifetime (`exp - iat`) seen for `provider`, at least `floor`.
    pub fn lifetime(&self, provider: &str, floor: u64) -> u64 {
        self.cells[LIFETIMES + lifetime_cell(provider)]
            .load(Ordering::Relaxed)
            .max(floor)
    }

    /// Note a verified token's lifetime for `provider`.
    pub fn saw_lifetime(&self, provider: &str, lifetime: u64) {
        self.cells[LIFETIMES + lifetime_cell(provider)].fetch_max(lifetime, Ordering::Relaxed);
    }
}

fn matches(slot: &[AtomicU64], key: &[u64; 4]) -> bool {
    slot.iter()
        .zip(key)
        .all(|(cell, word)| cell.load(Ordering::Relaxed) == *word)
}

fn lifetime_cell(provider: &str) -> usize {
    // FNV-1a: providers that collide share a cell, and the larger lifetime wins.
    let hash = provider.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (hash % LIFETIME_CELLS as u64) as usize
}

/// The write lock, released when the insertion ends, however it ends.
struct Held<'a>(&'a dyn WriteLock);

impl<'a> Held<'a> {
    fn acquire(lock: &'a dyn WriteLock) -> Held<'a> {
        lock.lock();
        Held(lock)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(entries: usize) -> Vec<AtomicU64> {
        (0..HEADER + entries * ENTRY_WORDS)
            .map(|_| AtomicU64::new(0))
            .collect()
    }

    /// The lock of the tests, as the glue's: one word, spun on.
    pub(crate) struct SpinLock(AtomicU64);

    impl WriteLock for SpinLock {
        fn lock(&self) {
            while self
                .0
                .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                std::hint::spin_loop();
            }
        }
        fn unlock(&self) {
            self.0.store(0, Ordering::Release);
        }
    }

    static LOCK: SpinLock = SpinLock(AtomicU64::new(0));

    #[test]
    fn insert_lookup_expire_and_reuse() {
        let cells = zone(8);
        let r = Revocations::new(&cells, &LOCK).unwrap();
        let a = key(Kind::Session, "app", "sid-a");
        let b = key(Kind::Session, "app", "sid-b");
        assert_eq!(r.lookup(&a, 10), None);
        assert_eq!(r.insert(&a, 100, 0, 10), Ok(true));
        assert_eq!(r.insert(&a, 50, 0, 10), Ok(false), "the later expiry stays");
        assert_eq!(
            r.lookup(&a, 99),
            Some(Entry {
                expires: 100,
                cutoff: 0
            })
        );
        assert_eq!(r.lookup(&a, 100), None, "expired");
        assert_eq!(r.lookup(&b, 10), None);
        assert_eq!(r.live(), 1);
        // An expired slot on the probe path is reused without growing the count.
        assert_eq!(r.insert(&a, 300, 7, 200), Ok(true));
        assert_eq!(
            r.lookup(&a, 250),
            Some(Entry {
                expires: 300,
                cutoff: 7
            })
        );
        assert_eq!(r.live(), 1);
    }

    #[test]
    fn keys_separate_kinds_and_providers() {
        let s = key(Kind::Session, "app", "x");
        assert_ne!(s, key(Kind::Subject, "app", "x"));
        assert_ne!(s, key(Kind::Session, "other", "x"));
        assert_ne!(
            key(Kind::Session, "ap", "px"),
            key(Kind::Session, "app", "x")
        );
    }

    #[test]
    fn a_full_table_refuses_and_keeps_every_live_entry() {
        let cells = zone(4);
        let r = Revocations::new(&cells, &LOCK).unwrap();
        let keys: Vec<_> = (0..4)
            .map(|i| key(Kind::Session, "app", &i.to_string()))
            .collect();
        for k in &keys {
            assert_eq!(r.insert(k, 1000, 0, 1), Ok(true));
        }
        let extra = key(Kind::Session, "app", "one too many");
        assert_eq!(r.insert(&extra, 1000, 0, 1), Err(Full::Full));
        for k in &keys {
            assert!(r.lookup(k, 2).is_some());
        }
        // Once one expires there is room again.
        assert_eq!(r.insert(&extra, 2000, 0, 1000), Ok(true));
        assert!(r.lookup(&extra, 1500).is_some());
    }

    #[test]
    fn many_entries_probe_correctly() {
        let cells = zone(20_000);
        let r = Revocations::new(&cells, &LOCK).unwrap();
        for i in 0..10_000 {
            r.insert(&key(Kind::Subject, "app", &i.to_string()), 500, i, 1)
                .unwrap();
        }
        for i in (0..10_000).step_by(7) {
            let e = r
                .lookup(&key(Kind::Subject, "app", &i.to_string()), 2)
                .unwrap();
            assert_eq!(e.cutoff, i);
        }
        assert_eq!(r.lookup(&key(Kind::Subject, "app", "absent"), 2), None);
        assert_eq!(r.live(), 10_000);
    }

    #[test]
    fn marks_refuse_by_session_or_by_user_and_issue_time() {
        let cells = zone(64);
        let r = Revocations::new(&cells, &LOCK).unwrap();
        let token = |sid: Option<&str>, sub: &str, iat| Marks::new("app", sid, sub, iat);
        assert!(!r.refuses(&token(Some("s1"), "alice", Some(100)), 10));
        r.insert(&key(Kind::Session, "app", "s1"), 1000, 0, 10)
            .unwrap();
        assert!(r.refuses(&token(Some("s1"), "alice", Some(100)), 10));
        assert!(!r.refuses(&token(Some("s2"), "alice", Some(100)), 10));
        assert!(!r.refuses(&Marks::new("other", Some("s1"), "alice", Some(1)), 10));
        r.insert(&key(Kind::Subject, "app", "bob"), 1000, 200, 10)
            .unwrap();
        assert!(r.refuses(&token(Some("s3"), "bob", Some(199)), 10));
        assert!(r.refuses(&token(Some("s3"), "bob", Some(200)), 10));
        assert!(!r.refuses(&token(Some("s3"), "bob", Some(201)), 10));
        assert!(r.refuses(&token(None, "bob", None), 10));
        assert!(
            !r.refuses(&token(Some("s1"), "alice", Some(100)), 1000),
            "expired entry"
        );
    }

    #[test]
    fn lifetimes_take_the_maximum() {
        let cells = zone(1);
        let r = Revocations::new(&cells, &LOCK).unwrap();
        assert_eq!(r.lifetime("app", 60), 60);
        r.saw_lifetime("app", 300);
        r.saw_lifetime("app", 100);
        assert_eq!(r.lifetime("app", 60), 300);
        assert_eq!(r.lifetime("app", 1000), 1000);
    }

    #[test]
    fn readers_and_writers_in_threads_agree() {
        let cells = zone(4096);
        let cells = &cells;
        std::thread::scope(|s| {
            for t in 0..4u64 {
                s.spawn(move || {
                    let r = Revocations::new(cells, &LOCK).unwrap();
                    for i in 0..500 {
                        let k = key(Kind::Session, "app", &format!("{t}-{i}"));
                        r.insert(&k, 1000, 0, 1).unwrap();
                        assert!(r.lookup(&k, 2).is_some());
                    }
                });
            }
        });
        assert_eq!(Revocations::new(cells, &LOCK).unwrap().live(), 2000);
    }
}
