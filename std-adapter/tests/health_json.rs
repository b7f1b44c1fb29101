//! With `serde`: a breaker's health and a registry's health serialize to the seed's
//! `/health/detailed` shape.
#![cfg(feature = "serde")]
#![allow(clippy::std_instead_of_core)]

use std::time::Duration;

use breaker_core::{ManualClock, RateConfig, Window};
use breaker_std::{presets, Breaker, Registry};
use serde_json::json;

#[test]
fn one_breaker_is_the_seed_object_plus_the_core_fields() {
    let clock = ManualClock::new();
    let db = presets::database().clock(&clock).build().unwrap();
    assert_eq!(
        serde_json::to_value(db.health()).unwrap(),
        json!({
            "circuit_breaker": "closed",
            "failure_count": 0,
            "failure_threshold": 5,
            "recovery_timeout_seconds": 60.0,
            "retry_after_seconds": null,
            "probes_in_flight": 0,
            "probe_successes": 0,
            "backoff_level": 0,
            "recovering": null,
            "window": null,
            "generation": 0
        })
    );
    for _ in 0..5 {
        let _ = db.call(|| Err::<(), _>("down"));
    }
    clock.advance(Duration::from_millis(17_500));
    let v = serde_json::to_value(db.health()).unwrap();
    assert_eq!(v["circuit_breaker"], "open");
    // The count that opened it, as the seed's Python original keeps it (not 0).
    assert_eq!(v["failure_count"], 5);
    assert_eq!(v["retry_after_seconds"], 42.5);
}

#[test]
fn registry_is_the_seed_health_detailed_shape() {
    static CLOCK: ManualClock = ManualClock::new();
    let registry = Registry::builder()
        .configure("database", presets::DATABASE)
        .configure("kafka", presets::KAFKA)
        .clock(&CLOCK)
        .build()
        .unwrap();
    let db = registry.breaker("database");
    let kafka = registry.breaker("kafka");
    let _ = db.call(|| Err::<(), _>("timeout"));
    for _ in 0..3 {
        let _ = kafka.call(|| Err::<(), _>("broker down"));
    }
    let api = registry.keyed_default::<String>("api").unwrap();
    let _ = api.call("/users", || Ok::<_, ()>(()));

    let v = serde_json::to_value(registry.health()).unwrap();
    // Exactly the seed's fields, as the seed's endpoint would show them...
    assert_eq!(v["database"]["circuit_breaker"], "closed");
    assert_eq!(v["database"]["failure_count"], 1);
    assert_eq!(v["kafka"]["circuit_breaker"], "open");
    assert_eq!(v["kafka"]["failure_count"], 3, "the count that opened it");
    // ...plus the core's extras, and families keyed by key.
    assert_eq!(v["kafka"]["failure_threshold"], 3);
    assert_eq!(v["kafka"]["retry_after_seconds"], 30.0);
    assert_eq!(v["api"]["/users"]["circuit_breaker"], "closed");
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["api", "database", "kafka"]);
}

#[test]
fn a_rate_policy_shows_its_window() {
    let rule = RateConfig::new(500, 100).validate().unwrap();
    let api = Breaker::builder("rate")
        .clock(ManualClock::new())
        .policy(Window::<4>::count(25, rule).unwrap())
        .build()
        .unwrap();
    let _ = api.call(|| Ok::<_, ()>(()));
    let _ = api.call(|| Err::<(), _>(()));
    let v = serde_json::to_value(api.health()).unwrap();
    assert_eq!(v["window"]["calls"], 2);
    assert_eq!(v["window"]["failures"], 1);
    assert_eq!(v["window"]["failure_rate"], 0.5);
}
