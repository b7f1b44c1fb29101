//! State that survives a restart, as a user sees it: a breaker is saved, "the process restarts"
//! (a new breaker on a new clock that starts from zero, or from anywhere), and the saved state is
//! put back. OPEN comes back OPEN for the time it had left and probes exactly then, with its
//! backoff level; CLOSED keeps its count; HALF_OPEN comes back CLOSED; an operator's override
//! survives; anything that does not fit the new breaker is refused with a typed error and the
//! breaker starts fresh. Layout-independent: CI runs this file on both word layouts.

use std::time::Duration;

use breaker_core::limits::WORD_LAYOUT;
use breaker_core::{
    Breaker, CallError, Config, ManualClock, Observer, RateConfig, RestoreError, SavedState, State, Trigger,
    ValidConfig, Window,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

use breaker_tests::TransitionLog as Log;

fn fail<O: Observer>(b: &Breaker<&ManualClock, O>) {
    assert!(matches!(b.call(|| Err::<(), _>("down")), Err(CallError::Inner(_))));
}

fn retry_after<O: Observer>(b: &Breaker<&ManualClock, O>) -> Option<Duration> {
    match b.call(|| Ok::<_, ()>(())) {
        Err(CallError::Open(open)) => open.retry_after(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Through the bytes, as firmware keeps it in no-init RAM.
fn across_restart(saved: SavedState) -> SavedState {
    let bytes: [u8; SavedState::BYTES] = saved.to_bytes();
    SavedState::from_bytes(&bytes).expect("the bytes read back")
}

/// A clock that "restarted": it reads `at` when the new process restores.
fn clock_at(at: u64) -> ManualClock {
    let clock = ManualClock::new();
    clock.advance(ms(at));
    clock
}

#[test]
fn an_open_breaker_comes_back_open_for_the_time_it_had_left_then_probes() {
    let config = Config::new().failure_threshold(2).recovery_timeout(ms(10_000));
    let before = clock_at(123_456);
    let old = Breaker::try_new("db", config, &before).unwrap();
    fail(&old);
    fail(&old);
    before.advance(ms(4_000));
    let saved = across_restart(old.save());
    assert_eq!((saved.state(), saved.retry_after()), (State::Open, Some(ms(6_000))));

    for boot in [0, 7, 5_000_000] {
        let clock = clock_at(boot);
        let config = config.validate().unwrap();
        let new = Breaker::with_observer("db", config, &clock, Log::default());
        new.restore(&saved).unwrap();
        assert_eq!(new.state(), State::Open);
        assert_eq!(new.snapshot().retry_after, Some(ms(6_000)));
        let t = new.observer().last();
        assert_eq!((t.from, t.to, t.trigger), (State::Closed, State::Open, Trigger::Restore));
        // The whole period and the part served before the restart: 6 s left.
        assert_eq!((t.open_duration, t.open_for), (Some(ms(10_000)), Some(ms(4_000))));

        clock.advance(ms(5_999));
        assert_eq!(retry_after(&new), Some(ms(1)), "not a millisecond early");
        clock.advance(ms(1));
        assert_eq!(new.call(|| Ok::<_, ()>("probe")), Ok("probe"));
        assert_eq!(new.state(), State::Closed);
        assert_eq!(
            new.observer().all(),
            [
                (State::Closed, State::Open, Trigger::Restore),
                (State::Open, State::HalfOpen, Trigger::RecoveryTimeout),
                (State::HalfOpen, State::Closed, Trigger::ProbeSucceeded),
            ]
        );
    }
}

#[test]
fn an_open_breaker_whose_period_ran_out_before_the_save_probes_at_once() {
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(1_000));
    let before = ManualClock::new();
    let old = Breaker::try_new("db", config, &before).unwrap();
    fail(&old);
    before.advance(ms(5_000)); // nobody called: still OPEN in the word, ready to probe
    let saved = old.save();
    assert_eq!(saved.retry_after(), Some(Duration::ZERO));
    let clock = ManualClock::new();
    let new = Breaker::try_new("db", config, &clock).unwrap();
    new.restore(&saved).unwrap();
    let probe = new.try_acquire().expect("the probe is admitted at once");
    assert!(probe.is_probe());
    probe.failure();
    assert_eq!(retry_after(&new), Some(ms(1_000)));
}

#[test]
fn the_backoff_level_is_kept() {
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(1_000)).backoff(ms(16_000));
    let before = ManualClock::new();
    let old = Breaker::try_new("api", config, &before).unwrap();
    fail(&old); // open 1 s, level 0
    for open_for in [1_000, 2_000] {
        before.advance(ms(open_for));
        fail(&old); // the probe fails: one level up
    }
    assert_eq!(old.snapshot().backoff_level, 2); // open 4 s
    before.advance(ms(1_000));
    let saved = across_restart(old.save());
    assert_eq!((saved.backoff_level(), saved.retry_after()), (2, Some(ms(3_000))));

    let clock = ManualClock::new();
    let new = Breaker::try_new("api", config, &clock).unwrap();
    new.restore(&saved).unwrap();
    assert_eq!(new.snapshot().backoff_level, 2);
    assert_eq!(retry_after(&new), Some(ms(3_000)));
    clock.advance(ms(3_000));
    fail(&new); // the probe fails: level 3, open 8 s, as the old process would have
    assert_eq!((new.snapshot().backoff_level, retry_after(&new)), (3, Some(ms(8_000))));
}

#[test]
fn a_closed_breaker_keeps_its_count_and_trips_where_it_would_have() {
    let config = Config::new().failure_threshold(5);
    let before = ManualClock::new();
    let old = Breaker::try_new("db", config, &before).unwrap();
    for _ in 0..3 {
        fail(&old);
    }
    let saved = across_restart(old.save());
    assert_eq!((saved.state(), saved.failure_count()), (State::Closed, 3));

    let clock = ManualClock::new();
    let new = Breaker::with_observer("db", config.validate().unwrap(), &clock, Log::default());
    new.restore(&saved).unwrap();
    assert_eq!((new.state(), new.failure_count()), (State::Closed, 3));
    assert!(new.observer().all().is_empty(), "no state change, nothing reported");
    fail(&new);
    assert_eq!(new.state(), State::Closed);
    fail(&new);
    assert_eq!(new.state(), State::Open);
    assert_eq!(new.observer().last().failure_count, 5);
}

#[test]
fn a_half_open_breaker_comes_back_closed_without_failures() {
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(1_000)).backoff(ms(8_000));
    let before = ManualClock::new();
    let old = Breaker::try_new("db", config, &before).unwrap();
    fail(&old);
    before.advance(ms(1_000));
    let probe = old.try_acquire().unwrap(); // in flight when the process dies
    assert_eq!(old.state(), State::HalfOpen);
    let saved = across_restart(old.save());
    drop(probe);
    assert_eq!(saved.state(), State::HalfOpen);

    let clock = ManualClock::new();
    let new = Breaker::try_new("db", config, &clock).unwrap();
    new.restore(&saved).unwrap();
    assert_eq!((new.state(), new.failure_count(), new.snapshot().backoff_level), (State::Closed, 0, 0));
    assert!(new.call(|| Ok::<_, ()>(())).is_ok());
}

#[test]
fn an_operators_override_survives() {
    for state in [State::ForcedOpen, State::ForcedClosed] {
        let clock = ManualClock::new();
        let old = Breaker::try_new("db", Config::new(), &clock).unwrap();
        if state == State::ForcedOpen {
            old.force_open();
        } else {
            old.force_closed();
        }
        let saved = across_restart(old.save());
        let new = Breaker::try_new("db", Config::new(), &clock).unwrap();
        new.restore(&saved).unwrap();
        assert_eq!(new.state(), state);
        new.reset();
        assert_eq!(new.state(), State::Closed);
    }
}

#[test]
fn a_restore_on_a_live_breaker_does_not_count_calls_admitted_before_it() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(2);
    let saver = Breaker::try_new("db", config, &clock).unwrap();
    saver.force_open();
    let saved = saver.save();
    saver.reset();
    let open = {
        fail(&saver);
        fail(&saver);
        saver.save()
    };

    let live = Breaker::try_new("db", config, &clock).unwrap();
    fail(&live);
    let late = live.try_acquire().unwrap(); // admitted with one failure pending
    live.restore(&saved).unwrap();
    late.failure(); // from before the restore: not counted
    assert_eq!(live.state(), State::ForcedOpen);
    live.restore(&open).unwrap(); // a restore over a restore
    assert_eq!(live.state(), State::Open);
}

