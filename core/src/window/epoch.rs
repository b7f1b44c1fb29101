//! The window's newest epoch (the *head*) and the pure decisions that move it.
//!
//! The head word holds the newest epoch recorded plus one, at the word's width (0: nothing
//! recorded yet); the truncated epoch tags of the buckets are only trusted within one window of
//! it. A time window's epoch is `now / bucket_width`; a count window's is the head itself, moved
//! on by one each time its bucket fills.
//!
//! - [`advance`] decides what a call at some epoch does to the head: nothing (it is the newest
//!   epoch, or behind it), move it forward (emptying the slots of epochs skipped in a silence),
//!   or take a jump (a call [`JUMP_EPOCHS`] or more *behind*, which on a wrapping word is how a
//!   long silence looks), which a fresh clock reading must confirm, so that a thread descheduled
//!   between reading the clock and recording is not taken for one.
//! - [`window_end`] decides which epoch a reader's sum ends at (the newest epoch recorded, so of
//!   two racing calls in neighbouring epochs the later summer sees both), or that the window is
//!   empty (a read a whole window after the newest epoch, or after a jump).
//!
//! On the 64-bit layout the head never wraps (2^64 epochs). On the 32-bit layout it wraps every
//! 2^32 epochs; see [`JUMP_EPOCHS`] for the exact band of silences that is misread there.

use crate::layout::Word;

/// A call or a read this many epochs or more *behind* the newest epoch recorded is taken for a
/// jump forward instead (the window empties and restarts there), once a fresh reading of the
/// clock confirms it: a call that only looks that far behind because its thread was descheduled
/// after reading the clock is dropped, not taken for a jump. Behind by less, a call is dropped
/// once it is a whole window behind (a clock stepped back, or a late thread) and a read ends at
/// the newest epoch.
///
/// The bound makes the word-width epoch safe on the 32-bit layout, where a silence of
/// `2^32 − k` epochs (50 days of 1 ms buckets) looks like `k` epochs behind. Exactly: on the
/// 32-bit layout, a silence of `n · 2^32 − k` epochs with `0 < k < JUMP_EPOCHS` drops calls and
/// shows the old buckets to reads until the clock has moved on by `k` epochs; a silence of
/// `n · 2^32 + k` epochs with `0 ≤ k < B` counts the old buckets whose tags match as current until
/// they rotate out. Buckets of 100 ms or more keep both out of reach (13.6 years).
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, RateConfig, Window};
/// use breaker_core::limits::JUMP_EPOCHS;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let rule = RateConfig::new(500, 2).validate().unwrap();
/// let window: Window<4> = Window::time(Duration::from_millis(1), rule).unwrap();
/// let b = Breaker::with_policy("api", Config::new().validate().unwrap(), &clock, (), window);
/// clock.advance(Duration::from_millis(2 * JUMP_EPOCHS));
/// let _ = b.call(|| Ok::<(), ()>(()));
/// // A clock stepped back by more than the bound: a jump, the window restarts there.
/// clock.set(breaker_core::Timestamp::from_millis(0));
/// let _ = b.call(|| Ok::<(), ()>(()));
/// assert_eq!(b.snapshot().window.unwrap().calls, 1);
/// ```
pub const JUMP_EPOCHS: u64 = 1 << 16;
const _: () = assert!(JUMP_EPOCHS > super::MAX_BUCKETS as u64 && JUMP_EPOCHS <= 1 << 31);

/// What a call at some epoch does to the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Advance {
    /// The epoch is the newest one, or `behind` epochs behind it (less than [`JUMP_EPOCHS`]):
    /// the head stays.
    Stay { behind: u64 },
    /// Store `next` as the head, then empty the slots of the last `clear` epochs up to this one
    /// (the epochs skipped in a silence, whose slots hold older rotations).
    Move { next: Word, clear: u64 },
    /// The epoch looks [`JUMP_EPOCHS`] or more behind: if a fresh reading confirms it
    /// ([`far_behind`]), store `next` and empty every slot; otherwise the call is late and is
    /// dropped.
    Jump { next: Word, behind: u64 },
}

/// The advance decision for a call at `epoch`, given the head `head`, in a window of `buckets`.
#[inline]
pub(crate) const fn advance(head: Word, epoch: u64, buckets: u64) -> Advance {
    let next = (epoch as Word).wrapping_add(1);
    if head == 0 {
        return Advance::Move { next, clear: 0 };
    }
    let ahead = next.wrapping_sub(head);
    let behind = head.wrapping_sub(next) as u64;
    if ahead == 0 || ahead > Word::MAX / 2 {
        if behind < JUMP_EPOCHS {
            return Advance::Stay { behind };
        }
        return Advance::Jump { next, behind };
    }
    let gap = ahead as u64;
    let clear = if gap <= 1 {
        0
    } else if gap < buckets {
        gap
    } else {
        buckets
    };
    Advance::Move { next, clear }
}

/// A count window's next epoch after `epoch`. Count epochs run modulo `B × 2^EPOCH_BITS`, a
/// multiple of both the slot ring (`B`) and the tag range, so neither the slot order nor the tag
/// order breaks when the counter wraps.
#[inline]
pub(crate) const fn next_count_epoch(epoch: Word, buckets: usize) -> Word {
    let modulus = (buckets as Word) << super::buckets::EPOCH_BITS;
    if epoch + 1 >= modulus {
        0
    } else {
        epoch + 1
    }
}

/// `epoch` is at least [`JUMP_EPOCHS`] behind the head `head`: confirms a jump on a fresh reading.
#[inline]
pub(crate) const fn far_behind(head: Word, epoch: u64) -> bool {
    matches!(advance(head, epoch, 1), Advance::Jump { .. })
}

