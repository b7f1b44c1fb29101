//! Permits: the two-step API. [`Breaker::try_acquire`] hands out a [`Permit`]; the caller makes
//! the call and reports how it went. A permit dropped without a verdict counts as neither success
//! nor failure and gives its half-open slot back, which is what makes cancellation (a dropped
//! future, an early return, a panic unwinding) correct. The one exception is the abandoned-call
//! rule ([`Config::count_abandoned_after`](crate::Config::count_abandoned_after)): a permit dropped
//! after it has been out that long counts as a failure (the decision: [`abandoned_verdict`]).
//!
//! [`Ticket`] is the same thing without the drop guard, for adapters that must own the permit
//! apart from a borrow of the breaker (a tower response future holding an `Arc`): they settle it
//! with [`Breaker::settle`] and provide their own guard.

use core::num::NonZeroU64;
use core::ops::Deref;

use crate::layout::{self, Phase};
use crate::observer::{Observer, Verdict};
use crate::policy::{Policy, Sample};
use crate::sync::Ordering;
use crate::transition::{closed_record, closed_record_admitted, slow_verdicts, Admission, Event};
use crate::{Breaker, CircuitOpen, Clock};

/// Proof of admission, without a drop guard: the inside of a [`Permit`]. Settle it exactly once
/// with [`Breaker::settle`]; a ticket that is never settled keeps its half-open slot (if it is a
/// probe) until the breaker moves to another cycle. For this crate's model checks and tests (a
/// leaked permit, a permit settled on another thread under loom); not part of the API.
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, Verdict};
///
/// let breaker = Breaker::try_new("api", Config::new(), ManualClock::new()).unwrap();
/// let ticket = breaker.try_acquire_ticket().unwrap();
/// breaker.settle(ticket, Verdict::Failure);
/// assert_eq!(breaker.failure_count(), 1);
/// ```
#[must_use = "a ticket must be settled with `Breaker::settle`"]
#[derive(PartialEq, Eq)]
pub struct Ticket {
    /// One `u64`, so a ticket moves in a register and is stored and loaded whole (a struct of
    /// mixed-width fields, copied into a response future, cost a store-forwarding stall per
    /// request): bits 0..3 the admission kind, 3..19 the generation, bit 19 set when the call is
    /// timed (slow calls, the abandoned-call rule), 20..64 the clock reading at admission
    /// modulo 2^44 ms when it is timed, 0 otherwise (see [`timed`]).
    ///
    /// The kind is three bits so that a clean CLOSED admission is the only odd kind (the settle
    /// fast path tests one bit) and the generation sits where the state word has it (bits 3..):
    /// a clean CLOSED word's ticket is the word with bit 0 set, which the compiler folds. No
    /// kind is 0, so no ticket is: `Option<Ticket>`, a permit's, is one word with no tag to
    /// store (a response future writes one field fewer per request).
    bits: NonZeroU64,
}

/// Bits of the admission kind in a ticket: the state word's tag width, so the generation sits
/// at the same bits in both.
const KIND_BITS: u32 = 3;
const _: () = assert!(KIND_BITS == layout::TAG_BITS);
/// The kind bit only a clean CLOSED admission has.
const CLEAN_CLOSED: u64 = 1;
/// The other kinds: even, and none of them 0.
const PROBE: u64 = 2;
const FORCED_CLOSED: u64 = 4;
const CLOSED_PENDING: u64 = 6;
/// Bits of the generation in a ticket: room for the widest layout's.
const TICKET_GEN_BITS: u32 = 16;
const STARTED_SHIFT: u32 = KIND_BITS + TICKET_GEN_BITS;
/// A ticket keeps the admission time modulo 2^44 ms (about 557 years), above its "timed" bit.
const STARTED_MODULUS: u64 = 1 << (u64::BITS - STARTED_SHIFT - 1);
const _: () = assert!(layout::GEN_BITS <= TICKET_GEN_BITS);

