//! Loom models of a remote transition racing local calls (issue 14): the fleet adapter
//! (`breaker-redis`, `redis-adapter/src/task.rs`) applies other replicas' decisions to a local
//! breaker through the public API while the replica's own callers trip it and probe it. Every
//! interleaving (bounded by `LOOM_MAX_PREEMPTIONS`) of one remote operation with a few local
//! calls is explored against the real CAS loop, transition function and restore step.
//!
//! ```text
//! RUSTFLAGS="--cfg breaker_loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test -p breaker-core --test loom_remote --release
//! ```
//!
//! The remote operations are the task's own calls, in its order:
//!
//! - a fleet open (`Apply::Open`, and the probe-lease hold of `fleet_probe`) is `restore_open`:
//!   `restore(save().with_open(level, max(ms, 1)))`;
//! - a fleet close (`Apply::Close`) is `restore(save().with_closed())`;
//! - a fleet reset (`Apply::Reset`) is `reset()`, a fleet force open (`Apply::ForceOpen`)
//!   `force_open()`.
//!
//! What every model checks, besides its own end state: each transition the observer heard is a
//! legal edge of the state machine, and ordered by generation they form one unbroken chain from
//! the state the model started in to the state the breaker ends in (none reported twice, none
//! missing, as in `loom.rs`); every admitted call was settled once (the observer heard one
//! outcome per admission, stale ones included); and the probe slots are all free at the end (after
//! the open period passes, exactly `half_open_probes` probes are admitted).
//!
//! The `ManualClock`, and the observer's outcome counter, use ordinary atomics that loom does
//! not track: loom runs its threads one at a time on one OS thread, so they are deterministic
//! for a given schedule; only the model's main thread moves the clock, before or after the
//! threads run.
//!
//! The file is empty unless built with `--cfg breaker_loom` (and the `policies` feature, for
//! the backoff levels the fleet restores at).
#![cfg(all(breaker_loom, feature = "policies"))]

use core::sync::atomic::{AtomicUsize as PlainCounter, Ordering as PlainOrdering};
use core::time::Duration;

use breaker_core::limits::GENERATIONS;
use breaker_core::{Breaker, Config, ManualClock, Observer, Snapshot, State, Transition, Trigger, Verdict};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// Recovery timeout of every model; with [`BACKOFF`], open periods are 1 s, 2 s, 4 s at levels
/// 0, 1, 2.
const RECOVERY: Duration = Duration::from_millis(1_000);
const BACKOFF: Duration = Duration::from_millis(4_000);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Observer that keeps every reported transition and counts outcomes.
struct Recorder {
    log: Mutex<Vec<Transition>>,
    /// Outcomes heard (`on_outcome`): one per settled permit, stale ones included. Read only
    /// once the threads are joined.
    outcomes: PlainCounter,
}

impl Observer for Recorder {
    fn on_transition(&self, t: &Transition) {
        self.log.lock().unwrap().push(*t);
    }

    fn on_outcome(&self, _: &'static str, _: Verdict) {
        self.outcomes.fetch_add(1, PlainOrdering::SeqCst);
    }
}

type TestBreaker = Breaker<ManualClock, Recorder>;

/// Runs `f` under loom; `LOOM_MAX_PREEMPTIONS` decides the preemption bound, defaulting to 2.
fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// A breaker with `config`, the models' recovery timeout and backoff.
fn breaker(config: Config) -> Arc<TestBreaker> {
    Arc::new(Breaker::with_observer(
        "loom",
        config.recovery_timeout(RECOVERY).backoff(BACKOFF).validate().unwrap(),
        ManualClock::new(),
        Recorder { log: Mutex::new(Vec::new()), outcomes: PlainCounter::new(0) },
    ))
}

