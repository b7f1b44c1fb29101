//! Configuration and its validation.
//!
//! [`Config`] is a `const` builder; [`Config::validate`] checks every field against what the
//! word can represent on this target and returns [`ValidConfig`], which is what a breaker is built
//! from. Both steps are `const fn`, so a breaker can be a `static` in firmware.
//!
//! Besides the threshold and the recovery timeout, three recovery policies are configured here
//! because they live in the state machine itself (no extra memory, no extra generic parameter):
//!
//! - **open-duration backoff** ([`Config::backoff`], [`Config::jitter`]): each failed recovery
//!   doubles the open time, up to a cap; it resets when the breaker closes;
//! - **stuck half-open protection** ([`Config::probe_timeout`]): a probe that never reports
//!   counts as a failed probe after this long;
//! - **gradual recovery** ([`Config::gradual_recovery`]): after closing, a rising share of calls
//!   is admitted over a ramp period.
//!
//! The trip rule itself (consecutive failures, or a failure-rate window) is the breaker's
//! [`Policy`](crate::Policy) type parameter.

use core::time::Duration;

use crate::layout::{
    self, max_open_ms, Ms, MAX_BACKOFF_LEVEL, MAX_FAILURE_THRESHOLD, MAX_HALF_OPEN_PROBES,
    MAX_OPEN_TIME_RESOLUTION_MS, MAX_PHASE_TIMER_MS,
};
use crate::ConfigError;

/// Breaker settings, as given by the user. Defaults are those of a typical database breaker:
/// 5 consecutive failures, 60 s recovery timeout, 1 half-open probe, 1 success to close, and no
/// backoff, jitter, probe timeout or ramp.
///
/// # Examples
///
/// ```
/// use breaker_core::Config;
/// use core::time::Duration;
///
/// let kafka = Config::new()
///     .failure_threshold(3)
///     .recovery_timeout(Duration::from_secs(30))
///     .validate()
///     .expect("valid config");
/// assert_eq!(kafka.failure_threshold(), 3);
/// assert_eq!(kafka.recovery_timeout(), Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a `Config` setter returns the changed config; it does not change this one"]
pub struct Config {
    failure_threshold: u32,
    recovery_timeout: Duration,
    half_open_probes: u32,
    successes_to_close: u32,
    backoff_max: Option<Duration>,
    jitter: Option<(Duration, u32)>,
    probe_timeout: Option<Duration>,
    ramp: Option<(Duration, u32)>,
    open_time_resolution: Duration,
    abandoned_after: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// Converts a duration to whole milliseconds no larger than `max`, or says why it cannot be one.
/// The size is checked first: a duration that is far too long (`Duration::MAX`, say) is too
/// long, whatever its sub-millisecond part.
const fn whole_ms(d: Duration, field: &'static str, max: u64) -> Result<u64, ConfigError> {
    let ms = d.as_millis();
    if ms > max as u128 {
        let value = if ms > u64::MAX as u128 { u64::MAX } else { ms as u64 };
        return Err(ConfigError::TooLarge { field, value, max });
    }
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(ConfigError::SubMillisecond { field });
    }
    Ok(ms as u64)
}

/// Largest jitter on any layout: below 2^32 ms (49.7 days), so scaling it needs no division.
const MAX_JITTER_MS: u64 = u32::MAX as u64 - 1;

/// `?` for `const fn`.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Err(e),
        }
    };
}

impl Config {
    /// The defaults: 5 failures, 60 s, 1 probe, 1 success, no backoff, jitter, probe timeout or ramp.
    pub const fn new() -> Self {
        Config {
            failure_threshold: 5,
            recovery_timeout: Duration::from_secs(60),
            half_open_probes: 1,
            successes_to_close: 1,
            backoff_max: None,
            jitter: None,
            probe_timeout: None,
            ramp: None,
            open_time_resolution: Duration::from_millis(1),
            abandoned_after: None,
        }
    }

