//! Recovery and health as a user sees them, on the manual clock: each ramp of gradual recovery
//! counts its own calls; a slow probe reopens after a slow-call-rate trip; `failure_count()`
//! and the snapshot keep the count that opened the breaker; a breaker whose open period is over
//! shows as ready to probe; a timeout that is too long says so. Layout-independent: CI runs
//! this file on both word layouts (`--cfg breaker_word32`).

use std::time::Duration;

use breaker_core::{Breaker, CallError, Config, ManualClock, Observer};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Admitted calls (each succeeding) out of `n` attempts, the clock standing still.
fn admitted<O: Observer, P: breaker_core::Policy>(b: &Breaker<&ManualClock, O, P>, n: u32) -> u32 {
    (0..n).filter(|_| b.call(|| Ok::<_, ()>(())).is_ok()).count() as u32
}

#[test]
fn a_second_ramp_admits_its_own_share_from_its_first_call() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(100)).gradual_recovery(ms(1_000), 10);
    let breaker = Breaker::try_new("ramp", config, &clock).unwrap();
    let trip_and_recover = || {
        assert!(matches!(breaker.call(|| Err::<(), _>("down")), Err(CallError::Inner(_))));
        clock.advance(ms(100));
        breaker.call(|| Ok::<_, ()>(())).expect("the probe passes and closes");
        assert_eq!(breaker.snapshot().recovering, Some(0.1));
    };

    // First ramp: 5 calls at 10 % admit ⌊5 · 0.1⌋ = 0; then the ramp runs out.
    trip_and_recover();
    assert_eq!(admitted(&breaker, 5), 0);
    clock.advance(ms(1_000));
    assert_eq!(admitted(&breaker, 1), 1, "the first ramp is over");
    assert_eq!(breaker.snapshot().recovering, None);

    // Second ramp: it starts its own count, so its first 5 calls admit 0 as well (the first
    // ramp's 5 calls used to carry over and let the 5th call through), its first 10 exactly 1,
    // its first 30 exactly 3.
    trip_and_recover();
    assert_eq!(admitted(&breaker, 5), 0);
    assert_eq!(admitted(&breaker, 5), 1);
    assert_eq!(admitted(&breaker, 20), 2);
}
