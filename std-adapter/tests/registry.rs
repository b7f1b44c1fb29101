//! The registry: one store for named breakers and families, get-or-create with per-name configs
//! and policies, lookups that return errors instead of panicking, the bound on names, manual
//! control and reconfiguration by name, interning.
#![allow(clippy::std_instead_of_core)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use breaker_std::{
    Breaker, Config, ConfigError, Consecutive, ManualClock, RateConfig, Registry, RegistryError, Source,
    State, Transition, Trigger, Window,
};

const DATABASE: Config = Config::new().failure_threshold(5).recovery_timeout(Duration::from_secs(60));
const KAFKA: Config = Config::new().failure_threshold(3).recovery_timeout(Duration::from_secs(30));

fn rate(permille: u32, min_calls: u32) -> breaker_std::RateRule {
    RateConfig::new(permille, min_calls).validate().unwrap()
}

#[test]
fn per_name_configs_and_default() {
    let registry = Registry::builder()
        .default_config(Config::new().failure_threshold(7))
        .configure("database", DATABASE)
        .configure("kafka", KAFKA)
        .build()
        .unwrap();
    let db = registry.breaker("database").unwrap();
    assert_eq!(db.config().failure_threshold(), 5);
    assert_eq!(db.config().recovery_timeout(), Duration::from_secs(60));
    assert_eq!(registry.breaker("kafka").unwrap().config().failure_threshold(), 3);
    assert_eq!(registry.breaker("redis").unwrap().config().failure_threshold(), 7);
    assert!(std::ptr::eq(db, registry.breaker("database").unwrap()), "a Copy handle to one breaker");
}

#[test]
fn every_config_knob_reaches_a_named_breaker_and_a_family() {
    let config = Config::new()
        .failure_threshold(4)
        .recovery_timeout(Duration::from_secs(10))
        .half_open_probes(3)
        .successes_to_close(2)
        .backoff(Duration::from_secs(80))
        .jitter(Duration::from_secs(2), 7)
        .probe_timeout(Duration::from_secs(5))
        .gradual_recovery(Duration::from_secs(30), 20);
    let registry = Registry::builder().configure("db", config).configure("api", config).build().unwrap();
    let want = config.validate().unwrap();
    assert_eq!(registry.breaker("db").unwrap().config(), want);
    let api = registry.keyed::<String>("api").unwrap();
    assert_eq!(api.config(), want);
    assert_eq!(api.breaker("/users").unwrap().config(), want);
}

#[test]
fn a_setting_given_twice_is_an_error_and_order_does_not_matter() {
    let err = Registry::builder().configure("db", DATABASE).configure("db", KAFKA).build().unwrap_err();
    assert_eq!(err, RegistryError::Duplicate { name: "db".into(), setting: "config" });
    let rule = rate(500, 4);
    let err = Registry::builder()
        .policy("db", move || Window::<4>::count(5, rule))
        .policy("db", || Ok(Consecutive))
        .build()
        .unwrap_err();
    assert_eq!(err, RegistryError::Duplicate { name: "db".into(), setting: "policy" });
    let err = Registry::builder()
        .bounds("api", 2, Duration::ZERO)
        .bounds("api", 3, Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err, RegistryError::Duplicate { name: "api".into(), setting: "bounds" });

    // A config and a policy for one name, in either order: the same breaker.
    let a = Registry::builder().configure("s", KAFKA).policy("s", move || Window::<4>::count(5, rule));
    let b = Registry::builder().policy("s", move || Window::<4>::count(5, rule)).configure("s", KAFKA);
    for registry in [a.build().unwrap(), b.build().unwrap()] {
        let s = registry.breaker_with_policy::<Window<4>>("s").unwrap();
        assert_eq!(s.config().recovery_timeout(), Duration::from_secs(30));
    }
}

