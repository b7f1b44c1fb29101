//! The observability seam: an [`Observer`] sees every transition exactly once, reported by the
//! thread whose compare-and-swap made it, and every call outcome and rejection.
//!
//! The breaker is generic over its observer and the default is `()`, whose methods are empty and
//! inlined away: a breaker without an observer pays nothing for the seam. Observers are called
//! after the word has been updated, never while anything is held; they cannot change the outcome.

use core::time::Duration;

use crate::{CircuitOpen, State, Timestamp};

/// What the caller says about a finished call.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The call succeeded.
    Success,
    /// The call failed in a way that counts against the dependency.
    Failure,
    /// Counts as neither (a client error, a cancelled request); gives a half-open slot back.
    Ignore,
}

/// Why a transition happened.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Trigger {
    /// CLOSED reached its consecutive-failure threshold.
    FailureThreshold,
    /// A rate window's failure rate reached its threshold.
    FailureRate,
    /// A rate window's slow-call rate reached its threshold.
    SlowCallRate,
    /// OPEN's recovery timeout passed and a call arrived: it becomes the first probe.
    RecoveryTimeout,
    /// Enough half-open probes succeeded.
    ProbeSucceeded,
    /// A half-open probe failed; with a slow-call policy, also a probe that took at least the
    /// slow-call threshold, whether or not slow calls count as failures (Resilience4j's rule:
    /// a dependency that is still slow has not recovered). Such a probe's own outcome is
    /// reported to [`Observer::on_outcome`] as it was: a success, unless slow calls count as
    /// failures.
    ProbeFailed,
    /// Every probe slot stayed taken past `probe_timeout`: treated as a failed probe.
    ProbeTimeout,
    /// [`Breaker::force_open`](crate::Breaker::force_open).
    ForceOpen,
    /// [`Breaker::force_closed`](crate::Breaker::force_closed).
    ForceClosed,
    /// [`Breaker::reset`](crate::Breaker::reset).
    Reset,
    /// [`Breaker::restore`](crate::Breaker::restore) put back a saved state. Into OPEN,
    /// `open_duration` is the whole open period of the restored cycle and `open_for` the part
    /// already served before the restart, so the time left is their difference.
    Restore,
}

impl Trigger {
    /// The trigger's name in snake case, as logs and metrics label it (`failure_threshold`,
    /// `probe_timeout`, `restore`, ...): the one spelling every adapter uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Trigger;
    ///
    /// assert_eq!(Trigger::ProbeTimeout.as_str(), "probe_timeout");
    /// assert_eq!(Trigger::ForceClosed.as_str(), "force_closed");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Trigger::FailureThreshold => "failure_threshold",
            Trigger::FailureRate => "failure_rate",
            Trigger::SlowCallRate => "slow_call_rate",
            Trigger::RecoveryTimeout => "recovery_timeout",
            Trigger::ProbeSucceeded => "probe_succeeded",
            Trigger::ProbeFailed => "probe_failed",
            Trigger::ProbeTimeout => "probe_timeout",
            Trigger::ForceOpen => "force_open",
            Trigger::ForceClosed => "force_closed",
            Trigger::Reset => "reset",
            Trigger::Restore => "restore",
        }
    }

    /// What a log line says for a transition into OPEN by this trigger: "opening circuit" (the
    /// log message of the original Python module) for a trip, or what reopened it (a failed or
    /// timed-out probe, a rate).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Trigger;
    ///
    /// assert_eq!(Trigger::FailureThreshold.opening_message(), "opening circuit");
    /// assert_eq!(Trigger::ProbeFailed.opening_message(), "probe failed, reopening circuit");
    /// ```
    pub const fn opening_message(self) -> &'static str {
        match self {
            Trigger::ProbeFailed => "probe failed, reopening circuit",
            Trigger::ProbeTimeout => "probe timed out, reopening circuit",
            Trigger::FailureRate => "opening circuit: failure rate reached its threshold",
            Trigger::SlowCallRate => "opening circuit: slow-call rate reached its threshold",
            _ => "opening circuit",
        }
    }
}

