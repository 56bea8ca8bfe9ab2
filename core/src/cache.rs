//! The per-worker verified-credential cache (docs/architecture.md, "The cache"): the `lru`
//! crate, bounded by entries and by bytes, never returning an entry past its expiry. Keys are
//! the presented credential bytes (the sealed cookie value, the bearer token, the hash of a
//! Basic header), so a hit costs one hash and one comparison: no crypto, no JSON.

use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroUsize;

use lru::LruCache;

/// What an entry costs against the byte bound.
pub trait Cost {
    fn cost(&self) -> usize;
}

struct Entry<V> {
    value: V,
    expires_at: u64,
    cost: usize,
}

type Entries<V> = LruCache<Box<[u8]>, Entry<V>, BuildHasherDefault<WordHasher>>;

pub struct TokenCache<V> {
    entries: Option<Entries<V>>,
    max_bytes: usize,
    bytes: usize,
}

impl<V: Cost> TokenCache<V> {
    /// A cache of at most `capacity` entries and `max_bytes` bytes (keys and values); a
    /// capacity of 0 disables it.
    pub fn new(capacity: usize, max_bytes: usize) -> TokenCache<V> {
        TokenCache {
            entries: NonZeroUsize::new(capacity)
                .map(|cap| LruCache::with_hasher(cap, BuildHasherDefault::default())),
            max_bytes,
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, LruCache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drop every entry.
    pub fn clear(&mut self) {
        if let Some(entries) = self.entries.as_mut() {
            entries.clear();
        }
        self.bytes = 0;
    }

    /// The value for `key` if present and `now < expires_at`; an expired entry is dropped.
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&V> {
        let entries = self.entries.as_mut()?;
        if entries.peek(key)?.expires_at <= now {
            if let Some(entry) = entries.pop(key) {
                self.bytes -= entry.cost;
            }
            return None;
        }
        entries.get(key).map(|entry| &entry.value)
    }

    /// Store `value` until `expires_at`, evicting the least recently used entries while the
    /// cache is over either bound. An entry larger than the whole byte budget is not kept.
    pub fn insert(&mut self, key: &[u8], value: V, expires_at: u64) {
        let Some(entries) = self.entries.as_mut() else {
            return;
        };
        let cost = key.len() + value.cost() + 64;
        if cost > self.max_bytes {
            return;
        }
        if let Some(old) = entries.pop(key) {
            self.bytes -= old.cost;
        }
        while self.bytes + cost > self.max_bytes {
            match entries.pop_lru() {
                Some((_, old)) => self.bytes -= old.cost,
                None => break,
            }
        }
        let entry = Entry {
            value,
            expires_at,
            cost,
        };
        if let Some((_, evicted)) = entries.push(key.into(), entry) {
            self.bytes -= evicted.cost;
        }
        self.bytes += cost;
    }
}

/// Bytes hashed from each end of a long key.
const SAMPLE: usize = 32;

/// A fast non-cryptographic hash over 8-byte words. Only verified credentials are ever
/// inserted, so a client cannot fill a bucket with chosen keys.
///
/// A key longer than `2 * SAMPLE` bytes is hashed by its length (written separately by
/// `[u8]`'s `Hash`) and its first and last `SAMPLE` bytes: a sealed cookie ends in its AEAD tag
/// and starts with its random nonce, a token ends in its signature, so these bytes already
/// tell keys apart, and a hit of a 2 KB cookie costs a few dozen instructions to hash instead
/// of a pass over every byte. Equality still compares whole keys.
#[derive(Default)]
pub struct WordHasher(u64);

impl WordHasher {
    #[inline]
    fn words(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
        }
    }
}

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        if bytes.len() > 2 * SAMPLE {
            self.words(&bytes[..SAMPLE]);
            self.words(&bytes[bytes.len() - SAMPLE..]);
        } else {
            self.words(bytes);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Cost for usize {
        fn cost(&self) -> usize {
            *self
        }
    }

    const BIG: usize = usize::MAX / 2;

    #[test]
    fn hit_miss_and_expiry() {
        let mut cache = TokenCache::new(4, BIG);
        cache.insert(b"a", 1, 100);
        assert_eq!(cache.get(b"a", 99), Some(&1));
        assert_eq!(cache.get(b"b", 99), None);
        assert_eq!(
            cache.get(b"a", 100),
            None,
            "an entry never outlives expires_at"
        );
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut cache = TokenCache::new(3, BIG);
        for (i, key) in [b"a", b"b", b"c"].iter().enumerate() {
            cache.insert(*key, i, 100);
        }
        assert_eq!(cache.get(b"a", 0), Some(&0));
        cache.insert(b"d", 3, 100);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(b"b", 0), None, "b was least recently used");
        assert_eq!(cache.get(b"a", 0), Some(&0));
        assert_eq!(cache.get(b"c", 0), Some(&2));
        assert_eq!(cache.get(b"d", 0), Some(&3));
    }

    #[test]
    fn bounded_by_bytes() {
        // Each entry costs 1 (key) + value + 64.
        let mut cache = TokenCache::new(100, 3 * (1 + 1000 + 64));
        for key in [b"a", b"b", b"c", b"d"] {
            cache.insert(key, 1000usize, 100);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(b"a", 0), None);
        assert!(cache.bytes() <= 3 * 1065);
        cache.insert(b"z", 10_000usize, 100);
        assert_eq!(cache.get(b"z", 0), None, "larger than the whole budget");
        assert_eq!(cache.len(), 3);
        cache.insert(b"b", 10usize, 100);
        assert_eq!(
            cache.bytes(),
            2 * 1065 + 75,
            "a replaced entry gives back its bytes"
        );
    }

    #[test]
    fn long_keys_that_hash_alike_stay_apart() {
        let mut cache = TokenCache::new(4, BIG);
        let a = [b'a'; 3 * SAMPLE];
        let mut b = a;
        b[SAMPLE + 5] = b'b';
        cache.insert(&a, 1, 100);
        assert_eq!(cache.get(&b, 0), None);
        cache.insert(&b, 2, 100);
        assert_eq!(cache.get(&a, 0), Some(&1));
        assert_eq!(cache.get(&b, 0), Some(&2));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let mut cache = TokenCache::new(0, BIG);
        cache.insert(b"a", 1, 100);
        assert_eq!(cache.get(b"a", 0), None);
    }

    #[test]
    fn stays_consistent_under_churn() {
        let mut cache = TokenCache::new(50, 40 * 80);
        for round in 0u64..5_000 {
            let key = (round * 7919 % 173).to_le_bytes();
            let expires = if round % 3 == 0 { round } else { round + 1_000 };
            if cache.get(&key, round).is_none() {
                cache.insert(&key, (round % 7) as usize, expires);
            }
            assert!(cache.len() <= 50);
            assert!(cache.bytes() <= 40 * 80);
        }
    }
}