#[test]
fn invalid_settings_are_refused_at_build() {
    let err = Registry::builder().configure("db", Config::new().failure_threshold(0)).build().unwrap_err();
    assert_eq!(err, RegistryError::Config(ConfigError::Zero { field: "failure_threshold" }));
    let err = Registry::builder().policy("api", || Window::<2>::count(1, rate(500, 10))).build().unwrap_err();
    assert!(matches!(err, RegistryError::Config(ConfigError::TooLarge { field: "min_calls", .. })));
    let err = Registry::builder().bounds("api", 0, Duration::ZERO).build().unwrap_err();
    assert_eq!(err, RegistryError::Config(ConfigError::Zero { field: "max_keys" }));
    let err = Registry::builder().max_names(0).build().unwrap_err();
    assert_eq!(err, RegistryError::Config(ConfigError::Zero { field: "max_names" }));
}

#[test]
fn lookups_of_the_wrong_kind_are_errors_not_panics() {
    let registry = Registry::builder()
        .configure("api", Config::new().failure_threshold(2))
        .bounds("hosts", 10, Duration::from_secs(60))
        .build()
        .unwrap();
    let api = registry.keyed::<String>("api").unwrap();
    assert_eq!(api.config().failure_threshold(), 2);
    assert!(Arc::ptr_eq(&api, &registry.keyed::<String>("api").unwrap()));

    // A family's name as a breaker: an error, from every lookup.
    let taken = RegistryError::NameTaken { name: "api".into() };
    assert_eq!(registry.breaker("api").unwrap_err(), taken);
    assert_eq!(registry.breaker_with_policy::<Window<4>>("api").unwrap_err(), taken);
    assert_eq!(registry.get("api").unwrap_err(), taken);
    assert_eq!(registry.force_open("api").unwrap_err(), taken);
    // Another key type for a family.
    assert_eq!(registry.keyed::<u32>("api").unwrap_err(), taken);
    // A breaker's name as a family.
    registry.breaker("database").unwrap();
    assert_eq!(
        registry.keyed::<String>("database").unwrap_err(),
        RegistryError::NameTaken { name: "database".into() }
    );
    // A name configured with family bounds is a family, even before it exists.
    assert_eq!(registry.breaker("hosts").unwrap_err(), RegistryError::NameTaken { name: "hosts".into() });
    assert_eq!(registry.keyed::<String>("hosts").unwrap().max_keys(), 10);

    let health = registry.health();
    assert_eq!(health.breakers.len(), 1);
    assert_eq!(health.families.len(), 2);
}

#[test]
fn max_names_bounds_what_run_time_names_can_allocate() {
    let registry = Registry::builder().max_names(3).build().unwrap();
    for i in 0..3 {
        registry.breaker(&format!("request-name-{i}")).unwrap();
    }
    for i in 3..100 {
        assert_eq!(
            registry.breaker(&format!("request-name-{i}")).unwrap_err(),
            RegistryError::TooManyNames { max: 3 }
        );
    }
    assert_eq!(registry.keyed::<String>("family").unwrap_err(), RegistryError::TooManyNames { max: 3 });
    assert!(registry.breaker("request-name-1").is_ok(), "existing names still work");
    assert_eq!(registry.health().breakers.len(), 3);
    assert_eq!(
        RegistryError::TooManyNames { max: 3 }.to_string(),
        "the registry holds its maximum of 3 names"
    );
}

#[test]
fn a_named_breaker_with_a_rate_window_trips_on_its_failure_rate() {
    let rule = rate(500, 10); // 50 %, once 10 calls are in
    let registry = Registry::builder()
        .configure("search", Config::new().failure_threshold(1_000))
        .policy("search", move || Window::<10>::count(1, rule))
        .build()
        .unwrap();
    let search: &'static Breaker<_, Window<10>> = registry.breaker_with_policy("search").unwrap();
    // Alternating outcomes: never two failures in a row, 50 % over the last 10 calls.
    for i in 0..9 {
        let _ = search.call(|| if i % 2 == 0 { Err("503") } else { Ok(()) });
        assert_eq!(search.state(), State::Closed, "call {i}: fewer than 10 calls");
    }
    let _ = search.call(|| Ok::<_, &str>(()));
    assert_eq!(search.state(), State::Open, "5 of 10 failed");
    assert_eq!(search.snapshot().failure_count, 5);

    // The policy type is part of the name.
    assert!(matches!(
        registry.breaker("search").unwrap_err(),
        RegistryError::PolicyMismatch { configured, requested, .. }
            if configured.contains("Window") && requested.contains("Consecutive")
    ));
    assert!(matches!(
        registry.breaker_with_policy::<Window<10>>("other").unwrap_err(),
        RegistryError::PolicyMismatch { configured, .. } if configured.contains("Consecutive")
    ));
    assert!(registry.get("other").is_err(), "a refused lookup creates nothing");
}