/// The admission-time part of a ticket for a call that is not timed.
pub(crate) const UNTIMED: u64 = 0;

/// The admission-time part of a ticket for a call admitted at clock reading `now_ms`: the
/// reading (modulo 2^44 ms) above a "timed" bit, so a reading of 0 is still a reading.
#[inline(always)]
pub(crate) const fn timed(now_ms: u64) -> u64 {
    (now_ms & (STARTED_MODULUS - 1)) << 1 | 1
}

/// The abandoned-call rule: what a permit dropped without a verdict counts as, `elapsed_ms`
/// after its admission (`None`: its admission was not timed), under a rule of `after_ms` (0 =
/// off). Out at least `after_ms`: a failure; otherwise, and whenever it cannot tell: neither.
#[inline]
pub(crate) const fn abandoned_verdict(elapsed_ms: Option<u64>, after_ms: u64) -> Verdict {
    match elapsed_ms {
        Some(elapsed) if after_ms != 0 && elapsed >= after_ms => Verdict::Failure,
        _ => Verdict::Ignore,
    }
}

impl Ticket {
    /// A ticket of generation `gen`, admitted as `kind`, `started` at [`UNTIMED`] or [`timed`].
    #[inline(always)]
    pub(crate) const fn new(gen: u32, kind: Admission, started: u64) -> Ticket {
        let kind = match kind {
            Admission::Closed { clean: false } => CLOSED_PENDING,
            Admission::Closed { clean: true } => CLEAN_CLOSED,
            Admission::Probe => PROBE,
            Admission::ForcedClosed => FORCED_CLOSED,
        };
        Ticket::from_bits(kind | (gen as u64) << KIND_BITS | started << STARTED_SHIFT)
    }

    /// A ticket of `bits`, whose kind is never 0 (the fallback is never taken, and folds away).
    #[inline(always)]
    const fn from_bits(bits: u64) -> Ticket {
        debug_assert!(bits != 0);
        Ticket {
            bits: match NonZeroU64::new(bits) {
                Some(bits) => bits,
                None => NonZeroU64::MIN,
            },
        }
    }

    #[inline(always)]
    const fn bits(&self) -> u64 {
        self.bits.get()
    }

    /// The ticket of a clean CLOSED admission on `word` (which [`layout::is_clean_closed`]):
    /// `word` is already the generation at the ticket's generation bits and zero elsewhere, so
    /// the ticket is the word with [`CLEAN_CLOSED`] set, plus `started` (see [`Ticket::new`]).
    /// The untimed case is one OR (`started` folds to 0).
    #[inline(always)]
    pub(crate) const fn clean_closed(word: layout::Word, started: u64) -> Ticket {
        debug_assert!(layout::is_clean_closed(word));
        Ticket::from_bits((word as u64 | started << STARTED_SHIFT) | CLEAN_CLOSED)
    }

    /// The generation of the cycle the call was admitted in.
    #[inline(always)]
    pub(crate) const fn gen(&self) -> u32 {
        ((self.bits() >> KIND_BITS) & ((1 << TICKET_GEN_BITS) - 1)) as u32
    }

    #[inline(always)]
    pub(crate) const fn kind(&self) -> Admission {
        match self.bits() & ((1 << KIND_BITS) - 1) {
            CLEAN_CLOSED => Admission::Closed { clean: true },
            PROBE => Admission::Probe,
            FORCED_CLOSED => Admission::ForcedClosed,
            // CLOSED_PENDING; no constructor makes the other codes (3, 5, 7, 0).
            _ => Admission::Closed { clean: false },
        }
    }

    /// Admitted in CLOSED with no failures pending (the settle fast path's test).
    #[inline(always)]
    const fn is_clean_closed(&self) -> bool {
        self.bits() & CLEAN_CLOSED != 0
    }