    /// Consecutive failures in CLOSED that open the circuit (1..=65 535). Ignored by rate
    /// policies, which have their own thresholds.
    pub const fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n;
        self
    }

    /// How long OPEN rejects before admitting a probe: whole milliseconds, non-zero, at most
    /// [`MAX_OPEN_MS`](crate::limits::MAX_OPEN_MS) (per word layout: the [`limits`](crate::limits)
    /// table; on the 32-bit layout a coarser
    /// [`open_time_resolution`](Config::open_time_resolution) allows up to 4.7 hours).
    pub const fn recovery_timeout(mut self, d: Duration) -> Self {
        self.recovery_timeout = d;
        self
    }

    /// The coarsest resolution the open period may be measured at: 1, 2, 4, 8 or 16 ms
    /// ([`MAX_OPEN_TIME_RESOLUTION_MS`](crate::limits::MAX_OPEN_TIME_RESOLUTION_MS)); 1 ms by
    /// default. A recovery policy: with the `policies` feature (the smallest firmware build,
    /// without it, keeps the 1 ms stamp and none of this code).
    ///
    /// The 32-bit layout (thumbv7em, thumbv6m, riscv32imc) stores the open timestamp in 20 bits,
    /// so at 1 ms an open cycle lasts at most 2^20 − 1 ms ≈ 17.5 minutes. At a resolution of
    /// `t` ms it stores ticks of `t` ms, and the longest open cycle (recovery timeout, or backoff
    /// cap plus jitter) becomes `(2^20 − 2)·t + 1` ms: 35 minutes at 2 ms, 70 at 4, 2.3 hours at
    /// 8, 4.7 at 16. The trade: the stamps do not know where in its tick each reading fell, so
    /// the probe comes up to `2t − 2` ms after the open period has passed (never before it:
    /// 6 ms at 4 ms). The retry-after a rejection reports stays exact: the wait until the probe
    /// is admitted. Nothing else changes: one word, one CAS, lock-free wherever it was.
    ///
    /// The 64-bit layout's stamp spans 34 years at 1 ms, so it accepts and reports the value
    /// but always measures at 1 ms: one config serves a host build and a firmware build.
    ///
    /// A breaker keeps the resolution it was built with: [`Breaker::reconfigure`] refuses a
    /// config with another one ([`ReconfigureError::OpenTimeResolution`]), since the stored
    /// timestamp is in its ticks.
    ///
    /// [`Breaker::reconfigure`]: crate::Breaker::reconfigure
    /// [`ReconfigureError::OpenTimeResolution`]: crate::ReconfigureError::OpenTimeResolution
    ///
    /// # Examples
    ///
    /// An hour-long recovery on any layout:
    ///
    /// ```
    /// use breaker_core::Config;
    /// use core::time::Duration;
    ///
    /// let hour = Config::new()
    ///     .recovery_timeout(Duration::from_secs(3600))
    ///     .open_time_resolution(Duration::from_millis(4))
    ///     .validate()
    ///     .unwrap();
    /// assert_eq!(hour.open_time_resolution(), Duration::from_millis(4));
    /// ```
    #[cfg(feature = "policies")]
    pub const fn open_time_resolution(mut self, tick: Duration) -> Self {
        self.open_time_resolution = tick;
        self
    }

    /// How many probe calls HALF_OPEN admits per cycle before their outcomes are in (1..=255).
    /// A probe that ends without a verdict (ignored, or its permit dropped) gives its slot back.
    pub const fn half_open_probes(mut self, n: u32) -> Self {
        self.half_open_probes = n;
        self
    }

    /// Successful probes that close the circuit (1..=`half_open_probes`).
    pub const fn successes_to_close(mut self, n: u32) -> Self {
        self.successes_to_close = n;
        self
    }

    /// Exponential open-duration backoff: after the `k`-th failed recovery in a row the breaker
    /// stays open `min(recovery_timeout × 2^k, max)`. Resets when the breaker closes.
    /// `max` must be at least the recovery timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock};
    /// use core::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let config = Config::new()
    ///     .failure_threshold(1)
    ///     .recovery_timeout(Duration::from_secs(10))
    ///     .backoff(Duration::from_secs(60));
    /// let breaker = Breaker::try_new("api", config, &clock).unwrap();
    /// let _ = breaker.call(|| Err::<(), _>("down")); // open for 10 s
    /// clock.advance(Duration::from_secs(10));
    /// let _ = breaker.call(|| Err::<(), _>("still down")); // the probe fails: open for 20 s
    /// let open = breaker.try_acquire().unwrap_err();
    /// assert_eq!(open.retry_after(), Some(Duration::from_secs(20)));
    /// ```
    #[cfg(feature = "policies")]
    pub const fn backoff(mut self, max: Duration) -> Self {
        self.backoff_max = Some(max);
        self
    }

    /// Adds up to `max` of jitter to every open duration, so that many instances that opened
    /// together do not all probe at the same moment. The core has no random number generator:
    /// pass a random `seed` from yours (per process or instance). Each open cycle's jitter is
    /// derived from the seed and the cycle's generation, so every thread computes the same
    /// deadline without storing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Config;
    /// use core::time::Duration;
    ///
    /// let seed = 0x5eed_1234; // from your RNG
    /// let c = Config::new().jitter(Duration::from_secs(5), seed).validate().unwrap();
    /// assert_eq!(c.jitter(), Duration::from_secs(5));
    /// ```
    #[cfg(feature = "policies")]
    pub const fn jitter(mut self, max: Duration, seed: u32) -> Self {
        self.jitter = Some((max, seed));
        self
    }

    /// Stuck half-open protection: if every probe slot is taken and no probe has reported for
    /// `timeout` since the breaker half-opened, the next caller reopens the breaker as if a
    /// probe had failed (backoff applies). Outcomes of the stuck probes are then stale.
    ///
    /// Reopening, rather than admitting a fresh probe, is deliberate: a probe that never
    /// answers is indistinguishable from a timeout, which is a failure; and reopening sends one
    /// call per open period into a dependency that may be hanging, where fresh probes would pile
    /// up hung calls at one per `timeout`.
    #[cfg(feature = "policies")]
    pub const fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = Some(timeout);
        self
    }

    /// Abandoned calls count: a permit dropped without a verdict (a dropped future, a client
    /// that gave up, an early return) after it has been out at least `after` counts as a
    /// **failure**; dropped sooner it counts as neither, as every dropped permit does without
    /// this setting. A call abandoned that late is what a hung dependency looks like: without
    /// the rule, callers that give up before the dependency answers leave the breaker CLOSED
    /// with no failure counted however long the dependency hangs.
    ///
    /// Set it to the call's own timeout, or a little below the caller's patience. Under a rate
    /// policy with slow-call tracking the counted failure is a slow one too if it was out past
    /// the slow-call threshold; the slow-call threshold alone does not turn abandoned calls into
    /// samples. Only permits are ever abandoned ([`Breaker::try_acquire`], `call_async`, the
    /// adapters' futures and layers): [`Breaker::call`] runs its closure to the end. The
    /// admission time is read from the clock for every permit while the rule is set (one
    /// reading per call; none without it). Whole milliseconds, 1 ms up to
    /// [`MAX_PHASE_TIMER_MS`](crate::limits::MAX_PHASE_TIMER_MS) (9.3 hours on the 32-bit
    /// layout): anything else is a [`ConfigError`](crate::ConfigError) naming `abandoned_after`.
    ///
    /// [`Breaker::try_acquire`]: crate::Breaker::try_acquire
    /// [`Breaker::call`]: crate::Breaker::call
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock};
    /// use core::time::Duration;
    ///
    /// let config = Config::new().failure_threshold(2).count_abandoned_after(Duration::from_secs(2));
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::try_new("db", config, &clock).unwrap();
    ///
    /// let quick = breaker.try_acquire().unwrap();
    /// clock.advance(Duration::from_millis(500));
    /// drop(quick); // given up after 0.5 s: neither
    /// assert_eq!(breaker.failure_count(), 0);
    ///
    /// let hung = breaker.try_acquire().unwrap();
    /// clock.advance(Duration::from_secs(3));
    /// drop(hung); // given up after 3 s: a failure
    /// assert_eq!(breaker.failure_count(), 1);
    /// ```
    #[cfg(feature = "policies")]
    pub const fn count_abandoned_after(mut self, after: Duration) -> Self {
        self.abandoned_after = Some(after);
        self
    }

    /// Gradual recovery: for `period` after closing, admit a share of calls rising linearly from
    /// `start_percent` to 100 %, rejecting the rest fast with the usual open error. Admission is
    /// deterministic (a counter, no randomness): at share `s`, exactly ⌊n·s⌋ of the first `n`
    /// calls of each ramp are admitted (every ramp starts its own count).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Config;
    /// use core::time::Duration;
    ///
    /// let c = Config::new().gradual_recovery(Duration::from_secs(30), 10).validate().unwrap();
    /// assert_eq!(c.ramp(), Some((Duration::from_secs(30), 10)));
    /// ```
    #[cfg(feature = "policies")]
    pub const fn gradual_recovery(mut self, period: Duration, start_percent: u32) -> Self {
        self.ramp = Some((period, start_percent));
        self
    }

    /// Checks every field; the first offending one is named in the error.
    pub const fn validate(self) -> Result<ValidConfig, ConfigError> {
        if self.failure_threshold == 0 {
            return Err(ConfigError::Zero { field: "failure_threshold" });
        }
        if self.failure_threshold > MAX_FAILURE_THRESHOLD {
            return Err(ConfigError::TooLarge {
                field: "failure_threshold",
                value: self.failure_threshold as u64,
                max: MAX_FAILURE_THRESHOLD as u64,
            });
        }
        if self.open_time_resolution.is_zero() {
            return Err(ConfigError::Zero { field: "open_time_resolution" });
        }
        let tick_ms = tri!(whole_ms(
            self.open_time_resolution,
            "open_time_resolution",
            MAX_OPEN_TIME_RESOLUTION_MS as u64
        ));
        if !tick_ms.is_power_of_two() {
            return Err(ConfigError::Conflict {
                field: "open_time_resolution",
                value: tick_ms,
                limit: MAX_OPEN_TIME_RESOLUTION_MS as u64,
                rule: "a power of two of ms: 1, 2, 4, 8 or 16",
            });
        }
        let tick_shift = tick_ms.trailing_zeros();
        #[cfg(not(feature = "policies"))]
        let _ = tick_shift;
        // The longest open cycle at that tick (`MAX_OPEN_MS` at 1 ms, or on the 64-bit layout).
        let max_open = max_open_ms(tick_shift);
        if self.recovery_timeout.is_zero() {
            return Err(ConfigError::Zero { field: "recovery_timeout" });
        }
        let timeout_ms = tri!(whole_ms(self.recovery_timeout, "recovery_timeout", max_open));
        if self.half_open_probes == 0 {
            return Err(ConfigError::Zero { field: "half_open_probes" });
        }
        if self.half_open_probes > MAX_HALF_OPEN_PROBES {
            return Err(ConfigError::TooLarge {
                field: "half_open_probes",
                value: self.half_open_probes as u64,
                max: MAX_HALF_OPEN_PROBES as u64,
            });
        }
        if self.successes_to_close == 0 {
            return Err(ConfigError::Zero { field: "successes_to_close" });
        }
        if self.successes_to_close > self.half_open_probes {
            return Err(ConfigError::SuccessesExceedProbes {
                successes_to_close: self.successes_to_close,
                half_open_probes: self.half_open_probes,
            });
        }
        let backoff_max_ms = match self.backoff_max {
            None => timeout_ms,
            Some(max) => {
                let ms = tri!(whole_ms(max, "backoff_max", max_open));
                if ms < timeout_ms {
                    return Err(ConfigError::Conflict {
                        field: "backoff_max",
                        value: ms,
                        limit: timeout_ms,
                        rule: "at least `recovery_timeout`",
                    });
                }
                ms
            }
        };
        let (jitter_ms, jitter_seed) = match self.jitter {
            None => (0, 0),
            Some((max, seed)) => {
                // The jitter must stay below 2^32 ms (see `jitter_for`), and the longest open
                // time, the backoff cap plus the jitter, must still fit the stored timestamp's
                // horizon.
                let ms = tri!(whole_ms(max, "jitter", MAX_JITTER_MS));
                let room = max_open - backoff_max_ms;
                if ms > room {
                    return Err(ConfigError::Conflict {
                        field: "jitter",
                        value: ms,
                        limit: room,
                        rule:
                            "at most `MAX_OPEN_MS` − `backoff_max` (or − `recovery_timeout` without backoff)",
                    });
                }
                (ms, seed)
            }
        };
        let probe_timeout_ms = match self.probe_timeout {
            None => 0,
            Some(t) => {
                if t.is_zero() {
                    return Err(ConfigError::Zero { field: "probe_timeout" });
                }
                tri!(whole_ms(t, "probe_timeout", MAX_PHASE_TIMER_MS))
            }
        };
        let abandoned_ms = match self.abandoned_after {
            None => 0,
            Some(t) => {
                if t.is_zero() {
                    return Err(ConfigError::Zero { field: "abandoned_after" });
                }
                tri!(whole_ms(t, "abandoned_after", MAX_PHASE_TIMER_MS))
            }
        };
        #[cfg(not(feature = "policies"))]
        let _ = abandoned_ms;
        let (ramp_ms, ramp_start_percent) = match self.ramp {
            None => (0, 0),
            Some((period, start)) => {
                if period.is_zero() {
                    return Err(ConfigError::Zero { field: "ramp_period" });
                }
                let ms = tri!(whole_ms(period, "ramp_period", MAX_PHASE_TIMER_MS));
                if start > 99 {
                    return Err(ConfigError::TooLarge {
                        field: "ramp_start_percent",
                        value: start as u64,
                        max: 99,
                    });
                }
                (ms, start)
            }
        };
        Ok(ValidConfig {
            failure_threshold: self.failure_threshold,
            recovery_timeout_ms: timeout_ms as Ms,
            half_open_probes: self.half_open_probes,
            successes_to_close: self.successes_to_close,
            backoff_max_ms: backoff_max_ms as Ms,
            jitter_ms: jitter_ms as Ms,
            jitter_seed,
            probe_timeout_ms: probe_timeout_ms as Ms,
            ramp_ms: ramp_ms as Ms,
            ramp_start_percent,
            #[cfg(feature = "policies")]
            tick_shift,
            #[cfg(feature = "policies")]
            abandoned_ms: abandoned_ms as Ms,
        })
    }
}

