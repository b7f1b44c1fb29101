//! Trip policies: what makes a CLOSED breaker open.
//!
//! A breaker is generic over its policy, `Breaker<C, O, P = Consecutive>`:
//!
//! - [`Consecutive`] (the default, a zero-sized type) is the classic circuit-breaker rule:
//!   `failure_threshold` failures in a row. Its count lives in the breaker's word, so it costs
//!   nothing beyond the core's hot path.
//! - [`Window`](crate::Window) is a failure-rate window (count- or time-based), optionally with
//!   slow-call tracking and an adaptive threshold. It keeps its own fixed-size buckets and tells
//!   the breaker when to trip; the trip then goes through the same CAS loop as every other
//!   transition, so it is reported exactly once and stale outcomes are ignored the same way.
//!
//! Recovery policies that live in the state machine itself (backoff, jitter, stuck-probe
//! timeout, gradual recovery) are settings of [`Config`](crate::Config), not policies.

/// One finished CLOSED-state call, as a policy sees it. The breaker makes them; a policy's own
/// tests make them with [`Sample::new`] (the struct may gain fields, so it has no literal
/// outside this crate).
///
/// # Examples
///
/// ```
/// use breaker_core::Sample;
///
/// let slow_failure = Sample::new(true, true);
/// assert!(slow_failure.failed && slow_failure.slow);
/// assert_eq!(Sample::new(false, false), Sample::default());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Sample {
    /// The call failed (after slow-call promotion, if configured).
    pub failed: bool,
    /// The call took at least the slow-call threshold.
    pub slow: bool,
}

impl Sample {
    /// A call that `failed` or not, and was `slow` (took at least the slow-call threshold) or
    /// not.
    #[must_use]
    pub const fn new(failed: bool, slow: bool) -> Self {
        Sample { failed, slow }
    }
}

/// Why a policy wants the breaker to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TripReason {
    /// The failure rate reached its threshold.
    FailureRate,
    /// The slow-call rate reached its threshold.
    SlowCallRate,
}

/// Figures of a rate window, for snapshots and health endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct WindowStats {
    /// Calls in the window.
    pub calls: u32,
    /// Failed calls in the window.
    pub failures: u32,
    /// Slow calls in the window.
    pub slow: u32,
    /// `failures / calls` (0 when there are no calls).
    pub failure_rate: f32,
    /// `slow / calls` (0 when there are no calls).
    pub slow_rate: f32,
    /// The failure rate that trips the breaker now (fixed, or adaptive).
    pub trip_rate: f32,
    /// The learned normal failure rate, when the threshold is adaptive.
    pub baseline: Option<f32>,
}

/// A rule that decides when a CLOSED breaker opens.
///
/// The breaker calls [`record`](Policy::record) for every outcome of a call admitted in CLOSED
/// (never for half-open probes), after checking that the permit belongs to the current cycle.
/// Implementations must be lock-free to keep the breaker's guarantee, must ignore samples from
/// a generation older than the newest they have seen (a late permit from an earlier cycle), and
/// treat a newer generation as a fresh, empty window.
///
/// # Examples
///
/// Choosing a policy:
///
/// ```
/// # #[cfg(feature = "policies")] {
/// use breaker_core::{Breaker, Config, ManualClock, RateConfig, Window};
///
/// // Trip at 50 % failures over the last 100 calls (10 buckets of 10), once 20 calls are in.
/// let rule = RateConfig::new(500, 20).validate().unwrap();
/// let window: Window<10> = Window::count(10, rule).unwrap();
/// let breaker = Breaker::with_policy("api", Config::new().validate().unwrap(), ManualClock::new(), (), window);
/// assert!(breaker.call(|| Ok::<_, ()>(1)).is_ok());
/// # }
/// ```
pub trait Policy {
    /// `true` when the trip rule is the word's consecutive-failure counter ([`Consecutive`]).
    const CONSECUTIVE: bool;

    /// `true` when [`record`](Policy::record) needs the current time.
    fn needs_now(&self) -> bool {
        false
    }

    /// The slow-call threshold in ms, when slow calls are tracked (permits then note their
    /// start time).
    fn slow_call_ms(&self) -> Option<u64> {
        None
    }

    /// Whether a slow call also counts as a failure.
    fn slow_counts_as_failure(&self) -> bool {
        false
    }

    /// Records an outcome of a call admitted in CLOSED generation `gen`, at `now_ms` (0 when
    /// neither [`needs_now`](Policy::needs_now) nor slow-call tracking asked for the time).
    /// `clock_ms` reads the breaker's clock again, for a policy that must confirm a decision on
    /// a reading newer than its own state (a window taking a jump). Returns why the breaker
    /// should open, if it should.
    fn record(&self, gen: u32, sample: Sample, now_ms: u64, clock_ms: &dyn Fn() -> u64)
        -> Option<TripReason>;

    /// The window's figures for CLOSED generation `gen`, if this policy keeps a window.
    fn stats(&self, gen: u32, now_ms: u64) -> Option<WindowStats>;
}

/// The classic circuit-breaker rule: open after `failure_threshold` consecutive failures.
/// Zero-sized; the count lives in the breaker's word.
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Config, Consecutive, ManualClock, State};
///
/// let config = Config::new().failure_threshold(2).validate().unwrap();
/// let breaker: Breaker<ManualClock, (), Consecutive> = Breaker::new("db", config, ManualClock::new());
/// let _ = breaker.call(|| Err::<(), _>("down"));
/// let _ = breaker.call(|| Err::<(), _>("down"));
/// assert_eq!(breaker.state(), State::Open);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Consecutive;

impl Policy for Consecutive {
    const CONSECUTIVE: bool = true;

    #[inline(always)]
    fn record(
        &self,
        _gen: u32,
        _sample: Sample,
        _now_ms: u64,
        _clock_ms: &dyn Fn() -> u64,
    ) -> Option<TripReason> {
        None
    }

    #[inline(always)]
    fn stats(&self, _gen: u32, _now_ms: u64) -> Option<WindowStats> {
        None
    }
}
