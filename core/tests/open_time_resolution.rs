//! Open periods longer than the 1 ms stamp allows on the 32-bit layout, through a coarser
//! open-time resolution (issue 15, item 6). Runs on both layouts (`ci/test.sh` builds the host
//! tests with `--cfg breaker_word32` too): on the 64-bit one the same config measures at 1 ms.
//! A recovery policy: with the `policies` feature.
#![cfg(feature = "policies")]

use std::time::Duration;

use breaker_core::limits::{MAX_OPEN_MS, MAX_OPEN_TIME_RESOLUTION_MS, WORD_LAYOUT};
#[cfg(feature = "reconfigure")]
use breaker_core::ReconfigureError;
use breaker_core::{Breaker, Config, ConfigError, ManualClock, State};

const HOUR: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Trips `breaker` on `clock` at a reading that is not on a tick boundary.
fn trip(breaker: &Breaker<&ManualClock>, clock: &ManualClock) {
    clock.advance(ms(12_345_679));
    let _ = breaker.call(|| Err::<(), _>("down"));
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn an_hour_open_needs_a_coarser_resolution_on_the_32_bit_layout_only() {
    let hour = Config::new().recovery_timeout(HOUR);
    if WORD_LAYOUT == "32-bit" {
        assert_eq!(
            hour.validate(),
            Err(ConfigError::TooLarge { field: "recovery_timeout", value: 3_600_000, max: MAX_OPEN_MS })
        );
        // 2 ms reaches 35 minutes, 4 ms 70.
        let at_2 = hour.open_time_resolution(ms(2)).validate();
        assert!(matches!(at_2, Err(ConfigError::TooLarge { field: "recovery_timeout", max: 2_097_149, .. })));
    } else {
        assert!(hour.validate().is_ok());
    }
    let at_4 = hour.open_time_resolution(ms(4)).validate().unwrap();
    assert_eq!(at_4.open_time_resolution(), ms(4));
    assert_eq!(at_4.recovery_timeout(), HOUR);
}

#[test]
fn the_resolution_is_a_power_of_two_of_ms_up_to_16() {
    let c = Config::new();
    assert_eq!(MAX_OPEN_TIME_RESOLUTION_MS, 16);
    for t in [1, 2, 4, 8, 16] {
        assert_eq!(c.open_time_resolution(ms(t)).validate().unwrap().open_time_resolution(), ms(t));
    }
    assert_eq!(
        c.open_time_resolution(Duration::ZERO).validate(),
        Err(ConfigError::Zero { field: "open_time_resolution" })
    );
    assert!(matches!(
        c.open_time_resolution(ms(3)).validate(),
        Err(ConfigError::Conflict { field: "open_time_resolution", value: 3, .. })
    ));
    assert_eq!(
        c.open_time_resolution(ms(32)).validate(),
        Err(ConfigError::TooLarge { field: "open_time_resolution", value: 32, max: 16 })
    );
    assert_eq!(
        c.open_time_resolution(Duration::from_micros(1500)).validate(),
        Err(ConfigError::SubMillisecond { field: "open_time_resolution" })
    );
}

/// The probe never comes before the hour, and at most `2t − 2` ms after it on the 32-bit
/// layout (exactly at it on the 64-bit one); the retry-after a rejection reports is never
/// shorter than the time really left.
#[test]
fn an_hour_open_never_probes_early_and_at_most_two_ticks_late() {
    let t = 4;
    let config = Config::new().failure_threshold(1).recovery_timeout(HOUR).open_time_resolution(ms(t));
    let clock = ManualClock::new();
    let breaker = Breaker::try_new("modem", config, &clock).unwrap();
    trip(&breaker, &clock);
    let mut waited = 0u64;
    for step in [1_000_000, 2_000_000, 599_000] {
        clock.advance(ms(step));
        waited += step;
        let left = breaker.try_acquire().unwrap_err().retry_after().unwrap();
        assert!(left >= HOUR - ms(waited), "{left:?} after {waited} ms");
        assert!(left <= HOUR - ms(waited) + ms(2 * t - 2), "{left:?} after {waited} ms");
    }
    // The last second: rejected up to the hour, one ms at a time.
    while waited < 3_600_000 - 1 {
        clock.advance(ms(1));
        waited += 1;
        assert!(breaker.try_acquire().is_err(), "admitted {waited} ms into an hour");
    }
    let mut late = 0;
    loop {
        clock.advance(ms(1));
        late += 1;
        if let Ok(probe) = breaker.try_acquire() {
            probe.success();
            break;
        }
        assert!(late <= 2 * t - 2, "no probe {late} ms after the hour");
    }
    if WORD_LAYOUT == "64-bit" {
        assert_eq!(late, 1, "the 64-bit layout measures at 1 ms");
    }
    assert_eq!(breaker.state(), State::Closed);
}

/// Longest open cycle at the coarsest tick: (2^20 − 2)·16 + 1 ms on the 32-bit layout.
#[test]
fn the_longest_open_cycle_at_16_ms_probes_before_the_stamp_wraps() {
    let t = u64::from(MAX_OPEN_TIME_RESOLUTION_MS);
    let longest = if WORD_LAYOUT == "32-bit" { ((1 << 20) - 2) * t + 1 } else { 4 * 3_600_000 };
    let config = Config::new().failure_threshold(1).recovery_timeout(ms(longest)).open_time_resolution(ms(t));
    assert!(config.recovery_timeout(ms(longest + 1)).validate().is_err() || WORD_LAYOUT == "64-bit");
    let clock = ManualClock::new();
    let breaker = Breaker::try_new("modem", config, &clock).unwrap();
    trip(&breaker, &clock);
    clock.advance(ms(longest - 1));
    assert!(breaker.try_acquire().is_err());
    // A breaker called as its period ends probes within two ticks. (One left untouched well
    // past its horizon waits up to one more period, at 1 ms as at 16: see `limits`.)
    let mut late = 0;
    while breaker.try_acquire().is_err() {
        assert!(late < 2 * t - 1, "no probe {late} ms after the longest open cycle");
        clock.advance(ms(1));
        late += 1;
    }
}

#[cfg(feature = "reconfigure")]
#[test]
fn a_breaker_keeps_its_resolution_for_life() {
    let clock = ManualClock::new();
    let config = Config::new().recovery_timeout(HOUR).open_time_resolution(ms(4));
    let breaker = Breaker::try_new("modem", config, &clock).unwrap();
    // Shorter and longer periods at the same resolution are fine; `update_config` keeps it.
    breaker.update_config(|c| c.recovery_timeout(ms(69 * 60 * 1000))).unwrap();
    breaker.update_config(|c| c.recovery_timeout(ms(1000))).unwrap();
    assert_eq!(breaker.config().open_time_resolution(), ms(4));
    // Another resolution is refused, and the config in force stays.
    let err = breaker.reconfigure(Config::new()).unwrap_err();
    assert_eq!(err, ReconfigureError::OpenTimeResolution { current_ms: 4, requested_ms: 1 });
    assert!(err.to_string().contains("open_time_resolution"), "{err}");
    assert_eq!(breaker.config().recovery_timeout(), ms(1000));
}

/// A snapshot saved with an hour left restores with an hour left (or a little more on ticks).
#[test]
fn save_and_restore_keep_the_time_left_on_ticks() {
    let config = Config::new().failure_threshold(1).recovery_timeout(HOUR).open_time_resolution(ms(8));
    let clock = ManualClock::new();
    let before = Breaker::try_new("modem", config, &clock).unwrap();
    trip(&before, &clock);
    clock.advance(ms(600_000));
    let saved = before.save();
    let left = saved.retry_after().unwrap();
    assert!(left >= ms(3_000_000) && left <= ms(3_000_000 + 14), "{left:?}");

    let clock = ManualClock::new();
    clock.advance(ms(777));
    let after = Breaker::try_new("modem", config, &clock).unwrap();
    after.restore(&saved).unwrap();
    let again = after.try_acquire().unwrap_err().retry_after().unwrap();
    assert!(again >= left && again <= left + ms(14), "{again:?} against {left:?}");
}

/// The retry-after a rejection reports is exact on ticks too: rejected until it has passed,
/// admitted once it has, at every tick size and wherever in its tick the breaker opened.
#[test]
fn retry_after_is_the_exact_wait_on_every_tick() {
    for t in [1u64, 2, 4, 8, 16] {
        for offset in 0..2 * t {
            let config =
                Config::new().failure_threshold(1).recovery_timeout(ms(100)).open_time_resolution(ms(t));
            let clock = ManualClock::new();
            clock.advance(ms(1_000 + offset));
            let breaker = Breaker::try_new("modem", config, &clock).unwrap();
            let _ = breaker.call(|| Err::<(), _>("down"));
            let left = breaker.try_acquire().unwrap_err().retry_after().unwrap();
            assert!(left > Duration::ZERO);
            // One ms short of the reported wait: still rejected; at it: admitted.
            clock.advance(left - ms(1));
            assert!(
                breaker.try_acquire().is_err(),
                "t {t}, offset {offset}: admitted before the reported {left:?}"
            );
            clock.advance(ms(1));
            assert!(
                breaker.try_acquire().map(|p| p.success()).is_ok(),
                "t {t}, offset {offset}: rejected at the reported {left:?}"
            );
            let waited = left;
            assert!(waited >= ms(100) && waited <= ms(100 + 2 * t - 2), "t {t}, offset {offset}: {waited:?}");
            if WORD_LAYOUT == "64-bit" || t == 1 {
                assert_eq!(waited, ms(100));
            }
        }
    }
}