    /// How long the call took at clock reading `now_ms`: the difference modulo 2^44 ms, and 0
    /// if that is 2^43 ms or more (the clock went back).
    #[inline]
    pub(crate) const fn elapsed_ms(&self, now_ms: u64) -> u64 {
        let d = now_ms.wrapping_sub(self.bits() >> (STARTED_SHIFT + 1)) & (STARTED_MODULUS - 1);
        if d >= STARTED_MODULUS / 2 {
            0
        } else {
            d
        }
    }

    /// `true` when the admission time was read (see [`timed`]).
    #[inline(always)]
    pub(crate) const fn is_timed(&self) -> bool {
        self.bits() >> STARTED_SHIFT & 1 == 1
    }

    /// `true` if this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.kind() == Admission::Probe
    }
}

impl core::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ticket")
            .field("gen", &self.gen())
            .field("kind", &self.kind())
            .field("started_ms", &self.is_timed().then_some(self.bits() >> (STARTED_SHIFT + 1)))
            .finish()
    }
}

/// A handle to a breaker that a [`Permit`] can hold: anything that dereferences to a breaker —
/// `&Breaker`, `Arc<Breaker>`, `&'static Breaker`, `Box<Breaker>` — of this crate or of an adapter
/// crate that wraps one (breaker-std's `Breaker`).
///
/// Adapter crates implement it for their breaker type by pointing at the core breaker inside;
/// users never call its method.
///
/// # Examples
///
/// ```
/// use breaker_core::{AsBreaker, Breaker, Config, ManualClock};
///
/// fn name_of(breaker: &impl AsBreaker) -> &'static str {
///     breaker.as_breaker().name()
/// }
/// let db = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
/// assert_eq!(name_of(&db), "db");
/// ```
pub trait AsBreaker {
    /// The breaker's clock.
    type Clock: Clock;
    /// The breaker's observer.
    type Observer: Observer;
    /// The breaker's trip policy.
    type Policy: Policy;

    /// The core breaker.
    fn as_breaker(&self) -> &Breaker<Self::Clock, Self::Observer, Self::Policy>;
}

impl<C: Clock, O: Observer, P: Policy> AsBreaker for Breaker<C, O, P> {
    type Clock = C;
    type Observer = O;
    type Policy = P;

    #[inline(always)]
    fn as_breaker(&self) -> &Breaker<C, O, P> {
        self
    }
}

/// Admission to make one call, holding a handle `H` to its breaker: a borrow (`&Breaker`, from
/// [`Breaker::try_acquire`]) or an owned handle (`Arc<Breaker>`, `&'static Breaker`, from
/// [`Permit::acquire`]) that can move into a spawned task or a `'static` future.
///
/// Report with [`success`](Permit::success), [`failure`](Permit::failure),
/// [`ignore`](Permit::ignore), [`timed_out`](Permit::timed_out) or [`record`](Permit::record).
/// **Dropping it reports [`Verdict::Ignore`]**: neither a success nor a failure, and a
/// half-open probe slot is given back, which is what makes cancellation (a dropped future, an
/// early return, a panic unwinding) correct. Every permit is settled exactly once.
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, State};
///
/// let breaker = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
/// let permit = breaker.try_acquire().expect("closed");
/// let reply: Result<u32, &str> = Err("refused"); // make the call here
/// match reply {
///     Ok(_) => permit.success(),
///     Err(_) => permit.failure(),
/// }
/// assert_eq!(breaker.state(), State::Open);
/// assert!(breaker.try_acquire().is_err());
/// ```
///
/// An owned handle, so the permit can outlive the borrow:
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, Permit};
///
/// static DB: std::sync::OnceLock<Breaker<ManualClock>> = std::sync::OnceLock::new();
/// let db: &'static Breaker<ManualClock> =
///     DB.get_or_init(|| Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap());
/// let permit = Permit::acquire(db).unwrap();
/// std::thread::spawn(move || permit.failure()).join().unwrap();
/// assert_eq!(db.failure_count(), 1);
/// ```
#[must_use = "dropping a permit reports the call as ignored"]
pub struct Permit<H>
where
    H: Deref,
    H::Target: AsBreaker,
{
    handle: H,
    /// `None` once settled: the consuming methods take it, so `Drop` settles only a permit
    /// dropped without a verdict. Inlined, the check folds away on both paths.
    ticket: Option<Ticket>,
}