/// The fleet task's `restore_open`: the breaker's own saved form made OPEN at `level` with `ms`
/// left (at least 1 ms), restored. The values the models pass fit the config, so the task's
/// fitting retry (`decide::fit`, only on a `RestoreError`) never runs.
fn fleet_open(b: &TestBreaker, level: u32, ms: u64) {
    let saved = b.save().with_open(level, Duration::from_millis(ms.max(1))).unwrap();
    b.restore(&saved).unwrap();
}

/// The fleet task's `Apply::Close`: the breaker's own saved form made CLOSED, restored.
fn fleet_close(b: &TestBreaker) {
    b.restore(&b.save().with_closed()).unwrap();
}

/// Admissions made by the local threads, to compare with the outcomes the observer heard.
#[derive(Default)]
struct Admitted(PlainCounter);

impl Admitted {
    fn one(&self) {
        self.0.fetch_add(1, PlainOrdering::SeqCst);
    }

    fn get(&self) -> usize {
        self.0.load(PlainOrdering::SeqCst)
    }
}

/// Where a model starts checking from (as in `loom.rs`).
#[derive(Clone, Copy)]
struct Mark {
    reported: usize,
    state: State,
    gen: u32,
}

fn mark(b: &TestBreaker) -> Mark {
    let s = b.snapshot();
    let log = b.observer().log.lock().unwrap();
    Mark { reported: log.len(), state: word_state(&log, &s), gen: s.generation }
}

/// The state the word is in: the state entered by the transition into the snapshot's
/// generation (an OPEN breaker past its open period shows as HALF_OPEN), or the snapshot's.
fn word_state(log: &[Transition], s: &Snapshot) -> State {
    log.iter().rev().find(|t| t.generation == s.generation).map_or(s.state, |t| t.to)
}

/// `true` when a breaker whose word is in `state` may show `s` (OPEN past its period shows
/// HALF_OPEN, ready to probe).
fn shows(state: State, s: &Snapshot) -> bool {
    s.state == state
        || (state == State::Open
            && s.state == State::HalfOpen
            && s.probes_in_flight == 0
            && s.retry_after.is_none())
}

/// `true` for an edge of the state machine: what each trigger may do.
fn legal(from: State, to: State, trigger: Trigger) -> bool {
    use State::{Closed, ForcedClosed, ForcedOpen, HalfOpen, Open};
    match trigger {
        Trigger::FailureThreshold | Trigger::FailureRate | Trigger::SlowCallRate => {
            (from, to) == (Closed, Open)
        }
        Trigger::RecoveryTimeout => (from, to) == (Open, HalfOpen),
        Trigger::ProbeSucceeded => (from, to) == (HalfOpen, Closed),
        Trigger::ProbeFailed | Trigger::ProbeTimeout => (from, to) == (HalfOpen, Open),
        Trigger::ForceOpen => to == ForcedOpen && from != ForcedOpen,
        Trigger::ForceClosed => to == ForcedClosed && from != ForcedClosed,
        Trigger::Reset => to == Closed,
        // A restore reports only a change of state, and never enters HALF_OPEN (a saved
        // HALF_OPEN comes back CLOSED).
        Trigger::Restore => from != to && to != HalfOpen,
        _ => false,
    }
}

/// The transitions reported since `m`, checked to be legal edges forming one chain from `m` to
/// the breaker's current state and generation (call once all threads are joined).
fn chain_since(b: &TestBreaker, m: Mark) -> Vec<(State, State, Trigger)> {
    let mut ts: Vec<Transition> = b.observer().log.lock().unwrap()[m.reported..].to_vec();
    let offset = |g: u32| (g + GENERATIONS - m.gen) % GENERATIONS;
    ts.sort_by_key(|t| offset(t.generation));
    let (mut state, mut gen) = (m.state, m.gen);
    for t in &ts {
        gen = (gen + 1) % GENERATIONS;
        assert!(legal(t.from, t.to, t.trigger), "illegal edge {t:?} in {ts:?}");
        assert_eq!(t.generation, gen, "generation skipped or reported twice: {ts:?}");
        assert_eq!(t.from, state, "transitions do not chain: {ts:?}");
        state = t.to;
    }
    let s = b.snapshot();
    assert!(
        gen == s.generation && shows(state, &s),
        "reported transitions ({state:?}, {gen}) do not end in the breaker's state {s:?}: {ts:?}"
    );
    ts.iter().map(|t| (t.from, t.to, t.trigger)).collect()
}

