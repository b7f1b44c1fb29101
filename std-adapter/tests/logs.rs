//! The seed's monitoring: every transition logged through `tracing` with the seed's messages,
//! levels and fields; manual transitions too; keyed breakers add `key`.
#![allow(clippy::std_instead_of_core)]

mod common;

use std::time::Duration;

use breaker_core::ManualClock;
use breaker_std::{Breaker, Keyed, Registry};
use common::capture;
use tracing::Level;

#[test]
fn open_half_open_recovered_as_in_the_seed() {
    let clock = ManualClock::new();
    let ((), events) = capture(|| {
        let db = Breaker::builder("database").clock(&clock).build().unwrap();
        for _ in 0..5 {
            let _ = db.call(|| Err::<(), _>("connection refused"));
        }
        clock.advance(Duration::from_millis(61_200));
        db.call(|| Ok::<_, ()>(())).unwrap();
    });
    assert_eq!(events.len(), 3, "{events:#?}");

    let open = &events[0];
    assert_eq!(open.level, Level::ERROR);
    assert_eq!(open.message, "Circuit breaker 'database' opening circuit");
    assert_eq!(open.field("circuit_breaker").as_str(), "database");
    assert_eq!(open.field("state").as_str(), "open");
    assert_eq!(open.field("failure_count").as_u64(), 5);
    assert_eq!(open.field("threshold").as_u64(), 5);
    assert_eq!(open.names(), ["circuit_breaker", "failure_count", "state", "threshold"]);

    let half = &events[1];
    assert_eq!(half.level, Level::INFO);
    assert_eq!(half.message, "Circuit breaker 'database' transitioning to HALF_OPEN");
    assert_eq!(half.field("circuit_breaker").as_str(), "database");
    assert_eq!(half.field("state").as_str(), "half_open");
    assert!((half.field("elapsed_seconds").as_f64() - 61.2).abs() < 1e-9);
    assert_eq!(half.names(), ["circuit_breaker", "elapsed_seconds", "state"]);

    let closed = &events[2];
    assert_eq!(closed.level, Level::INFO);
    assert_eq!(closed.message, "Circuit breaker 'database' recovered, closing circuit");
    assert_eq!(closed.field("circuit_breaker").as_str(), "database");
    assert_eq!(closed.field("state").as_str(), "closed");
    assert_eq!(closed.names(), ["circuit_breaker", "state"]);
}

#[test]
fn a_failed_probe_logs_that_it_reopens() {
    let clock = ManualClock::new();
    let ((), events) = capture(|| {
        let kafka = breaker_std::Breaker::builder("kafka")
            .failure_threshold(3)
            .recovery_timeout(Duration::from_secs(30))
            .clock(&clock)
            .build()
            .unwrap();
        for _ in 0..3 {
            let _ = kafka.call(|| Err::<(), _>("down"));
        }
        for _ in 0..2 {
            clock.advance(Duration::from_secs(30));
            let _ = kafka.call(|| Err::<(), _>("still down"));
        }
    });
    let messages: Vec<_> = events.iter().map(|e| (e.level, e.message.as_str())).collect();
    assert_eq!(
        messages,
        [
            (Level::ERROR, "Circuit breaker 'kafka' opening circuit"),
            (Level::INFO, "Circuit breaker 'kafka' transitioning to HALF_OPEN"),
            (Level::ERROR, "Circuit breaker 'kafka' probe failed, reopening circuit"),
            (Level::INFO, "Circuit breaker 'kafka' transitioning to HALF_OPEN"),
            (Level::ERROR, "Circuit breaker 'kafka' probe failed, reopening circuit"),
        ]
    );
    // The seed's fields, and the trigger; the count goes on from the threshold, as the seed's
    // `_failure_count` does: 3 failures opened it, then one per failed probe.
    for (event, failures) in [(&events[2], 4), (&events[4], 5)] {
        assert_eq!(event.field("circuit_breaker").as_str(), "kafka");
        assert_eq!(event.field("state").as_str(), "open");
        assert_eq!(event.field("failure_count").as_u64(), failures);
        assert_eq!(event.field("threshold").as_u64(), 3);
        assert_eq!(event.field("trigger").as_str(), "probe_failed");
        assert_eq!(event.names(), ["circuit_breaker", "failure_count", "state", "threshold", "trigger"]);
    }
}

