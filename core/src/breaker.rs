//! [`Breaker`]: the public type. Construction, admission, the closure API, manual control and
//! the read-only views. Every state change goes through the CAS loop in `cas.rs`.

use core::fmt;
use core::time::Duration;

use crate::classify::{Classify, Errors};
use crate::config_cell::ConfigCell;
use crate::health::shown_state;
use crate::layout::{self, Phase, Word};
use crate::observer::{Observer, Verdict};
use crate::policy::{Consecutive, Policy};
use crate::sync::{constructor, AtomicU32, AtomicWord, Ordering};
use crate::transition::{
    half_open_rejects_untimed, open_retry_ms, ramp_admits, ramp_count, ramp_permille, retry_after_open,
    state_of, Admission, Control, Event, Outcome,
};
use crate::{
    CallError, CircuitOpen, Clock, Config, ConfigError, Permit, Snapshot, State, Ticket, ValidConfig,
};

/// A circuit breaker: a name, a validated config, a clock, an observer, and one atomic word.
///
/// `Breaker` is `Sync` when its clock and observer are: share it by reference, in an `Arc`, or
/// as a `static`.
///
/// # Examples
///
/// Three failures open the circuit and the next call is rejected:
///
/// ```
/// use breaker_core::{Breaker, CallError, Config, ManualClock, State};
///
/// let breaker = Breaker::try_new("svc", Config::new().failure_threshold(3), ManualClock::new()).unwrap();
/// for _ in 0..3 {
///     let r = breaker.call(|| Err::<(), _>("service down"));
///     assert!(matches!(r, Err(CallError::Inner("service down"))));
/// }
/// assert_eq!(breaker.state(), State::Open);
/// assert!(matches!(breaker.call(|| Ok::<_, &str>(())), Err(CallError::Open(_))));
/// ```
///
/// A breaker in a `static`, as firmware keeps it:
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, ValidConfig};
///
/// const CONFIG: ValidConfig = match Config::new().failure_threshold(3).validate() {
///     Ok(c) => c,
///     Err(_) => panic!("bad config"),
/// };
/// static CLOCK: ManualClock = ManualClock::new();
/// static SENSOR: Breaker<&ManualClock> = Breaker::new("sensor", CONFIG, &CLOCK);
///
/// assert!(SENSOR.call(|| Ok::<_, ()>(21)).is_ok());
/// ```
pub struct Breaker<C, O = (), P = Consecutive> {
    pub(crate) word: AtomicWord,
    /// When the current phase began, for phases with a timer (see `layout.rs`).
    pub(crate) stamp: AtomicWord,
    /// Calls seen during the current ramp, for deterministic rationing: `[n mod 1000 |
    /// generation]`, so each ramp counts its own (see `transition::ramp_count`).
    pub(crate) ramp_calls: AtomicU32,
    /// The failures that opened the breaker, shown while OPEN and HALF_OPEN: `[count |
    /// generation]`, written by each transition's maker (see `health.rs`).
    pub(crate) open_failures: AtomicWord,
    /// 1 while the config in force has the abandoned-call rule, so admissions read the clock:
    /// one relaxed load on the admission fast path instead of a config read (written by the
    /// constructor and `reconfigure`; an admission that races a change times its call by either
    /// config, and an untimed call's drop is neither).
    #[cfg(feature = "policies")]
    pub(crate) timed: AtomicU32,
    /// The config in force: one consistent copy per decision, replaceable at run time (see
    /// `config_cell.rs`).
    pub(crate) config: ConfigCell,
    pub(crate) name: &'static str,
    pub(crate) clock: C,
    pub(crate) observer: O,
    pub(crate) policy: P,
}

impl<C: Clock> Breaker<C, (), Consecutive> {
    constructor! {
        /// A closed breaker without an observer, with the consecutive-failures policy. `const`,
        /// so it can be a `static`.
        pub fn new(name: &'static str, config: ValidConfig, clock: C) -> Self {
            Breaker::with_policy(name, config, clock, (), Consecutive)
        }
    }

    /// Validates `config` and builds a closed breaker without an observer.
    pub fn try_new(name: &'static str, config: Config, clock: C) -> Result<Self, ConfigError> {
        Ok(Breaker::new(name, config.validate()?, clock))
    }
}