/// The reported transition with `trigger` since `m` (the first, in report order).
fn reported(b: &TestBreaker, m: Mark, trigger: Trigger) -> Transition {
    *b.observer().log.lock().unwrap()[m.reported..].iter().find(|t| t.trigger == trigger).unwrap()
}

/// Every admitted call was settled exactly once: one outcome heard per admission since `before`
/// (the outcomes heard when the threads started).
fn all_settled(b: &TestBreaker, before: usize, admitted: &Admitted) {
    let heard = b.observer().outcomes.load(PlainOrdering::SeqCst) - before;
    assert_eq!(heard, admitted.get(), "outcomes heard for the calls admitted");
}

/// Trips a `failure_threshold(1)` breaker and lets its open period (level 0) pass: the next
/// acquire is the first probe.
fn open_and_time_out(b: &TestBreaker) {
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
    b.clock().advance(RECOVERY);
    assert_eq!(b.state(), State::HalfOpen, "ready to probe");
}

/// Trips a CLOSED `failure_threshold(1)` breaker: its level-0 period is then left.
fn trip_now(b: &TestBreaker) -> Duration {
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
    RECOVERY
}

/// An OPEN breaker with `left` of its open period to go lets exactly its one probe slot be
/// taken once that has passed: no slot was leaked by a stale probe.
fn one_probe_after(b: &TestBreaker, left: Duration) {
    if !left.is_zero() {
        b.clock().advance(left - ms(1));
        assert!(b.try_acquire().is_err(), "a probe 1 ms before the open period ends");
        b.clock().advance(ms(1));
    }
    let probe = b.try_acquire().expect("the open period is over: a probe slot is free");
    assert!(probe.is_probe());
    assert!(b.try_acquire().is_err(), "a second probe with half_open_probes(1)");
    probe.success();
    assert_eq!(b.state(), State::Closed);
}

/// Model 1: a fleet open (another replica's trip, applied as `restore_open` at level 1 with
/// 1.5 s left) racing a local thread whose two failing calls trip the breaker (threshold 2).
///
/// Proves: the breaker always ends OPEN in the *fleet's* open period (level 1, 1.5 s left) —
/// a local trip before the restore is overwritten in place (unreported: the state does not
/// change), a local failure after it belongs to a stale generation and is not counted, so no
/// interleaving leaves the local trip's shorter period in force or trips twice. Exactly one
/// transition into OPEN is reported (the local trip's, or the restore's with its level, open
/// duration and time served), the count shown is the threshold's either way, every admitted
/// call is settled, and the probe slot is free once the fleet's period passes.
#[test]
fn a_fleet_open_racing_a_local_trip_ends_in_the_fleet_period() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(2).half_open_probes(1));
        let m = mark(&b);
        let admitted = Arc::new(Admitted::default());
        let remote = {
            let b = b.clone();
            thread::spawn(move || fleet_open(&b, 1, 1_500))
        };
        let local = {
            let (b, admitted) = (b.clone(), admitted.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    if let Ok(p) = b.try_acquire() {
                        admitted.one();
                        p.failure();
                    }
                }
            })
        };
        remote.join().unwrap();
        local.join().unwrap();

        let s = b.snapshot();
        assert_eq!((s.state, s.backoff_level, s.retry_after), (State::Open, 1, Some(ms(1_500))));
        assert_eq!((s.failure_count, b.failure_count()), (2, 2), "the threshold's count");
        let chain = chain_since(&b, m);
        if chain == [(State::Closed, State::Open, Trigger::FailureThreshold)] {
            // Both failures counted before the restore, which then replaced the period in place.
            assert_eq!(admitted.get(), 2);
            let t = reported(&b, m, Trigger::FailureThreshold);
            assert_eq!((t.failure_count, t.threshold, t.backoff_level), (2, 2, 0));
        } else {
            assert_eq!(chain, [(State::Closed, State::Open, Trigger::Restore)]);
            let t = reported(&b, m, Trigger::Restore);
            assert_eq!((t.failure_count, t.backoff_level), (2, 1));
            assert_eq!((t.open_duration, t.open_for), (Some(ms(2_000)), Some(ms(500))));
        }
        all_settled(&b, 0, &admitted);
        one_probe_after(&b, ms(1_500));
    });
}