/// A configuration that passed [`Config::validate`]: every value fits the word.
///
/// # Examples
///
/// ```
/// use breaker_core::{Config, ValidConfig};
///
/// const DATABASE: ValidConfig = match Config::new().validate() {
///     Ok(c) => c,
///     Err(_) => panic!("invalid database breaker config"), // a compile error, not a runtime panic
/// };
/// assert_eq!(DATABASE.failure_threshold(), 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidConfig {
    pub(crate) failure_threshold: u32,
    pub(crate) recovery_timeout_ms: Ms,
    pub(crate) half_open_probes: u32,
    pub(crate) successes_to_close: u32,
    /// Equal to `recovery_timeout_ms` when backoff is off.
    pub(crate) backoff_max_ms: Ms,
    pub(crate) jitter_ms: Ms,
    pub(crate) jitter_seed: u32,
    /// 0 = off.
    pub(crate) probe_timeout_ms: Ms,
    /// 0 = off.
    pub(crate) ramp_ms: Ms,
    pub(crate) ramp_start_percent: u32,
    /// The asked open-time resolution, `log2` of ms (`0..=MAX_TICK_SHIFT`); the word uses
    /// [`layout::effective_shift`] of it. Only with `policies` (read through [`tick`]).
    ///
    /// [`tick`]: ValidConfig::tick
    #[cfg(feature = "policies")]
    pub(crate) tick_shift: u32,
    /// [`Config::count_abandoned_after`] in ms; 0 = off. Only with `policies` (read through
    /// [`abandoned_ms`](ValidConfig::abandoned_ms)).
    #[cfg(feature = "policies")]
    pub(crate) abandoned_ms: Ms,
}