impl<C: Clock, O: Observer> Breaker<C, O, Consecutive> {
    constructor! {
        /// A closed breaker reporting to `observer`, with the consecutive-failures policy.
        /// `const`, so it can be a `static`.
        pub fn with_observer(name: &'static str, config: ValidConfig, clock: C, observer: O) -> Self {
            Breaker::with_policy(name, config, clock, observer, Consecutive)
        }
    }
}

impl<C: Clock, O: Observer, P: Policy> Breaker<C, O, P> {
    constructor! {
        /// A closed breaker with a trip policy (see [`Policy`]). `const`, so it can be a `static`.
        ///
        /// # Examples
        ///
        /// ```
        /// # #[cfg(feature = "policies")] {
        /// use breaker_core::{Breaker, Config, ManualClock, RateConfig, Window};
        /// use core::time::Duration;
        ///
        /// let rule = RateConfig::new(500, 10).validate().unwrap(); // 50 % of at least 10 calls
        /// let window: Window<10> = Window::time(Duration::from_secs(1), rule).unwrap(); // last 10 s
        /// let config = Config::new().validate().unwrap();
        /// let breaker = Breaker::with_policy("payments", config, ManualClock::new(), (), window);
        /// assert_eq!(breaker.snapshot().window.unwrap().calls, 0);
        /// # }
        /// ```
        pub fn with_policy(name: &'static str, config: ValidConfig, clock: C, observer: O, policy: P) -> Self {
            Breaker {
                word: AtomicWord::new(layout::INITIAL),
                stamp: AtomicWord::new(0),
                ramp_calls: AtomicU32::new(0),
                open_failures: AtomicWord::new(0),
                #[cfg(feature = "policies")]
                timed: AtomicU32::new((config.abandoned_ms() != 0) as u32),
                config: ConfigCell::new(config),
                name,
                clock,
                observer,
                policy,
            }
        }
    }

    /// Asks to make a call. `Ok` holds the permit to report the outcome with; `Err` means do
    /// not call.
    ///
    /// Cost: in CLOSED, one atomic load. In OPEN before the timeout, one load and one clock
    /// read. Storing happens only to admit a half-open probe.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock};
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// match breaker.try_acquire() {
    ///     Ok(permit) => permit.success(), // make the call, then report
    ///     Err(open) => println!("skipped: {open}"),
    /// };
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<&Self>, CircuitOpen> {
        Permit::acquire(self)
    }

    /// [`try_acquire`](Breaker::try_acquire) without the drop guard; settle the ticket with
    /// [`settle`](Breaker::settle). For this crate's model checks and tests; not part of the API
    /// (adapters use [`Permit`]).
    #[doc(hidden)]
    #[inline(always)]
    pub fn try_acquire_ticket(&self) -> Result<Ticket, CircuitOpen> {
        let word = self.word.load(Ordering::Acquire);
        // The hot path, spelled out so it stays one load and one compare, and small enough to be
        // inlined into every caller; everything else is out of line in `acquire_slow`.
        if layout::is_clean_closed(word) {
            // Untimed, the ticket is the word with one bit set; a timed admission's clock read
            // is out of line, so the common case stays one load and one test more.
            if self.admission_is_timed() {
                return Ok(self.clean_closed_timed(word));
            }
            return Ok(Ticket::clean_closed(word, crate::permit::UNTIMED));
        }
        match self.reject_while_open(word) {
            FastOpen::Rejected(open) => return Err(open),
            FastOpen::AskSlot => return self.acquire_open_cold(word),
            FastOpen::Over => return self.acquire_slow_at(word, Some(self.clock.now().as_millis())),
            FastOpen::Pass => {}
        }
        self.acquire_slow(word)
    }

