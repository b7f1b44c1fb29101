//! Runtime reconfiguration that keeps the breaker's state: [`Breaker::reconfigure`] and
//! [`Breaker::update_config`].
//!
//! The config lives in a double-buffered cell (`config_cell.rs`); a change validates the new
//! config first ([`Config::validate`], so an invalid change is a [`ConfigError`] and the old
//! config stays in force), then swaps it in. The word is not touched: the state, the failure
//! count, the open timestamp, the backoff level and the generation are all kept, and calls go on
//! throughout without waiting. Every decision reads one copy of the config before it starts (the
//! CAS loop and the rejection fast path), so a decision runs entirely under the old config or
//! entirely under the new one, never a mix.
//!
//! What a change means for a breaker that is in the middle of something. The transition
//! function is total on words a smaller limit leaves "over the limit", so nothing is clamped or
//! rewritten; the new values simply apply from the next decision:
//!
//! | change | CLOSED | OPEN | HALF_OPEN |
//! |---|---|---|---|
//! | `failure_threshold` | the pending count is kept; if it is already at or above the new threshold, the next failure trips (a success clears it, as always) | — | — |
//! | `recovery_timeout`, `backoff`, `jitter` | — | the open time is kept and the open period is measured from it with the new duration: a shorter one can be over already (the next call probes), a longer one extends this period | applies to the next open period |
//! | `half_open_probes` | — | — | probes already admitted stay admitted; no new one while as many are out as the new limit |
//! | `successes_to_close` | — | — | successes already counted stay; if they reach the new figure, the next success closes |
//! | `probe_timeout` | — | — | measured from the start of this half-open period, with the new timeout |
//! | gradual recovery | a ramp in progress continues on the new period and start share, measured from its start; removing the ramp ends it at the next call | — | applies to the next closing |
//!
//! Out of scope: the shape of a rate window (a [`Window`](crate::Window)'s buckets and rule)
//! is fixed when the breaker is built; only the [`Config`] part is reconfigurable.
//!
//! Writers: one change at a time. A change that finds another one being written gets
//! [`ReconfigureError::Busy`] instead of waiting for it (on a single core the other writer may be
//! the very code an interrupt handler interrupted, so waiting could deadlock); retrying is
//! always safe. [`update_config`](Breaker::update_config) computes the new config from the one
//! in force and applies it only if no other change completed meanwhile, recomputing otherwise,
//! so concurrent read-modify-write changes are never lost.
//!
//! Everything here but the `From<ValidConfig> for Config` conversion needs the `reconfigure`
//! feature (on by default; see `config_cell.rs` for its cost).

#[cfg(feature = "reconfigure")]
use core::fmt;

#[cfg(feature = "reconfigure")]
use crate::config_cell::Contention;
#[cfg(feature = "reconfigure")]
use crate::observer::Observer;
#[cfg(feature = "reconfigure")]
use crate::policy::Policy;
#[cfg(feature = "reconfigure")]
use crate::{Breaker, Clock, ConfigError};
use crate::{Config, ValidConfig};

/// Why a reconfiguration did not happen. The config in force is unchanged in either case.
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Config, ConfigError, ManualClock, ReconfigureError};
///
/// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
/// let err = breaker.reconfigure(Config::new().failure_threshold(0)).unwrap_err();
/// assert_eq!(err, ReconfigureError::Invalid(ConfigError::Zero { field: "failure_threshold" }));
/// assert_eq!(err.to_string(), ConfigError::Zero { field: "failure_threshold" }.to_string()); // the config error's own words
/// assert_eq!(breaker.config().failure_threshold(), 5); // the old config is still in force
/// ```
#[cfg(feature = "reconfigure")]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReconfigureError {
    /// The new config did not validate.
    Invalid(ConfigError),
    /// Another reconfiguration of this breaker was being written at that moment; retry.
    Busy,
    /// The new config asks for another open-time resolution than the breaker was built with
    /// ([`Config::open_time_resolution`]): its stored open timestamp is in ticks of that
    /// resolution, so a breaker keeps it for life. Build a new breaker to change it.
    OpenTimeResolution {
        /// This breaker's resolution, in ms.
        current_ms: u32,
        /// The new config's, in ms.
        requested_ms: u32,
    },
}

#[cfg(feature = "reconfigure")]
impl From<ConfigError> for ReconfigureError {
    fn from(e: ConfigError) -> Self {
        ReconfigureError::Invalid(e)
    }
}

#[cfg(feature = "reconfigure")]
impl fmt::Display for ReconfigureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReconfigureError::Invalid(e) => e.fmt(f),
            ReconfigureError::Busy => {
                f.write_str("breaker config not changed: another change was being written; retry")
            }
            ReconfigureError::OpenTimeResolution { current_ms, requested_ms } => write!(
                f,
                "breaker config not changed: `open_time_resolution` {requested_ms} ms, but this \
                 breaker measures open time at {current_ms} ms for life; build a new breaker"
            ),
        }
    }
}

