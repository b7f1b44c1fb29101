//! Failure-rate windows: the [`Window`] policy and its [`RateConfig`].
//!
//! Built like the breaker itself: every decision is a pure function, tested on its own without
//! threads, and the code here only loads words, asks those functions, and applies their answers
//! with compare-and-swap.
//!
//! | file | what it decides |
//! |---|---|
//! | `buckets.rs` | the bucket word's layout; recording one call into a bucket (add, recycle, full, newer); whether a bucket is in the summed window |
//! | `epoch.rs` | moving the window's newest epoch (stay, move and empty skipped slots, jump); where a sum ends |
//! | `rule.rs` | the thresholds and their validation; trip or not on a sum; whether an outcome needs evaluating; the adaptive baseline's step |
//!
//! A window is `B` buckets (a const generic: memory is fixed at compile time) in each of `S`
//! stripes, one atomic word each, plus a head word (the newest epoch), a cycle word (the closed
//! cycle it counts), and three small counters.
//!
//! - **Time-based** ([`Window::time`]): epoch = `now / bucket_width`; the window is the last `B`
//!   bucket widths.
//! - **Count-based** ([`Window::count`]): a bucket takes `calls_per_bucket` calls, then the head
//!   moves on by one; the window is the last `B` buckets: `(B − 1) × calls_per_bucket` calls plus
//!   those of the current bucket. With `calls_per_bucket = 1` it is exactly the last `B` calls
//!   (`B` up to [`MAX_BUCKETS`]).
//!
//! Recording a call is one compare-and-swap on one bucket. The head is written only when the
//! window moves (a new epoch: once per bucket width, or per full bucket), the cycle word once per
//! closed cycle. The window is summed (`B × S` loads) only when the outcome can change the trip
//! decision ([`rule::needs_evaluation`]): a failure, a slow call, a call after which older calls
//! left the window in a way that can raise a rate (a time window's move; a failure or slow call
//! sliding out of a count window), or a success while the window has not yet been seen holding
//! `min_calls` calls. Sequentially that
//! is exactly Resilience4j's "evaluate after every recorded outcome"; an evaluation first passes
//! through one shared read-modify-write, so of two racing evaluations the later sees the
//! earlier's bucket (the store-buffering pattern; loom found the lost trip without it).
//!
//! `S` stripes (default 1) spread contending threads of a time window over `S` copies of the
//! buckets, each on its own cache line, picked from the address of the caller's stack; readers
//! sum the stripes. A count window orders all calls, so it has one stripe.

mod buckets;
mod epoch;
mod rule;

use core::time::Duration;

pub use buckets::{BUCKET_CAPACITY, MAX_BUCKETS, MAX_COUNT_BUCKETS};
pub use epoch::JUMP_EPOCHS;
pub use rule::{RateConfig, RateRule};

use buckets::{Counts, Step, GEN_MASK};
use epoch::Advance;
use rule::{Decision, Moved};

use crate::layout::{Word, GEN_BITS};
use crate::policy::{Policy, Sample, TripReason, WindowStats};
use crate::sync::{constructor, AtomicU32, AtomicWord, Ordering};
use crate::ConfigError;

/// Most stripes a window may have.
pub const MAX_STRIPES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Time { width_ms: u64 },
    Count { per_bucket: u32 },
}

impl Kind {
    /// Most calls one bucket takes.
    const fn limit(self) -> u32 {
        match self {
            Kind::Time { .. } => BUCKET_CAPACITY,
            Kind::Count { per_bucket } => per_bucket,
        }
    }
}

/// What a call of closed cycle `gen` does to the window's cycle word `cycle` (`gen + 1` of the
/// cycle counted, 0 before the first call).
///
/// There is no "late call of an earlier cycle" answer, on purpose: the breaker records only
/// outcomes of permits of its current generation (it checks the word first), and the window
/// cannot tell an earlier cycle from a much later one, since it never sees the open and
/// half-open cycles in between and generations wrap (a half-range rule refused every call of a
/// cycle `GENERATIONS / 2` generations on, forever: `window_keeps_counting_after_failed_recoveries`).
/// A late call racing the breaker's check can at worst empty the window once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cycle {
    /// The window counts this cycle.
    Same,
    /// Another cycle: switch to it (store `next`) and empty the buckets of the others.
    Switch { next: u32 },
}

