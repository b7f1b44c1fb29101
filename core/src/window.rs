//! Failure-rate windows: the [`Window`] policy and its [`RateConfig`].
//!
//! A window is `B` buckets (a const generic: memory is fixed at compile time), each one atomic
//! word holding a tag and three counters:
//!
//! ```text
//!  bucket (64-bit layout): [ generation (16) | epoch tag (12) | slow (12) | failures (12) | calls (12) ]
//!  bucket (32-bit layout): [ generation (6)  | epoch tag (5)  | slow (7)  | failures (7)  | calls (7)  ]
//! ```
//!
//! - **Time-based** ([`Window::time`]): epoch = `now / bucket_width`; the window is the last
//!   `B` bucket widths. The width is yours to choose.
//! - **Count-based** ([`Window::count`]): epoch = `call number / calls_per_bucket`; the window
//!   is the last `B × calls_per_bucket` calls, at a granularity of one bucket (exact when
//!   `calls_per_bucket` is 1).
//!
//! Recording a call is one compare-and-swap on one bucket (plus, for count windows, one
//! `fetch_add` on the call counter): a bucket whose tag is older than the call's is recycled in
//! the same CAS, so a rollover racing with recording never loses or double-counts a call of the
//! current bucket; a call whose epoch is a whole window behind the newest one recorded lies
//! outside the window and is dropped (decided on the newest epoch at the word's width, not on
//! the truncated tags), unless it is [`JUMP_EPOCHS`] or more behind: that is taken for a jump
//! forward, and the window restarts there. The window tracks the newest epoch (word width) and the
//! closed cycle (generation) it counts: the first call of a newer cycle empties it (O(B·S), once
//! per cycle), a late call of an older cycle is refused, and after a quiet period the slots of the
//! skipped epochs are emptied (O(B), only after silence), so truncated bucket tags do not alias
//! (on the 32-bit layout, except after silences within [`JUMP_EPOCHS`] of a multiple of 2^32
//! epochs; see there).
//! Successes never trip, so the window is summed (`B × S` loads) only after a failure or a slow
//! call, which first passes through one shared read-modify-write so that of two racing failures
//! the later always sees the earlier (loom found the lost trip without it).
//!
//! `S` stripes (default 1) spread contending threads over `S` copies of the buckets, each on
//! its own cache line, picked from the address of the caller's stack; readers sum the stripes.
//! Use `S = 4` or more on servers with many threads; keep 1 on microcontrollers.
//!
//! A bucket counts at most [`BUCKET_CAPACITY`] calls; further calls in the same bucket are not
//! counted (the rate is then that of the bucket's first calls). Choose the bucket width so a
//! bucket stays below it at peak load.

use core::time::Duration;

use crate::layout::Word;
use crate::policy::{Policy, Sample, TripReason, WindowStats};
use crate::sync::{AtomicU32, AtomicWord, Ordering};
use crate::ConfigError;

#[cfg(any(breaker_word32, not(target_has_atomic = "64")))]
mod bits {
    pub(super) const COUNT: u32 = 7;
    pub(super) const EPOCH: u32 = 5;
    // The core's whole generation (6 bits on this layout): cycles never alias sooner than
    // permits do.
    pub(super) const GEN: u32 = 6;
}
#[cfg(not(any(breaker_word32, not(target_has_atomic = "64"))))]
mod bits {
    pub(super) const COUNT: u32 = 12;
    pub(super) const EPOCH: u32 = 12;
    // The core's whole generation (16 bits on this layout).
    pub(super) const GEN: u32 = 16;
}

const COUNT_MASK: Word = (1 << bits::COUNT) - 1;
const EPOCH_SHIFT: u32 = 3 * bits::COUNT;
const EPOCH_MASK: u64 = (1 << bits::EPOCH) - 1;
const GEN_SHIFT: u32 = EPOCH_SHIFT + bits::EPOCH;
const GEN_MASK: u32 = (1 << bits::GEN) - 1;
const _: () = assert!(GEN_SHIFT + bits::GEN == Word::BITS);

/// Most calls one bucket counts (4 095 on the 64-bit layout, 127 on the 32-bit layout).
pub const BUCKET_CAPACITY: u32 = (1 << bits::COUNT) - 1;
/// Most buckets a window may have (2 048 on the 64-bit layout, 16 on the 32-bit layout): half the
/// epoch tag's range, so a bucket's age is never ambiguous.
pub const MAX_BUCKETS: usize = 1 << (bits::EPOCH - 1);
/// Most stripes a window may have.
pub const MAX_STRIPES: usize = 64;

/// A call or a read this many epochs or more *behind* the newest epoch recorded is taken for a
/// jump forward instead (the window empties and restarts there), once a fresh reading of the
/// clock (or of the call counter) confirms it: a call that only looks that far behind because
/// its thread was descheduled after reading the clock is dropped, not taken for a jump. Behind
/// by less, a call is dropped once it is a whole window behind (a clock stepped back, or a late
/// thread) and a read ends at the newest epoch. The bound makes the word-width epoch safe on
/// the 32-bit layout, where a silence of `2^32 − k` epochs (50 days of 1 ms buckets) looks like
/// `k` epochs behind: only silences within this bound of a multiple of `2^32` epochs are
/// misread (just under it, calls are dropped and reads show old buckets for at most this many
/// epochs; within `B` epochs over it, old buckets count as current until they rotate out).
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, RateConfig, Window, JUMP_EPOCHS};
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
const _: () = assert!(JUMP_EPOCHS > MAX_BUCKETS as u64 && JUMP_EPOCHS <= 1 << 31);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    calls: u32,
    failures: u32,
    slow: u32,
}

