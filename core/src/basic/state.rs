//! What a worker keeps for Basic credentials besides the verified-credential cache: the
//! credentials that did not authenticate a moment ago, and the exchanges in flight.

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroUsize;
use std::rc::Rc;

use lru::LruCache;

/// Refused credentials a worker remembers; the least recently used go first.
const REFUSALS: usize = 4096;

/// A cache key: SHA-256 of the provider and the `Authorization` value.
pub type BasicKey = [u8; 32];

/// Why a credential is answered 401 without asking authentik, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// authentik refused it (wrong username or app password).
    Refused { until: u64 },
    /// authentik could not be asked (unreachable, 5xx, no usable key to verify its answer).
    Unavailable { until: u64 },
}

impl Refusal {
    fn until(self) -> u64 {
        match self {
            Refusal::Refused { until } | Refusal::Unavailable { until } => until,
        }
    }
}

pub struct BasicState {
    refusals: LruCache<BasicKey, Refusal>,
    in_flight: Rc<Cell<usize>>,
}

impl Default for BasicState {
    fn default() -> BasicState {
        BasicState::new()
    }
}

impl BasicState {
    pub fn new() -> BasicState {
        BasicState {
            refusals: LruCache::new(NonZeroUsize::new(REFUSALS).unwrap_or(NonZeroUsize::MIN)),
            in_flight: Rc::default(),
        }
    }

    /// The refusal of `key` that still holds at `now`.
    pub(crate) fn refusal(&mut self, key: &BasicKey, now: u64) -> Option<Refusal> {
        let refusal = *self.refusals.get(key)?;
        if refusal.until() <= now {
            self.refusals.pop(key);
            return None;
        }
        Some(refusal)
    }

    pub(crate) fn refuse(&mut self, key: BasicKey, refusal: Refusal) {
        self.refusals.put(key, refusal);
    }

    pub(crate) fn forget(&mut self, key: &BasicKey) {
        self.refusals.pop(key);
    }

    /// Exchanges running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.get()
    }

    /// A place for one more exchange, unless `cap` run already.
    pub(crate) fn slot(&self, cap: usize) -> Option<ExchangeSlot> {
        let running = self.in_flight.get();
        if running >= cap {
            return None;
        }
        self.in_flight.set(running + 1);
        Some(ExchangeSlot(self.in_flight.clone()))
    }
}

/// One exchange in flight: it counts until dropped, when its answer is read or when the
/// request ends without one (the client went away).
pub struct ExchangeSlot(Rc<Cell<usize>>);

impl Drop for ExchangeSlot {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl fmt::Debug for ExchangeSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExchangeSlot")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_expire() {
        let mut state = BasicState::new();
        state.refuse([1; 32], Refusal::Refused { until: 160 });
        assert_eq!(
            state.refusal(&[1; 32], 159),
            Some(Refusal::Refused { until: 160 })
        );
        assert_eq!(state.refusal(&[1; 32], 160), None);
        assert_eq!(state.refusal(&[2; 32], 100), None);
    }

    #[test]
    fn refusals_are_bounded() {
        let mut state = BasicState::new();
        for i in 0..(REFUSALS as u32 + 10) {
            let mut key = [0; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            state.refuse(key, Refusal::Refused { until: 1000 });
        }
        assert_eq!(state.refusals.len(), REFUSALS);
        assert_eq!(state.refusal(&[0; 32], 1), None, "the oldest went first");
    }

    #[test]
    fn slots_are_capped_and_given_back() {
        let state = BasicState::new();
        let a = state.slot(2).unwrap();
        let b = state.slot(2).unwrap();
        assert!(state.slot(2).is_none());
        assert_eq!(state.in_flight(), 2);
        drop(a);
        let c = state.slot(2).unwrap();
        drop((b, c));
        assert_eq!(state.in_flight(), 0);
    }
}
