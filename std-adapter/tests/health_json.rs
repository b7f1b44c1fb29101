//! With `serde`: a breaker's health and a registry's health serialize to the `/health/detailed`
//! shape of the Python original, and deserialize back to the same values.
#![cfg(feature = "serde")]
#![allow(clippy::std_instead_of_core)]

use std::time::Duration;

use breaker_std::{
    Breaker, Config, FamilyHealth, Health, ManualClock, RateConfig, Registry, RegistryHealth, State, Window,
};
use serde_json::json;

const DATABASE: Config = Config::new().failure_threshold(5).recovery_timeout(Duration::from_secs(60));
const KAFKA: Config = Config::new().failure_threshold(3).recovery_timeout(Duration::from_secs(30));

#[test]
fn one_breaker_is_the_original_object_plus_the_core_fields() {
    let clock = ManualClock::new();
    let db = Breaker::builder("database").config(DATABASE).clock(&clock).build().unwrap();
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
    // The count that opened it, as the Python original keeps it (not 0).
    assert_eq!(v["failure_count"], 5);
    assert_eq!(v["retry_after_seconds"], 42.5);
}

#[test]
fn registry_is_the_health_detailed_shape() {
    static CLOCK: ManualClock = ManualClock::new();
    let registry = Registry::builder()
        .configure("database", DATABASE)
        .configure("kafka", KAFKA)
        .clock(&CLOCK)
        .build()
        .unwrap();
    let db = registry.breaker("database").unwrap();
    let kafka = registry.breaker("kafka").unwrap();
    let _ = db.call(|| Err::<(), _>("timeout"));
    for _ in 0..3 {
        let _ = kafka.call(|| Err::<(), _>("broker down"));
    }
    let api = registry.keyed::<String>("api").unwrap();
    let _ = api.breaker("/users").unwrap().call(|| Ok::<_, ()>(()));

    let v = serde_json::to_value(registry.health()).unwrap();
    // The original's fields, as its endpoint shows them...
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

#[test]
fn health_deserializes_to_what_was_serialized() {
    static CLOCK: ManualClock = ManualClock::new();
    let rule = RateConfig::new(500, 100).validate().unwrap();
    let registry = Registry::builder()
        .configure("kafka", KAFKA)
        .policy("search", move || Window::<4>::count(25, rule))
        .policy("routes", move || Window::<4>::count(25, rule))
        .clock(&CLOCK)
        .build()
        .unwrap();
    let kafka = registry.breaker("kafka").unwrap();
    for _ in 0..3 {
        let _ = kafka.call(|| Err::<(), _>("down"));
    }
    CLOCK.advance(Duration::from_millis(2_500));
    registry.breaker("database").unwrap().force_closed();
    let search = registry.breaker_with_policy::<Window<4>>("search").unwrap();
    let _ = search.call(|| Err::<(), _>(()));
    let routes = registry.keyed_with_policy::<String, Window<4>>("routes").unwrap();
    let _ = routes.breaker("/users").unwrap().call(|| Ok::<_, ()>(()));
    let _ = routes.breaker("/orders").unwrap().call(|| Err::<(), _>(()));

    let health = registry.health();
    let text = serde_json::to_string(&health).unwrap();
    let back: RegistryHealth = serde_json::from_str(&text).unwrap();
    assert_eq!(back, health);
    assert_eq!((&*back.breakers[0].name, back.breakers[0].state), ("database", State::ForcedClosed));
    assert_eq!(back.breakers[1].name, "kafka");
    assert_eq!(back.families[0].breakers[0].key.as_deref(), Some("/orders"));
    assert_eq!(back.families[0].breakers[0].window.unwrap().failures, 1);

    // One breaker and one family on their own: the name is their entry's key, so empty.
    let one: Health = serde_json::from_value(serde_json::to_value(kafka.health()).unwrap()).unwrap();
    assert_eq!(
        (one.state, one.failure_count, one.retry_after),
        (State::Open, 3, Some(Duration::from_millis(27_500)))
    );
    assert_eq!((&*one.name, one.key.as_deref()), ("", None));
    let family: FamilyHealth =
        serde_json::from_value(serde_json::to_value(routes.health()).unwrap()).unwrap();
    assert_eq!(family.breakers.len(), 2);
    assert_eq!(family.breakers[1].key.as_deref(), Some("/users"));

    let bad = json!({"db": {"circuit_breaker": "disabled", "failure_count": 0, "failure_threshold": 5,
        "recovery_timeout_seconds": 60.0, "retry_after_seconds": null, "probes_in_flight": 0,
        "probe_successes": 0, "backoff_level": 0, "recovering": null, "window": null, "generation": 0}});
    assert!(serde_json::from_value::<RegistryHealth>(bad).is_err(), "an unknown state is an error");
}