/// `Display` or `source()`, never both, as for [`CallError`](crate::CallError): `Invalid` is
/// transparent (it displays as the config error and its source is the config error's source),
/// and `Busy` and `OpenTimeResolution` display themselves and have no source. So an error chain
/// prints the config error once.
#[cfg(feature = "reconfigure")]
impl core::error::Error for ReconfigureError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ReconfigureError::Invalid(e) => core::error::Error::source(e),
            ReconfigureError::Busy | ReconfigureError::OpenTimeResolution { .. } => None,
        }
    }
}

/// The builder that validates to this config: `Config::from(c).validate() == Ok(c)`, so a
/// validated config can be edited and validated again.
///
/// # Examples
///
/// ```
/// use breaker_core::{Config, ValidConfig};
///
/// let valid = Config::new().failure_threshold(3).validate().unwrap();
/// let stricter = Config::from(valid).failure_threshold(2).validate().unwrap();
/// assert_eq!((stricter.failure_threshold(), stricter.recovery_timeout()), (2, valid.recovery_timeout()));
/// assert_eq!(Config::from(valid).validate(), Ok(valid));
/// ```
impl From<ValidConfig> for Config {
    fn from(c: ValidConfig) -> Config {
        let config = Config::new()
            .failure_threshold(c.failure_threshold())
            .recovery_timeout(c.recovery_timeout())
            .half_open_probes(c.half_open_probes())
            .successes_to_close(c.successes_to_close());
        #[cfg(feature = "policies")]
        let config = {
            let mut config = config;
            // A cap equal to the timeout is "no backoff": leave it unset, so that a later
            // longer timeout is not refused for being above a cap nobody asked for.
            if c.backoff_max_ms != c.recovery_timeout_ms {
                config = config.backoff(c.backoff_max());
            }
            if c.jitter_ms != 0 || c.jitter_seed != 0 {
                config = config.jitter(c.jitter(), c.jitter_seed);
            }
            if let Some(t) = c.probe_timeout() {
                config = config.probe_timeout(t);
            }
            if let Some((period, start)) = c.ramp() {
                config = config.gradual_recovery(period, start);
            }
            if let Some(after) = c.abandoned_after() {
                config = config.count_abandoned_after(after);
            }
            config.open_time_resolution(c.open_time_resolution())
        };
        config
    }
}

#[cfg(feature = "reconfigure")]
impl<C: Clock, O: Observer, P: Policy> Breaker<C, O, P> {
    /// Brings the `timed` flag in line with the config in force, after a change. Re-checked
    /// after the store: a writer whose store lands after a later writer's is followed by its own
    /// re-check, which reads the later config, so the last store matches the last config.
    #[cfg(feature = "policies")]
    fn sync_timed(&self) {
        loop {
            let want = (self.config.abandoned_ms() != 0) as u32;
            self.timed.store(want, crate::sync::Ordering::Relaxed);
            if (self.config.abandoned_ms() != 0) as u32 == want {
                return;
            }
        }
    }

    /// Replaces the breaker's config with `config`, keeping its state; returns the config it
    /// replaced. Lock-free for callers: calls go on while it runs, each under the old config or
    /// the new one. See the module docs for what a change means to an OPEN or HALF_OPEN breaker.
    ///
    /// # Errors
    ///
    /// [`ReconfigureError::Invalid`] if `config` does not validate, [`ReconfigureError::Busy`]
    /// if another change was being written at that moment,
    /// [`ReconfigureError::OpenTimeResolution`] if it asks for another open-time resolution than
    /// the breaker was built with. The old config stays in force.
    ///
    /// # Examples
    ///
    /// An OPEN breaker keeps its open time and uses the new timeout from the next call:
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    /// use core::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let config = Config::new().failure_threshold(1).recovery_timeout(Duration::from_secs(60));
    /// let breaker = Breaker::try_new("db", config, &clock).unwrap();
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// clock.advance(Duration::from_secs(10));
    ///
    /// let old = breaker.reconfigure(config.recovery_timeout(Duration::from_secs(30))).unwrap();
    /// assert_eq!(old.recovery_timeout(), Duration::from_secs(60));
    /// let open = breaker.try_acquire().unwrap_err();
    /// assert_eq!(open.retry_after(), Some(Duration::from_secs(20))); // 30 s from the trip
    /// assert_eq!(breaker.state(), State::Open);
    /// ```
    pub fn reconfigure(&self, config: Config) -> Result<ValidConfig, ReconfigureError> {
        self.update_config(|_| config)
    }