/// The end of a probe-lease hold (level 0, 500 ms) racing local probes, models 2 and 2b:
/// `probe` is the verdict of the one probe admitted, if one was. The breaker is OPEN at the
/// hold's level with the hold's 500 ms left, whichever went first, and the chain is one of the
/// legal linearizations; returns nothing, asserts.
fn check_hold(b: &TestBreaker, m: Mark, probe: Option<Verdict>) {
    use State::{Closed as C, HalfOpen as H, Open as O};
    use Trigger::{ProbeFailed as Pf, ProbeSucceeded as Ps, RecoveryTimeout as Rt, Restore as R};
    let s = b.snapshot();
    assert_eq!((s.state, s.backoff_level, s.retry_after), (O, 0, Some(ms(500))), "{s:?}");
    assert_eq!(s.probes_in_flight, 0);
    let chain = chain_since(b, m);
    let count = match (probe, chain.as_slice()) {
        // The hold first: OPEN extended in place (unreported), the probe rejected.
        (None, []) => 1,
        // The hold while the probe was out: its verdict is stale and changes nothing.
        (Some(_), [(O, H, Rt), (H, O, R)]) => 1,
        // The probe settled first and closed the breaker; the hold reopened it.
        (Some(Verdict::Success), [(O, H, Rt), (H, C, Ps), (C, O, R)]) => 1,
        // The probe settled first and reopened it (level 1); the hold replaced that period in
        // place, at its own level.
        (Some(Verdict::Failure), [(O, H, Rt), (H, O, Pf)]) => {
            assert_eq!(reported(b, m, Pf).backoff_level, 1);
            2
        }
        other => panic!("not a legal linearization: {other:?}"),
    };
    // The count that opened the breaker (the threshold, 1), plus a failed probe that counted.
    assert_eq!((s.failure_count, b.failure_count()), (count, count));
}

/// Model 2: the probe-lease hold (`fleet_probe` lost the lease: `restore_open` at the level of
/// the task's snapshot, 0, for half a lease, 500 ms) racing a local half-open probe that takes
/// the permit, tries for a second one while holding it, and settles success, then failure.
///
/// Proves: the probe's settlement and the restore serialize — the probe is either not admitted
/// (the hold came first and extended OPEN in place), or admitted and then counted only if it
/// settled before the hold (closing or reopening the breaker, which the hold then reopens or
/// extends), or made stale by the hold (HALF_OPEN → OPEN, `Restore`) and then changes nothing;
/// no second probe is admitted while the first is out; the breaker always ends OPEN at the
/// hold's level with the hold's 500 ms left, showing the count that opened it (plus the failed
/// probe, if it counted); and the slot is not leaked: once the 500 ms pass, one probe is
/// admitted, one only.
#[test]
fn a_fleet_hold_racing_a_local_probe_serializes_with_its_settlement() {
    for verdict in [Verdict::Success, Verdict::Failure] {
        model(move || {
            let b = breaker(Config::new().failure_threshold(1).half_open_probes(1));
            open_and_time_out(&b);
            let m = mark(&b);
            let before = b.observer().outcomes.load(PlainOrdering::SeqCst);
            let admitted = Arc::new(Admitted::default());
            // What the task saw before it asked for the lease: ready to probe, at level 0.
            let level = b.snapshot().backoff_level;
            let remote = {
                let b = b.clone();
                thread::spawn(move || fleet_open(&b, level, 500))
            };
            let local = {
                let (b, admitted) = (b.clone(), admitted.clone());
                thread::spawn(move || {
                    let p = b.try_acquire().ok()?;
                    admitted.one();
                    assert!(p.is_probe());
                    // Held: whether HALF_OPEN or reopened by the hold, nothing else passes.
                    assert!(b.try_acquire().is_err(), "two probes with half_open_probes(1)");
                    b.settle(p.into_ticket(), verdict);
                    Some(verdict)
                })
            };
            remote.join().unwrap();
            let probe = local.join().unwrap();
            check_hold(&b, m, probe);
            all_settled(&b, before, &admitted);
            one_probe_after(&b, ms(500));
        });
    }
}

