//! Keyed families: one breaker per key, bounded, idle keys evicted, LRU when full; nothing
//! leaks per key.
#![allow(clippy::std_instead_of_core)]

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use breaker_core::{CallError, ManualClock, State};
use breaker_std::Keyed;

fn family(clock: &'static ManualClock, max: usize, idle: Duration) -> Keyed<String, &'static ManualClock> {
    Keyed::<String>::builder("api")
        .failure_threshold(2)
        .max_keys(max)
        .idle_timeout(idle)
        .clock(clock)
        .build()
        .unwrap()
}

fn clock() -> &'static ManualClock {
    Box::leak(Box::new(ManualClock::new()))
}

#[test]
fn keys_are_independent() {
    let api = family(clock(), 10, Duration::from_secs(60));
    for _ in 0..2 {
        let _ = api.call("/users", || Err::<(), _>("503"));
    }
    assert!(matches!(api.call("/users", || Ok::<_, &str>(())), Err(CallError::Open(_))));
    assert_eq!(api.call("/orders", || Ok::<_, &str>(1)), Ok(1));
    assert_eq!(api.get("/users").unwrap().state(), State::Open);
    assert_eq!(api.get("/orders").unwrap().state(), State::Closed);
    let b = api.breaker("/users");
    assert_eq!((b.name(), b.key()), ("api", Some("/users")));
}

#[test]
fn the_bound_holds_against_a_flood_of_keys() {
    let c = clock();
    let api = family(c, 16, Duration::from_secs(3_600));
    for i in 0..10_000 {
        let _ = api.call(&format!("/attacker/{i}"), || Ok::<_, ()>(()));
        assert!(api.len() <= 16);
        if i % 100 == 0 {
            c.advance(Duration::from_millis(1));
        }
    }
    assert_eq!(api.len(), 16);
}

#[test]
fn lru_is_evicted_when_full() {
    let c = clock();
    let api = family(c, 3, Duration::from_secs(3_600));
    for k in ["/a", "/b", "/c"] {
        api.breaker(k);
        c.advance(Duration::from_millis(10));
    }
    // "/a" used again: "/b" is now the least recently used.
    api.breaker("/a");
    c.advance(Duration::from_millis(10));
    api.breaker("/d");
    let keys: Vec<String> = api.entries().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["/a", "/c", "/d"]);
}

#[test]
fn an_open_breaker_in_use_is_not_the_one_evicted() {
    let c = clock();
    let api = family(c, 2, Duration::from_secs(3_600));
    for _ in 0..2 {
        let _ = api.call("/down", || Err::<(), _>("503"));
    }
    c.advance(Duration::from_millis(10));
    api.breaker("/other");
    c.advance(Duration::from_millis(10));
    // Rejections count as use.
    assert!(api.call("/down", || Ok::<_, ()>(())).unwrap_err().is_open());
    c.advance(Duration::from_millis(10));
    api.breaker("/new");
    assert_eq!(api.get("/down").unwrap().state(), State::Open);
    assert!(api.get("/other").is_none());
}

#[test]
fn idle_keys_are_evicted() {
    let c = clock();
    let api = family(c, 100, Duration::from_secs(60));
    api.breaker("/old");
    c.advance(Duration::from_secs(30));
    api.breaker("/recent");
    c.advance(Duration::from_secs(30));
    assert_eq!(api.evict_idle(), 1);
    assert!(api.get("/old").is_none());
    assert!(api.get("/recent").is_some());

    // Without calling `evict_idle`: a new key sweeps once an idle timeout has passed since
    // the last sweep.
    c.advance(Duration::from_secs(61));
    api.breaker("/newest");
    assert!(api.get("/recent").is_none());
    assert_eq!(api.len(), 1);
}

#[test]
fn an_evicted_breaker_is_freed() {
    let c = clock();
    let api = family(c, 1, Duration::from_secs(3_600));
    let first = api.breaker("/a");
    let weak = Arc::downgrade(&first);
    drop(first);
    c.advance(Duration::from_millis(1));
    api.breaker("/b");
    assert!(weak.upgrade().is_none(), "nothing keeps an evicted breaker alive");
    assert!(api.remove("/b").is_some());
    assert!(api.is_empty());
}

#[test]
fn concurrent_get_or_create_of_a_key_yields_one_breaker() {
    let api = Arc::new(family(clock(), 100, Duration::from_secs(60)));
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let api = Arc::clone(&api);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                api.breaker("/same")
            })
        })
        .collect();
    let got: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(got.iter().all(|b| Arc::ptr_eq(b, &got[0])));
    assert_eq!(api.len(), 1);
}

#[test]
fn non_string_keys() {
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    struct Host(&'static str, u16);
    impl std::fmt::Display for Host {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}:{}", self.0, self.1)
        }
    }
    let shards = Keyed::<Host>::builder("shard").build().unwrap();
    let _ = shards.call(&Host("db1", 5432), || Err::<(), _>(()));
    assert_eq!(shards.breaker(&Host("db1", 5432)).key(), Some("db1:5432"));
    let h = shards.health();
    assert_eq!(h.name, "shard");
    assert_eq!(h.breakers.len(), 1);
    assert_eq!(h.breakers[0].failure_count, 1);
}

#[test]
fn classifier_and_filter_per_key() {
    let api = family(clock(), 10, Duration::from_secs(60));
    let r = api.call_filtered("/x", || Err::<(), u16>(404), |s| *s >= 500);
    assert_eq!(r, Err(CallError::Inner(404)));
    let r = api.call_with(
        "/x",
        || Ok::<u16, ()>(503),
        |r| {
            if matches!(r, Ok(s) if *s >= 500) {
                breaker_core::Verdict::Failure
            } else {
                breaker_core::Verdict::Success
            }
        },
    );
    assert_eq!(r, Ok(503));
    assert_eq!(api.get("/x").unwrap().failure_count(), 1);
}