    /// The rejection fast path: OPEN and its open duration not over. One clock read, no store;
    /// the same rule as the transition function (`open_retry_ms`, through `retry_after_open`), which handles everything
    /// else, including admitting the probe.
    ///
    /// With the `reconfigure` feature the open timing comes from the config cell's shortcut
    /// word (one load, at backoff level 0 without jitter); any other open timing is read from
    /// the cell's slot out of line ([`FastOpen::AskSlot`]), so the common case stays as small
    /// as with a plain config.
    #[inline(always)]
    fn reject_while_open(&self, word: layout::Word) -> FastOpen {
        // Without `policies` there is no backoff: every OPEN word is at level 0.
        let at_level_zero = if cfg!(feature = "policies") {
            layout::is_open_at_level_zero(word)
        } else {
            layout::is_open(word)
        };
        if at_level_zero {
            // `open_ms` 0: the shortcut does not hold this timing (jitter; only the
            // reconfigurable cell's shortcut can miss). Tested after the rule rather than
            // before: at shift 0 (the 64-bit layout, folded at compile time) a period of 0 never
            // rejects, so the guard folds away and the test is paid only by a call that is not
            // rejected (the probe), not by every rejection.
            let (open_ms, shift) = self.config.open_shortcut(layout::gen_of(word));
            let missed = ConfigCell::SHORTCUT_MAY_MISS && open_ms == 0;
            let clock_ms = self.clock.now().as_millis();
            match retry_after_open(open_ms, shift, layout::open_opened_at(word), clock_ms as layout::Ms) {
                Some(ms) if !missed => return FastOpen::Rejected(self.reject(State::Open, Some(ms as u64))),
                _ if missed => return FastOpen::AskSlot,
                // The period is over: the probe's admission decides on this reading.
                _ if EAGER_TIME => return FastOpen::Over,
                _ => {}
            }
        } else if cfg!(feature = "policies") && layout::is_open(word) {
            // A backed-off open period: read its timing out of line.
            return FastOpen::AskSlot;
        }
        FastOpen::Pass
    }

    /// The rejection fast path for an open timing the shortcut does not hold (backoff, jitter):
    /// from the cell's slot, version-checked. `None`: not rejected here (the open period is
    /// over, or a change of config completed during the read); the slow path decides.
    #[cold]
    #[inline(never)]
    fn reject_from_slot(&self, word: layout::Word) -> Option<CircuitOpen> {
        if !layout::is_open(word) {
            return None;
        }
        let (opened_at, level) = (layout::open_opened_at(word), layout::open_level(word));
        let cfg = self.config.read_open_timing(level)?;
        let now = self.clock.now().as_millis() as layout::Ms;
        let ms = open_retry_ms(&cfg, opened_at, level, layout::gen_of(word), now)?;
        Some(self.reject(State::Open, Some(ms as u64)))
    }

    /// [`try_acquire_ticket`](Breaker::try_acquire_ticket) after [`FastOpen::AskSlot`]: a tail
    /// call, so the inlined fast path keeps no state across it.
    #[cold]
    #[inline(never)]
    fn acquire_open_cold(&self, word: layout::Word) -> Result<Ticket, CircuitOpen> {
        match self.reject_from_slot(word) {
            Some(open) => Err(open),
            None => self.acquire_slow(word),
        }
    }

    /// Admission when the word is not clean CLOSED: OPEN, HALF_OPEN, pending failures, a ramp,
    /// manual states.
    #[inline(always)]
    fn acquire_slow(&self, word: layout::Word) -> Result<Ticket, CircuitOpen> {
        self.acquire_untimed(word)
    }

    /// [`acquire_slow`](Breaker::acquire_slow) with a clock reading taken after `word` was
    /// loaded, when the OPEN fast path found the open period over ([`FastOpen::Over`]).
    /// `#[cold]` for block placement: its callers' clean CLOSED admission falls through to
    /// what follows it, and this call moves to the end of the caller.
    #[cold]
    #[inline(never)]
    fn acquire_slow_at(&self, word: layout::Word, clock_ms: Option<u64>) -> Result<Ticket, CircuitOpen> {
        let applied = match clock_ms {
            Some(ms) => self.apply_at(Event::Acquire, word, ms),
            None => self.apply(Event::Acquire, word, true),
        };
        let (state, retry_after_ms) = match applied.0 {
            Outcome::Admitted { gen, kind } => return Ok(Ticket::new(gen, kind, self.start_ms())),
            Outcome::Ramp { gen, permille, clean } if cfg!(feature = "policies") => {
                if ramp_admits(self.ramp_call(gen), permille) {
                    return Ok(Ticket::new(gen, Admission::Closed { clean }, self.start_ms()));
                }
                (State::Closed, Some(0))
            }
            Outcome::Rejected { state, retry_after_ms } => (state, retry_after_ms.map(|ms| ms as u64)),
            // Acquire yields only the outcomes above (a ramp only with the `policies` feature);
            // treat anything else as a rejection.
            _ => (State::ForcedOpen, None),
        };
        // One rejection site for every state.
        Err(self.reject(state, retry_after_ms))
    }