impl ValidConfig {
    /// Consecutive failures that open the circuit.
    pub const fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// How long OPEN rejects before admitting a probe (before backoff and jitter).
    pub const fn recovery_timeout(&self) -> Duration {
        Duration::from_millis(self.recovery_timeout_ms as u64)
    }

    /// Probe calls admitted per half-open cycle.
    pub const fn half_open_probes(&self) -> u32 {
        self.half_open_probes
    }

    /// Successful probes that close the circuit.
    pub const fn successes_to_close(&self) -> u32 {
        self.successes_to_close
    }

    /// The backoff cap (equal to the recovery timeout when backoff is off).
    pub const fn backoff_max(&self) -> Duration {
        Duration::from_millis(self.backoff_max_ms as u64)
    }

    /// The largest jitter added to an open duration (zero when off).
    pub const fn jitter(&self) -> Duration {
        Duration::from_millis(self.jitter_ms as u64)
    }

    /// The stuck-probe timeout, if set.
    pub const fn probe_timeout(&self) -> Option<Duration> {
        if self.probe_timeout_ms == 0 {
            None
        } else {
            Some(Duration::from_millis(self.probe_timeout_ms as u64))
        }
    }

    /// How long a permit must be out for its drop to count as a failure
    /// ([`Config::count_abandoned_after`]), if set.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Config;
    /// use core::time::Duration;
    ///
    /// assert_eq!(Config::new().validate().unwrap().abandoned_after(), None);
    /// ```
    pub const fn abandoned_after(&self) -> Option<Duration> {
        match self.abandoned_ms() {
            0 => None,
            ms => Some(Duration::from_millis(ms as u64)),
        }
    }

