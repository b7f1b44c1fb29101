//! The rule of a rate window: its thresholds as the user gives them ([`RateConfig`]), their
//! validation ([`RateRule`]), and the pure decisions the window takes on its sums.
//!
//! - [`decide`]: from the window's totals, trip (and why), or not, and whether the window holds
//!   `min_calls` calls (it is *filled*).
//! - [`needs_evaluation`]: whether a recorded outcome can change that decision. Resilience4j
//!   evaluates the rates after every recorded outcome, successes included, once `min_calls` is
//!   reached; summing the buckets on every success would cost the success path its speed. A
//!   success lowers both rates unless older calls left the window in a way that can raise one
//!   (a failure or a slow call slid out, or more calls left than the success added), or the
//!   window had not yet reached `min_calls` at its last evaluation; only then is it evaluated.
//!   Failures and slow calls are always evaluated. Sequentially this is exactly "evaluate after
//!   every outcome".
//! - [`learn`]: one step of the adaptive threshold's moving average.

use core::time::Duration;

use super::buckets::Counts;
use crate::policy::{Sample, TripReason};
use crate::ConfigError;

/// Slow-call tracking settings, part of a [`RateConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct SlowCalls {
    pub(crate) threshold_ms: u64,
    pub(crate) trip_permille: u32,
    pub(crate) as_failure: bool,
}

/// Adaptive-threshold settings, part of a [`RateConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Adaptive {
    pub(crate) floor_permille: u32,
    pub(crate) multiplier_percent: u32,
    pub(crate) alpha_shift: u32,
    pub(crate) min_bucket_calls: u32,
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
    pub(crate) failure_permille: u32,
    pub(crate) min_calls: u32,
    pub(crate) slow: Option<SlowCalls>,
    pub(crate) adaptive: Option<Adaptive>,
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
    pub(crate) const fn trip_permille(&self, baseline: u32) -> u32 {
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

/// The decision on a window's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Open the breaker.
    Trip(TripReason),
    /// At least `min_calls` calls, every rate below its threshold.
    Filled,
    /// Fewer than `min_calls` calls: no rate counts yet.
    Warming,
}

/// The trip decision: with at least `min_calls` calls, trip when the failure rate reaches its
/// threshold (fixed, or adaptive from `baseline`), else when the slow-call rate reaches its own.
/// A rate of zero never trips (a threshold of 0 ‰ is refused by validation anyway).
#[inline]
pub(crate) const fn decide(total: Counts, rule: &RateRule, baseline: u32) -> Decision {
    if total.calls < rule.min_calls {
        return Decision::Warming;
    }
    let calls = total.calls as u64;
    let trip = rule.trip_permille(baseline) as u64;
    if total.failures > 0 && total.failures as u64 * 1000 >= trip * calls {
        return Decision::Trip(TripReason::FailureRate);
    }
    if let Some(s) = rule.slow {
        if total.slow > 0 && total.slow as u64 * 1000 >= s.trip_permille as u64 * calls {
            return Decision::Trip(TripReason::SlowCallRate);
        }
    }
    Decision::Filled
}

/// What recording a call did to the window's older contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Moved {
    /// Nothing left the window (the call went to the current bucket, or recycled a bucket of
    /// another cycle).
    No,
    /// The window moved and what left it is not known here (a time window's new epoch, whose
    /// move may empty several slots; or a learned baseline that moved the threshold).
    Blind,
    /// Exactly these calls left the window (a count window recycling its oldest bucket).
    Left(Counts),
}

/// Whether recording `sample` can change the decision, given the window was last found
/// `filled` (at least `min_calls` calls, both rates below their thresholds): always for a
/// failure, a slow call, or a window not known to be filled; for a success, only if older calls
/// left the window in a way that can raise a rate. A success adds a call and no failure, so if
/// at most one call left and it was neither failed nor slow, both rates can only have gone down
/// (see the exhaustive test below); a count window of `calls_per_bucket = 1` is then evaluated
/// only when a failure or a slow call slides out.
#[inline]
pub(crate) const fn needs_evaluation(sample: Sample, moved: Moved, filled: bool) -> bool {
    if sample.failed || sample.slow || !filled {
        return true;
    }
    match moved {
        Moved::No => false,
        Moved::Blind => true,
        Moved::Left(c) => c.failures > 0 || c.slow > 0 || c.calls > 1,
    }
}

