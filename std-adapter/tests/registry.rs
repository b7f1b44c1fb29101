//! The registry: get-or-create with per-name configs, one breaker per name under concurrency,
//! iteration, manual control by name, interning, keyed families.
#![allow(clippy::std_instead_of_core)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use breaker_core::{Config, ManualClock, State, Transition, Trigger};
use breaker_std::{presets, Registry, RegistryError, Source};

#[test]
fn per_name_configs_and_default() {
    let registry = Registry::builder()
        .default_config(Config::new().failure_threshold(7))
        .configure("database", presets::DATABASE)
        .configure("kafka", presets::KAFKA)
        .build()
        .unwrap();
    assert_eq!(registry.breaker("database").config().failure_threshold(), 5);
    assert_eq!(registry.breaker("database").config().recovery_timeout(), Duration::from_secs(60));
    assert_eq!(registry.breaker("kafka").config().failure_threshold(), 3);
    assert_eq!(registry.breaker("redis").config().failure_threshold(), 7);
    // An explicit config applies only when the breaker is created.
    let search = registry.breaker_with("search", Config::new().failure_threshold(2)).unwrap();
    assert_eq!(search.config().failure_threshold(), 2);
    let again = registry.breaker_with("search", Config::new().failure_threshold(9)).unwrap();
    assert!(Arc::ptr_eq(&search, &again));
    assert_eq!(
        registry.breaker_with("bad", Config::new().failure_threshold(0)).unwrap_err(),
        RegistryError::Config(breaker_core::ConfigError::Zero { field: "failure_threshold" })
    );
    assert!(registry.get("bad").is_none());
}

#[test]
fn concurrent_get_or_create_yields_one_breaker() {
    for round in 0..20 {
        let registry = Arc::new(Registry::new());
        let barrier = Arc::new(Barrier::new(8));
        let name = format!("contended-{round}");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let registry = Arc::clone(&registry);
                let barrier = Arc::clone(&barrier);
                let name = name.clone();
                thread::spawn(move || {
                    barrier.wait();
                    registry.breaker(&name)
                })
            })
            .collect();
        let got: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(got.iter().all(|b| Arc::ptr_eq(b, &got[0])));
        assert_eq!(registry.breakers().len(), 1);
    }
}

#[test]
fn names_are_interned_once_per_distinct_name() {
    let a = Registry::new();
    let b = Registry::new();
    let dynamic = String::from("interned-service");
    let x = a.breaker(&dynamic);
    let y = b.breaker("interned-service");
    assert_eq!(x.name(), "interned-service");
    assert!(std::ptr::eq(x.name(), y.name()), "one leaked copy, shared");
}

#[test]
fn iteration_for_health_is_sorted_and_lock_free() {
    let registry = Registry::new();
    for name in ["kafka", "database", "redis"] {
        registry.breaker(name);
    }
    let names: Vec<_> = registry.breakers().iter().map(|b| b.name()).collect();
    assert_eq!(names, ["database", "kafka", "redis"]);
    // Using the list while creating more breakers: the list is a copy.
    for b in registry.breakers() {
        registry.breaker(&format!("{}-replica", b.name()));
    }
    assert_eq!(registry.breakers().len(), 6);
    let health = registry.health();
    assert_eq!(health.breakers.len(), 6);
    assert!(health.breakers.iter().all(|h| h.state == State::Closed));
}

#[test]
fn manual_control_by_name_is_a_transition_like_any_other() {
    let transitions = Arc::new(AtomicU32::new(0));
    let t = Arc::clone(&transitions);
    let registry = Registry::builder()
        .on_transition(move |_: &Source<'_>, tr: &Transition| {
            assert!(matches!(tr.trigger, Trigger::ForceOpen | Trigger::Disable | Trigger::Reset));
            t.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap();
    let db = registry.breaker("database");
    registry.force_open("database").unwrap();
    assert_eq!(db.state(), State::ForcedOpen);
    assert!(db.call(|| Ok::<_, ()>(())).unwrap_err().is_open());
    registry.force_closed("database").unwrap();
    assert_eq!(db.state(), State::Disabled);
    registry.reset("database").unwrap();
    assert_eq!(db.state(), State::Closed);
    assert_eq!(transitions.load(Ordering::Relaxed), 3);
    assert_eq!(registry.force_open("nope"), Err(RegistryError::Unknown { name: "nope".into() }));
}

#[test]
fn registry_on_a_manual_clock() {
    static CLOCK: ManualClock = ManualClock::new();
    let registry = Registry::builder().configure("kafka", presets::KAFKA).clock(&CLOCK).build().unwrap();
    let kafka = registry.breaker("kafka");
    for _ in 0..3 {
        let _ = kafka.call(|| Err::<(), _>("down"));
    }
    assert_eq!(kafka.state(), State::Open);
    CLOCK.advance(Duration::from_secs(30));
    kafka.call(|| Ok::<_, ()>(())).unwrap();
    assert_eq!(kafka.state(), State::Closed);
}

#[test]
fn keyed_families_share_the_namespace() {
    let registry = Registry::builder().configure("api", Config::new().failure_threshold(2)).build().unwrap();
    let api = registry.keyed::<String>("api", 10, Duration::from_secs(60)).unwrap();
    assert_eq!(api.config().failure_threshold(), 2);
    let same = registry.keyed::<String>("api", 99, Duration::ZERO).unwrap();
    assert!(Arc::ptr_eq(&api, &same));
    assert_eq!(same.max_keys(), 10, "an existing family is returned as it is");
    assert_eq!(
        registry.keyed::<u32>("api", 10, Duration::from_secs(1)).unwrap_err(),
        RegistryError::NameTaken { name: "api" }
    );
    registry.breaker("database");
    assert_eq!(
        registry.keyed_default::<String>("database").unwrap_err(),
        RegistryError::NameTaken { name: "database" }
    );
    assert!(registry.get("api").is_none());
    assert!(registry.breaker_with("api", Config::new()).is_err());
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| registry.breaker("api"))).is_err());

    let _ = api.call("/users", || Err::<(), _>("503"));
    let health = registry.health();
    assert_eq!(health.breakers.len(), 1);
    assert_eq!(health.families.len(), 1);
    assert_eq!(health.families[0].name, "api");
    assert_eq!(health.families[0].breakers[0].failure_count, 1);
}