    /// [`abandoned_after`](ValidConfig::abandoned_after) in ms, 0 when off (always without the
    /// `policies` feature).
    #[inline(always)]
    pub(crate) const fn abandoned_ms(&self) -> Ms {
        #[cfg(feature = "policies")]
        return self.abandoned_ms;
        #[cfg(not(feature = "policies"))]
        0
    }

    /// The gradual-recovery period and starting percentage, if set.
    pub const fn ramp(&self) -> Option<(Duration, u32)> {
        if self.ramp_ms == 0 {
            None
        } else {
            Some((Duration::from_millis(self.ramp_ms as u64), self.ramp_start_percent))
        }
    }

    /// The open-time resolution asked for ([`Config::open_time_resolution`]); the 64-bit
    /// layout measures at 1 ms whatever it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Config;
    /// use core::time::Duration;
    ///
    /// assert_eq!(Config::new().validate().unwrap().open_time_resolution(), Duration::from_millis(1));
    /// ```
    pub const fn open_time_resolution(&self) -> Duration {
        Duration::from_millis(1 << self.tick())
    }

    /// The shift the word's open timestamp is stored at: 0 on the 64-bit layout.
    #[inline(always)]
    pub(crate) const fn stamp_shift(&self) -> u32 {
        layout::effective_shift(self.tick())
    }