/// The adaptive baseline after learning from one finished bucket (`None`: unchanged, because
/// the threshold is fixed or the bucket has fewer than `min_bucket_calls` calls). The baseline
/// is a rate in 1/65 536 units: `baseline + (bucket_rate − baseline) / 2^alpha_shift`.
#[inline]
pub(crate) const fn learn(rule: &RateRule, baseline: u32, finished: Counts) -> Option<u32> {
    let Some(a) = rule.adaptive else { return None };
    if finished.calls < a.min_bucket_calls || finished.calls == 0 {
        return None;
    }
    let rate = ((finished.failures as i64) << 16) / finished.calls as i64;
    let b = baseline as i64;
    let next = b + ((rate - b) >> a.alpha_shift);
    Some(if next < 0 {
        0
    } else if next > 1 << 16 {
        1 << 16
    } else {
        next as u32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(calls: u32, failures: u32, slow: u32) -> Counts {
        Counts { calls, failures, slow }
    }

    fn rule(permille: u32, min: u32) -> RateRule {
        RateConfig::new(permille, min).validate().unwrap()
    }

    #[test]
    fn no_rate_counts_before_min_calls() {
        let r = rule(500, 10);
        assert_eq!(decide(counts(9, 9, 0), &r, 0), Decision::Warming);
        assert_eq!(decide(counts(10, 5, 0), &r, 0), Decision::Trip(TripReason::FailureRate));
        assert_eq!(decide(counts(10, 4, 0), &r, 0), Decision::Filled);
    }

    #[test]
    fn the_threshold_is_inclusive_and_exact() {
        // Every (calls, failures) up to 200 calls against every threshold in steps of 7 ‰.
        // Lighter under Miri, which runs this a thousand times slower.
        let (step, max_calls) = if cfg!(miri) { (97, 30) } else { (7, 200) };
        for permille in (1..=1000).step_by(step) {
            let r = rule(permille, 1);
            for calls in 1..=max_calls {
                for failures in 0..=calls {
                    let trips = failures > 0 && failures as u64 * 1000 >= permille as u64 * calls as u64;
                    let d = decide(counts(calls, failures, 0), &r, 0);
                    assert_eq!(
                        d == Decision::Trip(TripReason::FailureRate),
                        trips,
                        "{failures}/{calls} at {permille}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_failure_rate_is_checked_before_the_slow_rate() {
        let r = RateConfig::new(500, 2).slow_calls(Duration::from_millis(1), 500, false).validate().unwrap();
        assert_eq!(decide(counts(2, 1, 1), &r, 0), Decision::Trip(TripReason::FailureRate));
        assert_eq!(decide(counts(2, 0, 1), &r, 0), Decision::Trip(TripReason::SlowCallRate));
        assert_eq!(decide(counts(3, 0, 1), &r, 0), Decision::Filled);
        assert_eq!(decide(counts(3, 1, 1), &rule(500, 2), 0), Decision::Filled, "no slow rule: slow ignored");
    }

    #[test]
    fn only_outcomes_that_can_change_the_decision_are_evaluated() {
        let ok = Sample { failed: false, slow: false };
        let left = |calls, failures, slow| Moved::Left(counts(calls, failures, slow));
        for (sample, moved, filled, want) in [
            (ok, Moved::No, true, false),
            (ok, Moved::Blind, true, true),
            (ok, left(1, 0, 0), true, false),
            (ok, left(1, 1, 0), true, true),
            (ok, left(1, 0, 1), true, true),
            (ok, left(2, 0, 0), true, true),
            (ok, Moved::No, false, true),
            (Sample { failed: true, slow: false }, Moved::No, true, true),
            (Sample { failed: false, slow: true }, Moved::No, true, true),
        ] {
            assert_eq!(needs_evaluation(sample, moved, filled), want, "{sample:?} {moved:?} {filled}");
        }
    }

    #[test]
    fn a_success_that_skips_evaluation_never_hides_a_trip() {
        // The claim behind `needs_evaluation`, exhaustively on small windows: from every Filled
        // (calls, failures, slow), adding a success and removing what left (when the function
        // says no evaluation is needed) stays Filled.
        let r = RateConfig::new(300, 5).slow_calls(Duration::from_millis(1), 400, false).validate().unwrap();
        let ok = Sample { failed: false, slow: false };
        for calls in 5..=if cfg!(miri) { 8 } else { 40u32 } {
            for failures in 0..=calls {
                for slow in 0..=calls {
                    if decide(counts(calls, failures, slow), &r, 0) != Decision::Filled {
                        continue;
                    }
                    for lc in 0..=2u32.min(calls) {
                        for lf in 0..=lc.min(failures) {
                            for ls in 0..=lc.min(slow) {
                                let moved = if lc == 0 { Moved::No } else { Moved::Left(counts(lc, lf, ls)) };
                                if needs_evaluation(ok, moved, true) {
                                    continue;
                                }
                                let after = counts(calls - lc + 1, failures - lf, slow - ls);
                                assert_eq!(
                                    decide(after, &r, 0),
                                    Decision::Filled,
                                    "{calls} {failures} {slow} - {moved:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn learning_moves_the_baseline_by_a_share_of_the_difference() {
        let r = RateConfig::new(1000, 10).adaptive(100, 300, 1, 10).validate().unwrap();
        assert_eq!(learn(&r, 0, counts(9, 9, 0)), None, "below min_bucket_calls");
        assert_eq!(learn(&r, 0, counts(10, 5, 0)), Some(1 << 14), "half of the way to 50 %");
        assert_eq!(learn(&r, 1 << 16, counts(10, 0, 0)), Some(1 << 15));
        assert_eq!(learn(&rule(500, 1), 0, counts(10, 5, 0)), None, "a fixed threshold learns nothing");
    }
}
