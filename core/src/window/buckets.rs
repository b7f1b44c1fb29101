//! A window's buckets: the bit layout of one bucket word, the pure step that records one call
//! into it, and the pure test that decides whether a bucket is part of the window a reader sums.
//!
//! ```text
//!  bucket (64-bit layout): [ generation (16) | epoch tag (12) | slow (12) | failures (12) | calls (12) ]
//!  bucket (32-bit layout): [ generation (6)  | epoch tag (5)  | slow (7)  | failures (7)  | calls (7)  ]
//! ```
//!
//! The widths follow from the breaker's word (`layout.rs` chooses it, once): the generation is the
//! breaker's whole generation, so a bucket of an earlier closed cycle is never taken for a current
//! one sooner than a permit would be; the epoch tag is what is left after three counters.
//!
//! Invariants:
//! - the zero word is an empty bucket;
//! - a bucket's counters never exceed [`BUCKET_CAPACITY`] (the step refuses to go past it), so
//!   packing never carries into the neighbouring field;
//! - every bucket in use is within one window of the newest epoch (older rotations are recycled
//!   as their slot comes round, skipped slots are emptied when the window moves), which is what
//!   makes the half-range comparison of truncated epoch tags unambiguous: a time window has at
//!   most [`MAX_BUCKETS`] = half the tag range buckets.
//!
//! What the tag's "epoch" field holds is the caller's choice: a time window stores the epoch
//! (`now / width`); a count window stores the ring's *rotation* (`epoch / B`), since its slots
//! are filled in order and never skipped: a slot holds the current rotation or the previous one,
//! whatever `B` is.

use crate::layout::{Word, GEN_BITS};
use crate::policy::Sample;

/// Bits of each of the three counters.
const COUNT_BITS: u32 = if Word::BITS == 64 { 12 } else { 7 };
/// Bits of the truncated epoch tag.
pub(crate) const EPOCH_BITS: u32 = Word::BITS - GEN_BITS - 3 * COUNT_BITS;
const COUNT_MASK: Word = (1 << COUNT_BITS) - 1;
const EPOCH_SHIFT: u32 = 3 * COUNT_BITS;
pub(crate) const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
const GEN_SHIFT: u32 = EPOCH_SHIFT + EPOCH_BITS;
pub(crate) const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
const _: () = assert!(EPOCH_BITS >= 5 && GEN_SHIFT + GEN_BITS == Word::BITS);

/// Most calls one bucket counts (4 095 on the 64-bit layout, 127 on the 32-bit layout).
pub const BUCKET_CAPACITY: u32 = (1 << COUNT_BITS) - 1;
/// Most buckets a *time* window may have (2 048 on the 64-bit layout, 16 on the 32-bit layout):
/// half the epoch tag's range, so a bucket's age is never ambiguous. A count window's tags hold
/// the ring's rotation instead, so it may have up to [`MAX_COUNT_BUCKETS`].
pub const MAX_BUCKETS: usize = 1 << (EPOCH_BITS - 1);
/// Most buckets a *count* window may have (65 536 on both layouts): `Window::<N>::count(1, ..)`
/// is exactly the last `N` calls for every `N` up to this, in `N` words of memory.
pub const MAX_COUNT_BUCKETS: usize = 1 << 16;

/// The three counters of a bucket, or of a sum of buckets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

impl Counts {
    /// One call with this outcome.
    pub(crate) const fn one(sample: Sample) -> Counts {
        Counts { calls: 1, failures: sample.failed as u32, slow: sample.slow as u32 }
    }

    /// `self + other`, saturating (a sum of buckets).
    pub(crate) const fn plus(self, other: Counts) -> Counts {
        Counts {
            calls: self.calls.saturating_add(other.calls),
            failures: self.failures.saturating_add(other.failures),
            slow: self.slow.saturating_add(other.slow),
        }
    }
}

/// The tag of a bucket holding closed cycle `gen`'s epoch `epoch`.
#[inline]
pub(crate) const fn tag_of(gen: u32, epoch: u64) -> Word {
    (((gen & GEN_MASK) as Word) << GEN_SHIFT) | (((epoch & EPOCH_MASK) as Word) << EPOCH_SHIFT)
}