    /// The asked open-time resolution as a shift: 0 without the `policies` feature.
    #[inline(always)]
    pub(crate) const fn tick(&self) -> u32 {
        #[cfg(feature = "policies")]
        return self.tick_shift;
        #[cfg(not(feature = "policies"))]
        0
    }

    /// How long OPEN lasts at backoff `level`, before jitter, in ms:
    /// `min(recovery_timeout × 2^level, backoff_max)`. Shifts only: no multiplication or
    /// division, which keeps microcontroller code small.
    #[inline]
    pub(crate) const fn backoff_ms(&self, level: u32) -> Ms {
        if !cfg!(feature = "policies") {
            return self.recovery_timeout_ms;
        }
        let base = self.recovery_timeout_ms;
        // Level 0, the only level without backoff: `backoff_max_ms >= base` (validated), so the
        // general rule below gives `base`; answered up front for the rejection fast path.
        if level == 0 {
            return base;
        }
        // `base >= 1`, so shifting by less than its leading zeros cannot overflow.
        let scaled = if level >= base.leading_zeros() { Ms::MAX } else { base << level };
        if scaled < self.backoff_max_ms {
            scaled
        } else {
            self.backoff_max_ms
        }
    }

    /// How long OPEN lasts at backoff `level` in the cycle of generation `gen`, in ms.
    #[inline]
    pub(crate) const fn open_ms(&self, level: u32, gen: u32) -> Ms {
        self.backoff_ms(level) + self.jitter_for(gen)
    }

    /// The jitter of the open cycle with generation `gen`, in `0..=jitter`: the seed and the
    /// generation mixed by a 32-bit avalanche finaliser (MurmurHash3's), scaled by a multiply
    /// and a shift (no division). `jitter` is below 2^32 ms, so the product fits a `u64`.
    #[inline]
    pub(crate) const fn jitter_for(&self, gen: u32) -> Ms {
        if !cfg!(feature = "policies") || self.jitter_ms == 0 {
            return 0;
        }
        let mut z = self.jitter_seed ^ gen.wrapping_mul(0x9E37_79B9);
        z ^= z >> 16;
        z = z.wrapping_mul(0x85EB_CA6B);
        z ^= z >> 13;
        z = z.wrapping_mul(0xC2B2_AE35);
        z ^= z >> 16;
        ((z as u64 * (self.jitter_ms as u64 + 1)) >> 32) as Ms
    }