    /// [`acquire_slow_at`](Breaker::acquire_slow_at) without a clock reading, first answering
    /// HALF_OPEN with every probe slot taken: what every call but the probes meets while the
    /// probes run. Rejected on the loaded word (the transition function's answer there, storing
    /// nothing: `transition::half_open_rejects_untimed`), without the CAS loop. Its own function,
    /// so the probe's admission (with a reading) keeps `acquire_slow_at`'s frame as it was.
    #[cold]
    #[inline(never)]
    fn acquire_untimed(&self, word: layout::Word) -> Result<Ticket, CircuitOpen> {
        if layout::is_half_open(word) {
            let mut copy = None;
            if half_open_rejects_untimed(word, self.config.read_into(&mut copy)) {
                return Err(self.reject(State::HalfOpen, None));
            }
        }
        self.acquire_slow_at(word, None)
    }

    /// Counts a call rationed by the ramp of CLOSED generation `gen` and returns its 0-based
    /// index in that ramp. `Relaxed`: the counter publishes nothing but itself, and its tag says
    /// which ramp it belongs to.
    fn ramp_call(&self, gen: u32) -> u32 {
        let mut current = self.ramp_calls.load(Ordering::Relaxed);
        loop {
            let (n, next) = ramp_count(current, gen);
            match self.ramp_calls.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return n,
                Err(actual) => current = actual,
            }
        }
    }

    #[inline(always)]
    fn reject(&self, state: State, retry_after_ms: Option<u64>) -> CircuitOpen {
        let open = CircuitOpen::from_ms(self.name, state, retry_after_ms);
        self.observer.on_rejected(&open);
        open
    }

    /// `true` while the abandoned-call rule is set (see the `timed` field).
    #[inline(always)]
    fn times_calls(&self) -> bool {
        #[cfg(feature = "policies")]
        return self.timed.load(Ordering::Relaxed) != 0;
        #[cfg(not(feature = "policies"))]
        false
    }

    /// `true` when an admission must read the clock (a rate policy's slow-call tracking, or the
    /// abandoned-call rule): [`start_ms`](Self::start_ms)'s condition.
    #[inline(always)]
    fn admission_is_timed(&self) -> bool {
        (!P::CONSECUTIVE && self.policy.slow_call_ms().is_some()) || self.times_calls()
    }

    /// The ticket of a timed clean CLOSED admission on `word`, out of line: the clock read.
    /// `#[cold]` although with slow-call tracking or the abandoned-call rule every clean
    /// admission takes it: there it costs 4 instructions (`permit_timed_success/core` 27 against
    /// 23 without it, `bash ci/instructions.sh`) beside a clock read that is itself a call
    /// (1.5–30 ns), and it is what lets the untimed admission fall through (without it the tower
    /// layer's request costs 2 instructions more and breaker-std's permit 1).
    #[cold]
    #[inline(never)]
    fn clean_closed_timed(&self, word: layout::Word) -> Ticket {
        Ticket::clean_closed(word, crate::permit::timed(self.clock.now().as_millis()))
    }

    /// The permit's start time, when calls are timed: slow-call tracking (a rate policy's), or
    /// the abandoned-call rule ([`Config::count_abandoned_after`](crate::Config::count_abandoned_after)).
    #[inline(always)]
    fn start_ms(&self) -> u64 {
        if self.admission_is_timed() {
            crate::permit::timed(self.clock.now().as_millis())
        } else {
            crate::permit::UNTIMED
        }
    }

    /// Runs `f` through the breaker: rejected without running while open; an `Err` counts as a
    /// failure, an `Ok` as a success.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock};
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// let rows = breaker.call(|| Ok::<_, &str>(vec![1, 2, 3])).unwrap();
    /// assert_eq!(rows.len(), 3);
    /// ```
    #[inline]
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>> {
        self.call_with(f, Errors)
    }

    /// Runs `f` and lets `classify` (a [`Classify`]: a closure over the result, or
    /// [`failures_where`](crate::classify::failures_where) for "which errors count") decide the
    /// verdict, so a successful response can still count as a failure (an HTTP 503, say) and an
    /// error can count as neither (a caller's mistake).
    ///
    /// On targets that unwind, a panic in `f` or in `classify` counts as a failure and keeps
    /// unwinding (as in `call`, which goes through here). The failure is
    /// recorded from a drop guard while the panic unwinds, so an [`Observer`] that panics then
    /// aborts the process, as any panic during unwinding does (breaker-std's hooks catch their
    /// listeners' panics). The two-step [`Permit`] is different: dropping one, for whatever
    /// reason, counts as ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, Verdict};
    ///
    /// let breaker = Breaker::try_new("api", Config::new(), ManualClock::new()).unwrap();
    /// let status = breaker
    ///     .call_with(|| Ok::<u16, ()>(503), |r: &Result<u16, ()>| match r {
    ///         Ok(s) if *s >= 500 => Verdict::Failure,
    ///         Ok(_) => Verdict::Success,
    ///         Err(_) => Verdict::Failure,
    ///     })
    ///     .unwrap();
    /// assert_eq!((status, breaker.failure_count()), (503, 1));
    /// ```
    #[inline(always)]
    pub fn call_with<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
        classify: impl Classify<T, E>,
    ) -> Result<T, CallError<E>> {
        let word = self.word.load(Ordering::Acquire);
        if P::CONSECUTIVE && layout::is_clean_closed(word) {
            // The hot path without a permit: a clean closed-state call changes nothing unless
            // it fails; a failure is one CAS from the admission word (`record_closed`). The
            // guard records a failure if `f` or `classify` unwinds; on the normal path it is
            // disarmed and compiles away.
            let mut guard = UnwindGuard { breaker: self, word, armed: true };
            let result = f();
            let verdict = classify.classify(&result);
            guard.armed = false;
            if verdict != Verdict::Failure {
                self.observer.on_outcome(self.name, verdict);
            } else if FAST_RECORD {
                self.record_closed(word, verdict);
            } else {
                self.settle_cold(clean_ticket(word));
            }
            return result.map_err(CallError::Inner);
        }
        if !P::CONSECUTIVE && layout::is_clean_closed(word) && self.policy.slow_call_ms().is_none() {
            // A rate policy's closed-state call without slow-call timing: no permit either; the
            // outcome goes straight to the window (one CAS on its bucket). The guard records a
            // failure if `f` or `classify` unwinds.
            let mut guard = UnwindGuard { breaker: self, word, armed: true };
            let result = f();
            let verdict = classify.classify(&result);
            guard.armed = false;
            self.settle_closed(clean_ticket(word), verdict);
            return result.map_err(CallError::Inner);
        }
        match self.reject_while_open(word) {
            FastOpen::Rejected(open) => return Err(CallError::Open(open)),
            FastOpen::AskSlot => return self.call_open_cold(f, classify, word),
            FastOpen::Over => return self.call_probe(f, classify, word),
            FastOpen::Pass => {}
        }
        if P::CONSECUTIVE && FAST_RECORD && layout::is_closed_unramped(word) {
            return self.call_closed(f, classify, word);
        }
        self.call_slow(f, classify, word, None)
    }

    /// `call_with` on a CLOSED word with failures pending (not ramping): admitted on the loaded
    /// word without a permit (the transition function's answer, checked by
    /// `fast_paths_are_the_transition_function`); a failure, or a success (which clears the
    /// failures), is one CAS from the admission word (`record_closed`), no clock read. Out of
    /// line, so the clean path and the rejection stay as they were.
    #[inline(never)]
    fn call_closed<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
        classify: impl Classify<T, E>,
        word: Word,
    ) -> Result<T, CallError<E>> {
        let mut guard = UnwindGuard { breaker: self, word, armed: true };
        let result = f();
        let verdict = classify.classify(&result);
        guard.armed = false;
        // One inlined record per verdict, each with its verdict a constant: the transition
        // function's `closed_record` then folds to the two checks that verdict needs.
        match verdict {
            Verdict::Ignore => self.observer.on_outcome(self.name, verdict),
            Verdict::Failure => self.record_closed_inline(word, Verdict::Failure),
            Verdict::Success => self.record_closed_inline(word, Verdict::Success),
        }
        result.map_err(CallError::Inner)
    }

    /// `call_with` after [`FastOpen::Over`]: the open period is over; the admission (the
    /// probe's, normally) decides on a clock reading taken here, after the word was loaded.
    /// Its own function, and the reading taken here rather than carried out of
    /// `reject_while_open`, so the rejection path that shares `call_with` keeps its frame and
    /// its return value as small as before (a `u64` in `FastOpen` cost every rejection through
    /// breaker-std 3 instructions, `ci/instructions.sh`).
    #[cold]
    #[inline(never)]
    fn call_probe<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
        classify: impl Classify<T, E>,
        word: Word,
    ) -> Result<T, CallError<E>> {
        let clock_ms = self.clock.now().as_millis();
        self.call_slow(f, classify, word, Some(clock_ms))
    }

    /// `call_with` after [`FastOpen::AskSlot`] (see `acquire_open_cold`).
    #[cold]
    #[inline(never)]
    fn call_open_cold<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
        classify: impl Classify<T, E>,
        word: Word,
    ) -> Result<T, CallError<E>> {
        if let Some(open) = self.reject_from_slot(word) {
            return Err(CallError::Open(open));
        }
        self.call_slow(f, classify, word, None)
    }

    /// `call_with` off the hot path, through a permit, on the word `call_with` loaded (the
    /// fast checks already ran on it: the admission goes straight to the CAS loop).
    #[inline(never)]
    fn call_slow<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
        classify: impl Classify<T, E>,
        word: Word,
        clock_ms: Option<u64>,
    ) -> Result<T, CallError<E>> {
        // Dropped while still holding the permit only when `f` or `classify` unwinds.
        let ticket = match clock_ms {
            Some(_) => self.acquire_slow_at(word, clock_ms),
            None => self.acquire_untimed(word),
        };
        let mut guard = PermitGuard(Some(Permit::from_ticket(self, ticket?)));
        let result = f();
        let verdict = classify.classify(&result);
        if let Some(permit) = guard.0.take() {
            permit.record(verdict);
        }
        result.map_err(CallError::Inner)
    }

    /// What a call given up after `timeout` counts as (see [`Permit::timed_out`]).
    #[inline]
    pub(crate) fn timeout_verdict(&self, timeout: Duration) -> Verdict {
        match self.policy.slow_call_ms() {
            Some(slow_ms) if timeout.as_millis() >= u128::from(slow_ms) => Verdict::Success,
            _ => Verdict::Failure,
        }
    }

    #[cold]
    #[inline(never)]
    fn settle_cold(&self, ticket: Ticket) {
        self.settle(ticket, Verdict::Failure);
    }

    /// Opens the circuit until [`reset`](Breaker::reset): every call is rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// breaker.force_open();
    /// assert_eq!(breaker.state(), State::ForcedOpen);
    /// assert!(breaker.try_acquire().is_err());
    /// breaker.reset();
    /// assert!(breaker.try_acquire().is_ok());
    /// ```
    pub fn force_open(&self) {
        self.apply(Event::Control(Control::ForceOpen), self.word.load(Ordering::Acquire), true);
    }

    /// Closes the circuit until [`reset`](Breaker::reset) ("force closed"): every call passes
    /// and no outcome is counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    ///
    /// let breaker = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
    /// breaker.force_closed();
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// assert_eq!(breaker.state(), State::ForcedClosed);
    /// ```
    pub fn force_closed(&self) {
        self.apply(Event::Control(Control::ForceClosed), self.word.load(Ordering::Acquire), true);
    }

    /// Back to CLOSED with no failures, in a new generation: outcomes of calls admitted before
    /// the reset are not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    ///
    /// let breaker = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// breaker.reset();
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn reset(&self) {
        self.apply(Event::Control(Control::Reset), self.word.load(Ordering::Acquire), true);
    }

    /// The current state: one load, and a clock read while OPEN.
    ///
    /// An OPEN breaker whose open period is over, and which no call has touched since, shows as
    /// [`State::HalfOpen`]: it is ready to probe, and the next call is admitted as the probe
    /// (the word itself moves to HALF_OPEN only then; this is a pure read, no store). Without
    /// that, a breaker nobody calls would show `open` forever with a retry-after of zero.
    /// gobreaker's `State()` and Polly's `CircuitState` report half-open once the break duration
    /// has elapsed, too; Resilience4j stays OPEN unless its automatic transition is enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    /// use core::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::try_new("db", Config::new().failure_threshold(1), &clock).unwrap();
    /// assert_eq!(breaker.state(), State::Closed);
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// assert_eq!(breaker.state(), State::Open);
    /// clock.advance(Duration::from_secs(60)); // the default recovery timeout
    /// assert_eq!(breaker.state(), State::HalfOpen); // ready to probe
    /// ```
    pub fn state(&self) -> State {
        let d = layout::decode(self.word.load(Ordering::Acquire));
        match d.phase {
            Phase::Open { .. } => shown_state(&self.config(), d, self.clock.now().as_millis() as layout::Ms),
            phase => state_of(phase),
        }
    }

    /// The failures the breaker counts: in CLOSED, the consecutive failures (or, with a rate
    /// policy, the failures in its window); while OPEN or HALF_OPEN, the failures that opened
    /// it plus one for every probe that failed since it last closed (as the Python original's
    /// `_failure_count` does: a health endpoint should not say `open` with 0 failures); 0 when
    /// forced open or forced closed.
    ///
    /// A read that catches the breaker in the few instructions between a transition into OPEN
    /// or HALF_OPEN and the store of its count shows the smallest count it can have opened with:
    /// the threshold (0 with a rate policy).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    /// use core::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::try_new("db", Config::new().failure_threshold(2), &clock).unwrap();
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// assert_eq!(breaker.failure_count(), 1);
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// assert_eq!((breaker.state(), breaker.failure_count()), (State::Open, 2));
    /// clock.advance(Duration::from_secs(60));
    /// let _ = breaker.call(|| Err::<(), _>("still down")); // a failed probe: 3
    /// assert_eq!((breaker.state(), breaker.failure_count()), (State::Open, 3));
    /// ```
    pub fn failure_count(&self) -> u32 {
        let word = self.word.load(Ordering::Acquire);
        let d = layout::decode(word);
        match d.phase {
            Phase::Closed { failures, .. } if P::CONSECUTIVE => failures,
            Phase::Closed { .. } => self.window_stats(word).map_or(0, |w| w.failures),
            Phase::Open { .. } | Phase::HalfOpen { .. } => self.open_failure_count(d),
            Phase::ForcedOpen | Phase::ForcedClosed => 0,
        }
    }

    fn window_stats(&self, word: layout::Word) -> Option<crate::WindowStats> {
        if P::CONSECUTIVE {
            return None;
        }
        let now = if self.policy.needs_now() { self.clock.now().as_millis() } else { 0 };
        self.policy.stats(layout::gen_of(word), now)
    }

    /// State, counts and time to the next probe, from one load of the word (and a clock read if
    /// OPEN, ramping or keeping a time window).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    /// use core::time::Duration;
    ///
    /// let breaker = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// let s = breaker.snapshot();
    /// assert_eq!((s.state, s.retry_after), (State::Open, Some(Duration::from_secs(60))));
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        let word = self.word.load(Ordering::Acquire);
        let cfg = self.config.read();
        let d = layout::decode(word);
        let window = match d.phase {
            Phase::Closed { .. } => self.window_stats(word),
            _ => None,
        };
        let mut snap = Snapshot {
            name: self.name,
            state: state_of(d.phase),
            failure_count: 0,
            failure_threshold: cfg.failure_threshold,
            probes_in_flight: 0,
            probe_successes: 0,
            retry_after: None,
            backoff_level: 0,
            recovering: None,
            window,
            generation: d.gen,
        };
        match d.phase {
            Phase::Closed { failures, ramping } => {
                snap.failure_count = if P::CONSECUTIVE { failures } else { window.map_or(0, |w| w.failures) };
                if ramping && cfg!(feature = "policies") {
                    let now = self.now_for(word, self.clock.now().as_millis(), true);
                    let share = ramp_permille(&cfg, now.phase_elapsed.unwrap_or(0));
                    snap.recovering = Some(share as f32 / 1000.0);
                }
            }
            Phase::Open { opened_at, level } => {
                let cfg = self.config();
                let now = self.clock.now().as_millis() as layout::Ms;
                // Past its open period the breaker is ready to probe: shown as HALF_OPEN with
                // no probe in flight and no retry-after (see `state`).
                snap.state = shown_state(&cfg, d, now);
                snap.retry_after = open_retry_ms(&cfg, opened_at, level, d.gen, now)
                    .map(|ms| Duration::from_millis(ms as u64));
                snap.failure_count = self.open_failure_count(d);
                snap.backoff_level = level;
            }
            Phase::HalfOpen { issued, successes, level } => {
                snap.failure_count = self.open_failure_count(d);
                snap.probes_in_flight = issued.saturating_sub(successes);
                snap.probe_successes = successes;
                snap.backoff_level = level;
            }
            Phase::ForcedOpen | Phase::ForcedClosed => {}
        }
        snap
    }

    /// Its trip policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The breaker's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The configuration in force (a copy: it can be replaced at run time, see
    /// [`reconfigure`](Breaker::reconfigure)).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock};
    ///
    /// let breaker = Breaker::try_new("db", Config::new().failure_threshold(3), ManualClock::new()).unwrap();
    /// assert_eq!(breaker.config().failure_threshold(), 3);
    /// ```
    pub fn config(&self) -> ValidConfig {
        self.config.read()
    }

    /// Its clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Its observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }
}