/// A bucket word's tag and counters.
#[inline]
pub(crate) const fn split(bucket: Word) -> (Word, Counts) {
    let tag = bucket & !((1 << EPOCH_SHIFT) - 1);
    let counts = Counts {
        calls: (bucket & COUNT_MASK) as u32,
        failures: ((bucket >> COUNT_BITS) & COUNT_MASK) as u32,
        slow: ((bucket >> (2 * COUNT_BITS)) & COUNT_MASK) as u32,
    };
    (tag, counts)
}

/// A bucket word from a tag and counters (each at most [`BUCKET_CAPACITY`]).
#[inline]
pub(crate) const fn join(tag: Word, c: Counts) -> Word {
    tag | c.calls as Word | (c.failures as Word) << COUNT_BITS | (c.slow as Word) << (2 * COUNT_BITS)
}

/// The generation a tag belongs to (truncated to the bucket's field).
#[inline]
pub(crate) const fn tag_gen(tag: Word) -> u32 {
    (tag >> GEN_SHIFT) as u32 & GEN_MASK
}

/// The truncated epoch of a tag.
#[inline]
pub(crate) const fn tag_epoch(tag: Word) -> u64 {
    (tag >> EPOCH_SHIFT) as u64 & EPOCH_MASK
}

/// `true` when the bucket tagged `bucket_tag` holds a newer epoch than `epoch` (half-range rule
/// on the truncated tags; unambiguous by the module's invariant).
#[inline]
pub(crate) const fn epoch_ahead(bucket_tag: Word, epoch: u64) -> bool {
    let d = tag_epoch(bucket_tag).wrapping_sub(epoch) & EPOCH_MASK;
    d != 0 && d < (1 << (EPOCH_BITS - 1))
}

/// What recording one call does to the slot of its epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Store `next` over the slot's word. `recycled`: the slot held another epoch or cycle (the
    /// window moved); `finished`: the bucket of the same cycle it replaces, which the adaptive
    /// threshold learns from.
    Store { next: Word, recycled: bool, finished: Option<Counts> },
    /// The bucket of this epoch already holds `limit` calls: a count window moves on to the next
    /// epoch; a time window's bucket is saturated and the call is not counted.
    Full,
    /// The slot already holds a newer epoch: this call's bucket has left the window.
    Newer,
}

/// The bucket step: record one call of closed cycle `gen` with outcome `sample` into a slot
/// holding `slot`, for the bucket tagged `epoch` (an epoch, or a count window's rotation), when a
/// bucket holds at most `limit` calls (`limit <= BUCKET_CAPACITY`).
#[inline]
pub(crate) const fn step(slot: Word, gen: u32, epoch: u64, sample: Sample, limit: u32) -> Step {
    let tag = tag_of(gen, epoch);
    let calls = (slot & COUNT_MASK) as u32;
    if slot & !((1 << EPOCH_SHIFT) - 1) == tag && calls > 0 {
        if calls >= limit {
            return Step::Full;
        }
        // Each counter is at most `calls < limit <= BUCKET_CAPACITY`: the add cannot carry.
        let add = 1 | (sample.failed as Word) << COUNT_BITS | (sample.slow as Word) << (2 * COUNT_BITS);
        return Step::Store { next: slot + add, recycled: false, finished: None };
    }
    let (cur_tag, c) = split(slot);
    let same_cycle = tag_gen(cur_tag) == gen & GEN_MASK;
    if c.calls == 0 || !same_cycle || !epoch_ahead(cur_tag, epoch) {
        // An empty slot, a bucket of an earlier cycle, or an older rotation of this slot.
        let finished = if c.calls > 0 && same_cycle { Some(c) } else { None };
        return Step::Store { next: join(tag, Counts::one(sample)), recycled: c.calls > 0, finished };
    }
    Step::Newer
}

/// The counters a bucket word adds to the sum of closed cycle `gen`'s window of `buckets` tags
/// ending at tag `end` (nothing if it belongs to another cycle or lies outside the window). A
/// count window sums its current and previous rotation: `end` is the rotation, `buckets` is 2.
#[inline]
pub(crate) const fn counted(slot: Word, gen: u32, end: u64, buckets: u64) -> Counts {
    let (tag, c) = split(slot);
    let age = end.wrapping_sub(tag_epoch(tag)) & EPOCH_MASK;
    if c.calls > 0 && tag_gen(tag) == gen & GEN_MASK && age < buckets {
        c
    } else {
        Counts { calls: 0, failures: 0, slow: 0 }
    }
}

