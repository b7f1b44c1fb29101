//! The HALF_OPEN rejection fast path (`Breaker::acquire_untimed`,
//! `transition::half_open_rejects_untimed`): with every probe slot taken and no probe timeout,
//! a call is rejected on the loaded word without the CAS loop. These tests check what a user
//! sees there: the rejection's state and retry-after, the observer told once per rejection, the
//! call not run, nothing stored (the probe still decides the cycle), and the cases the fast
//! path must leave to the transition function (a free slot, a probe timeout, a replaced config
//! with more slots). And one rule of the probe timer beside it: a stale failed probe does not
//! restart it. Runs on both layouts (`ci/test.sh` builds the host tests with
//! `--cfg breaker_word32` too).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use breaker_core::{Breaker, CallError, CircuitOpen, Config, ManualClock, Observer, State};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Counts rejections, and the HALF_OPEN ones among them.
#[derive(Default)]
struct Rejections {
    count: AtomicU32,
    half_open: AtomicU32,
}

impl Observer for &Rejections {
    fn on_rejected(&self, rejection: &CircuitOpen) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if rejection.state() == State::HalfOpen {
            self.half_open.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn half_open<'a>(
    config: Config,
    clock: &'a ManualClock,
    seen: &'a Rejections,
) -> Breaker<&'a ManualClock, &'a Rejections> {
    let config = config.failure_threshold(1).recovery_timeout(ms(100)).validate().unwrap();
    let b = Breaker::with_observer("db", config, clock, seen);
    assert!(b.call(|| Err::<(), _>("down")).is_err());
    clock.advance(ms(100));
    b
}

#[test]
fn a_full_half_open_breaker_rejects_without_running_the_call_and_the_probe_still_decides() {
    let (clock, seen) = (ManualClock::new(), Rejections::default());
    let b = half_open(Config::new(), &clock, &seen);
    let probe = b.try_acquire().expect("the probe is admitted");
    assert!(probe.is_probe());
    assert_eq!(b.state(), State::HalfOpen);

    let mut ran = 0;
    for _ in 0..3 {
        match b.call(|| {
            ran += 1;
            Ok::<_, ()>(())
        }) {
            Err(CallError::Open(open)) => {
                assert_eq!(open.state(), State::HalfOpen);
                assert_eq!(open.retry_after(), None, "a half-open rejection has no retry time");
                assert_eq!(open.name(), "db");
            }
            other => panic!("expected a half-open rejection, got {other:?}"),
        }
    }
    let open = b.try_acquire().expect_err("the permit path rejects too");
    assert_eq!((open.state(), open.retry_after()), (State::HalfOpen, None));
    assert_eq!(ran, 0, "a rejected call never runs");
    assert_eq!(seen.count.load(Ordering::Relaxed), 4, "the observer hears every rejection once");
    assert_eq!(seen.half_open.load(Ordering::Relaxed), 4);

    // The rejections stored nothing: the one probe is still the only one in flight, and its
    // success closes the breaker.
    assert_eq!(b.snapshot().probes_in_flight, 1);
    probe.success();
    assert_eq!(b.state(), State::Closed);
    assert!(b.call(|| Ok::<_, ()>(())).is_ok());
}

#[test]
fn a_free_probe_slot_is_admitted_and_only_the_slots_beyond_it_are_rejected() {
    let (clock, seen) = (ManualClock::new(), Rejections::default());
    let b = half_open(Config::new().half_open_probes(2).successes_to_close(2), &clock, &seen);
    let first = b.try_acquire().expect("first probe");
    let second = b.try_acquire().expect("a second slot is free");
    assert!(first.is_probe() && second.is_probe());
    assert_eq!(b.try_acquire().expect_err("both slots taken").state(), State::HalfOpen);
    // A probe that gives its slot back (ignored) frees it for the next call.
    second.ignore();
    let third = b.try_acquire().expect("the slot given back is free again");
    assert!(third.is_probe());
    first.success();
    third.success();
    assert_eq!(b.state(), State::Closed);
}

#[cfg(feature = "policies")]
#[test]
fn with_a_probe_timeout_a_rejection_after_it_reopens_the_stuck_cycle() {
    let (clock, seen) = (ManualClock::new(), Rejections::default());
    let b = half_open(Config::new().probe_timeout(ms(50)), &clock, &seen);
    let stuck = b.try_acquire().expect("the probe is admitted");
    clock.advance(ms(49));
    assert_eq!(b.try_acquire().expect_err("before the timeout").state(), State::HalfOpen);
    clock.advance(ms(1));
    let open = b.try_acquire().expect_err("at the timeout the stuck probes reopen");
    assert_eq!(open.state(), State::Open);
    assert!(open.retry_after().is_some());
    assert_eq!(b.state(), State::Open);
    drop(stuck); // of the old cycle: changes nothing
    assert_eq!(b.state(), State::Open);
}

#[cfg(feature = "reconfigure")]
#[test]
fn a_replaced_config_with_more_probe_slots_admits_on_the_same_half_open_word() {
    let (clock, seen) = (ManualClock::new(), Rejections::default());
    let b = half_open(Config::new(), &clock, &seen);
    let first = b.try_acquire().expect("the probe is admitted");
    assert_eq!(b.try_acquire().expect_err("one slot, taken").state(), State::HalfOpen);
    b.reconfigure(Config::new().failure_threshold(1).recovery_timeout(ms(100)).half_open_probes(2))
        .expect("valid config");
    let second = b.try_acquire().expect("the new config's second slot");
    assert!(second.is_probe());
    assert_eq!(b.try_acquire().expect_err("both taken").state(), State::HalfOpen);
    first.success();
    second.success();
    assert_eq!(b.state(), State::Closed);
}

/// A failed probe of an older cycle, settled on a HALF_OPEN word whose phase stamp is unknown
/// (the clock went back), changes nothing: it does not restart the current cycle's probe timer.
/// The timer starts at the first decision that reads it (the rejection that checks for stuck
/// probes), as in the model (`tests/tests/model.rs` found the difference: the failed probe's
/// record reads the clock up front, and that reading used to re-stamp).
#[cfg(feature = "policies")]
#[test]
fn a_stale_failed_probe_does_not_restart_the_probe_timer() {
    use breaker_core::Timestamp;
    let clock = ManualClock::starting_at(Timestamp::from_millis(1_000));
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(1)).probe_timeout(ms(10));
    let b = Breaker::try_new("db", config, &clock).unwrap();
    assert!(b.call(|| Err::<(), _>("down")).is_err());
    clock.advance(ms(1));
    let old = b.try_acquire().expect("the first cycle's probe");
    b.reset();
    assert!(b.call(|| Err::<(), _>("down")).is_err());
    clock.advance(ms(1));
    let current = b.try_acquire().expect("the second cycle's probe");
    assert!(old.is_probe() && current.is_probe());

    clock.set(Timestamp::from_millis(900)); // back 102 ms: the second cycle's stamp is unknown
    old.failure();
    assert_eq!(b.state(), State::HalfOpen, "a probe of another cycle changes nothing");
    clock.advance(ms(10));
    let busy = b.try_acquire().expect_err("the slot is taken");
    assert_eq!(busy.state(), State::HalfOpen, "the timer starts now, not at the stale record");
    clock.advance(ms(10));
    let reopened = b.try_acquire().expect_err("stuck probes reopen");
    assert_eq!(reopened.state(), State::Open);
    drop(current);
}