#[inline]
fn tag_of(gen: u32, epoch: u64) -> Word {
    (((gen & GEN_MASK) as Word) << GEN_SHIFT) | (((epoch & EPOCH_MASK) as Word) << EPOCH_SHIFT)
}

#[inline]
fn split(bucket: Word) -> (Word, Counts) {
    let tag = bucket & !((1 << EPOCH_SHIFT) - 1);
    let counts = Counts {
        calls: (bucket & COUNT_MASK) as u32,
        failures: ((bucket >> bits::COUNT) & COUNT_MASK) as u32,
        slow: ((bucket >> (2 * bits::COUNT)) & COUNT_MASK) as u32,
    };
    (tag, counts)
}

#[inline]
fn join(tag: Word, c: Counts) -> Word {
    tag | c.calls as Word | (c.failures as Word) << bits::COUNT | (c.slow as Word) << (2 * bits::COUNT)
}

#[inline]
fn tag_gen(tag: Word) -> u32 {
    (tag >> GEN_SHIFT) as u32 & GEN_MASK
}

#[inline]
fn tag_epoch(tag: Word) -> u64 {
    (tag >> EPOCH_SHIFT) as u64 & EPOCH_MASK
}

/// `true` when the bucket tagged `bucket_tag` holds a newer epoch than `epoch` (half-range rule on
/// the truncated tags). Unambiguous because every bucket still in use is within one window of the
/// newest epoch: older rotations are recycled as they come round, and the slots of epochs skipped
/// in a quiet period are emptied when the window moves past them (`advance`).
#[inline]
fn epoch_ahead(bucket_tag: Word, epoch: u64) -> bool {
    let d = tag_epoch(bucket_tag).wrapping_sub(epoch) & EPOCH_MASK;
    d != 0 && d < (1 << (bits::EPOCH - 1))
}

/// Slow-call tracking settings, part of a [`RateConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct SlowCalls {
    threshold_ms: u64,
    trip_permille: u32,
    as_failure: bool,
}

/// Adaptive-threshold settings, part of a [`RateConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Adaptive {
    floor_permille: u32,
    multiplier_percent: u32,
    alpha_shift: u32,
    min_bucket_calls: u32,
}

/// The thresholds of a rate window, as given by the user. Rates are in per mille (‰):
/// 1000 = 100 %.
///
/// # Adaptive thresholds
///
/// With [`adaptive`](RateConfig::adaptive), the window learns the dependency's normal failure
/// rate while CLOSED, as an exponentially weighted moving average over finished buckets (those
/// with at least `min_bucket_calls` calls):
///
/// ```text
///   baseline ← baseline + (bucket_rate − baseline) / 2^alpha_shift
///   trip when  failure_rate ≥ max(floor, multiplier × baseline)   (and calls ≥ min_calls)
/// ```
///
/// Worked example: `floor` 10 %, `multiplier` 3×. A service whose normal error rate is 2 %
/// learns a baseline of about 2 %, so its threshold is max(10 %, 6 %) = 10 %: a bad minute at 3 %
/// does not trip it. A service that starts failing 40 % of calls trips at once. Another service
/// with a normal rate of 5 % gets max(10 %, 15 %) = 15 %: its usual noise never trips it, while a
/// clean service (baseline ≈ 0) trips at the 10 % floor. With `alpha_shift` 3, each finished
/// bucket moves the baseline 1/8 of the way to its own rate, so the baseline follows a lasting
/// change within a few dozen buckets while one bad bucket moves it little.
///
/// # Examples
///
/// ```
/// use breaker_core::RateConfig;
/// use core::time::Duration;
///
/// let rule = RateConfig::new(500, 20)                       // 50 % failures, once 20 calls are in
///     .slow_calls(Duration::from_millis(800), 600, false)   // or 60 % of calls slower than 800 ms
///     .validate()
///     .unwrap();
/// assert_eq!(rule.failure_permille(), 500);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateConfig {
    failure_permille: u32,
    min_calls: u32,
    slow: Option<(Duration, u32, bool)>,
    adaptive: Option<(u32, u32, u32, u32)>,
}

impl RateConfig {
    /// Trip when at least `failure_permille` ‰ of the calls in the window failed, once the
    /// window holds at least `min_calls` calls.
    pub const fn new(failure_permille: u32, min_calls: u32) -> Self {
        RateConfig { failure_permille, min_calls, slow: None, adaptive: None }
    }

    /// Track calls slower than `threshold` (measured on the breaker's clock); trip when at least
    /// `trip_permille` ‰ of the calls in the window were slow. With `as_failure`, a slow call
    /// also counts as a failure.
    pub const fn slow_calls(mut self, threshold: Duration, trip_permille: u32, as_failure: bool) -> Self {
        self.slow = Some((threshold, trip_permille, as_failure));
        self
    }

    /// Replace the fixed failure threshold by an adaptive one (see the type's docs):
    /// `floor_permille` ‰ at least, `multiplier_percent` % of the learned baseline (300 = 3×),
    /// learning rate 1/2^`alpha_shift`, learning only from buckets with at least
    /// `min_bucket_calls` calls. The fixed `failure_permille` is then unused.
    pub const fn adaptive(
        mut self,
        floor_permille: u32,
        multiplier_percent: u32,
        alpha_shift: u32,
        min_bucket_calls: u32,
    ) -> Self {
        self.adaptive = Some((floor_permille, multiplier_percent, alpha_shift, min_bucket_calls));
        self
    }

