//! `EmbassyClock` on embassy-time's mock driver (1 MHz): readings, and a breaker that trips,
//! rejects and recovers on embassy time. Run on both word layouts (ci/test.sh adds
//! `--cfg breaker_word32`).
#![cfg(feature = "embassy-time")]

use std::sync::Mutex;
use std::time::Duration;

use breaker_core::{Breaker, CallError, Clock, Config, EmbassyClock, State, Timestamp};
use embassy_time::{Instant, MockDriver, TICK_HZ};
use proptest::prelude::*;

/// The mock driver is one global clock: the tests that move it take turns.
static DRIVER: Mutex<()> = Mutex::new(());

fn driver() -> (std::sync::MutexGuard<'static, ()>, &'static MockDriver) {
    let guard = DRIVER.lock().unwrap_or_else(|e| e.into_inner());
    let driver = MockDriver::get();
    driver.reset();
    (guard, driver)
}

#[test]
fn reads_the_driver_in_whole_milliseconds() {
    let (_turn, driver) = driver();
    assert_eq!(TICK_HZ, 1_000_000, "the mock driver ticks at 1 MHz");
    assert_eq!(EmbassyClock.now(), Timestamp::ZERO);
    driver.advance(embassy_time::Duration::from_micros(1_999));
    assert_eq!(EmbassyClock.now().as_millis(), 1, "truncated, not rounded");
    driver.advance(embassy_time::Duration::from_micros(1));
    assert_eq!(EmbassyClock.now().as_millis(), 2);
    driver.advance(embassy_time::Duration::from_secs(3_600));
    assert_eq!(EmbassyClock.now().as_millis(), 3_600_002);
    assert_eq!(EmbassyClock.now(), EmbassyClock::timestamp(Instant::now()));
}

#[test]
fn a_breaker_trips_and_recovers_on_embassy_time() {
    let (_turn, driver) = driver();
    let config = Config::new().failure_threshold(2).recovery_timeout(Duration::from_millis(250));
    let modem = Breaker::try_new("modem", config, EmbassyClock).unwrap();
    driver.advance(embassy_time::Duration::from_millis(10));
    for _ in 0..2 {
        assert_eq!(modem.call(|| Err::<(), _>("no carrier")), Err(CallError::Inner("no carrier")));
    }
    assert_eq!(modem.state(), State::Open);

    driver.advance(embassy_time::Duration::from_millis(100));
    let open = modem.try_acquire().unwrap_err();
    assert_eq!(open.retry_after(), Some(Duration::from_millis(150)));

    driver.advance(embassy_time::Duration::from_micros(149_999));
    assert!(modem.try_acquire().is_err(), "149.999 ms is not yet 150 ms");
    driver.advance(embassy_time::Duration::from_micros(1));
    let probe = modem.try_acquire().expect("the half-open probe");
    assert!(probe.is_probe());
    probe.success();
    assert_eq!(modem.state(), State::Closed);
}

proptest! {
    /// The conversion equals embassy's own `as_millis` (a division by 1000 at 1 MHz) over the
    /// whole tick range.
    #[test]
    fn timestamp_equals_embassy_as_millis(ticks in any::<u64>()) {
        let instant = Instant::from_ticks(ticks);
        prop_assert_eq!(EmbassyClock::timestamp(instant).as_millis(), instant.as_millis());
    }
}