    /// The backoff level after one more failed recovery.
    pub(crate) const fn next_level(&self, level: u32) -> u32 {
        if !cfg!(feature = "policies") {
            return level;
        }
        // Stop climbing once the cap is reached: higher levels would not change anything.
        if level >= MAX_BACKOFF_LEVEL || self.backoff_ms(level) >= self.backoff_max_ms {
            level
        } else {
            level + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "policies")]
    use crate::layout::MAX_OPEN_MS;
    use crate::layout::MAX_RECOVERY_TIMEOUT_MS;

    #[test]
    fn defaults_are_the_seed_database_breaker() {
        let c = Config::new().validate().unwrap();
        assert_eq!(c.failure_threshold(), 5);
        assert_eq!(c.recovery_timeout(), Duration::from_secs(60));
        assert_eq!((c.half_open_probes(), c.successes_to_close()), (1, 1));
        assert_eq!(Config::default(), Config::new());
    }

    #[test]
    fn every_field_is_checked_and_named() {
        let cases = [
            (Config::new().failure_threshold(0), ConfigError::Zero { field: "failure_threshold" }),
            (
                Config::new().failure_threshold(MAX_FAILURE_THRESHOLD + 1),
                ConfigError::TooLarge {
                    field: "failure_threshold",
                    value: MAX_FAILURE_THRESHOLD as u64 + 1,
                    max: MAX_FAILURE_THRESHOLD as u64,
                },
            ),
            (Config::new().recovery_timeout(Duration::ZERO), ConfigError::Zero { field: "recovery_timeout" }),
            (
                Config::new().recovery_timeout(Duration::from_micros(1_500)),
                ConfigError::SubMillisecond { field: "recovery_timeout" },
            ),
            (
                Config::new().recovery_timeout(Duration::from_millis(MAX_RECOVERY_TIMEOUT_MS + 1)),
                ConfigError::TooLarge {
                    field: "recovery_timeout",
                    value: MAX_RECOVERY_TIMEOUT_MS + 1,
                    max: MAX_RECOVERY_TIMEOUT_MS,
                },
            ),
            (
                Config::new().recovery_timeout(Duration::MAX),
                ConfigError::TooLarge {
                    field: "recovery_timeout",
                    value: u64::MAX,
                    max: MAX_RECOVERY_TIMEOUT_MS,
                },
            ),
            (
                // Too long and sub-millisecond: too long is what matters.
                Config::new()
                    .recovery_timeout(Duration::from_micros((MAX_RECOVERY_TIMEOUT_MS + 1) * 1_000 + 500)),
                ConfigError::TooLarge {
                    field: "recovery_timeout",
                    value: MAX_RECOVERY_TIMEOUT_MS + 1,
                    max: MAX_RECOVERY_TIMEOUT_MS,
                },
            ),
            (
                Config::new().recovery_timeout(Duration::from_secs(u64::MAX)),
                ConfigError::TooLarge {
                    field: "recovery_timeout",
                    value: u64::MAX,
                    max: MAX_RECOVERY_TIMEOUT_MS,
                },
            ),
            (Config::new().half_open_probes(0), ConfigError::Zero { field: "half_open_probes" }),
            (
                Config::new().half_open_probes(256).successes_to_close(1),
                ConfigError::TooLarge { field: "half_open_probes", value: 256, max: 255 },
            ),
            (Config::new().successes_to_close(0), ConfigError::Zero { field: "successes_to_close" }),
            (
                Config::new().half_open_probes(2).successes_to_close(3),
                ConfigError::SuccessesExceedProbes { successes_to_close: 3, half_open_probes: 2 },
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.validate(), Err(expected), "{config:?}");
        }
    }

    #[test]
    fn limits_themselves_are_accepted() {
        let c = Config::new()
            .failure_threshold(MAX_FAILURE_THRESHOLD)
            .recovery_timeout(Duration::from_millis(MAX_RECOVERY_TIMEOUT_MS))
            .half_open_probes(MAX_HALF_OPEN_PROBES)
            .successes_to_close(MAX_HALF_OPEN_PROBES)
            .validate()
            .unwrap();
        assert_eq!(c.recovery_timeout(), Duration::from_millis(MAX_RECOVERY_TIMEOUT_MS));
        let one_ms = Config::new().recovery_timeout(Duration::from_millis(1)).validate().unwrap();
        assert_eq!(one_ms.recovery_timeout(), Duration::from_millis(1));
    }