#[test]
fn a_rate_trip_says_which_rate() {
    use breaker_core::{RateConfig, Window};
    let clock = ManualClock::new();
    let ((), events) = capture(|| {
        // 50 % failures of at least 4 calls.
        let rule = RateConfig::new(500, 4).validate().unwrap();
        let api = Breaker::builder("api")
            .clock(&clock)
            .policy(Window::<4>::count(5, rule).unwrap())
            .build()
            .unwrap();
        for ok in [true, false, true, false] {
            let _ = api.call(|| if ok { Ok(()) } else { Err("503") });
        }
    });
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].level, Level::ERROR);
    assert_eq!(
        events[0].message,
        "Circuit breaker 'api' opening circuit: failure rate reached its threshold"
    );
    assert_eq!(events[0].field("trigger").as_str(), "failure_rate");
    assert_eq!(events[0].field("failure_count").as_u64(), 2);
}

#[test]
fn manual_transitions_are_logged() {
    let ((), events) = capture(|| {
        let registry = Registry::new();
        let db = registry.breaker("logs-manual").unwrap();
        let _ = db.call(|| Err::<(), _>("x"));
        registry.force_open("logs-manual").unwrap();
        registry.force_closed("logs-manual").unwrap();
        registry.reset("logs-manual").unwrap();
        db.force_open(); // per breaker, the same
    });
    let got: Vec<_> =
        events.iter().map(|e| (e.level, e.message.as_str(), e.field("state").as_str())).collect();
    assert_eq!(
        got,
        [
            (Level::WARN, "Circuit breaker 'logs-manual' forced open", "forced_open"),
            (Level::WARN, "Circuit breaker 'logs-manual' forced closed", "forced_closed"),
            (Level::INFO, "Circuit breaker 'logs-manual' reset, closing circuit", "closed"),
            (Level::WARN, "Circuit breaker 'logs-manual' forced open", "forced_open"),
        ]
    );
    assert_eq!(events[0].field("failure_count").as_u64(), 1);
    assert_eq!(events[0].field("threshold").as_u64(), 5);
    for e in &events {
        assert_eq!(e.field("circuit_breaker").as_str(), "logs-manual");
    }
}

#[test]
fn keyed_breakers_log_their_key() {
    let ((), events) = capture(|| {
        let api = Keyed::<String>::builder("api").failure_threshold(1).build().unwrap();
        let _ = api.breaker("/users").unwrap().call(|| Err::<(), _>("503"));
    });
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, "Circuit breaker 'api' opening circuit");
    assert_eq!(events[0].field("circuit_breaker").as_str(), "api");
    assert_eq!(events[0].field("key").as_str(), "/users");
}

#[test]
fn calls_and_rejections_are_not_logged() {
    let ((), events) = capture(|| {
        let db = Breaker::builder("quiet").failure_threshold(1).build().unwrap();
        for _ in 0..10 {
            let _ = db.call(|| Ok::<_, ()>(()));
        }
        let _ = db.call(|| Err::<(), _>("x"));
        for _ in 0..10 {
            let _ = db.call(|| Ok::<_, ()>(()));
        }
    });
    assert_eq!(events.len(), 1, "only the opening: {events:#?}");
}

#[test]
fn a_restore_logs_what_came_back_not_a_trip() {
    let clock = ManualClock::new();
    let saved = {
        let before = Breaker::builder("database").failure_threshold(1).clock(&clock).build().unwrap();
        let _ = before.call(|| Err::<(), _>("down"));
        clock.advance(Duration::from_secs(20));
        before.save()
    };
    let ((), events) = capture(|| {
        let clock = ManualClock::new();
        let after = Breaker::builder("database").failure_threshold(1).clock(&clock).build().unwrap();
        after.restore(&saved).unwrap();
    });
    assert_eq!(events.len(), 1, "{events:#?}");
    let restored = &events[0];
    assert_eq!(restored.level, Level::INFO);
    assert_eq!(restored.message, "Circuit breaker 'database' restored, open");
    assert_eq!(restored.field("state").as_str(), "open");
    assert!((restored.field("retry_after_seconds").as_f64() - 40.0).abs() < 1e-9);
}