/// Model 2b: the probe-lease hold racing two local callers that both try to probe and fail,
/// with `half_open_probes(1)`. (Failures: a successful probe would close the breaker and let the
/// other caller in as an ordinary CLOSED call, which model 2 and `loom.rs` cover.)
///
/// Proves: at most one probe is admitted at all, so never two out at once (the other caller
/// finds the slot taken, the breaker reopened by the failed probe, or the hold),
/// and the end is one of model 2's linearizations for a failed probe; the slot is not leaked.
#[test]
fn a_fleet_hold_racing_two_local_probes_admits_one() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(1).half_open_probes(1));
        open_and_time_out(&b);
        let m = mark(&b);
        let before = b.observer().outcomes.load(PlainOrdering::SeqCst);
        let admitted = Arc::new(Admitted::default());
        let remote = {
            let b = b.clone();
            thread::spawn(move || fleet_open(&b, 0, 500))
        };
        let probers: Vec<_> = (0..2)
            .map(|_| {
                let (b, admitted) = (b.clone(), admitted.clone());
                thread::spawn(move || {
                    let p = b.try_acquire().ok()?;
                    assert!(p.is_probe());
                    admitted.one();
                    p.failure();
                    Some(Verdict::Failure)
                })
            })
            .collect();
        remote.join().unwrap();
        let probes: Vec<Verdict> = probers.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert!(probes.len() <= 1, "{probes:?}: two probes admitted in one cycle");
        check_hold(&b, m, probes.first().copied());
        all_settled(&b, before, &admitted);
        one_probe_after(&b, ms(500));
    });
}