/// The cycle decision.
const fn cycle_step(cycle: u32, gen: u32) -> Cycle {
    let next = (gen & GEN_MASK) + 1;
    if cycle == next {
        Cycle::Same
    } else {
        Cycle::Switch { next }
    }
}

/// The mark a filled evaluation leaves: the head it summed up to, tagged with the cycle, so a
/// mark from another cycle or head does not match, and odd, so it is never 0 (no mark). (Heads
/// that differ only in their top bit would share a mark, but every move of the head is
/// evaluated and replaces the mark long before the head gets that far.)
const fn filled_mark(head: Word, gen: u32) -> Word {
    ((head << 1) | 1) ^ (((gen & GEN_MASK) as Word) << (Word::BITS - GEN_BITS))
}

/// One stripe of buckets, on its own cache line(s).
#[repr(align(64))]
struct Row<const B: usize>([AtomicWord; B]);

#[cfg(not(breaker_loom))]
const fn empty_rows<const B: usize, const S: usize>() -> [Row<B>; S] {
    [const { Row([const { AtomicWord::new(0) }; B]) }; S]
}

#[cfg(breaker_loom)]
fn empty_rows<const B: usize, const S: usize>() -> [Row<B>; S] {
    core::array::from_fn(|_| Row(core::array::from_fn(|_| AtomicWord::new(0))))
}

/// A failure-rate window policy with `B` buckets and `S` stripes.
///
/// # Semantics
///
/// As Resilience4j's sliding windows: after every recorded outcome (successes included), once
/// the window holds `min_calls` calls, the breaker opens when the failure rate, or the slow-call
/// rate, is at or above its threshold. The README's *Rate windows* section has the table beside
/// Resilience4j's, with the differences and why.
///
/// # Examples
///
/// "100 calls, 5 % failures, minimum 20 calls": the breaker trips on the outcome that brings the
/// window to 20 calls, because one failure in 20 is already 5 %.
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, RateConfig, State, Window};
///
/// let rule = RateConfig::new(50, 20).validate().unwrap(); // 5 %, at least 20 calls
/// let window: Window<100> = Window::count(1, rule).unwrap(); // exactly the last 100 calls
/// let breaker = Breaker::with_policy("api", Config::new().validate().unwrap(), ManualClock::new(), (), window);
///
/// let mut tripped_at = None;
/// for call in 1..=100u32 {
///     let fail = call % 16 == 0; // the first failure at call 16
///     let _ = breaker.call(|| if fail { Err(()) } else { Ok(()) });
///     if tripped_at.is_none() && breaker.state() == State::Open {
///         tripped_at = Some(call);
///     }
/// }
/// // Call 16: 1 failure in 16 calls, below min_calls. Call 20 (a success): 1 in 20 = 5 %.
/// assert_eq!(tripped_at, Some(20));
/// ```
pub struct Window<const B: usize, const S: usize = 1> {
    rule: RateRule,
    kind: Kind,
    /// The newest epoch recorded, plus one (0: none yet), wrapping at the word's width.
    head: AtomicWord,
    /// The closed cycle (generation + 1) being counted; 0 before the first call.
    cycle: AtomicU32,
    /// [`filled_mark`] of the newest evaluation that found the window filled and below its
    /// thresholds: a success recorded at that head without moving the window cannot trip it.
    filled: AtomicWord,
    /// Touched by every evaluation, to order them (see `sum`).
    sync: AtomicU32,
    /// The adaptive threshold's learned failure rate, in 1/65 536.
    baseline: AtomicU32,
    rows: [Row<B>; S],
}

impl<const B: usize, const S: usize> Window<B, S> {
    const CHECK: () = {
        assert!(B >= 1 && B <= MAX_COUNT_BUCKETS, "a window needs 1..=MAX_COUNT_BUCKETS buckets");
        assert!(S >= 1 && S <= MAX_STRIPES, "a window needs 1..=MAX_STRIPES stripes");
    };