/// The closed-state record's fast path in `call_with` (admission whatever the failure count, a
/// failure or a clearing success in one CAS, `record_closed`): with the `policies` feature, the
/// build every host uses. Without it, the smallest firmware build, a call with failures pending
/// goes through the permit and the CAS loop with the transition function, which decides the
/// same (`fast_paths_are_the_transition_function`), for ~660 B less `.text` on thumbv7em (see
/// the footprint table).
const FAST_RECORD: bool = cfg!(feature = "policies");

/// The probe's admission and a failed probe's record hand the CAS loop a clock reading taken up
/// front, saving the transition function's "time needed" round trip and a second clock read
/// (`Breaker::apply_at`): with the `policies` feature, the build every host uses. Without it,
/// the smallest firmware build, they ask as every other event does, for ~150 B less `.text` on
/// thumbv7em (`ci/footprint.sh`).
pub(crate) const EAGER_TIME: bool = cfg!(feature = "policies");

/// What the OPEN rejection fast path decided.
enum FastOpen {
    /// Rejected: OPEN and its open period not over.
    Rejected(CircuitOpen),
    /// Not OPEN: the slow path decides.
    Pass,
    /// OPEN and its open period over: the slow path admits the probe (or not) on a clock
    /// reading its caller takes (after the word was loaded) and hands to the CAS loop.
    Over,
    /// OPEN, with an open timing the config cell's shortcut does not hold: ask its slot.
    AskSlot,
}