/// Model 3: a fleet close (`Apply::Close`, another replica's probe closed the fleet:
/// `restore(save().with_closed())`) racing a local thread making two failing calls on a
/// breaker ready to probe (threshold 1): a failed probe (a local re-trip), then a call that
/// trips CLOSED again if the close came first.
///
/// Proves: the close is never lost and never doubled (exactly one `Restore` into CLOSED is
/// reported, whichever of OPEN and HALF_OPEN it finds), a probe it makes stale is not counted,
/// and the end state is one of the four legal linearizations: CLOSED (the close came last) or
/// OPEN by a fresh local trip after the close, at backoff level 0 (the close dropped the level
/// the failed probe raised) with the full level-0 period left. Every call is settled and no
/// probe slot is leaked.
#[test]
fn a_fleet_close_racing_a_local_retrip() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(1).half_open_probes(1));
        open_and_time_out(&b);
        let m = mark(&b);
        let before = b.observer().outcomes.load(PlainOrdering::SeqCst);
        let admitted = Arc::new(Admitted::default());
        let remote = {
            let b = b.clone();
            thread::spawn(move || fleet_close(&b))
        };
        let local = {
            let (b, admitted) = (b.clone(), admitted.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    if let Ok(p) = b.try_acquire() {
                        admitted.one();
                        p.failure();
                    }
                }
            })
        };
        remote.join().unwrap();
        local.join().unwrap();

        use State::{Closed as C, HalfOpen as H, Open as O};
        use Trigger::{FailureThreshold as Ft, ProbeFailed as Pf, RecoveryTimeout as Rt, Restore as R};
        let chain = chain_since(&b, m);
        let linearizations: [&[(State, State, Trigger)]; 4] = [
            // The close first; the first call trips the closed breaker, the second is rejected.
            &[(O, C, R), (C, O, Ft)],
            // The close while the probe was out (stale); the second call trips.
            &[(O, H, Rt), (H, C, R), (C, O, Ft)],
            // The probe failed (level 1), the second call was rejected, then the close.
            &[(O, H, Rt), (H, O, Pf), (O, C, R)],
            // The probe failed, the close, the second call trips.
            &[(O, H, Rt), (H, O, Pf), (O, C, R), (C, O, Ft)],
        ];
        assert!(linearizations.contains(&chain.as_slice()), "not a legal linearization: {chain:?}");
        assert_eq!(chain.iter().filter(|t| t.2 == R).count(), 1, "the close reported once");
        // One admission per failure counted, and one for a probe the close made stale.
        let stale = usize::from(chain.starts_with(&[(O, H, Rt), (H, C, R)]));
        let counted = chain.iter().filter(|t| matches!(t.2, Pf | Ft)).count();
        assert_eq!(admitted.get(), counted + stale);
        all_settled(&b, before, &admitted);
        let s = b.snapshot();
        match chain.last().unwrap() {
            (O, C, R) => {
                assert_eq!((s.state, s.failure_count, s.backoff_level), (C, 0, 0));
                one_probe_after(&b, trip_now(&b));
            }
            (C, O, Ft) => {
                assert_eq!((s.state, s.failure_count, s.backoff_level), (O, 1, 0));
                assert_eq!(s.retry_after, Some(RECOVERY), "a fresh level-0 period");
                one_probe_after(&b, RECOVERY);
            }
            other => panic!("{other:?}"),
        }
    });
}

/// Model 4: a fleet reset (`Apply::Reset`, an operator's `Fleet::reset` on another replica:
/// `reset()`) racing a local thread whose two failing calls reach the threshold (2) from a
/// clean CLOSED.
///
/// Proves: the reset is reported exactly once, into a fresh generation, and the end state is a
/// legal linearization: the trip before the reset (CLOSED, nothing counted), the reset before
/// or between the failures (CLOSED with the failures admitted after it counted, never one
/// admitted before it: its permit is stale), or both failures after the reset (OPEN, reported
/// once). A failure admitted after the reset returned is always counted.
#[test]
fn a_fleet_reset_racing_a_local_trip() {
    model(|| {
        let b = breaker(Config::new().failure_threshold(2).half_open_probes(1));
        let m = mark(&b);
        let admitted = Arc::new(Admitted::default());
        let reset_done = Arc::new(AtomicBool::new(false));
        let remote = {
            let (b, reset_done) = (b.clone(), reset_done.clone());
            thread::spawn(move || {
                b.reset();
                reset_done.store(true, Ordering::Release);
            })
        };
        let local = {
            let (b, admitted, reset_done) = (b.clone(), admitted.clone(), reset_done.clone());
            thread::spawn(move || {
                // Failures admitted once the reset had certainly returned.
                let mut after = 0;
                for _ in 0..2 {
                    let known = reset_done.load(Ordering::Acquire);
                    if let Ok(p) = b.try_acquire() {
                        admitted.one();
                        after += u32::from(known);
                        p.failure();
                    }
                }
                after
            })
        };
        remote.join().unwrap();
        let after = local.join().unwrap();

        use State::{Closed as C, Open as O};
        let chain = chain_since(&b, m);
        let s = b.snapshot();
        match chain.as_slice() {
            // Both failures in the old generation trip it; the reset closes it.
            [(C, O, Trigger::FailureThreshold), (O, C, Trigger::Reset)] => {
                assert_eq!((s.state, s.failure_count, after), (C, 0, 0));
            }
            // The reset, then both failures in the new generation.
            [(C, C, Trigger::Reset), (C, O, Trigger::FailureThreshold)] => {
                assert_eq!((s.state, s.failure_count, s.retry_after), (O, 2, Some(RECOVERY)));
                assert_eq!(reported(&b, m, Trigger::FailureThreshold).failure_count, 2);
            }
            // The reset before, between or around the failures: only those after it count.
            [(C, C, Trigger::Reset)] => {
                assert_eq!(s.state, C);
                assert!(s.failure_count <= 1, "{s:?}");
                assert!(s.failure_count >= after, "a failure after the reset was lost: {s:?}");
            }
            other => panic!("not a legal linearization: {other:?}"),
        }
        assert_eq!(admitted.get(), 2, "CLOSED or OPEN after both: the second call is admitted");
        all_settled(&b, 0, &admitted);
        if s.state == C {
            // The failures counted in the new generation carry on: the next failure or two trip.
            while b.state() == C {
                b.try_acquire().unwrap().failure();
            }
        }
        one_probe_after(&b, RECOVERY);
    });
}