/// A sum of bucket words kept packed, as the window's evaluation adds them on every failure:
/// one mask and one add per counter pair instead of three extractions and three saturating adds.
///
/// ```text
///  calls_slow: [ slow (from bit 2·COUNT_BITS) | calls (bits 0..2·COUNT_BITS) ]
///  failures:   [ failures (from bit COUNT_BITS) | 0 ]
/// ```
///
/// A bucket's calls occupy its low `COUNT_BITS` and its slow count starts at bit
/// `2·COUNT_BITS`: masked together, the calls of up to [`PACKED_MAX_BUCKETS`] buckets
/// (each at most [`BUCKET_CAPACITY`]) sum below bit `2·COUNT_BITS` without carrying into the
/// slow field, and every field ends far below `u32::MAX`, so the sum is exact, and equal to the
/// saturating [`Counts::plus`] of the same buckets (`packed_sums_are_the_counted_sums`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PackedSum {
    calls_slow: u64,
    failures: u64,
}

/// Most buckets a [`PackedSum`] adds exactly (4 096 on the 64-bit layout, 128 on the 32-bit
/// layout); a window with more slots sums with [`Counts::plus`].
pub(crate) const PACKED_MAX_BUCKETS: usize = 1 << COUNT_BITS;
const PACKED_CALLS_SLOW: u64 = COUNT_MASK as u64 | (COUNT_MASK as u64) << (2 * COUNT_BITS);
const PACKED_FAILURES: u64 = (COUNT_MASK as u64) << COUNT_BITS;
// The calls of PACKED_MAX_BUCKETS full buckets stay below the slow field.
const _: () = assert!((PACKED_MAX_BUCKETS as u64) * (BUCKET_CAPACITY as u64) < 1 << (2 * COUNT_BITS));

impl PackedSum {
    /// `self` plus every counter of `slot`.
    #[inline(always)]
    const fn add(self, slot: Word) -> PackedSum {
        let x = slot as u64;
        PackedSum {
            calls_slow: self.calls_slow + (x & PACKED_CALLS_SLOW),
            failures: self.failures + (x & PACKED_FAILURES),
        }
    }

    /// `self` plus what [`counted`] counts of `slot` (any window kind).
    #[inline(always)]
    pub(crate) const fn plus_counted(self, slot: Word, gen: u32, end: u64, buckets: u64) -> PackedSum {
        let (tag, c) = split(slot);
        let age = end.wrapping_sub(tag_epoch(tag)) & EPOCH_MASK;
        if c.calls > 0 && tag_gen(tag) == gen & GEN_MASK && age < buckets {
            self.add(slot)
        } else {
            self
        }
    }

    /// `self` plus what [`counted`] counts of `slot` in a count window (`buckets` = 2: the
    /// rotation `end` and the one before), decided by the slot's whole tag against the two
    /// tags [`rotation_tags`] gives: two compares instead of a generation and an age. The same
    /// as [`plus_counted`](Self::plus_counted) for every bucket word a window holds: [`step`]
    /// adds one call with each failure or slow call, so a bucket's failures and slow calls never
    /// exceed its calls, and a bucket without calls (the zero word) adds nothing either way.
    #[inline(always)]
    pub(crate) const fn plus_rotation(self, slot: Word, tags: (Word, Word)) -> PackedSum {
        let tag = slot & !((1 << EPOCH_SHIFT) - 1);
        if tag == tags.0 || tag == tags.1 {
            self.add(slot)
        } else {
            self
        }
    }

    /// The counters summed.
    #[inline]
    pub(crate) const fn counts(self) -> Counts {
        Counts {
            calls: (self.calls_slow & ((1 << (2 * COUNT_BITS)) - 1)) as u32,
            failures: (self.failures >> COUNT_BITS) as u32,
            slow: (self.calls_slow >> (2 * COUNT_BITS)) as u32,
        }
    }
}