impl<H> Permit<H>
where
    H: Deref,
    H::Target: AsBreaker,
{
    /// Asks the breaker behind `handle` to make a call: the permit, or the rejection (with its
    /// retry-after) if the call must not be made. Cost: one atomic load when CLOSED.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, Permit};
    ///
    /// let api = Breaker::try_new("api", Config::new(), ManualClock::new()).unwrap();
    /// match Permit::acquire(&api) {
    ///     Ok(permit) => permit.success(), // make the call, then report
    ///     Err(open) => println!("skipped: {open}"),
    /// };
    /// ```
    #[inline(always)]
    pub fn acquire(handle: H) -> Result<Self, CircuitOpen> {
        let ticket = handle.as_breaker().try_acquire_ticket()?;
        Ok(Permit { handle, ticket: Some(ticket) })
    }

    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        self.record(Verdict::Success)
    }

    /// The call failed and the failure counts.
    #[inline]
    pub fn failure(self) {
        self.record(Verdict::Failure)
    }

    /// The call counts as neither (for example a client error); a probe's slot is given back.
    #[inline]
    pub fn ignore(self) {
        self.record(Verdict::Ignore)
    }

    /// The call was given up after `timeout`. The breaker decides what that is: a **failure**,
    /// unless its policy tracks slow calls and `timeout` is at least the slow-call threshold, in
    /// which case it is recorded as a **slow** call (and as a failure only if the policy counts
    /// slow calls as failures) — the call ran at least `timeout`, so it was slow, whatever it
    /// would have returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock};
    /// use std::time::Duration;
    ///
    /// let db = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// db.try_acquire().unwrap().timed_out(Duration::from_secs(2));
    /// assert_eq!(db.failure_count(), 1); // no slow-call policy: a timeout is a failure
    /// ```
    #[inline]
    pub fn timed_out(self, timeout: core::time::Duration) {
        let verdict = self.handle.as_breaker().timeout_verdict(timeout);
        self.record(verdict)
    }

    /// Reports `verdict`.
    #[inline]
    pub fn record(mut self, verdict: Verdict) {
        // The verdict replaces the drop's "ignore".
        self.handle.as_breaker().settle_taken(self.ticket.take(), verdict);
    }

    /// `true` if this call is a half-open probe.
    #[inline]
    pub fn is_probe(&self) -> bool {
        self.ticket.as_ref().is_some_and(Ticket::is_probe)
    }

    /// The handle this permit holds.
    #[inline]
    pub fn breaker(&self) -> &H {
        &self.handle
    }

    /// The permit holding `ticket`, just admitted by the breaker behind `handle`.
    #[inline(always)]
    pub(crate) fn from_ticket(handle: H, ticket: Ticket) -> Self {
        Permit { handle, ticket: Some(ticket) }
    }

    /// Gives up the drop guard; the caller must settle the ticket with [`Breaker::settle`].
    /// For this crate's tests and model checks; not part of the API.
    #[doc(hidden)]
    pub fn into_ticket(mut self) -> Ticket {
        self.ticket.take().expect("a permit holds its ticket until it is consumed")
    }
}

impl<H> Drop for Permit<H>
where
    H: Deref,
    H::Target: AsBreaker,
{
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.handle.as_breaker().settle_dropped(ticket);
        }
    }
}