/// One state transition, with the fields breaker-std logs.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The breaker's name (the `circuit_breaker` field of breaker-std's logs).
    pub name: &'static str,
    /// State before.
    pub from: State,
    /// State after (the `state` field of breaker-std's logs).
    pub to: State,
    /// Why.
    pub trigger: Trigger,
    /// Failures at the moment of the transition (`failure_count`), as
    /// [`Breaker::failure_count`](crate::Breaker::failure_count) shows them right after it: the
    /// threshold when CLOSED trips (a rate window's failures on a rate trip); that count again
    /// on OPEN → HALF_OPEN; one more on each failed or timed-out probe (threshold + failed
    /// probes since the breaker last closed); 0 when a probe closes it; on a manual
    /// transition, the count it interrupted (from CLOSED, the word's consecutive failures, 0
    /// with a rate policy).
    pub failure_count: u32,
    /// The configured threshold (`threshold`).
    pub threshold: u32,
    /// Time spent OPEN, on the OPEN → HALF_OPEN transition (`elapsed_seconds`).
    pub open_for: Option<Duration>,
    /// How long the breaker will stay OPEN, on transitions into OPEN (after backoff and jitter).
    pub open_duration: Option<Duration>,
    /// The backoff level of the state entered (failed recoveries in a row; 0 after closing).
    pub backoff_level: u32,
    /// The clock reading that decided the transition, when one was needed.
    pub at: Option<Timestamp>,
    /// The generation the breaker entered.
    pub generation: u32,
}

/// Receives the breaker's events. Every method has an empty default.
///
/// # Examples
///
/// Counting openings without allocation, e.g. in firmware:
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, Observer, State, Transition};
/// use core::sync::atomic::{AtomicU32, Ordering};
///
/// #[derive(Default)]
/// struct OpenCounter(AtomicU32);
/// impl Observer for OpenCounter {
///     fn on_transition(&self, t: &Transition) {
///         if t.to == State::Open {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let config = Config::new().failure_threshold(2).validate().unwrap();
/// let breaker = Breaker::with_observer("db", config, ManualClock::new(), OpenCounter::default());
/// for _ in 0..3 {
///     let _ = breaker.call(|| Err::<(), _>("down"));
/// }
/// assert_eq!(breaker.observer().0.load(Ordering::Relaxed), 1);
/// ```
pub trait Observer {
    /// A transition happened; called once, by the thread that made it.
    #[inline(always)]
    fn on_transition(&self, transition: &Transition) {
        let _ = transition;
    }

    /// A call was rejected without running.
    #[inline(always)]
    fn on_rejected(&self, rejection: &CircuitOpen) {
        let _ = rejection;
    }

    /// An admitted call finished with `verdict` (a permit dropped without one reports
    /// [`Verdict::Ignore`]). With a slow-call policy whose slow calls count as failures, a slow
    /// success arrives here as a [`Verdict::Failure`]; otherwise as the success it was, even
    /// when it is a half-open probe whose slowness reopens the breaker
    /// ([`Trigger::ProbeFailed`]).
    #[inline(always)]
    fn on_outcome(&self, name: &'static str, verdict: Verdict) {
        let _ = (name, verdict);
    }
}

/// No observer: every event compiles to nothing.
impl Observer for () {}

impl<O: Observer + ?Sized> Observer for &O {
    #[inline]
    fn on_transition(&self, t: &Transition) {
        (**self).on_transition(t)
    }
    #[inline]
    fn on_rejected(&self, r: &CircuitOpen) {
        (**self).on_rejected(r)
    }
    #[inline]
    fn on_outcome(&self, name: &'static str, verdict: Verdict) {
        (**self).on_outcome(name, verdict)
    }
}
