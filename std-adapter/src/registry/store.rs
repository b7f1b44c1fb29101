//! The one store behind named breakers and keyed families, with the one get-or-create.
//!
//! A [`Store`] is a map in least-recently-used order ([`lru::LruCache`]: a hash map whose
//! entries are linked in use order) behind one mutex, with a bound on its length:
//!
//! - **Named breakers** use it without eviction: a new name in a full store is refused
//!   (`max_names`).
//! - **Keyed families** use it with eviction of idle entries, in use order, never of one that
//!   still protects (see [`Eviction`]).
//!
//! # Cost: O(1) per operation, proved
//!
//! Every operation holds the mutex for a constant number of steps, whatever the number of
//! entries:
//!
//! - a hit is one hash lookup and one unlink/relink at the most recently used end
//!   (`LruCache::get_mut`);
//! - an insert examines at most [`FULL_STEPS`] entries at the least recently used end (each a
//!   peek, then a pop or a relink), then one hash insert;
//! - a removal is one hash removal and one unlink.
//!
//! What makes a bounded look enough is the order invariant: **entries are linked in the order of
//! their `last_used` stamps**, oldest at the LRU end. Every stamp is written under the mutex as
//! the entry moves to the MRU end, and it is `max(now, stamp of the previous MRU entry)`, so the
//! stamps never decrease from the LRU end to the MRU end even when threads read the clock in one
//! order and take the mutex in another. Hence if the LRU entry is not idle, no entry is idle, and
//! an insert into a full store can stop after one look. Entries that are idle but still protect
//! are moved to the MRU end with a fresh stamp (they are kept, as if used), which keeps the
//! invariant; so each look either frees a slot, proves none is free, or moves a protecting entry
//! out of the way, and [`FULL_STEPS`] bounds how many of those one insert does.
//!
//! Hashing is std's `RandomState` (SipHash with a per-process random key), so keys chosen by an
//! attacker cannot be made to collide.

use core::borrow::Borrow;
use core::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lru::LruCache;

/// At most this many entries are examined (evicted, or kept and moved) by one insert into a
/// full store.
pub(crate) const FULL_STEPS: usize = 4;

/// At most this many idle entries are examined by one insert into a store that is not full: a
/// family sheds idle keys as it goes, without a sweep.
pub(crate) const SHED_STEPS: usize = 1;

/// How a store makes room.
pub(crate) struct Eviction<V> {
    /// An entry unused for this long is idle.
    pub(crate) idle_ms: u64,
    /// `true` for an entry that must not be evicted even when idle.
    pub(crate) protects: fn(&V) -> bool,
}

struct Slot<V> {
    value: V,
    /// Clock reading (ms) of the last use; non-decreasing from the LRU end to the MRU end.
    last_used: u64,
}

/// Why [`Store::get_or_try_insert`] did not return a value.
#[derive(Debug)]
pub(crate) enum Refused<E> {
    /// The store is full and nothing could be evicted.
    Full,
    /// Making the value failed.
    Make(E),
}

/// A bounded map in use order. See the [module docs](self).
pub(crate) struct Store<K, V> {
    entries: Mutex<LruCache<K, Slot<V>>>,
    max: usize,
    eviction: Option<Eviction<V>>,
}

impl<K, V> Store<K, V> {
    /// The bound.
    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

impl<K: Hash + Eq, V: Clone> Store<K, V> {
    /// A store of at most `max` entries (at least 1), evicting by `eviction` or never.
    pub(crate) fn new(max: usize, eviction: Option<Eviction<V>>) -> Self {
        Store { entries: Mutex::new(LruCache::unbounded()), max: max.max(1), eviction }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<K, Slot<V>>> {
        // A panic while the mutex is held leaves the map consistent (every step is one
        // `LruCache` call), so a poisoned lock is used as it is.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value for `key`, marked as used at `now`; created by `make` (under the mutex, so
    /// concurrent callers for one key get one value) if absent. Evicted values are pushed to
    /// `evicted` for the caller to drop after the mutex is released.
    pub(crate) fn get_or_try_insert<Q, E>(
        &self,
        key: &Q,
        now: u64,
        make: impl FnOnce(&Q) -> Result<(K, V), E>,
        evicted: &mut Vec<V>,
    ) -> Result<V, Refused<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.lock();
        let stamp = stamp(&map, now);
        if let Some(slot) = map.get_mut(key) {
            slot.last_used = stamp;
            return Ok(slot.value.clone());
        }
        let steps = if map.len() >= self.max { FULL_STEPS } else { SHED_STEPS };
        self.make_room(&mut map, stamp, steps, true, evicted);
        if map.len() >= self.max {
            return Err(Refused::Full);
        }
        let (key, value) = make(key).map_err(Refused::Make)?;
        map.push(key, Slot { value: value.clone(), last_used: stamp });
        Ok(value)
    }

    /// Looks at most `steps` entries from the LRU end: evicts the idle ones that do not
    /// protect, moves the idle ones that do to the MRU end, stops at the first one not idle
    /// and, with `one`, after an eviction that leaves room for one more entry.
    fn make_room(
        &self,
        map: &mut LruCache<K, Slot<V>>,
        now: u64,
        steps: usize,
        one: bool,
        evicted: &mut Vec<V>,
    ) {
        let Some(eviction) = &self.eviction else { return };
        for _ in 0..steps {
            let Some((_, lru)) = map.peek_lru() else { return };
            if now.saturating_sub(lru.last_used) < eviction.idle_ms {
                // The invariant: nothing is idle.
                return;
            }
            if (eviction.protects)(&lru.value) {
                let stamp = stamp(map, now);
                let (key, mut slot) = map.pop_lru().unwrap_or_else(|| unreachable!("peeked"));
                slot.last_used = stamp;
                map.push(key, slot);
            } else if let Some((_, slot)) = map.pop_lru() {
                evicted.push(slot.value);
                if one && map.len() < self.max {
                    return;
                }
            }
        }
    }

    /// Evicts every idle entry that does not protect (and keeps, as if used, the idle ones
    /// that do); O(entries examined), at most the store's length.
    pub(crate) fn evict_idle(&self, now: u64, evicted: &mut Vec<V>) {
        let mut map = self.lock();
        let steps = map.len();
        let now = stamp(&map, now);
        self.make_room(&mut map, now, steps, false, evicted);
    }

    /// The value for `key`, without marking it as used.
    pub(crate) fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().peek(key).map(|s| s.value.clone())
    }