    /// Checks the rule against what a window of this kind can hold: `min_calls` must be
    /// reachable, and so must the adaptive threshold's `min_bucket_calls`.
    const fn check_rule(rule: &RateRule, kind: Kind) -> Result<(), ConfigError> {
        let limit = kind.limit() as u64;
        let capacity = B as u64 * limit;
        if rule.min_calls as u64 > capacity {
            return Err(ConfigError::TooLarge {
                field: "min_calls",
                value: rule.min_calls as u64,
                max: capacity,
            });
        }
        if let Some(a) = rule.adaptive {
            if a.min_bucket_calls as u64 > limit {
                return Err(ConfigError::TooLarge {
                    field: "adaptive_min_bucket_calls",
                    value: a.min_bucket_calls as u64,
                    max: limit,
                });
            }
        }
        Ok(())
    }

    /// Validates a time window's bucket width (whole milliseconds, non-zero, below 2^32 ms) and
    /// bucket count (at most [`MAX_BUCKETS`]).
    const fn time_kind(bucket_width: Duration) -> Result<Kind, ConfigError> {
        if B > MAX_BUCKETS {
            return Err(ConfigError::TooLarge { field: "buckets", value: B as u64, max: MAX_BUCKETS as u64 });
        }
        let ms = bucket_width.as_millis();
        if ms > u32::MAX as u128 {
            return Err(ConfigError::TooLarge {
                field: "bucket_width",
                value: if ms > u64::MAX as u128 { u64::MAX } else { ms as u64 },
                max: u32::MAX as u64,
            });
        }
        if bucket_width.is_zero() {
            return Err(ConfigError::Zero { field: "bucket_width" });
        }
        if bucket_width.subsec_nanos() % 1_000_000 != 0 {
            return Err(ConfigError::SubMillisecond { field: "bucket_width" });
        }
        Ok(Kind::Time { width_ms: ms as u64 })
    }

    /// Validates a count window's calls per bucket (1..=[`BUCKET_CAPACITY`]) and stripes (1).
    const fn count_kind(calls_per_bucket: u32) -> Result<Kind, ConfigError> {
        if calls_per_bucket == 0 {
            return Err(ConfigError::Zero { field: "calls_per_bucket" });
        }
        if calls_per_bucket > BUCKET_CAPACITY {
            return Err(ConfigError::TooLarge {
                field: "calls_per_bucket",
                value: calls_per_bucket as u64,
                max: BUCKET_CAPACITY as u64,
            });
        }
        if S > 1 {
            // "The last N calls" is one order over every call: stripes cannot split it.
            return Err(ConfigError::TooLarge { field: "stripes", value: S as u64, max: 1 });
        }
        Ok(Kind::Count { per_bucket: calls_per_bucket })
    }

    const fn checked(
        rule: RateRule,
        kind: Result<Kind, ConfigError>,
    ) -> Result<(RateRule, Kind), ConfigError> {
        let () = Self::CHECK;
        let kind = match kind {
            Ok(k) => k,
            Err(e) => return Err(e),
        };
        match Self::check_rule(&rule, kind) {
            Ok(()) => Ok((rule, kind)),
            Err(e) => Err(e),
        }
    }

    constructor! {
        /// A time-based window: the last `B × bucket_width`, in buckets of `bucket_width` (whole
        /// milliseconds, non-zero, below 2^32 ms), `B` at most [`MAX_BUCKETS`].
        /// `rule.min_calls()` must be at most `B × BUCKET_CAPACITY`.
        ///
        /// # Examples
        ///
        /// ```
        /// use breaker_core::{ConfigError, RateConfig, Window};
        /// use core::time::Duration;
        ///
        /// let rule = RateConfig::new(500, 10).validate().unwrap();
        /// let last_minute: Window<10> = Window::time(Duration::from_secs(6), rule).unwrap();
        /// assert_eq!(last_minute.rule().min_calls(), 10);
        /// assert_eq!(
        ///     Window::<2>::time(Duration::from_micros(1500), rule).err(),
        ///     Some(ConfigError::SubMillisecond { field: "bucket_width" })
        /// );
        /// ```
        pub fn time(bucket_width: Duration, rule: RateRule) -> Result<Self, ConfigError> {
            match Self::checked(rule, Self::time_kind(bucket_width)) {
                Ok((rule, kind)) => Ok(Self::build(rule, kind)),
                Err(e) => Err(e),
            }
        }
    }