    #[test]
    #[cfg(feature = "policies")]
    fn recovery_policy_fields_are_checked_and_named() {
        let ms = Duration::from_millis;
        let t = Config::new().recovery_timeout(ms(1_000));
        let jitter_room = |value, limit| ConfigError::Conflict {
            field: "jitter",
            value,
            limit,
            rule: "at most `MAX_OPEN_MS` − `backoff_max` (or − `recovery_timeout` without backoff)",
        };
        let too_long = |field, max| ConfigError::TooLarge { field, value: u64::MAX, max };
        let sub_ms = Duration::from_micros(2_500);
        let cases = [
            // `Duration::MAX` is too long for every duration, not "sub-millisecond".
            (t.backoff(Duration::MAX), too_long("backoff_max", MAX_OPEN_MS)),
            (t.jitter(Duration::MAX, 1), too_long("jitter", MAX_JITTER_MS)),
            (t.probe_timeout(Duration::MAX), too_long("probe_timeout", MAX_PHASE_TIMER_MS)),
            (t.gradual_recovery(Duration::MAX, 10), too_long("ramp_period", MAX_PHASE_TIMER_MS)),
            (t.jitter(sub_ms, 1), ConfigError::SubMillisecond { field: "jitter" }),
            (t.probe_timeout(sub_ms), ConfigError::SubMillisecond { field: "probe_timeout" }),
            (t.gradual_recovery(sub_ms, 10), ConfigError::SubMillisecond { field: "ramp_period" }),
            (
                t.backoff(ms(999)),
                ConfigError::Conflict {
                    field: "backoff_max",
                    value: 999,
                    limit: 1_000,
                    rule: "at least `recovery_timeout`",
                },
            ),
            (
                t.backoff(Duration::from_micros(1_000_500)),
                ConfigError::SubMillisecond { field: "backoff_max" },
            ),
            (
                t.backoff(ms(MAX_OPEN_MS + 1)),
                ConfigError::TooLarge { field: "backoff_max", value: MAX_OPEN_MS + 1, max: MAX_OPEN_MS },
            ),
            (t.backoff(ms(MAX_OPEN_MS - 10)).jitter(ms(11), 1), jitter_room(11, 10)),
            // Without backoff the room is what the recovery timeout leaves.
            (Config::new().recovery_timeout(ms(MAX_OPEN_MS - 5)).jitter(ms(6), 1), jitter_room(6, 5)),
            (
                t.jitter(ms(MAX_JITTER_MS + 1), 1),
                ConfigError::TooLarge { field: "jitter", value: MAX_JITTER_MS + 1, max: MAX_JITTER_MS },
            ),
            (t.probe_timeout(Duration::ZERO), ConfigError::Zero { field: "probe_timeout" }),
            (
                t.probe_timeout(ms(MAX_PHASE_TIMER_MS + 1)),
                ConfigError::TooLarge {
                    field: "probe_timeout",
                    value: MAX_PHASE_TIMER_MS + 1,
                    max: MAX_PHASE_TIMER_MS,
                },
            ),
            (t.gradual_recovery(Duration::ZERO, 10), ConfigError::Zero { field: "ramp_period" }),
            (
                t.gradual_recovery(ms(MAX_PHASE_TIMER_MS + 1), 10),
                ConfigError::TooLarge {
                    field: "ramp_period",
                    value: MAX_PHASE_TIMER_MS + 1,
                    max: MAX_PHASE_TIMER_MS,
                },
            ),
            (
                t.gradual_recovery(ms(100), 100),
                ConfigError::TooLarge { field: "ramp_start_percent", value: 100, max: 99 },
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.validate(), Err(expected), "{config:?}");
        }
        let ok =
            t.backoff(ms(8_000)).jitter(ms(500), 9).probe_timeout(ms(30_000)).gradual_recovery(ms(60_000), 0);
        let v = ok.validate().unwrap();
        assert_eq!((v.backoff_max(), v.jitter(), v.probe_timeout()), (ms(8_000), ms(500), Some(ms(30_000))));
        assert_eq!(v.ramp(), Some((ms(60_000), 0)));
        assert_eq!(
            (v.backoff_ms(0), v.backoff_ms(1), v.backoff_ms(3), v.backoff_ms(4)),
            (1_000, 2_000, 8_000, 8_000)
        );
        assert_eq!(v.next_level(3), 3, "the level stops where the cap is reached");
    }
}