/// Model 5: a fleet force open (`Apply::ForceOpen`: `force_open()`) racing a local half-open
/// probe that settles success, then failure.
///
/// Proves: the breaker always ends FORCED_OPEN (the probe's verdict, if it came first, is
/// overridden; if it came after, it is stale and changes nothing), reported once from whatever
/// state the probe left; no call is admitted once `force_open` has returned (to a thread that
/// knows it has); and after the fleet's reset, the breaker counts from zero and its probe slot
/// is free.
#[test]
fn a_fleet_force_open_racing_a_local_probe() {
    for verdict in [Verdict::Success, Verdict::Failure] {
        model(move || {
            let b = breaker(Config::new().failure_threshold(1).half_open_probes(1));
            open_and_time_out(&b);
            let m = mark(&b);
            let before = b.observer().outcomes.load(PlainOrdering::SeqCst);
            let admitted = Arc::new(Admitted::default());
            let forced = Arc::new(AtomicBool::new(false));
            let remote = {
                let (b, forced) = (b.clone(), forced.clone());
                thread::spawn(move || {
                    b.force_open();
                    forced.store(true, Ordering::Release);
                })
            };
            let local = {
                let (b, admitted, forced) = (b.clone(), admitted.clone(), forced.clone());
                thread::spawn(move || {
                    let after_force = forced.load(Ordering::Acquire);
                    match b.try_acquire() {
                        Ok(p) => {
                            assert!(!after_force, "admitted after force_open returned");
                            assert!(p.is_probe());
                            admitted.one();
                            b.settle(p.into_ticket(), verdict);
                        }
                        Err(e) => assert!(e.state().rejects_calls()),
                    }
                })
            };
            remote.join().unwrap();
            local.join().unwrap();

            use State::{Closed as C, ForcedOpen as Fo, HalfOpen as H, Open as O};
            let chain = chain_since(&b, m);
            let settled_first = match verdict {
                Verdict::Success => (H, C, Trigger::ProbeSucceeded),
                _ => (H, O, Trigger::ProbeFailed),
            };
            let probed = (O, H, Trigger::RecoveryTimeout);
            assert!(
                chain == [(O, Fo, Trigger::ForceOpen)]
                    || chain == [probed, (H, Fo, Trigger::ForceOpen)]
                    || chain == [probed, settled_first, (settled_first.1, Fo, Trigger::ForceOpen)],
                "{verdict:?}: not a legal linearization: {chain:?}"
            );
            assert_eq!(admitted.get(), usize::from(chain.len() > 1));
            all_settled(&b, before, &admitted);
            let s = b.snapshot();
            assert_eq!((s.state, s.failure_count, s.probes_in_flight), (Fo, 0, 0));
            assert_eq!(b.try_acquire().unwrap_err().state(), Fo);
            // The fleet's reset ends it: CLOSED, counting afresh, one probe slot after a trip.
            b.reset();
            assert_eq!((b.state(), b.failure_count()), (C, 0));
            one_probe_after(&b, trip_now(&b));
        });
    }
}
