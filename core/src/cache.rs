//! The per-worker verified-token cache (DESIGN §8): bounded, least-recently-used, and never
//! returning an entry past its expiry. Keys are the presented credential bytes (the sealed
//! cookie value or the bearer token), so a hit costs one hash and one comparison: no crypto,
//! no JSON. Each key is stored once, shared by the index and its slot.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

const NIL: usize = usize::MAX;

struct Slot<V> {
    key: Rc<[u8]>,
    value: V,
    expires_at: u64,
    newer: usize,
    older: usize,
}

pub struct TokenCache<V> {
    index: HashMap<Rc<[u8]>, usize, BuildHasherDefault<WordHasher>>,
    slots: Vec<Slot<V>>,
    capacity: usize,
    newest: usize,
    oldest: usize,
}

impl<V> TokenCache<V> {
    /// A cache of at most `capacity` entries; 0 disables it.
    pub fn new(capacity: usize) -> TokenCache<V> {
        TokenCache {
            index: HashMap::default(),
            slots: Vec::new(),
            capacity,
            newest: NIL,
            oldest: NIL,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The value for `key` if present and `now < expires_at`; an expired entry is dropped.
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&V> {
        let slot = *self.index.get(key)?;
        if now >= self.slots[slot].expires_at {
            self.remove_slot(slot);
            return None;
        }
        self.touch(slot);
        Some(&self.slots[slot].value)
    }

    /// Store `value` until `expires_at`, evicting the least recently used entry when full.
    pub fn insert(&mut self, key: &[u8], value: V, expires_at: u64) {
        if self.capacity == 0 {
            return;
        }
        if let Some(&slot) = self.index.get(key) {
            self.slots[slot].value = value;
            self.slots[slot].expires_at = expires_at;
            self.touch(slot);
            return;
        }
        let key: Rc<[u8]> = key.into();
        let slot = if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                key: key.clone(),
                value,
                expires_at,
                newer: NIL,
                older: NIL,
            });
            self.slots.len() - 1
        } else {
            let slot = self.oldest;
            self.unlink(slot);
            let entry = &mut self.slots[slot];
            self.index.remove(&entry.key);
            entry.key = key.clone();
            entry.value = value;
            entry.expires_at = expires_at;
            slot
        };
        self.index.insert(key, slot);
        self.link_newest(slot);
    }

    fn touch(&mut self, slot: usize) {
        if self.newest != slot {
            self.unlink(slot);
            self.link_newest(slot);
        }
    }

    fn link_newest(&mut self, slot: usize) {
        self.slots[slot].older = self.newest;
        self.slots[slot].newer = NIL;
        if self.newest != NIL {
            self.slots[self.newest].newer = slot;
        }
        self.newest = slot;
        if self.oldest == NIL {
            self.oldest = slot;
        }
    }

    fn unlink(&mut self, slot: usize) {
        let (newer, older) = (self.slots[slot].newer, self.slots[slot].older);
        match newer {
            NIL => self.newest = older,
            n => self.slots[n].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            o => self.slots[o].newer = newer,
        }
    }

    /// Drop an entry: the last slot moves into its place so `slots` stays dense.
    fn remove_slot(&mut self, slot: usize) {
        self.unlink(slot);
        self.index.remove(&self.slots[slot].key);
        let last = self.slots.len() - 1;
        if slot != last {
            let (newer, older) = (self.slots[last].newer, self.slots[last].older);
            match newer {
                NIL => self.newest = slot,
                n => self.slots[n].older = slot,
            }
            match older {
                NIL => self.oldest = slot,
                o => self.slots[o].newer = slot,
            }
            if let Some(index) = self.index.get_mut(&self.slots[last].key) {
                *index = slot;
            }
        }
        self.slots.swap_remove(slot);
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
struct WordHasher(u64);

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

    #[test]
    fn hit_miss_and_expiry() {
        let mut cache = TokenCache::new(4);
        cache.insert(b"a", 1, 100);
        assert_eq!(cache.get(b"a", 99), Some(&1));
        assert_eq!(cache.get(b"b", 99), None);
        assert_eq!(
            cache.get(b"a", 100),
            None,
            "an entry never outlives expires_at"
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut cache = TokenCache::new(3);
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
    fn long_keys_that_hash_alike_stay_apart() {
        // Same length, same first and last SAMPLE bytes: equal hashes, different keys.
        let mut cache = TokenCache::new(4);
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
        let mut cache = TokenCache::new(0);
        cache.insert(b"a", 1, 100);
        assert_eq!(cache.get(b"a", 0), None);
    }

    #[test]
    fn stays_consistent_under_churn() {
        let mut cache = TokenCache::new(50);
        for round in 0u64..5_000 {
            let key = (round * 7919 % 173).to_le_bytes();
            let expires = if round % 3 == 0 { round } else { round + 1_000 };
            if cache.get(&key, round).is_none() {
                cache.insert(&key, round, expires);
            }
            assert!(cache.len() <= 50);
            assert_eq!(cache.len(), cache.slots.len());
        }
        let mut walked = 0;
        let mut slot = cache.newest;
        while slot != NIL {
            walked += 1;
            slot = cache.slots[slot].older;
        }
        assert_eq!(walked, cache.len());
    }
}