    /// Checks every field, naming the first offending one.
    pub const fn validate(self) -> Result<RateRule, ConfigError> {
        if self.failure_permille == 0 {
            return Err(ConfigError::Zero { field: "failure_permille" });
        }
        if self.failure_permille > 1000 {
            return Err(ConfigError::TooLarge {
                field: "failure_permille",
                value: self.failure_permille as u64,
                max: 1000,
            });
        }
        if self.min_calls == 0 {
            return Err(ConfigError::Zero { field: "min_calls" });
        }
        let slow = match self.slow {
            None => None,
            Some((threshold, trip_permille, as_failure)) => {
                if threshold.is_zero() {
                    return Err(ConfigError::Zero { field: "slow_call_threshold" });
                }
                if threshold.subsec_nanos() % 1_000_000 != 0 {
                    return Err(ConfigError::SubMillisecond { field: "slow_call_threshold" });
                }
                let ms = threshold.as_millis();
                if ms > u32::MAX as u128 {
                    return Err(ConfigError::TooLarge {
                        field: "slow_call_threshold",
                        value: if ms > u64::MAX as u128 { u64::MAX } else { ms as u64 },
                        max: u32::MAX as u64,
                    });
                }
                if trip_permille == 0 {
                    return Err(ConfigError::Zero { field: "slow_call_permille" });
                }
                if trip_permille > 1000 {
                    return Err(ConfigError::TooLarge {
                        field: "slow_call_permille",
                        value: trip_permille as u64,
                        max: 1000,
                    });
                }
                Some(SlowCalls { threshold_ms: ms as u64, trip_permille, as_failure })
            }
        };
        let adaptive = match self.adaptive {
            None => None,
            Some((floor_permille, multiplier_percent, alpha_shift, min_bucket_calls)) => {
                if floor_permille == 0 {
                    return Err(ConfigError::Zero { field: "adaptive_floor_permille" });
                }
                if floor_permille > 1000 {
                    return Err(ConfigError::TooLarge {
                        field: "adaptive_floor_permille",
                        value: floor_permille as u64,
                        max: 1000,
                    });
                }
                if multiplier_percent < 100 {
                    return Err(ConfigError::TooSmall {
                        field: "adaptive_multiplier_percent",
                        value: multiplier_percent as u64,
                        min: 100,
                    });
                }
                if multiplier_percent > 100_000 {
                    return Err(ConfigError::TooLarge {
                        field: "adaptive_multiplier_percent",
                        value: multiplier_percent as u64,
                        max: 100_000,
                    });
                }
                if alpha_shift == 0 {
                    return Err(ConfigError::Zero { field: "adaptive_alpha_shift" });
                }
                if alpha_shift > 16 {
                    return Err(ConfigError::TooLarge {
                        field: "adaptive_alpha_shift",
                        value: alpha_shift as u64,
                        max: 16,
                    });
                }
                if min_bucket_calls == 0 {
                    return Err(ConfigError::Zero { field: "adaptive_min_bucket_calls" });
                }
                Some(Adaptive { floor_permille, multiplier_percent, alpha_shift, min_bucket_calls })
            }
        };
        Ok(RateRule { failure_permille: self.failure_permille, min_calls: self.min_calls, slow, adaptive })
    }
}

/// Validated thresholds of a rate window (from [`RateConfig::validate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateRule {
    failure_permille: u32,
    min_calls: u32,
    slow: Option<SlowCalls>,
    adaptive: Option<Adaptive>,
}

impl RateRule {
    /// The fixed failure-rate threshold, ‰.
    pub const fn failure_permille(&self) -> u32 {
        self.failure_permille
    }

    /// Calls the window must hold before it may trip.
    pub const fn min_calls(&self) -> u32 {
        self.min_calls
    }

    /// The slow-call threshold, if slow calls are tracked.
    pub const fn slow_call_threshold(&self) -> Option<Duration> {
        match self.slow {
            Some(s) => Some(Duration::from_millis(s.threshold_ms)),
            None => None,
        }
    }