/// The ticket of a call admitted on the permit-less hot path, from the clean closed word it was
/// admitted on.
#[inline(always)]
const fn clean_ticket(word: Word) -> Ticket {
    Ticket::new(layout::gen_of(word), Admission::Closed { clean: true }, crate::permit::UNTIMED)
}

/// Records a failure for a call that unwound through the permit-less hot path of `call_with`.
struct UnwindGuard<'a, C: Clock, O: Observer, P: Policy> {
    breaker: &'a Breaker<C, O, P>,
    word: Word,
    armed: bool,
}

impl<C: Clock, O: Observer, P: Policy> Drop for UnwindGuard<'_, C, O, P> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.armed {
            if P::CONSECUTIVE && FAST_RECORD {
                self.breaker.record_closed(self.word, Verdict::Failure);
            } else {
                self.breaker.settle_cold(clean_ticket(self.word));
            }
        }
    }
}

/// Records a failure for a call that unwound through the permit path of `call_with` (the
/// permit is taken out before the normal settle, so only an unwind finds it here).
struct PermitGuard<'a, C: Clock, O: Observer, P: Policy>(Option<Permit<&'a Breaker<C, O, P>>>);

impl<C: Clock, O: Observer, P: Policy> Drop for PermitGuard<'_, C, O, P> {
    fn drop(&mut self) {
        if let Some(permit) = self.0.take() {
            permit.failure();
        }
    }
}

impl<C: Clock, O: Observer, P: Policy> fmt::Debug for Breaker<C, O, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = layout::decode(self.word.load(Ordering::Acquire));
        f.debug_struct("Breaker")
            .field("name", &self.name)
            .field("state", &state_of(d.phase))
            .field("generation", &d.gen)
            .field("config", &self.config.read())
            .finish_non_exhaustive()
    }
}