    /// Changes the config by `f`, which gets the config in force as a [`Config`] builder, and
    /// keeps the breaker's state; returns the config it replaced. If another change completes
    /// while `f` runs, `f` runs again on that one, so concurrent changes of different fields
    /// are never lost.
    ///
    /// # Errors
    ///
    /// As [`reconfigure`](Breaker::reconfigure).
    ///
    /// # Examples
    ///
    /// Lowering the threshold of a CLOSED breaker with failures pending:
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    ///
    /// let breaker = Breaker::try_new("db", Config::new().failure_threshold(5), ManualClock::new()).unwrap();
    /// for _ in 0..3 {
    ///     let _ = breaker.call(|| Err::<(), _>("down"));
    /// }
    /// breaker.update_config(|c| c.failure_threshold(2)).unwrap();
    /// assert_eq!((breaker.state(), breaker.failure_count()), (State::Closed, 3)); // nothing lost
    /// let _ = breaker.call(|| Err::<(), _>("down")); // the next failure trips
    /// assert_eq!(breaker.state(), State::Open);
    /// ```
    pub fn update_config(
        &self,
        mut f: impl FnMut(Config) -> Config,
    ) -> Result<ValidConfig, ReconfigureError> {
        loop {
            let (current, seen) = self.config.read_versioned();
            let next = f(Config::from(current)).validate()?;
            if next.tick() != current.tick() {
                return Err(ReconfigureError::OpenTimeResolution {
                    current_ms: 1 << current.tick(),
                    requested_ms: 1 << next.tick(),
                });
            }
            if next == current {
                return Ok(current);
            }
            match self.config.replace(seen, &next) {
                Ok(()) => {
                    // Only a change of the rule touches the flag (and costs its re-check).
                    #[cfg(feature = "policies")]
                    if next.abandoned_ms() != current.abandoned_ms() {
                        self.sync_timed();
                    }
                    return Ok(current);
                }
                Err(Contention::Busy) => return Err(ReconfigureError::Busy),
                Err(Contention::Changed) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The decisions a reconfiguration relies on are the transition function's, on words that a
    //! new, smaller limit leaves over it: each is checked here against the table in the module
    //! docs.
    use super::*;
    use crate::layout::{encode, Decoded, Phase, Word};
    use crate::observer::{Trigger, Verdict};
    use crate::transition::{transition, Admission, Event, Now, Outcome, Step};
    use crate::State;
    use core::time::Duration;

    const G: u32 = 3;

    fn w(phase: Phase) -> Word {
        encode(Decoded { gen: G, phase })
    }

    fn run(word: Word, event: Event, now: Now, cfg: &ValidConfig) -> (Word, Outcome, Option<Trigger>) {
        let step = match transition(word, event, None, cfg) {
            Step::NeedsTime => transition(word, event, Some(now), cfg),
            done => done,
        };
        match step {
            Step::Done { next, outcome, change } => (next, outcome, change.map(|c| c.trigger)),
            Step::NeedsTime => panic!("asked for time twice"),
        }
    }

    fn at(ms: u64) -> Now {
        Now { ms: ms as crate::layout::Ms, phase_elapsed: None }
    }

    fn valid(c: Config) -> ValidConfig {
        c.validate().unwrap()
    }

    #[test]
    fn valid_configs_round_trip_through_the_builder() {
        let ms = Duration::from_millis;
        #[cfg_attr(not(feature = "policies"), allow(unused_mut))]
        let mut configs = std::vec![
            Config::new(),
            Config::new().failure_threshold(1).recovery_timeout(ms(1)),
            Config::new().half_open_probes(255).successes_to_close(255),
        ];
        #[cfg(feature = "policies")]
        configs.extend([
            Config::new().recovery_timeout(ms(100)).backoff(ms(100)),
            Config::new().recovery_timeout(ms(100)).backoff(ms(6_400)).jitter(ms(50), 7),
            Config::new().jitter(Duration::ZERO, 99),
            Config::new().probe_timeout(ms(5)).gradual_recovery(ms(1_000), 0),
            Config::new().gradual_recovery(ms(1), 99),
        ]);
        for c in configs {
            let v = valid(c);
            assert_eq!(Config::from(v).validate(), Ok(v), "{c:?}");
        }
    }

    #[test]
    #[cfg(feature = "policies")]
    fn a_config_without_backoff_can_take_a_longer_timeout() {
        let v = valid(Config::new().recovery_timeout(Duration::from_secs(1)));
        let longer = Config::from(v).recovery_timeout(Duration::from_secs(5)).validate().unwrap();
        assert_eq!(longer.backoff_max(), Duration::from_secs(5));
    }

    #[test]
    fn closed_count_at_or_above_a_lowered_threshold_trips_on_the_next_failure_only() {
        let cfg = valid(Config::new().failure_threshold(2));
        for pending in [2, 3, 100] {
            let word = w(Phase::Closed { failures: pending, ramping: false });
            let clean = run(word, Event::Acquire, at(0), &cfg);
            assert_eq!(clean.1, Outcome::Admitted { gen: G, kind: Admission::Closed { clean: false } });
            let fail =
                Event::Record { gen: G, kind: Admission::Closed { clean: false }, verdict: Verdict::Failure };
            let (next, _, trigger) = run(word, fail, at(50), &cfg);
            assert_eq!(trigger, Some(Trigger::FailureThreshold), "{pending}");
            assert_eq!(next, encode(Decoded { gen: G + 1, phase: Phase::Open { opened_at: 50, level: 0 } }));
            let ok =
                Event::Record { gen: G, kind: Admission::Closed { clean: false }, verdict: Verdict::Success };
            assert_eq!(run(word, ok, at(0), &cfg).0, w(Phase::Closed { failures: 0, ramping: false }));
        }
    }

    #[test]
    fn an_open_breaker_measures_its_open_time_with_the_new_timeout() {
        let word = w(Phase::Open { opened_at: 1_000, level: 0 });
        let longer = valid(Config::new().recovery_timeout(Duration::from_millis(5_000)));
        let shorter = valid(Config::new().recovery_timeout(Duration::from_millis(500)));
        let rejected = |ms| Outcome::Rejected { state: State::Open, retry_after_ms: Some(ms) };
        assert_eq!(run(word, Event::Acquire, at(1_600), &longer), (word, rejected(4_400), None));
        let (next, out, trigger) = run(word, Event::Acquire, at(1_600), &shorter);
        assert_eq!(
            (out, trigger),
            (Outcome::Admitted { gen: G + 1, kind: Admission::Probe }, Some(Trigger::RecoveryTimeout))
        );
        assert_ne!(next, word);
    }

    #[test]
    fn half_open_over_lowered_probe_limits() {
        let cfg = valid(Config::new().half_open_probes(1).successes_to_close(1));
        // Three probes out from the old limit of 3: no fourth, and they stay admitted.
        let word = w(Phase::HalfOpen { issued: 3, successes: 0, level: 0 });
        let busy = Outcome::Rejected { state: State::HalfOpen, retry_after_ms: None };
        assert_eq!(run(word, Event::Acquire, at(0), &cfg), (word, busy, None));
        let ignore = Event::Record { gen: G, kind: Admission::Probe, verdict: Verdict::Ignore };
        assert_eq!(
            run(word, ignore, at(0), &cfg).0,
            w(Phase::HalfOpen { issued: 2, successes: 0, level: 0 })
        );
        // Two successes counted under an old `successes_to_close` of 3: the next one closes.
        let word = w(Phase::HalfOpen { issued: 3, successes: 2, level: 0 });
        let ok = Event::Record { gen: G, kind: Admission::Probe, verdict: Verdict::Success };
        assert_eq!(run(word, ok, at(0), &cfg).2, Some(Trigger::ProbeSucceeded));
    }

    #[test]
    #[cfg(feature = "policies")]
    fn a_removed_ramp_ends_at_the_next_call_and_a_lowered_cap_caps_the_level() {
        let no_ramp = valid(Config::new());
        let ramping = w(Phase::Closed { failures: 0, ramping: true });
        let now = Now { ms: 10, phase_elapsed: Some(0) };
        let (next, out, _) = run(ramping, Event::Acquire, now, &no_ramp);
        assert_eq!(next, w(Phase::Closed { failures: 0, ramping: false }));
        assert_eq!(out, Outcome::Admitted { gen: G, kind: Admission::Closed { clean: true } });
        // Level 4 under a cap reached at level 1: open for the cap, and it stays at 4.
        let ms = Duration::from_millis;
        let capped = valid(Config::new().recovery_timeout(ms(100)).backoff(ms(200)));
        assert_eq!((capped.open_ms(4, G), capped.next_level(4)), (200, 4));
    }

    /// `Display` or `source()`, not both: printing the whole chain (each error, then its
    /// sources) names the config error once.
    #[cfg(feature = "reconfigure")]
    #[test]
    fn an_invalid_config_prints_once_in_the_error_chain() {
        use std::string::{String, ToString};
        let inner = ConfigError::Zero { field: "failure_threshold" };
        let err = ReconfigureError::Invalid(inner);
        let mut chain = String::new();
        let mut next: Option<&(dyn core::error::Error + 'static)> = Some(&err);
        while let Some(e) = next {
            chain.push_str(&e.to_string());
            chain.push('\n');
            next = e.source();
        }
        assert_eq!(chain.matches(&*inner.to_string()).count(), 1, "{chain}");
        assert_eq!(chain, std::format!("{inner}\n"));
    }
}