#[test]
fn a_family_of_per_route_rate_windows() {
    let rule = rate(250, 8); // 25 %, once 8 calls are in
    let registry = Registry::builder()
        .policy("routes", move || Window::<8>::count(1, rule))
        .bounds("routes", 64, Duration::from_secs(600))
        .build()
        .unwrap();
    let routes = registry.keyed_with_policy::<String, Window<8>>("routes").unwrap();
    let users = routes.breaker("/users").unwrap();
    let orders = routes.breaker("/orders").unwrap();
    for i in 0..8 {
        // "/users" fails 2 calls in 8 (never twice in a row); "/orders" never fails.
        let _ = users.call(|| if i % 4 == 0 { Err("503") } else { Ok(()) });
        let _ = orders.call(|| Ok::<_, &str>(()));
    }
    assert_eq!(users.state(), State::Open);
    assert_eq!(orders.state(), State::Closed, "each route has its own window");
    let health = registry.health();
    assert_eq!(health.families[0].breakers.len(), 2);
    assert!(registry.keyed::<String>("routes").is_err(), "not a consecutive-failures family");
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
                    registry.breaker(&name).unwrap()
                })
            })
            .collect();
        let got: Vec<&'static Breaker> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(got.iter().all(|b| std::ptr::eq(*b, got[0])));
        assert_eq!(registry.health().breakers.len(), 1);
    }
}

#[test]
fn names_are_interned_once_per_distinct_name() {
    let a = Registry::new();
    let b = Registry::new();
    let dynamic = String::from("interned-service");
    let x = a.breaker(&dynamic).unwrap();
    let y = b.breaker("interned-service").unwrap();
    assert_eq!(x.name(), "interned-service");
    assert!(std::ptr::eq(x.name(), y.name()), "one leaked copy, shared");
    assert!(!std::ptr::eq(x, y), "one breaker per registry");
}

#[test]
fn health_is_sorted_and_lock_free() {
    let registry = Registry::new();
    for name in ["kafka", "database", "redis"] {
        registry.breaker(name).unwrap();
    }
    registry.keyed::<String>("api").unwrap();
    let health = registry.health();
    let names: Vec<&str> = health.breakers.iter().map(|h| &*h.name).collect();
    assert_eq!(names, ["database", "kafka", "redis"]);
    assert_eq!(health.families[0].name, "api");
    // Creating breakers while using the health copy.
    for h in &health.breakers {
        registry.breaker(&format!("{}-replica", h.name)).unwrap();
    }
    assert_eq!(registry.health().breakers.len(), 6);
    assert!(registry.health().breakers.iter().all(|h| h.state == State::Closed));
}