    /// The failure rate (‰) that trips now, given a baseline in 1/65 536 units.
    const fn trip_permille(&self, baseline: u32) -> u32 {
        match self.adaptive {
            None => self.failure_permille,
            Some(a) => {
                // baseline × multiplier, in ‰: baseline/65536 × mult/100 × 1000.
                let scaled = (baseline as u64 * a.multiplier_percent as u64 * 10) >> 16;
                let scaled = if scaled > 1000 { 1000 } else { scaled as u32 };
                if scaled > a.floor_permille {
                    scaled
                } else {
                    a.floor_permille
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Time { width_ms: u64 },
    Count { per_bucket: u64 },
}

/// One stripe of buckets, on its own cache line(s).
#[repr(align(64))]
struct Row<const B: usize>([AtomicWord; B]);

/// A failure-rate window policy with `B` buckets and `S` stripes. The design (bucket layout, recycling, stripes) is in the README, *Policies*.
///
/// # Examples
///
/// "100 calls, 6 % failures, minimum 20 calls": with a 5 % threshold over the last 100 calls,
/// the breaker trips on the failure that lifts the rate to 5 %, not before 20 calls.
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, RateConfig, State, Window};
///
/// let rule = RateConfig::new(50, 20).validate().unwrap(); // 5 %, at least 20 calls
/// let window: Window<10> = Window::count(10, rule).unwrap(); // the last 100 calls, 10 per bucket
/// let breaker = Breaker::with_policy("api", Config::new().validate().unwrap(), ManualClock::new(), (), window);
///
/// let mut tripped_at = None;
/// for call in 1..=100u32 {
///     let fail = call % 16 == 0; // 6 failures in 100 calls, the first at call 16
///     let _ = breaker.call(|| if fail { Err(()) } else { Ok(()) });
///     if tripped_at.is_none() && breaker.state() == State::Open {
///         tripped_at = Some(call);
///     }
/// }
/// // Call 16: 1 failure in 16 calls, below min_calls. Call 32: 2 in 32 = 6.25 % ≥ 5 %.
/// assert_eq!(tripped_at, Some(32));
/// ```
pub struct Window<const B: usize, const S: usize = 1> {
    rule: RateRule,
    kind: Kind,
    seq: AtomicWord,
    /// The newest epoch recorded, plus one (0: none yet), wrapping at the word's width.
    latest: AtomicWord,
    /// The closed cycle (generation + 1) being counted; 0 before the first call.
    cycle: AtomicU32,
    /// Touched by every call that may trip, to order them (see `sum`).
    sync: AtomicU32,
    baseline: AtomicU32,
    rows: [Row<B>; S],
}

impl<const B: usize, const S: usize> Window<B, S> {
    const CHECK: () = {
        assert!(B >= 1 && B <= MAX_BUCKETS, "a window needs 1..=MAX_BUCKETS buckets");
        assert!(S >= 1 && S <= MAX_STRIPES, "a window needs 1..=MAX_STRIPES stripes");
    };

    /// Validates a time window's bucket width (whole milliseconds, non-zero, below 2^32 ms).
    const fn time_kind(bucket_width: Duration) -> Result<Kind, ConfigError> {
        if bucket_width.is_zero() {
            return Err(ConfigError::Zero { field: "bucket_width" });
        }
        if bucket_width.subsec_nanos() % 1_000_000 != 0 {
            return Err(ConfigError::SubMillisecond { field: "bucket_width" });
        }
        let ms = bucket_width.as_millis();
        if ms > u32::MAX as u128 {
            return Err(ConfigError::TooLarge {
                field: "bucket_width",
                value: if ms > u64::MAX as u128 { u64::MAX } else { ms as u64 },
                max: u32::MAX as u64,
            });
        }
        Ok(Kind::Time { width_ms: ms as u64 })
    }

    /// Validates a count window's calls per bucket (1..=[`BUCKET_CAPACITY`]).
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
        Ok(Kind::Count { per_bucket: calls_per_bucket as u64 })
    }

    /// A time-based window: the last `B × bucket_width`, in buckets of `bucket_width` (whole
    /// milliseconds, non-zero).
    #[cfg(not(breaker_loom))]
    pub const fn time(bucket_width: Duration, rule: RateRule) -> Result<Self, ConfigError> {
        let () = Self::CHECK;
        match Self::time_kind(bucket_width) {
            Ok(kind) => Ok(Self::build(rule, kind)),
            Err(e) => Err(e),
        }
    }

    /// A count-based window: the last `B × calls_per_bucket` calls (`calls_per_bucket` in
    /// 1..=[`BUCKET_CAPACITY`]).
    #[cfg(not(breaker_loom))]
    pub const fn count(calls_per_bucket: u32, rule: RateRule) -> Result<Self, ConfigError> {
        let () = Self::CHECK;
        match Self::count_kind(calls_per_bucket) {
            Ok(kind) => Ok(Self::build(rule, kind)),
            Err(e) => Err(e),
        }
    }

    #[cfg(not(breaker_loom))]
    const fn build(rule: RateRule, kind: Kind) -> Self {
        Window {
            rule,
            kind,
            seq: AtomicWord::new(0),
            latest: AtomicWord::new(0),
            cycle: AtomicU32::new(0),
            sync: AtomicU32::new(0),
            baseline: AtomicU32::new(0),
            rows: [const { Row([const { AtomicWord::new(0) }; B]) }; S],
        }
    }

    /// A time-based window (loom build: not `const`).
    #[cfg(breaker_loom)]
    pub fn time(bucket_width: Duration, rule: RateRule) -> Result<Self, ConfigError> {
        let () = Self::CHECK;
        Ok(Self::build(rule, Self::time_kind(bucket_width)?))
    }

    /// A count-based window (loom build: not `const`).
    #[cfg(breaker_loom)]
    pub fn count(calls_per_bucket: u32, rule: RateRule) -> Result<Self, ConfigError> {
        let () = Self::CHECK;
        Ok(Self::build(rule, Self::count_kind(calls_per_bucket)?))
    }

    #[cfg(breaker_loom)]
    fn build(rule: RateRule, kind: Kind) -> Self {
        Window {
            rule,
            kind,
            seq: AtomicWord::new(0),
            latest: AtomicWord::new(0),
            cycle: AtomicU32::new(0),
            sync: AtomicU32::new(0),
            baseline: AtomicU32::new(0),
            rows: core::array::from_fn(|_| Row(core::array::from_fn(|_| AtomicWord::new(0)))),
        }
    }

    /// The thresholds.
    pub fn rule(&self) -> &RateRule {
        &self.rule
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

    #[inline]
    fn current_epoch(&self, now_ms: u64) -> u64 {
        match self.kind {
            Kind::Time { width_ms } => self.time_epoch(now_ms, width_ms, self.latest.load(Ordering::Relaxed)),
            // The epoch of the last recorded call.
            Kind::Count { per_bucket } => {
                (self.seq.load(Ordering::Relaxed) as u64).saturating_sub(1) / per_bucket
            }
        }
    }

    /// `now_ms / width_ms`, without the division when `now_ms` falls in the newest epoch
    /// recorded (the common case: a 64-bit division costs more than the rest of the lookup).
    /// Only on the 64-bit layout, whose `latest` holds the whole epoch.
    #[inline(always)]
    fn time_epoch(&self, now_ms: u64, width_ms: u64, latest: Word) -> u64 {
        if Word::BITS == 64 {
            let latest = latest as u64;
            // `latest` only ever holds `now / width_ms + 1` of some reading, so the product
            // cannot overflow; `checked_mul` keeps that a proof, not an assumption.
            if let Some(start) = latest.wrapping_sub(1).checked_mul(width_ms) {
                if latest != 0 && now_ms >= start && now_ms - start < width_ms {
                    return latest - 1;
                }
            }
        }
        now_ms / width_ms
    }

    /// Switches the window to the closed cycle `gen` if it counts another one: the buckets of
    /// other cycles are emptied (once per cycle, by the thread that switches it). The breaker only
    /// records calls of its current cycle (it checks the word first), so a different generation
    /// here is a newer cycle; a late call racing that check could at worst empty the window once.
    fn enter_cycle(&self, gen: u32) -> bool {
        let mine = gen.wrapping_add(1);
        let mut cur = self.cycle.load(Ordering::Acquire);
        loop {
            if cur == mine {
                return true;
            }
            match self.cycle.compare_exchange_weak(cur, mine, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    // Empty the buckets of earlier cycles. A bucket already tagged with this
                    // cycle was written by a racing caller after the switch: keep it (and a
                    // compare-and-swap, not a store, so such a write is never wiped).
                    let tag = gen & GEN_MASK;
                    for row in &self.rows {
                        for slot in &row.0 {
                            let old = slot.load(Ordering::Acquire);
                            if old != 0 && tag_gen(old) != tag {
                                let _ = slot.compare_exchange(old, 0, Ordering::AcqRel, Ordering::Relaxed);
                            }
                        }
                    }
                    return true;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Moves the window's newest epoch forward to `epoch` (or back to it, when it is at least
    /// [`JUMP_EPOCHS`] behind: a jump). When epochs were skipped (a quiet period, or a jump), the
    /// slots those epochs map to still hold older rotations whose truncated tags could alias the
    /// new ones; they are emptied here (only if they still hold something else than the skipped
    /// epoch), which is O(B) and only happens after silence.
    ///
    /// `latest` is a recent load of `self.latest`, the first guess of the compare-and-swap.
    /// Returns how many epochs `epoch` is behind the newest one (0 if it is the newest or now
    /// is), at the word's width: the truncated bucket tags cannot tell, so a call a whole window
    /// behind is dropped on this figure, not on the tags.
    ///
    /// A jump is only taken on an epoch at least as fresh as the newest one it is compared with:
    /// `epoch` was fixed before this thread looked at `self.latest` (and a thread can be
    /// descheduled in between while others record many epochs), so a jump candidate is
    /// confirmed with `epoch_now()`, the epoch as of now. A call that only looked far behind
    /// because it is late is dropped instead.
    fn advance(&self, epoch: u64, latest: Word, epoch_now: &dyn Fn() -> u64) -> u64 {
        let next = (epoch as Word).wrapping_add(1);
        let mut cur = latest;
        loop {
            let ahead = next.wrapping_sub(cur);
            let behind = cur.wrapping_sub(next) as u64;
            let not_newer = cur != 0 && (ahead == 0 || ahead > Word::MAX / 2);
            if not_newer && behind < JUMP_EPOCHS {
                return behind; // not newer, and not a jump
            }
            if not_newer && !Self::far_behind(cur, epoch_now()) {
                return behind; // late, not a jump: `behind >= JUMP_EPOCHS >= B`, so dropped
            }
            match self.latest.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        if cur == 0 {
            return 0;
        }
        // Epochs strictly between the previous newest and this one had no calls, so whatever
        // their slots hold is an older rotation, and so is this epoch's own slot: empty them
        // (within one window; all of them after a jump, whose distance is at least half the
        // word's range). Truncated tags cannot tell those apart from the new epochs after a
        // long silence, so this is by position, not by tag. Each is a compare-and-swap from the
        // value just read. A call at one of these epochs that a racing thread records between
        // the newest-epoch compare-and-swap above and this clearing can be cleared with them
        // (at most one bucket per slot, only when the window moves after a silence).
        let gap = next.wrapping_sub(cur) as u64;
        if gap <= 1 {
            return 0;
        }
        for k in 0..gap.min(B as u64) {
            let e = epoch.wrapping_sub(k);
            for row in &self.rows {
                let slot = &row.0[(e % B as u64) as usize];
                let old = slot.load(Ordering::Acquire);
                if old != 0 {
                    let _ = slot.compare_exchange(old, 0, Ordering::AcqRel, Ordering::Relaxed);
                }
            }
        }
        0
    }

    /// `epoch` is at least [`JUMP_EPOCHS`] behind the newest epoch `latest` (stored plus one).
    fn far_behind(latest: Word, epoch: u64) -> bool {
        let next = (epoch as Word).wrapping_add(1);
        let ahead = next.wrapping_sub(latest);
        (ahead == 0 || ahead > Word::MAX / 2) && latest.wrapping_sub(next) as u64 >= JUMP_EPOCHS
    }

    /// Folds a finished bucket into the adaptive baseline.
    fn learn(&self, finished: Counts) {
        let Some(a) = self.rule.adaptive else { return };
        if finished.calls < a.min_bucket_calls {
            return;
        }
        let rate = ((finished.failures as u64) << 16) / finished.calls as u64;
        let mut cur = self.baseline.load(Ordering::Relaxed);
        loop {
            let b = cur as i64;
            let next = (b + ((rate as i64 - b) >> a.alpha_shift)).clamp(0, 1 << 16) as u32;
            match self.baseline.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Sums the buckets of generation `gen` in the window ending at the newest epoch recorded
    /// (at least `epoch`). Ending at the newest epoch rather than the caller's own matters when
    /// two calls in neighbouring epochs race: whichever sums last sees both.
    ///
    /// Two failing threads that each write one bucket and then read the other's must not both
    /// miss the other's write (the store-buffering pattern), or a trip would be lost. Callers
    /// that may trip pass through [`Self::sync`] first: read-modify-writes of one location are
    /// totally ordered, so the later of two failing threads sees the earlier one's bucket.
    fn sum(&self, gen: u32, epoch: u64) -> Counts {
        let gen_tag = gen & GEN_MASK;
        let latest = self.latest.load(Ordering::Acquire);
        // The window ends at the newest epoch recorded (at least this caller's).
        let newest = (latest.wrapping_sub(1)) as u64;
        let ahead = (newest as Word).wrapping_sub(epoch as Word);
        let mut total = Counts { calls: 0, failures: 0, slow: 0 };
        let end = if latest == 0 {
            epoch
        } else if ahead <= Word::MAX / 2 && (ahead as u64) < JUMP_EPOCHS {
            epoch.wrapping_add(ahead as u64)
        } else if ahead <= Word::MAX / 2 {
            // At least `JUMP_EPOCHS` behind the newest epoch: a jump (see `advance`), after
            // which the window is empty.
            return total;
        } else if (ahead.wrapping_neg() as u64) < B as u64 {
            epoch
        } else {
            // The caller is a whole window past the newest epoch recorded (a read after a
            // silence): every bucket is older than the window, whatever its truncated tag says.
            return total;
        };
        for row in &self.rows {
            for slot in &row.0 {
                let (tag, c) = split(slot.load(Ordering::Acquire));
                let age = end.wrapping_sub(tag_epoch(tag)) & EPOCH_MASK;
                if tag_gen(tag) == gen_tag && age < B as u64 && c.calls > 0 {
                    total.calls = total.calls.saturating_add(c.calls);
                    total.failures = total.failures.saturating_add(c.failures);
                    total.slow = total.slow.saturating_add(c.slow);
                }
            }
        }
        total
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
        matches!(self.rule.slow, Some(SlowCalls { as_failure: true, .. }))
    }

    fn record(
        &self,
        gen: u32,
        sample: Sample,
        now_ms: u64,
        clock_ms: &dyn Fn() -> u64,
    ) -> Option<TripReason> {
        // Loaded once here for both the epoch and `advance`, which re-reads it only if its
        // compare-and-swap fails.
        let latest = self.latest.load(Ordering::Acquire);
        let epoch = match self.kind {
            Kind::Time { width_ms } => self.time_epoch(now_ms, width_ms, latest),
            Kind::Count { per_bucket } => self.seq.fetch_add(1, Ordering::Relaxed) as u64 / per_bucket,
        };
        if !self.enter_cycle(gen) {
            return None; // a late call from an earlier closed cycle
        }
        let tag = tag_of(gen, epoch);
        // A call a whole window behind the newest epoch (a clock stepped back, or a thread that
        // read the clock long ago) is outside the window: dropped.
        let epoch_now = || match self.kind {
            Kind::Time { width_ms } => clock_ms() / width_ms,
            // The newest call number handed out (this call's included).
            Kind::Count { per_bucket } => {
                (self.seq.load(Ordering::Relaxed) as u64).saturating_sub(1) / per_bucket
            }
        };
        if self.advance(epoch, latest, &epoch_now) >= B as u64 {
            return None;
        }
        let slot = &self.rows[Self::stripe()].0[(epoch % B as u64) as usize];
        let fresh = Counts { calls: 1, failures: sample.failed as u32, slow: sample.slow as u32 };
        let mut cur = slot.load(Ordering::Relaxed);
        loop {
            let (cur_tag, counts) = split(cur);
            let next = if cur_tag == tag {
                if counts.calls >= BUCKET_CAPACITY {
                    break; // saturated: the bucket keeps the rate of its first calls
                }
                Counts {
                    calls: counts.calls + 1,
                    failures: counts.failures + fresh.failures,
                    slow: counts.slow + fresh.slow,
                }
            } else if counts.calls == 0 || tag_gen(cur_tag) != gen & GEN_MASK || !epoch_ahead(cur_tag, epoch)
            {
                // An empty bucket, one of an earlier closed cycle (`enter_cycle` refused late
                // calls), or an older rotation of this slot: recycle it.
                fresh
            } else {
                return None; // the slot already holds a newer rotation: this call left the window
            };
            match slot.compare_exchange_weak(cur, join(tag, next), Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    if cur_tag != tag && tag_gen(cur_tag) == gen & GEN_MASK {
                        self.learn(counts);
                    }
                    break;
                }
                Err(actual) => cur = actual,
            }
        }
        if !(sample.failed || sample.slow) {
            return None;
        }
        // Order this failure after every earlier one (see `sum`).
        self.sync.fetch_add(1, Ordering::AcqRel);
        let total = self.sum(gen, epoch);
        if total.calls < self.rule.min_calls {
            return None;
        }
        let trip = self.rule.trip_permille(self.baseline.load(Ordering::Relaxed));
        if total.failures as u64 * 1000 >= trip as u64 * total.calls as u64 && total.failures > 0 {
            return Some(TripReason::FailureRate);
        }
        if let Some(s) = self.rule.slow {
            if total.slow as u64 * 1000 >= s.trip_permille as u64 * total.calls as u64 && total.slow > 0 {
                return Some(TripReason::SlowCallRate);
            }
        }
        None
    }

    fn stats(&self, gen: u32, now_ms: u64) -> Option<WindowStats> {
        let total = self.sum(gen, self.current_epoch(now_ms));
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
mod tests {
    use super::*;

    fn rule(permille: u32, min: u32) -> RateRule {
        RateConfig::new(permille, min).validate().unwrap()
    }

    #[test]
    fn bucket_packing_round_trips() {
        let tag = tag_of(5, 77);
        let c = Counts { calls: BUCKET_CAPACITY, failures: 3, slow: BUCKET_CAPACITY };
        assert_eq!(split(join(tag, c)), (tag, c));
        assert_eq!(tag_gen(tag), 5 & GEN_MASK);
        assert_eq!(tag_epoch(tag), 77 & EPOCH_MASK);
    }

    #[test]
    fn count_window_trips_only_after_min_calls() {
        let w: Window<10> = Window::count(1, rule(500, 4)).unwrap();
        let fail = Sample { failed: true, slow: false };
        assert_eq!(w.record(0, fail, 0, &|| 0), None, "1 call < min 4");
        assert_eq!(w.record(0, fail, 0, &|| 0), None);
        assert_eq!(w.record(0, fail, 0, &|| 0), None);
        assert_eq!(w.record(0, fail, 0, &|| 0), Some(TripReason::FailureRate));
        let s = w.stats(0, 0).unwrap();
        assert_eq!((s.calls, s.failures), (4, 4));
    }

    #[test]
    fn count_window_forgets_calls_older_than_the_window() {
        let w: Window<4> = Window::count(1, rule(500, 4)).unwrap();
        let fail = Sample { failed: true, slow: false };
        let ok = Sample::default();
        for _ in 0..3 {
            w.record(0, fail, 0, &|| 0);
        }
        for _ in 0..4 {
            w.record(0, ok, 0, &|| 0);
        }
        let s = w.stats(0, 0).unwrap();
        assert_eq!((s.calls, s.failures), (4, 0), "the failures slid out");
    }

    #[test]
    fn time_window_expires_buckets_by_time() {
        let w: Window<3> = Window::time(Duration::from_millis(100), rule(500, 1)).unwrap();
        let fail = Sample { failed: true, slow: false };
        assert_eq!(w.record(0, fail, 50, &|| 50), Some(TripReason::FailureRate));
        assert_eq!(w.stats(0, 250).unwrap().failures, 1, "epoch 0 is still in [0, 2]");
        assert_eq!(w.stats(0, 300).unwrap().failures, 0, "epoch 0 left the window");
    }

    #[test]
    fn another_generation_starts_empty() {
        let w: Window<4> = Window::time(Duration::from_millis(10), rule(500, 1)).unwrap();
        let fail = Sample { failed: true, slow: false };
        w.record(3, fail, 0, &|| 0);
        assert_eq!(w.stats(4, 0).unwrap().calls, 0);
        w.record(4, Sample::default(), 0, &|| 0);
        let s = w.stats(4, 0).unwrap();
        assert_eq!((s.calls, s.failures), (1, 0));
    }

    #[test]
    fn slow_calls_trip_on_their_own_rate() {
        let r = RateConfig::new(1000, 2).slow_calls(Duration::from_millis(5), 500, false).validate().unwrap();
        let w: Window<4> = Window::count(1, r).unwrap();
        assert_eq!(w.record(0, Sample::default(), 0, &|| 0), None);
        assert_eq!(
            w.record(0, Sample { failed: false, slow: true }, 0, &|| 0),
            Some(TripReason::SlowCallRate)
        );
    }

    #[test]
    fn adaptive_threshold_learns_the_baseline() {
        // floor 10 %, 3×, alpha 1/2, learn from buckets of >= 10 calls.
        let r = RateConfig::new(1000, 10).adaptive(100, 300, 1, 10).validate().unwrap();
        let w: Window<2> = Window::count(100, r).unwrap();
        assert_eq!(w.stats(0, 0).unwrap().trip_rate, 0.1);
        // Ten buckets at a steady 20 % failure rate.
        for i in 0..1_000u32 {
            w.record(0, Sample { failed: i % 5 == 0, slow: false }, 0, &|| 0);
        }
        let s = w.stats(0, 0).unwrap();
        let baseline = s.baseline.unwrap();
        assert!((baseline - 0.2).abs() < 0.02, "baseline {baseline}");
        assert!((s.trip_rate - 0.6).abs() < 0.06, "trip rate {}", s.trip_rate);
    }

    #[test]
    fn config_errors_name_the_field() {
        assert_eq!(RateConfig::new(0, 1).validate(), Err(ConfigError::Zero { field: "failure_permille" }));
        assert_eq!(
            RateConfig::new(1001, 1).validate(),
            Err(ConfigError::TooLarge { field: "failure_permille", value: 1001, max: 1000 })
        );
        assert_eq!(RateConfig::new(1, 0).validate(), Err(ConfigError::Zero { field: "min_calls" }));
        let slow = |d, p| RateConfig::new(1, 1).slow_calls(d, p, false).validate();
        assert_eq!(slow(Duration::ZERO, 1), Err(ConfigError::Zero { field: "slow_call_threshold" }));
        assert_eq!(
            slow(Duration::from_micros(1), 1),
            Err(ConfigError::SubMillisecond { field: "slow_call_threshold" })
        );
        assert_eq!(slow(Duration::from_millis(1), 0), Err(ConfigError::Zero { field: "slow_call_permille" }));
        let ad = |f, m, a, b| RateConfig::new(1, 1).adaptive(f, m, a, b).validate();
        assert_eq!(ad(0, 100, 1, 1), Err(ConfigError::Zero { field: "adaptive_floor_permille" }));
        assert_eq!(
            ad(1, 99, 1, 1),
            Err(ConfigError::TooSmall { field: "adaptive_multiplier_percent", value: 99, min: 100 })
        );
        assert_eq!(ad(1, 100, 0, 1), Err(ConfigError::Zero { field: "adaptive_alpha_shift" }));
        assert_eq!(
            ad(1, 100, 17, 1),
            Err(ConfigError::TooLarge { field: "adaptive_alpha_shift", value: 17, max: 16 })
        );
        assert_eq!(ad(1, 100, 1, 0), Err(ConfigError::Zero { field: "adaptive_min_bucket_calls" }));
        let r = rule(1, 1);
        assert_eq!(
            Window::<2>::time(Duration::ZERO, r).err(),
            Some(ConfigError::Zero { field: "bucket_width" })
        );
        assert_eq!(
            Window::<2>::count(BUCKET_CAPACITY + 1, r).err(),
            Some(ConfigError::TooLarge {
                field: "calls_per_bucket",
                value: BUCKET_CAPACITY as u64 + 1,
                max: BUCKET_CAPACITY as u64
            })
        );
    }

    #[test]
    fn a_late_call_is_not_taken_for_a_jump() {
        // A count window, and a call whose number was taken long ago (a thread descheduled
        // between `fetch_add` and recording while others recorded a jump's worth of calls).
        let w: Window<4> = Window::count(1, rule(1000, 1_000_000)).unwrap();
        for _ in 0..JUMP_EPOCHS + 10 {
            w.record(0, Sample::default(), 0, &|| 0);
        }
        let latest = w.latest.load(Ordering::Acquire);
        let before = w.stats(0, 0).unwrap().calls;
        assert_eq!(before, 4);
        let now = || (w.seq.load(Ordering::Relaxed) as u64).saturating_sub(1);
        assert!(w.advance(3, latest, &now) >= JUMP_EPOCHS, "dropped as late");
        assert_eq!(w.latest.load(Ordering::Acquire), latest, "the newest epoch stays");
        assert_eq!(w.stats(0, 0).unwrap().calls, before, "the window stays");
    }

    #[test]
    fn a_time_window_jumps_only_on_a_fresh_reading() {
        let w: Window<4> = Window::time(Duration::from_millis(1), rule(1000, 1_000_000)).unwrap();
        let t = 3 * JUMP_EPOCHS;
        for i in 0..3 {
            w.record(0, Sample::default(), t + i, &|| t + i);
        }
        // An old reading, but the clock has not gone back: a late call, dropped.
        assert_eq!(w.record(0, Sample::default(), 5, &|| t + 3), None);
        assert_eq!(w.stats(0, t + 3).unwrap().calls, 3);
        // The clock itself went back by more than the bound: a jump, the window restarts.
        w.record(0, Sample::default(), 5, &|| 5);
        assert_eq!(w.stats(0, 5).unwrap().calls, 1);
    }

    #[test]
    fn a_quiet_period_never_blinds_a_time_window() {
        let w: Window<4> = Window::time(Duration::from_millis(10), rule(500, 1)).unwrap();
        let fail = Sample { failed: true, slow: false };
        for t in [0, 10, 20, 30] {
            w.record(0, Sample::default(), t, &|| t);
        }
        // Silence for a whole epoch-tag range and a bit: the old tags would alias the new ones.
        let mut t = 30;
        for gap in [EPOCH_MASK + 1, EPOCH_MASK + 2, 3 * (EPOCH_MASK + 1) + 1] {
            t += gap * 10;
            w.record(0, fail, t, &|| t);
            let s = w.stats(0, t).unwrap();
            assert_eq!((s.calls, s.failures), (1, 1), "after a gap of {gap} epochs");
            for _ in 0..3 {
                t += 10;
                w.record(0, Sample::default(), t, &|| t);
            }
        }
    }

    #[test]
    fn every_new_cycle_starts_empty_however_many_cycles_pass() {
        let w: Window<4> = Window::count(1, rule(500, 1)).unwrap();
        let fail = Sample { failed: true, slow: false };
        // Cycles advance by three generations (closed, open, half-open); the bucket keeps only a
        // few generation bits, so tags wrap many times here.
        for cycle in 0..40u32 {
            let gen = (cycle * 3) % crate::GENERATIONS;
            assert_eq!(w.record(gen, fail, 0, &|| 0), Some(TripReason::FailureRate), "cycle {cycle}");
            let s = w.stats(gen, 0).unwrap();
            assert_eq!((s.calls, s.failures), (1, 1), "cycle {cycle}");
        }
    }
}