    /// Removes `key`.
    pub(crate) fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().pop(key).map(|s| s.value)
    }

    /// A copy of every entry (no lock is held while the caller uses it).
    pub(crate) fn entries(&self) -> Vec<(K, V)>
    where
        K: Clone,
    {
        self.lock().iter().map(|(k, s)| (k.clone(), s.value.clone())).collect()
    }

    /// A copy of every value.
    pub(crate) fn values(&self) -> Vec<V> {
        self.lock().iter().map(|(_, s)| s.value.clone()).collect()
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The stamp for a use at `now`: never older than the MRU entry's (the order invariant).
fn stamp<K: Hash + Eq, V>(map: &LruCache<K, Slot<V>>, now: u64) -> u64 {
    map.peek_mru().map_or(now, |(_, s)| s.last_used.max(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max: usize, idle_ms: u64) -> Store<u32, u32> {
        // Odd values protect.
        Store::new(max, Some(Eviction { idle_ms, protects: |v| v % 2 == 1 }))
    }

    fn insert(s: &Store<u32, u32>, k: u32, v: u32, now: u64) -> Result<u32, Refused<()>> {
        s.get_or_try_insert(&k, now, |k| Ok((*k, v)), &mut Vec::new())
    }

    #[test]
    fn stamps_never_decrease_from_lru_to_mru() {
        let s = store(10, 100);
        insert(&s, 1, 0, 50).unwrap();
        insert(&s, 2, 0, 40).unwrap(); // a thread that read the clock earlier
        let map = s.lock();
        let stamps: Vec<u64> = map.iter().rev().map(|(_, v)| v.last_used).collect();
        assert_eq!(stamps, [50, 50]);
    }

    #[test]
    fn a_full_store_of_busy_entries_refuses_after_one_look() {
        let s = store(2, 100);
        insert(&s, 1, 0, 0).unwrap();
        insert(&s, 2, 0, 10).unwrap();
        assert!(matches!(insert(&s, 3, 0, 50), Err(Refused::Full)));
        assert_eq!(s.len(), 2);
        // Once the LRU entry is idle, it makes room.
        assert_eq!(insert(&s, 3, 0, 100).unwrap(), 0);
        let keys: Vec<u32> = s.entries().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, [3, 2]);
    }

    #[test]
    fn protecting_entries_are_moved_not_evicted_and_the_look_is_bounded() {
        let s = store(FULL_STEPS + 2, 10);
        for k in 0..FULL_STEPS as u32 + 1 {
            insert(&s, k, 1, 0).unwrap(); // protecting
        }
        insert(&s, 99, 0, 0).unwrap(); // idle-able, newest
                                       // All idle at 100; the FULL_STEPS oldest protect and move; the look stops there.
        assert!(matches!(insert(&s, 100, 0, 100), Err(Refused::Full)));
        assert_eq!(s.len(), FULL_STEPS + 2);
        // The next insert starts where the last stopped: one more protecting entry moves, then 99 goes.
        assert_eq!(insert(&s, 100, 0, 100).unwrap(), 0);
        assert!(s.peek(&99).is_none());
        assert!((0..FULL_STEPS as u32 + 1).all(|k| s.peek(&k).is_some()));
    }

    #[test]
    fn a_store_without_eviction_refuses_when_full() {
        let s: Store<u32, u32> = Store::new(1, None);
        insert_plain(&s, 1);
        assert!(matches!(
            s.get_or_try_insert(&2, 1_000_000, |k| Ok::<_, ()>((*k, 0)), &mut Vec::new()),
            Err(Refused::Full)
        ));
        assert_eq!(s.get_or_try_insert(&1, 0, |_| Err(()), &mut Vec::new()).unwrap(), 0);
    }

    fn insert_plain(s: &Store<u32, u32>, k: u32) {
        s.get_or_try_insert(&k, 0, |k| Ok::<_, ()>((*k, 0)), &mut Vec::new()).unwrap();
    }

    #[test]
    fn a_failed_make_inserts_nothing() {
        let s = store(4, 10);
        assert!(matches!(
            s.get_or_try_insert(&1, 0, |_| Err("no"), &mut Vec::new()),
            Err(Refused::Make("no"))
        ));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn shedding_while_not_full_evicts_idle_entries_as_inserts_go() {
        let s = store(100, 10);
        insert(&s, 1, 0, 0).unwrap();
        insert(&s, 2, 0, 0).unwrap();
        let mut evicted = Vec::new();
        s.get_or_try_insert(&3, 20, |k| Ok::<_, ()>((*k, 0)), &mut evicted).unwrap();
        assert_eq!((evicted.len(), s.len()), (SHED_STEPS, 3 - SHED_STEPS));
        s.evict_idle(40, &mut evicted);
        assert_eq!(s.len(), 0);
    }
}