#[test]
fn manual_control_by_name_is_a_transition_like_any_other() {
    let transitions = Arc::new(AtomicU32::new(0));
    let t = Arc::clone(&transitions);
    let registry = Registry::builder()
        .on_transition(move |_: &Source<'_>, tr: &Transition| {
            assert!(matches!(tr.trigger, Trigger::ForceOpen | Trigger::ForceClosed | Trigger::Reset));
            t.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap();
    let db = registry.breaker("database").unwrap();
    registry.force_open("database").unwrap();
    assert_eq!(db.state(), State::ForcedOpen);
    assert!(db.call(|| Ok::<_, ()>(())).unwrap_err().is_open());
    registry.force_closed("database").unwrap();
    assert_eq!(db.state(), State::ForcedClosed);
    registry.reset("database").unwrap();
    assert_eq!(db.state(), State::Closed);
    assert_eq!(transitions.load(Ordering::Relaxed), 3);
    assert_eq!(registry.force_open("nope"), Err(RegistryError::Unknown { name: "nope".into() }));
    assert!(registry.get("nope").is_err(), "control by name creates nothing");
}

#[test]
fn reconfiguration_by_name_keeps_state() {
    static CLOCK: ManualClock = ManualClock::new();
    let registry = Registry::builder().configure("kafka", KAFKA).clock(&CLOCK).build().unwrap();
    let kafka = registry.breaker("kafka").unwrap();
    for _ in 0..2 {
        let _ = kafka.call(|| Err::<(), _>("down"));
    }
    registry.reconfigure("kafka", KAFKA.failure_threshold(2)).unwrap();
    assert_eq!((kafka.state(), kafka.failure_count()), (State::Closed, 2), "nothing lost");
    let _ = kafka.call(|| Err::<(), _>("down"));
    assert_eq!(kafka.state(), State::Open);
    // A shorter recovery timeout applies to the open period in progress.
    registry.reconfigure("kafka", KAFKA.recovery_timeout(Duration::from_secs(5))).unwrap();
    CLOCK.advance(Duration::from_secs(5));
    kafka.call(|| Ok::<_, ()>(())).unwrap();
    assert_eq!(kafka.state(), State::Closed);

    // Invalid: refused, the old config stays.
    let err = registry.reconfigure("kafka", Config::new().failure_threshold(0)).unwrap_err();
    assert_eq!(err, RegistryError::Config(ConfigError::Zero { field: "failure_threshold" }));
    assert_eq!(kafka.config().recovery_timeout(), Duration::from_secs(5));
    assert_eq!(
        registry.reconfigure("redis", KAFKA).unwrap_err(),
        RegistryError::Unknown { name: "redis".into() }
    );

    // A family: its live keys and the keys to come.
    let api = registry.keyed::<String>("api").unwrap();
    let users = api.breaker("/users").unwrap();
    registry.reconfigure("api", Config::new().failure_threshold(9)).unwrap();
    assert_eq!(users.config().failure_threshold(), 9);
    assert_eq!(api.breaker("/orders").unwrap().config().failure_threshold(), 9);
    assert!(registry.reconfigure("api", Config::new().failure_threshold(0)).is_err());
    assert_eq!(api.config().failure_threshold(), 9);
}

#[test]
fn families_report_what_they_forget_to_the_registry_hook() {
    static CLOCK: ManualClock = ManualClock::new();
    let gone = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&gone);
    let registry = Registry::builder()
        .bounds("api", 1, Duration::from_secs(1))
        .on_evict(move |s: &Source<'_>| log.lock().unwrap().push(format!("{}{}", s.name(), s.key().unwrap())))
        .clock(&CLOCK)
        .build()
        .unwrap();
    let api = registry.keyed::<String>("api").unwrap();
    api.breaker("/a").unwrap();
    CLOCK.advance(Duration::from_secs(1));
    api.breaker("/b").unwrap();
    api.remove("/b");
    assert_eq!(*gone.lock().unwrap(), ["api/a", "api/b"]);
}

#[test]
fn a_registry_on_a_manual_clock() {
    static CLOCK: ManualClock = ManualClock::new();
    let registry = Registry::builder().configure("kafka", KAFKA).clock(&CLOCK).build().unwrap();
    let kafka = registry.breaker("kafka").unwrap();
    for _ in 0..3 {
        let _ = kafka.call(|| Err::<(), _>("down"));
    }
    assert_eq!(kafka.state(), State::Open);
    CLOCK.advance(Duration::from_secs(30));
    kafka.call(|| Ok::<_, ()>(())).unwrap();
    assert_eq!(kafka.state(), State::Closed);
}