/// The epoch a sum over the window ends at, for a reader (or a caller) at `epoch`: the newest
/// epoch recorded when the reader is at most that far ahead of it or less than a jump behind,
/// `None` when the window is empty (the reader is a whole window of `buckets` past the newest
/// epoch, or a jump behind it).
#[inline]
pub(crate) const fn window_end(head: Word, epoch: u64, buckets: u64) -> Option<u64> {
    if head == 0 {
        return Some(epoch);
    }
    let newest = head.wrapping_sub(1);
    let behind = newest.wrapping_sub(epoch as Word);
    if behind <= Word::MAX / 2 {
        if (behind as u64) < JUMP_EPOCHS {
            return Some(epoch.wrapping_add(behind as u64));
        }
        return None;
    }
    let ahead = behind.wrapping_neg() as u64;
    if ahead < buckets {
        Some(epoch)
    } else {
        None
    }
}

/// The epoch a time window's call or read at `now_ms` falls in: `now_ms / width_ms`, without
/// the division when `now_ms` falls in the head's epoch (the common case: a 64-bit division costs
/// more than the rest of a record). Only on the 64-bit layout, whose head holds the whole epoch.
#[inline(always)]
pub(crate) const fn time_epoch(now_ms: u64, width_ms: u64, head: Word) -> u64 {
    if Word::BITS == 64 && head != 0 {
        let newest = (head as u64).wrapping_sub(1);
        // The head only ever holds `reading / width_ms + 1`, so the product cannot overflow;
        // `checked_mul` keeps that a proof, not an assumption.
        if let Some(start) = newest.checked_mul(width_ms) {
            if now_ms >= start && now_ms - start < width_ms {
                return newest;
            }
        }
    }
    now_ms / width_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: u64 = 4;

    #[test]
    fn the_first_call_moves_the_head_without_clearing() {
        assert_eq!(advance(0, 0, B), Advance::Move { next: 1, clear: 0 });
        assert_eq!(advance(0, 1_000, B), Advance::Move { next: 1_001, clear: 0 });
    }

    #[test]
    fn the_newest_epoch_and_later_ones_stay() {
        assert_eq!(advance(11, 10, B), Advance::Stay { behind: 0 });
        assert_eq!(advance(11, 9, B), Advance::Stay { behind: 1 });
        let h = 1_000_001;
        assert_eq!(advance(h, 1_000_000 - (JUMP_EPOCHS - 1), B), Advance::Stay { behind: JUMP_EPOCHS - 1 });
    }

    #[test]
    fn moving_forward_clears_the_skipped_slots_within_one_window() {
        assert_eq!(advance(11, 11, B), Advance::Move { next: 12, clear: 0 });
        assert_eq!(advance(11, 12, B), Advance::Move { next: 13, clear: 2 });
        assert_eq!(advance(11, 13, B), Advance::Move { next: 14, clear: 3 });
        assert_eq!(advance(11, 1_000_000, B), Advance::Move { next: 1_000_001, clear: B });
    }

    #[test]
    fn far_behind_is_a_jump_to_confirm() {
        let head = 3 * JUMP_EPOCHS;
        let epoch = head - 1 - JUMP_EPOCHS;
        assert_eq!(
            advance(head as Word, epoch, B),
            Advance::Jump { next: epoch as Word + 1, behind: JUMP_EPOCHS }
        );
        assert!(far_behind(head as Word, epoch));
        assert!(!far_behind(head as Word, epoch + 1));
        assert!(!far_behind(head as Word, head + 5), "ahead is never a jump");
    }

    #[test]
    fn a_silence_across_the_word_wrap_reads_as_a_jump() {
        // On the 32-bit layout a silence of 2^31 + 10 epochs looks 2^31 − 10 behind.
        if Word::BITS == 32 {
            let head: Word = 100;
            let epoch = 99u64 + (1 << 31) + 10;
            assert!(matches!(advance(head, epoch, B), Advance::Jump { .. }));
            assert_eq!(window_end(head, epoch, B), None);
        }
    }

    #[test]
    fn reads_end_at_the_newest_epoch_or_see_an_empty_window() {
        assert_eq!(window_end(0, 7, B), Some(7));
        assert_eq!(window_end(11, 10, B), Some(10));
        assert_eq!(window_end(11, 8, B), Some(10), "a reader behind sums up to the newest epoch");
        assert_eq!(window_end(11, 13, B), Some(13), "a reader ahead by less than a window");
        assert_eq!(window_end(11, 10 + B, B), None, "a whole window after the newest epoch");
        let h = 1_000_001;
        assert_eq!(window_end(h, 1_000_000 - JUMP_EPOCHS, B), None, "a jump behind");
        assert_eq!(window_end(h, 1_000_000 - (JUMP_EPOCHS - 1), B), Some(1_000_000));
    }

    #[test]
    fn count_epochs_wrap_where_slots_and_tags_both_do() {
        let m = 3 << super::super::buckets::EPOCH_BITS;
        assert_eq!(next_count_epoch(0, 3), 1);
        assert_eq!(next_count_epoch(m - 2, 3), m - 1);
        assert_eq!(next_count_epoch(m - 1, 3), 0);
        assert_eq!((m as u64) % 3, 0);
        assert_eq!((m as u64) & super::super::buckets::EPOCH_MASK, 0);
    }

    #[test]
    fn time_epoch_skips_the_division_only_in_the_head_epoch() {
        for head in [0, 1, 6, 7, 8, 1_000] {
            for now in [0, 69, 70, 79, 80, 10_000] {
                assert_eq!(time_epoch(now, 10, head), now / 10, "head {head}, now {now}");
            }
        }
        assert_eq!(time_epoch(u64::MAX, u64::MAX / 2, 3), 2);
    }
}