    constructor! {
        /// A count-based window: the last `B` buckets of `calls_per_bucket` calls (1..=
        /// [`BUCKET_CAPACITY`]); exactly the last `B` calls with `calls_per_bucket = 1`.
        /// `rule.min_calls()` must be at most `B × calls_per_bucket`, and `S` must be 1.
        ///
        /// # Examples
        ///
        /// ```
        /// use breaker_core::{ConfigError, RateConfig, Window};
        ///
        /// let rule = RateConfig::new(500, 20).validate().unwrap();
        /// let last_100: Window<100> = Window::count(1, rule).unwrap();
        /// assert_eq!(last_100.capacity(), 100);
        /// // A window of 10 calls can never hold 20: refused, not accepted and never tripping.
        /// assert_eq!(
        ///     Window::<10>::count(1, rule).err(),
        ///     Some(ConfigError::TooLarge { field: "min_calls", value: 20, max: 10 })
        /// );
        /// ```
        pub fn count(calls_per_bucket: u32, rule: RateRule) -> Result<Self, ConfigError> {
            match Self::checked(rule, Self::count_kind(calls_per_bucket)) {
                Ok((rule, kind)) => Ok(Self::build(rule, kind)),
                Err(e) => Err(e),
            }
        }
    }

    constructor! {
        fn build(rule: RateRule, kind: Kind) -> Self {
            Window {
                rule,
                kind,
                head: AtomicWord::new(0),
                cycle: AtomicU32::new(0),
                filled: AtomicWord::new(0),
                sync: AtomicU32::new(0),
                baseline: AtomicU32::new(0),
                rows: empty_rows(),
            }
        }
    }

    /// The thresholds.
    pub fn rule(&self) -> &RateRule {
        &self.rule
    }

    /// Most calls the window holds: `B × calls_per_bucket` for a count window, `B ×`
    /// [`BUCKET_CAPACITY`] for a time window (a bucket stops counting when full).
    pub const fn capacity(&self) -> u32 {
        B as u32 * self.kind.limit()
    }