impl<H> core::fmt::Debug for Permit<H>
where
    H: Deref,
    H::Target: AsBreaker,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.handle.as_breaker().name())
            .field("ticket", &self.ticket)
            .finish()
    }
}
impl<C: Clock, O: Observer, P: Policy> Breaker<C, O, P> {
    /// Settles a [`Ticket`] from [`try_acquire_ticket`](Breaker::try_acquire_ticket). Not part
    /// of the API (see [`Ticket`]).
    ///
    /// With the consecutive-failures policy, a clean closed-state success (no failures pending
    /// when it was admitted) and an ignored non-probe return here without touching the word.
    /// With a rate policy, a closed-state outcome is one CAS on the window's current bucket.
    #[doc(hidden)]
    #[inline(always)]
    pub fn settle(&self, ticket: Ticket, verdict: Verdict) {
        // The hot path stays small enough to inline into every caller: a clean closed-state
        // success under the consecutive policy changes nothing (`settle_taken`'s first test).
        self.settle_taken(Some(ticket), verdict);
    }

    /// [`settle`](Breaker::settle) of a permit's ticket, taken out of it (`None`: already
    /// settled, nothing to do). The fast path's clean-CLOSED bit is tested first, on the
    /// `Option` itself: no ticket is 0, so a set bit is a ticket, and the `Option`'s own test
    /// folds into the bit's where the compiler cannot see that the permit holds one (a response
    /// future whose admission merged the fast path with the slow one).
    /// [`settle`](Breaker::settle) is this with the ticket known to be there.
    #[inline(always)]
    pub(crate) fn settle_taken(&self, ticket: Option<Ticket>, verdict: Verdict) {
        if P::CONSECUTIVE
            && verdict == Verdict::Success
            && matches!(ticket, Some(ref t) if t.is_clean_closed())
        {
            self.observer.on_outcome(self.name, verdict);
            return;
        }
        if let Some(ticket) = ticket {
            self.settle_slow(ticket, verdict);
        }
    }

    /// Settles the ticket of a permit dropped without a verdict: neither, unless the
    /// abandoned-call rule ([`Config::count_abandoned_after`](crate::Config::count_abandoned_after))
    /// says it was out long enough to count as a failure ([`abandoned_verdict`]). The clock is
    /// read only for a timed ticket while the rule is set. Out of line: a permit is rarely
    /// dropped without a verdict, and the drop glue of every permit holds this call.
    #[cold]
    #[inline(never)]
    pub(crate) fn settle_dropped(&self, ticket: Ticket) {
        let after_ms = self.config.abandoned_ms() as u64;
        let elapsed = if after_ms != 0 && ticket.is_timed() {
            Some(ticket.elapsed_ms(self.clock.now().as_millis()))
        } else {
            None
        };
        self.settle(ticket, abandoned_verdict(elapsed, after_ms));
    }

    #[inline(never)]
    fn settle_slow(&self, ticket: Ticket, verdict: Verdict) {
        let (verdict, reported, slow, now_ms) = self.classify_slow(&ticket, verdict);
        match (ticket.kind(), verdict) {
            (Admission::ForcedClosed, _) | (Admission::Closed { .. }, Verdict::Ignore) => {}
            (Admission::Closed { .. }, _) if !P::CONSECUTIVE => {
                self.record_in_window(&ticket, verdict, slow, now_ms)
            }
            (Admission::Closed { clean: true }, Verdict::Success) => {}
            (Admission::Probe, Verdict::Failure) if crate::breaker::EAGER_TIME => {
                // A failed probe re-opens, stamped now: the transition function will ask for the
                // time, so read it up front (after the load) and save it the round trip.
                let word = self.word.load(Ordering::Acquire);
                let now = self.clock.now().as_millis();
                let event = Event::Record { gen: ticket.gen(), kind: Admission::Probe, verdict };
                self.apply_at(event, word, now);
            }
            (kind, verdict) => {
                let word = self.word.load(Ordering::Acquire);
                self.apply(Event::Record { gen: ticket.gen(), kind, verdict }, word, true);
            }
        }
        // After the word is updated: a panicking observer cannot lose the verdict.
        self.observer.on_outcome(self.name, reported);
    }