/// CRC-32 (IEEE), to forge well-formed bytes that a breaker elsewhere might have written.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn forged(saved: SavedState, edit: impl Fn(&mut [u8; SavedState::BYTES])) -> SavedState {
    let mut b = saved.to_bytes();
    edit(&mut b);
    let crc = crc32(&b[..20]).to_le_bytes();
    b[20..].copy_from_slice(&crc);
    SavedState::from_bytes(&b).expect("well-formed")
}

/// Refused with `expected`, and the breaker is exactly as fresh as before.
fn refused(config: ValidConfig, saved: &SavedState, expected: RestoreError) {
    let clock = ManualClock::new();
    let fresh = Breaker::with_observer("db", config, &clock, Log::default());
    let before = fresh.snapshot();
    assert_eq!(fresh.restore(saved), Err(expected));
    assert_eq!(fresh.snapshot(), before);
    assert!(fresh.observer().all().is_empty());
    assert_eq!(fresh.call(|| Ok::<_, ()>(1)), Ok(1));
}

#[test]
fn what_does_not_fit_is_refused_and_the_breaker_starts_fresh() {
    let clock = ManualClock::new();
    let ten_s = Config::new().failure_threshold(1).recovery_timeout(ms(10_000));
    let old = Breaker::try_new("db", ten_s, &clock).unwrap();
    fail(&old);
    let open_10s = old.save();

    // Another word layout: saved by a 32-bit microcontroller, restored on a 64-bit host (or the
    // other way round).
    let (other, width) = if WORD_LAYOUT == "64-bit" { ("32-bit", 32) } else { ("64-bit", 64) };
    let foreign = forged(open_10s, |b| b[2] = width);
    assert_eq!(foreign.layout(), other);
    refused(ten_s.validate().unwrap(), &foreign, RestoreError::Layout { saved: other, current: WORD_LAYOUT });

    // Another config shape: more time left than the new config stays open.
    let one_s = ten_s.recovery_timeout(ms(1_000)).validate().unwrap();
    refused(one_s, &open_10s, RestoreError::RetryAfter { ms: 10_000, max_ms: 1_000 });

    // A count the new threshold could never have left pending.
    let lenient = Breaker::try_new("db", Config::new().failure_threshold(10), &clock).unwrap();
    for _ in 0..4 {
        fail(&lenient);
    }
    let strict = Config::new().failure_threshold(3).validate().unwrap();
    refused(strict, &lenient.save(), RestoreError::FailureCount { count: 4, threshold: 3 });

    // A backoff level the new config never reaches (no backoff: level 0 only), and one no
    // layout holds.
    let backoff = Config::new().failure_threshold(1).recovery_timeout(ms(100)).backoff(ms(400));
    let climbing = Breaker::try_new("db", backoff, &clock).unwrap();
    fail(&climbing);
    clock.advance(ms(100));
    fail(&climbing);
    let level_1 = climbing.save();
    assert_eq!(level_1.backoff_level(), 1);
    let flat = Config::new().failure_threshold(1).recovery_timeout(ms(100)).validate().unwrap();
    refused(flat, &level_1, RestoreError::BackoffLevel { level: 1, max: 0 });
    let absurd = forged(level_1, |b| b[5] = 200);
    let v = backoff.validate().unwrap();
    refused(v, &absurd, RestoreError::BackoffLevel { level: 200, max: 2 });

    // The other kind of policy.
    let rule = RateConfig::new(500, 10).validate().unwrap();
    let window: Window<4> = Window::count(10, rule).unwrap();
    let rate = Breaker::with_policy("db", ten_s.validate().unwrap(), &clock, Log::default(), window);
    assert_eq!(
        rate.restore(&open_10s),
        Err(RestoreError::Policy { saved: "consecutive-failure", current: "rate-window" })
    );
    assert_eq!((rate.state(), rate.observer().all().len()), (State::Closed, 0));

    // Bytes that are not a saved state at all.
    let mut damaged = open_10s.to_bytes();
    damaged[12] ^= 0x10;
    assert_eq!(SavedState::from_bytes(&damaged), Err(RestoreError::Corrupt));
    assert_eq!(SavedState::from_bytes(&[0; SavedState::BYTES]), Err(RestoreError::Corrupt));
    let mut newer = open_10s.to_bytes();
    newer[1] = 2;
    let crc = crc32(&newer[..20]).to_le_bytes();
    newer[20..].copy_from_slice(&crc);
    assert_eq!(
        SavedState::from_bytes(&newer),
        Err(RestoreError::UnsupportedFormat { found: 2, supported: 1 })
    );
    let err = RestoreError::Layout { saved: "32-bit", current: "64-bit" };
    assert_eq!(
        err.to_string(),
        "cannot restore breaker state: saved on the 32-bit word layout, this build uses the 64-bit layout"
    );
}