    /// The stripe for the calling thread: threads run on different stacks.
    #[inline]
    fn stripe() -> usize {
        if S == 1 {
            return 0;
        }
        let marker = 0u8;
        let addr = core::ptr::addr_of!(marker) as usize as u64;
        // Stacks are at least a page apart: Fibonacci-hash the page number and keep the top bits.
        (((addr >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize) % S
    }

    /// The epoch of a read at `now_ms`: the clock's for a time window, the head's for a count
    /// window.
    #[inline]
    fn read_epoch(&self, head: Word, now_ms: u64) -> u64 {
        match self.kind {
            Kind::Time { width_ms } => epoch::time_epoch(now_ms, width_ms, head),
            Kind::Count { .. } => head as u64,
        }
    }

    /// What a bucket's tag records for `epoch`: the epoch itself in a time window, the ring's
    /// rotation in a count window (see `buckets.rs`).
    #[inline(always)]
    fn tag_stamp(&self, epoch: u64) -> u64 {
        match self.kind {
            Kind::Time { .. } => epoch,
            // Count epochs stay below `B × 2^EPOCH_BITS` (at most 2^28): 32-bit arithmetic.
            Kind::Count { .. } => (epoch as u32 / B as u32) as u64,
        }
    }

    /// The head a filled mark is keyed to: a time window's (any move of it evaluates, since
    /// what left is not known), none for a count window (what left is known: see
    /// [`rule::needs_evaluation`]).
    #[inline(always)]
    fn mark_head(&self, head: Word) -> Word {
        match self.kind {
            Kind::Time { .. } => head,
            Kind::Count { .. } => 0,
        }
    }

    /// The slot of `epoch`.
    #[inline(always)]
    fn index(&self, epoch: u64) -> usize {
        match self.kind {
            Kind::Time { .. } => (epoch % B as u64) as usize,
            Kind::Count { .. } => (epoch as u32 % B as u32) as usize,
        }
    }

    /// Applies [`cycle_step`]: the common case (the same cycle) is one load and a compare.
    #[inline(always)]
    fn enter_cycle(&self, gen: u32) {
        let cur = self.cycle.load(Ordering::Acquire);
        if cycle_step(cur, gen) != Cycle::Same {
            self.switch_cycle(cur, gen);
        }
    }

    /// A new cycle: the thread that switches the cycle word empties the buckets of other cycles
    /// (O(B·S), once per closed cycle).
    #[cold]
    #[inline(never)]
    fn switch_cycle(&self, mut cur: u32, gen: u32) {
        loop {
            match cycle_step(cur, gen) {
                Cycle::Same => return,
                Cycle::Switch { next } => {
                    match self.cycle.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                        Ok(_) => break,
                        Err(actual) => cur = actual,
                    }
                }
            }
        }
        // A bucket already tagged with this cycle was written by a racing caller after the
        // switch: keep it (a compare-and-swap, not a store, so such a write is never wiped).
        self.filled.store(0, Ordering::Release);
        for row in &self.rows {
            for slot in &row.0 {
                let old = slot.load(Ordering::Acquire);
                if old != 0 && buckets::tag_gen(old) != gen & GEN_MASK {
                    let _ = slot.compare_exchange(old, 0, Ordering::AcqRel, Ordering::Relaxed);
                }
            }
        }
    }

    /// Applies [`epoch::advance`] for a time window's call at `epoch`: `Some(moved)`, or `None`
    /// when the call is dropped (a whole window behind, or late and not a confirmed jump).
    /// `epoch_now` is the epoch of a fresh clock reading, read only to confirm a jump.
    #[inline(always)]
    fn move_head(&self, head: &mut Word, epoch: u64, epoch_now: &dyn Fn() -> u64) -> Option<bool> {
        // The common case, inline: the call is in the head's epoch.
        if matches!(epoch::advance(*head, epoch, B as u64), Advance::Stay { behind: 0 }) {
            return Some(false);
        }
        self.move_head_slow(head, epoch, epoch_now)
    }

    #[inline(never)]
    fn move_head_slow(&self, head: &mut Word, epoch: u64, epoch_now: &dyn Fn() -> u64) -> Option<bool> {
        loop {
            let (next, clear) = match epoch::advance(*head, epoch, B as u64) {
                Advance::Stay { behind } if behind < B as u64 => return Some(false),
                Advance::Stay { .. } => return None,
                Advance::Jump { .. } if !epoch::far_behind(*head, epoch_now()) => return None,
                Advance::Jump { next, .. } => (next, B as u64),
                Advance::Move { next, clear } => (next, clear),
            };
            match self.head.compare_exchange_weak(*head, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    *head = next;
                    self.clear(epoch, clear);
                    return Some(true);
                }
                Err(actual) => *head = actual,
            }
        }
    }