/// The tags of closed cycle `gen`'s buckets in a count window at rotation `end`: this rotation's
/// and the previous one's (see [`PackedSum::plus_rotation`]).
#[inline]
pub(crate) const fn rotation_tags(gen: u32, end: u64) -> (Word, Word) {
    (tag_of(gen, end), tag_of(gen, end.wrapping_sub(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAIL: Sample = Sample { failed: true, slow: false };
    const OK: Sample = Sample { failed: false, slow: false };
    const SLOW: Sample = Sample { failed: false, slow: true };

    fn counts(calls: u32, failures: u32, slow: u32) -> Counts {
        Counts { calls, failures, slow }
    }

    #[test]
    fn packing_round_trips_at_the_extremes() {
        for gen in [0, 1, GEN_MASK] {
            for epoch in [0, 1, EPOCH_MASK, EPOCH_MASK + 1, u64::MAX] {
                let tag = tag_of(gen, epoch);
                for c in [counts(0, 0, 0), counts(BUCKET_CAPACITY, BUCKET_CAPACITY, BUCKET_CAPACITY)] {
                    assert_eq!(split(join(tag, c)), (tag, c));
                }
                assert_eq!((tag_gen(tag), tag_epoch(tag)), (gen, epoch & EPOCH_MASK));
            }
        }
        assert_eq!(split(0), (0, Counts::default()), "the zero word is an empty bucket");
    }

    #[test]
    fn a_call_is_added_to_its_own_bucket() {
        let slot = join(tag_of(3, 9), counts(2, 1, 0));
        for (s, want) in [(OK, counts(3, 1, 0)), (FAIL, counts(3, 2, 0)), (SLOW, counts(3, 1, 1))] {
            assert_eq!(
                step(slot, 3, 9, s, BUCKET_CAPACITY),
                Step::Store { next: join(tag_of(3, 9), want), recycled: false, finished: None }
            );
        }
    }

    #[test]
    fn a_full_bucket_says_so() {
        let slot = join(tag_of(0, 4), counts(5, 0, 0));
        assert_eq!(step(slot, 0, 4, OK, 5), Step::Full);
        assert!(matches!(step(slot, 0, 4, OK, 6), Step::Store { .. }));
        let cap = join(tag_of(0, 4), counts(BUCKET_CAPACITY, 0, 0));
        assert_eq!(step(cap, 0, 4, FAIL, BUCKET_CAPACITY), Step::Full);
    }

    #[test]
    fn older_rotations_and_other_cycles_are_recycled() {
        let fresh = |gen, epoch, s| join(tag_of(gen, epoch), Counts::one(s));
        // An empty slot.
        assert_eq!(
            step(0, 1, 7, FAIL, 10),
            Step::Store { next: fresh(1, 7, FAIL), recycled: false, finished: None }
        );
        // An older rotation of the same cycle: recycled, and learned from.
        let old = join(tag_of(1, 3), counts(4, 1, 0));
        assert_eq!(
            step(old, 1, 7, OK, 10),
            Step::Store { next: fresh(1, 7, OK), recycled: true, finished: Some(counts(4, 1, 0)) }
        );
        // Another cycle's bucket, even with the same epoch and a "newer" tag: recycled, not learned.
        for epoch in [7, 8] {
            let other = join(tag_of(2, epoch), counts(4, 4, 0));
            assert_eq!(
                step(other, 1, 7, OK, 10),
                Step::Store { next: fresh(1, 7, OK), recycled: true, finished: None }
            );
        }
    }

    #[test]
    fn a_newer_rotation_refuses_a_late_call() {
        let newer = join(tag_of(0, 11), counts(1, 0, 0));
        assert_eq!(step(newer, 0, 7, FAIL, 10), Step::Newer);
        // Across the tag's wrap.
        let wrapped = join(tag_of(0, EPOCH_MASK + 2), counts(1, 0, 0));
        assert_eq!(step(wrapped, 0, EPOCH_MASK, FAIL, 10), Step::Newer);
    }

    #[test]
    fn epoch_ahead_is_the_half_range_rule() {
        let tag = tag_of(0, 10);
        assert!(!epoch_ahead(tag, 10));
        assert!(epoch_ahead(tag, 9));
        assert!(epoch_ahead(tag, 10u64.wrapping_sub(MAX_BUCKETS as u64 - 1)));
        assert!(!epoch_ahead(tag, 10u64.wrapping_sub(MAX_BUCKETS as u64)));
        assert!(!epoch_ahead(tag, 11));
        assert!(!epoch_ahead(tag, 10 + MAX_BUCKETS as u64));
    }

    #[test]
    fn counted_keeps_exactly_the_window_of_the_cycle() {
        let b = |gen, epoch| join(tag_of(gen, epoch), counts(2, 1, 1));
        let some = counts(2, 1, 1);
        let none = Counts::default();
        // A window of 3 epochs ending at 10: epochs 8, 9, 10.
        for (slot, want) in [(b(0, 10), some), (b(0, 8), some), (b(0, 7), none), (b(1, 10), none), (0, none)]
        {
            assert_eq!(counted(slot, 0, 10, 3), want);
        }
        // Across the tag's wrap.
        assert_eq!(counted(b(0, EPOCH_MASK), 0, EPOCH_MASK + 1, 2), some);
    }

    /// A window's end (a rotation or an epoch: any value, near 0, or near the tag's wrap) and
    /// the cycle it sums.
    fn window_end() -> impl proptest::strategy::Strategy<Value = (u32, u64)> {
        use proptest::prelude::*;
        let end = prop_oneof![any::<u64>(), 0..8_u64, EPOCH_MASK - 4..=EPOCH_MASK + 4];
        (0..=GEN_MASK, end)
    }

    /// Bucket words relative to the window `(gen, end)`: every word a window can hold
    /// (failures and slow calls at most its calls), at epochs from 3 ahead of `end` to 8 behind
    /// (so across the tag's wrap when `end` is near it), of this cycle, the next, or the one
    /// before; and the zero word.
    fn buckets_of(gen: u32, end: u64) -> impl proptest::strategy::Strategy<Value = std::vec::Vec<Word>> {
        use proptest::prelude::*;
        let slot = (0..=BUCKET_CAPACITY, -3..=8_i64, 0..4_u32).prop_flat_map(move |(calls, back, cycle)| {
            (0..=calls, 0..=calls).prop_map(move |(failures, slow)| {
                let epoch = end.wrapping_sub(back as u64);
                let slot_gen = match cycle {
                    0 | 1 => gen,
                    2 => gen.wrapping_add(1),
                    _ => gen.wrapping_sub(1),
                } & GEN_MASK;
                join(tag_of(slot_gen, epoch), counts(calls, failures, slow))
            })
        });
        proptest::collection::vec(prop_oneof![9 => slot, 1 => Just(0 as Word)], 1..40)
    }

    proptest::proptest! {
        /// The packed sum counts what `counted` counts, bucket by bucket and over a window's
        /// worth of buckets; the count window's tag test is the general test at two rotations.
        #[test]
        fn packed_sums_are_the_counted_sums(
            ((gen, end), buckets) in proptest::strategy::Strategy::prop_flat_map(window_end(), |(gen, end)| (proptest::strategy::Just((gen, end)), buckets_of(gen, end))),
            span in 1..12_u64,
        ) {
            let mut packed = PackedSum::default();
            let mut rotation = PackedSum::default();
            let mut reference = Counts::default();
            let mut reference_2 = Counts::default();
            for &slot in &buckets {
                proptest::prop_assert_eq!(
                    PackedSum::default().plus_counted(slot, gen, end, span).counts(),
                    counted(slot, gen, end, span)
                );
                packed = packed.plus_counted(slot, gen, end, span);
                rotation = rotation.plus_rotation(slot, rotation_tags(gen, end));
                reference = reference.plus(counted(slot, gen, end, span));
                reference_2 = reference_2.plus(counted(slot, gen, end, 2));
            }
            proptest::prop_assert_eq!(packed.counts(), reference);
            proptest::prop_assert_eq!(rotation.counts(), reference_2);
        }
    }

    #[test]
    fn a_packed_sum_of_the_most_buckets_at_capacity_is_exact() {
        let full = join(tag_of(3, 9), counts(BUCKET_CAPACITY, BUCKET_CAPACITY, BUCKET_CAPACITY));
        let mut packed = PackedSum::default();
        for _ in 0..PACKED_MAX_BUCKETS {
            packed = packed.plus_rotation(full, rotation_tags(3, 9));
        }
        let n = (PACKED_MAX_BUCKETS as u32) * BUCKET_CAPACITY;
        assert_eq!(packed.counts(), counts(n, n, n));
    }

    #[test]
    fn sums_saturate() {
        let big = counts(u32::MAX, 1, 2);
        assert_eq!(big.plus(counts(1, 1, 1)), counts(u32::MAX, 2, 3));
    }
}