    /// The consecutive-failures policy's closed-state record from the permit-less hot path:
    /// a failure, or a success of a call admitted with failures pending, of a call admitted on
    /// the CLOSED word `admitted` (the first CAS guess). Where the transition function's
    /// [`closed_record`] answers (a failure that does not trip, a success) that is one CAS and
    /// no clock read; anything else (the tripping failure, a stale call) goes through the CAS
    /// loop with the transition function. Then the observer hears.
    ///
    /// Out of line: the call from the clean closed path of `call_with` (the first failure after
    /// a success) and from the unwind guard. The calls with failures pending, the ones that repeat
    /// while a dependency fails (`call_closed`), inline [`record_closed_inline`]: inlined into
    /// `call_with` itself it would cost the clean path's success a few instructions of frame.
    ///
    /// [`record_closed_inline`]: Breaker::record_closed_inline
    #[inline(never)]
    pub(crate) fn record_closed(&self, admitted: layout::Word, verdict: Verdict) {
        self.record_closed_inline(admitted, verdict);
    }

    /// [`record_closed`](Breaker::record_closed), inlined: the first attempt (one relaxed load
    /// of the threshold, the decision on the admission word, one CAS) needs no stack frame; a
    /// retry, and everything that is not that one CAS, is out of line
    /// ([`record_closed_from`](Breaker::record_closed_from)). Out of line as a whole it cost a
    /// closed-state failure with failures pending about 16 instructions of call, frame and
    /// spills (`bash ci/instructions.sh`, `closed_failure/core`).
    #[inline(always)]
    pub(crate) fn record_closed_inline(&self, admitted: layout::Word, verdict: Verdict) {
        let gen = layout::gen_of(admitted);
        match closed_record_admitted(admitted, verdict, self.config.failure_threshold()) {
            Some(next)
                if next != admitted
                    && self
                        .word
                        .compare_exchange_weak(admitted, next, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok() =>
            {
                // After the word is updated: a panicking observer cannot lose the verdict.
                self.observer.on_outcome(self.name, verdict);
            }
            _ => self.record_closed_from(gen, verdict),
        }
    }

    /// [`record_closed`](Breaker::record_closed) past its first attempt, which decided on the
    /// admission word (and, if it tried a CAS, lost it): the CAS loop of generation `gen` from a
    /// fresh load of the word, then the observer. Every answer here is on a fresh word: a
    /// failed CAS hands back the word that beat it.
    #[inline(never)]
    fn record_closed_from(&self, gen: u32, verdict: Verdict) {
        let threshold = self.config.failure_threshold();
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            let Some(next) = closed_record(current, gen, verdict, threshold) else {
                let kind = Admission::Closed { clean: false };
                self.apply(Event::Record { gen, kind, verdict }, current, true);
                break;
            };
            if next == current {
                // Nothing to do, on a fresh word (see `cas.rs`).
                break;
            }
            match self.word.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        // After the word is updated: a panicking observer cannot lose the verdict.
        self.observer.on_outcome(self.name, verdict);
    }

    /// Settles a clean closed-state ticket under a rate policy without slow-call tracking: the
    /// verdict goes to the window as it is (what `settle_slow` does for such a ticket, without
    /// its dispatch).
    #[inline(always)]
    pub(crate) fn settle_closed(&self, ticket: Ticket, verdict: Verdict) {
        if verdict != Verdict::Ignore {
            self.record_in_window(&ticket, verdict, false, None);
        }
        self.observer.on_outcome(self.name, verdict);
    }

    /// Slow-call tracking: the verdict to record and the one to report (see
    /// [`slow_verdicts`]: a slow success may be promoted, and a slow probe counts against
    /// recovery), whether the call was slow, and the clock reading, if one was taken.
    #[inline(always)]
    fn classify_slow(&self, ticket: &Ticket, verdict: Verdict) -> (Verdict, Verdict, bool, Option<u64>) {
        if P::CONSECUTIVE || ticket.kind() == Admission::ForcedClosed || verdict == Verdict::Ignore {
            return (verdict, verdict, false, None);
        }
        let Some(threshold) = self.policy.slow_call_ms() else {
            return (verdict, verdict, false, None);
        };
        let now = self.clock.now().as_millis();
        // A ticket admitted before slow calls were tracked (a reconfiguration) was not timed.
        let slow = ticket.is_timed() && ticket.elapsed_ms(now) >= threshold;
        let (record, report) =
            slow_verdicts(ticket.kind(), verdict, slow, self.policy.slow_counts_as_failure());
        (record, report, slow, Some(now))
    }

    /// A closed-state outcome under a rate policy: into the window; a trip goes through the CAS
    /// loop like every other transition.
    #[inline(always)]
    fn record_in_window(&self, ticket: &Ticket, verdict: Verdict, slow: bool, now_ms: Option<u64>) {
        // Stale permits (an earlier cycle) stay out of the window.
        let word = self.word.load(Ordering::Acquire);
        if layout::gen_of(word) != ticket.gen() || !matches!(layout::decode(word).phase, Phase::Closed { .. })
        {
            return;
        }
        let now = match now_ms {
            Some(ms) => ms,
            None if self.policy.needs_now() => self.clock.now().as_millis(),
            None => 0,
        };
        let sample = Sample { failed: verdict == Verdict::Failure, slow };
        let clock_ms = || self.clock.now().as_millis();
        if let Some(reason) = self.policy.record(ticket.gen(), sample, now, &clock_ms) {
            let failures = self.policy.stats(ticket.gen(), now).map_or(0, |w| w.failures);
            self.apply(Event::Trip { gen: ticket.gen(), reason, failures }, word, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{decode, encode, Decoded, Phase, GENERATIONS};

    /// Every kind reads back with its generation and start, no ticket is 0, and a permit's
    /// `Option<Ticket>` is one word.
    #[test]
    fn tickets_round_trip_and_have_a_niche() {
        let kinds = [
            Admission::Closed { clean: false },
            Admission::Closed { clean: true },
            Admission::Probe,
            Admission::ForcedClosed,
        ];
        for kind in kinds {
            for gen in [0, 1, GENERATIONS / 2, GENERATIONS - 1] {
                for started in [UNTIMED, timed(0), timed(u64::MAX)] {
                    let ticket = Ticket::new(gen, kind, started);
                    assert_eq!((ticket.kind(), ticket.gen()), (kind, gen));
                    assert_eq!(ticket.is_timed(), started != UNTIMED);
                    assert_eq!(ticket.is_clean_closed(), kind == Admission::Closed { clean: true });
                    assert_ne!(ticket.bits(), 0);
                }
            }
        }
        assert_eq!(core::mem::size_of::<Option<Ticket>>(), core::mem::size_of::<u64>());
    }

    /// The clean CLOSED shortcut builds the ticket the general constructor builds, for every
    /// generation of the layout and an untimed, a timed-at-0 and a wrapped start, and its
    /// parts read back.
    #[test]
    fn a_clean_closed_ticket_from_the_word_is_the_general_one() {
        let closed = Phase::Closed { failures: 0, ramping: false };
        // Every generation natively; a stride and the last one under Miri, which runs this too.
        let stride = if cfg!(miri) { 4_099 } else { 1 };
        for gen in (0..GENERATIONS).step_by(stride).chain([GENERATIONS - 1]) {
            let word = encode(Decoded { gen, phase: closed });
            assert!(layout::is_clean_closed(word));
            assert_eq!(decode(word).gen, gen);
            for started in [UNTIMED, timed(0), timed(12_345), timed(u64::MAX)] {
                let shortcut = Ticket::clean_closed(word, started);
                let general = Ticket::new(gen, Admission::Closed { clean: true }, started);
                assert!(shortcut == general, "gen {gen}, started {started}");
                assert_eq!(shortcut.gen(), gen);
                assert_eq!(shortcut.kind(), Admission::Closed { clean: true });
                assert!(shortcut.is_clean_closed());
                assert_eq!(shortcut.is_timed(), started != UNTIMED);
            }
        }
    }
}