    /// A count window's bucket at `head` is full: move the head on by one (or to where another
    /// thread moved it), once per `calls_per_bucket` calls.
    #[inline(never)]
    fn next_bucket(&self, head: Word) -> Word {
        let next = epoch::next_count_epoch(head, B);
        match self.head.compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => next,
            Err(actual) => actual,
        }
    }

    /// Sums the window and applies [`rule::decide`]: the trip, if any; a filled window below
    /// its thresholds leaves its mark for later successes.
    #[inline(never)]
    fn evaluate(&self, gen: u32, epoch: u64) -> Option<TripReason> {
        self.sync.fetch_add(1, Ordering::AcqRel);
        let (total, summed_to) = self.sum(gen, epoch);
        match rule::decide(total, &self.rule, self.baseline.load(Ordering::Relaxed)) {
            Decision::Filled => {
                self.filled.store(filled_mark(self.mark_head(summed_to), gen), Ordering::Release);
                None
            }
            // The window is not (or no longer) below its thresholds: no mark.
            decision => {
                self.filled.store(0, Ordering::Release);
                match decision {
                    Decision::Trip(reason) => Some(reason),
                    _ => None,
                }
            }
        }
    }

    /// Empties the slots of the `n` epochs ending at `epoch`, in every stripe. Those epochs had
    /// no calls (the head just moved past a silence), so whatever their slots hold is an older
    /// rotation that truncated tags could not tell from the new epochs: this is by position, not
    /// by tag. Each is a compare-and-swap from the value just read; a call at one of these
    /// epochs that a racing thread records between the head's move and this clearing can be
    /// cleared with them (at most one bucket per slot, only when the window moves after a
    /// silence).
    fn clear(&self, epoch: u64, n: u64) {
        for k in 0..n {
            let i = (epoch.wrapping_sub(k) % B as u64) as usize;
            for row in &self.rows {
                let old = row.0[i].load(Ordering::Acquire);
                if old != 0 {
                    let _ = row.0[i].compare_exchange(old, 0, Ordering::AcqRel, Ordering::Relaxed);
                }
            }
        }
    }

    /// Applies [`rule::learn`] to a finished bucket; `true` if the baseline changed.
    #[inline(never)]
    fn learn(&self, finished: Counts) -> bool {
        let mut cur = self.baseline.load(Ordering::Relaxed);
        while let Some(next) = rule::learn(&self.rule, cur, finished) {
            if next == cur {
                return false;
            }
            match self.baseline.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// Sums the buckets of cycle `gen` in the window ending at the newest epoch recorded (at
    /// least `epoch`; see [`epoch::window_end`]; a count window's head is its newest epoch), and
    /// returns the head it summed up to.
    ///
    /// Two evaluating threads that each write one bucket and then read the other's must not
    /// both miss the other's write (the store-buffering pattern), or a trip would be lost.
    /// Evaluations pass through [`Self::sync`] first: read-modify-writes of one location are
    /// totally ordered, so the later of two sees the earlier one's bucket.
    fn sum(&self, gen: u32, epoch: u64) -> (Counts, Word) {
        let head = self.head.load(Ordering::Acquire);
        let mut total = Counts::default();
        // A count window's slots hold the current rotation (up to the head) or the previous one.
        let (end, span) = match self.kind {
            Kind::Time { .. } => (epoch::window_end(head, epoch, B as u64), B as u64),
            Kind::Count { .. } => (Some(head as u64 / B as u64), 2),
        };
        let Some(end) = end else {
            return (total, head);
        };
        // Packed (two adds a bucket) when no field can carry; the count window's buckets are
        // told by their whole tag. Both are `counted`'s answer (`buckets.rs`).
        if B * S <= buckets::PACKED_MAX_BUCKETS {
            let mut sum = buckets::PackedSum::default();
            if let Kind::Count { .. } = self.kind {
                let tags = buckets::rotation_tags(gen, end);
                for row in &self.rows {
                    for slot in &row.0 {
                        sum = sum.plus_rotation(slot.load(Ordering::Acquire), tags);
                    }
                }
            } else {
                for row in &self.rows {
                    for slot in &row.0 {
                        sum = sum.plus_counted(slot.load(Ordering::Acquire), gen, end, span);
                    }
                }
            }
            return (sum.counts(), head);
        }
        for row in &self.rows {
            for slot in &row.0 {
                total = total.plus(buckets::counted(slot.load(Ordering::Acquire), gen, end, span));
            }
        }
        (total, head)
    }
}

impl<const B: usize, const S: usize> Policy for Window<B, S> {
    const CONSECUTIVE: bool = false;

    fn needs_now(&self) -> bool {
        matches!(self.kind, Kind::Time { .. })
    }

    fn slow_call_ms(&self) -> Option<u64> {
        self.rule.slow.map(|s| s.threshold_ms)
    }

    fn slow_counts_as_failure(&self) -> bool {
        matches!(self.rule.slow, Some(rule::SlowCalls { as_failure: true, .. }))
    }

    #[inline(always)]
    fn record(
        &self,
        gen: u32,
        sample: Sample,
        now_ms: u64,
        clock_ms: &dyn Fn() -> u64,
    ) -> Option<TripReason> {
        self.enter_cycle(gen);
        let slots = &self.rows[Self::stripe()].0;
        let mut head = self.head.load(Ordering::Acquire);
        // 1. The call's epoch, moving the head when it starts a new one.
        let (mut epoch, mut moved) = match self.kind {
            Kind::Time { width_ms } => {
                let epoch = epoch::time_epoch(now_ms, width_ms, head);
                match self.move_head(&mut head, epoch, &|| clock_ms() / width_ms) {
                    Some(true) => (epoch, Moved::Blind),
                    Some(false) => (epoch, Moved::No),
                    None => return None,
                }
            }
            Kind::Count { .. } => (head as u64, Moved::No),
        };
        // 2. The bucket step, applied; a count window moves on when its bucket is full.
        let limit = self.kind.limit();
        let mut slot = &slots[self.index(epoch)];
        let mut cur = slot.load(Ordering::Relaxed);
        loop {
            match (buckets::step(cur, gen, self.tag_stamp(epoch), sample, limit), self.kind) {
                (Step::Store { next, recycled, finished }, _) => {
                    match slot.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed) {
                        Ok(_) => {
                            moved = match (self.kind, finished) {
                                // A new threshold: evaluate whatever left.
                                (_, Some(f)) if self.rule.adaptive.is_some() && self.learn(f) => Moved::Blind,
                                // A time window's recycled slot: the window moved on.
                                (Kind::Time { .. }, _) if recycled => Moved::Blind,
                                // A count window's recycled slot held its oldest bucket.
                                (Kind::Count { .. }, Some(f)) => Moved::Left(f),
                                _ => moved,
                            };
                            break;
                        }
                        Err(actual) => {
                            cur = actual;
                            continue;
                        }
                    }
                }
                // A saturated time bucket keeps the rate of its first calls; a time bucket that
                // already holds a newer epoch means this call left the window.
                (Step::Full | Step::Newer, Kind::Time { .. }) => return None,
                (Step::Full, Kind::Count { .. }) => head = self.next_bucket(head),
                // The slot is ahead of the head this thread read: another moved it on.
                (Step::Newer, Kind::Count { .. }) => head = self.head.load(Ordering::Acquire),
            }
            epoch = head as u64;
            slot = &slots[self.index(epoch)];
            cur = slot.load(Ordering::Relaxed);
        }
        // 3. Evaluate, if this outcome can change the decision.
        let filled = self.filled.load(Ordering::Acquire) == filled_mark(self.mark_head(head), gen);
        if !rule::needs_evaluation(sample, moved, filled) {
            return None;
        }
        self.evaluate(gen, epoch)
    }

    fn stats(&self, gen: u32, now_ms: u64) -> Option<WindowStats> {
        let head = self.head.load(Ordering::Acquire);
        let (total, _) = self.sum(gen, self.read_epoch(head, now_ms));
        let rate = |n: u32| {
            if total.calls == 0 {
                0.0
            } else {
                n as f32 / total.calls as f32
            }
        };
        let baseline = self.baseline.load(Ordering::Relaxed);
        Some(WindowStats {
            calls: total.calls,
            failures: total.failures,
            slow: total.slow,
            failure_rate: rate(total.failures),
            slow_rate: rate(total.slow),
            trip_rate: self.rule.trip_permille(baseline) as f32 / 1000.0,
            baseline: self.rule.adaptive.map(|_| baseline as f32 / 65_536.0),
        })
    }
}

impl<const B: usize, const S: usize> core::fmt::Debug for Window<B, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Window")
            .field("buckets", &B)
            .field("stripes", &S)
            .field("kind", &self.kind)
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod mark_tests {
    use super::*;

    #[test]
    fn a_mark_is_never_zero_and_tells_cycles_apart() {
        for gen in [0, 1, GEN_MASK - 1, GEN_MASK] {
            for head in [0, 1, 2, Word::MAX / 2, Word::MAX] {
                assert_ne!(filled_mark(head, gen), 0, "gen {gen} head {head}");
                assert_ne!(filled_mark(head, gen), filled_mark(head, gen ^ 1));
                assert_ne!(filled_mark(head, gen), filled_mark(head.wrapping_add(1), gen));
            }
        }
    }
}