#[test]
fn a_rate_window_breaker_restores_its_state_but_not_its_window() {
    let clock = ManualClock::new();
    let rule = RateConfig::new(500, 4).validate().unwrap();
    let config = Config::new().recovery_timeout(ms(5_000)).validate().unwrap();
    let old = Breaker::with_policy("api", config, &clock, (), Window::<4>::count(4, rule).unwrap());
    for _ in 0..4 {
        let _ = old.call(|| Err::<(), _>("down"));
    }
    assert_eq!(old.state(), State::Open);
    clock.advance(ms(2_000));
    let saved = across_restart(old.save());

    let clock = ManualClock::new();
    let new = Breaker::with_policy("api", config, &clock, (), Window::<4>::count(4, rule).unwrap());
    new.restore(&saved).unwrap();
    assert_eq!(new.snapshot().retry_after, Some(ms(3_000)));
    clock.advance(ms(3_000));
    assert!(new.call(|| Ok::<_, ()>(())).is_ok(), "the probe");
    assert_eq!(new.state(), State::Closed);
    assert_eq!(new.snapshot().window.map(|w| w.calls), Some(0), "a fresh window");
}

const STATIC_CONFIG: ValidConfig =
    match Config::new().failure_threshold(3).recovery_timeout(Duration::from_secs(30)).validate() {
        Ok(c) => c,
        Err(_) => panic!("invalid config"),
    };
static STATIC_CLOCK: ManualClock = ManualClock::new();
static SENSOR: Breaker<&ManualClock> = Breaker::new("sensor", STATIC_CONFIG, &STATIC_CLOCK);

#[test]
fn a_static_breaker_is_restored_at_boot() {
    // What the previous firmware run left in no-init RAM.
    let kept = {
        let clock = ManualClock::new();
        let run = Breaker::new("sensor", STATIC_CONFIG, &clock);
        for _ in 0..3 {
            fail(&run);
        }
        clock.advance(ms(10_000));
        run.save().to_bytes()
    };
    match SavedState::from_bytes(&kept) {
        Ok(saved) => SENSOR.restore(&saved).unwrap(),
        Err(e) => panic!("{e}"),
    }
    assert_eq!((SENSOR.state(), retry_after(&SENSOR)), (State::Open, Some(ms(20_000))));
    STATIC_CLOCK.advance(ms(20_000));
    assert!(SENSOR.call(|| Ok::<_, ()>(())).is_ok());
    assert_eq!(SENSOR.state(), State::Closed);
}
