//! Keyed families: one breaker per key, bounded; idle keys evicted in use order without a scan;
//! a flood of new keys never evicts a breaker that protects or had traffic; evictions reported;
//! per-key rate windows.
#![allow(clippy::std_instead_of_core)]

use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use breaker_std::{CallError, Config, Keyed, ManualClock, RateConfig, RegistryError, Source, State, Window};

fn family(clock: &'static ManualClock, max: usize, idle: Duration) -> Keyed<String, &'static ManualClock> {
    Keyed::<String>::builder("api")
        .config(Config::new().failure_threshold(2))
        .max_keys(max)
        .idle_timeout(idle)
        .clock(clock)
        .build()
        .unwrap()
}

fn clock() -> &'static ManualClock {
    Box::leak(Box::new(ManualClock::new()))
}

fn keys<C: breaker_std::Clock + Clone, P: breaker_std::Policy>(api: &Keyed<String, C, P>) -> Vec<String> {
    api.entries().into_iter().map(|(k, _)| k).collect()
}

#[test]
fn keys_are_independent() {
    let api = family(clock(), 10, Duration::from_secs(60));
    let users = api.breaker("/users").unwrap();
    for _ in 0..2 {
        let _ = users.call(|| Err::<(), _>("503"));
    }
    assert!(matches!(users.call(|| Ok::<_, &str>(())), Err(CallError::Open(_))));
    assert_eq!(api.breaker("/orders").unwrap().call(|| Ok::<_, &str>(1)), Ok(1));
    assert_eq!(api.get("/users").unwrap().state(), State::Open);
    assert_eq!(api.get("/orders").unwrap().state(), State::Closed);
    assert_eq!((users.name(), users.key()), ("api", Some("/users")));
}

#[test]
fn the_bound_holds_against_a_flood_of_keys() {
    let c = clock();
    let api = family(c, 16, Duration::from_secs(1));
    let (mut served, mut refused) = (0, 0);
    for i in 0..10_000 {
        match api.breaker(&format!("/attacker/{i}")) {
            Ok(_) => served += 1,
            Err(RegistryError::FamilyFull { family: "api", max_keys: 16 }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
        assert!(api.len() <= 16);
        c.advance(Duration::from_millis(1));
    }
    assert_eq!(api.len(), 16);
    // Key i arrives at i ms. The first 16 fill the family; a key is idle 1 s after its use, so
    // in each second the first 16 new keys take the places of the 16 that went idle, in order,
    // and the rest are refused: nothing used within the idle timeout is forgotten.
    assert_eq!((served, refused), (160, 9_840));
}

#[test]
fn the_least_recently_used_idle_key_goes_first_even_on_clock_ties() {
    let c = clock();
    let api = family(c, 3, Duration::from_secs(60));
    // Same millisecond for all: the order of use decides.
    for k in ["/a", "/b", "/c"] {
        api.breaker(k).unwrap();
    }
    api.breaker("/a").unwrap(); // "/b" is now the least recently used
    c.advance(Duration::from_secs(60));
    api.breaker("/d").unwrap();
    assert_eq!(keys(&api), ["/a", "/c", "/d"]);
    api.breaker("/c").unwrap(); // used at the same reading as "/d": still after it
    c.advance(Duration::from_secs(60));
    api.breaker("/e").unwrap();
    assert_eq!(keys(&api), ["/c", "/d", "/e"], "\"/a\" was the least recently used");
}

#[test]
fn an_open_breaker_is_not_evicted_by_a_flood_of_new_keys() {
    let c = clock();
    let api = family(c, 8, Duration::from_secs(10));
    let down = api.breaker("/down").unwrap();
    for _ in 0..2 {
        let _ = down.call(|| Err::<(), _>("503"));
    }
    assert_eq!(down.state(), State::Open);
    drop(down);
    // The flood: 20 000 new keys over 50 s (longer than the idle timeout), "/down" never
    // called again. Its open period (60 s) is not over, so it protects and stays.
    for i in 0..20_000 {
        let _ = api.breaker(&format!("/flood/{i}"));
        if i % 400 == 0 {
            c.advance(Duration::from_secs(1));
        }
    }
    let down = api.get("/down").expect("the open breaker is still there");
    assert_eq!(down.state(), State::Open);
    assert!(down.call(|| Ok::<_, ()>(())).unwrap_err().is_open(), "protection stays on");

    // Every slot holding an open breaker: a new key is refused, no open breaker is forgotten.
    let full = family(clock(), 3, Duration::ZERO);
    for k in ["/x", "/y", "/z"] {
        let b = full.breaker(k).unwrap();
        b.call(|| Err::<(), _>("503")).unwrap_err();
        b.call(|| Err::<(), _>("503")).unwrap_err();
    }
    for i in 0..1_000 {
        assert!(matches!(full.breaker(&format!("/new/{i}")), Err(RegistryError::FamilyFull { .. })));
    }
    assert_eq!(keys(&full), ["/x", "/y", "/z"]);
    assert!(full.entries().iter().all(|(_, b)| b.state() == State::Open));

    // `breaker_or_overflow`: the refused keys share one breaker instead of going unprotected.
    let shared = full.breaker_or_overflow("/new/0").unwrap();
    assert_eq!((shared.name(), shared.key()), ("api", Some(breaker_std::keyed::OVERFLOW_KEY)));
    assert!(Arc::ptr_eq(&shared, &full.breaker_or_overflow("/new/1").unwrap()));
    assert!(
        Arc::ptr_eq(&full.breaker_or_overflow("/x").unwrap(), &full.get("/x").unwrap()),
        "a held key is its own"
    );
    for i in 0..2 {
        let _ = full.breaker_or_overflow(&format!("/flood/{i}")).unwrap().call(|| Err::<(), _>("503"));
    }
    assert_eq!(shared.state(), State::Open, "the flood's failures open the overflow breaker");
    assert!(full.breaker_or_overflow("/flood/9").unwrap().call(|| Ok::<_, ()>(())).unwrap_err().is_open());
    assert_eq!(keys(&full), ["/x", "/y", "/z"], "nothing forgotten");
    assert_eq!(
        full.health().breakers.last().map(|h| h.key.clone()),
        Some(Some(breaker_std::keyed::OVERFLOW_KEY.into()))
    );
    // Reconfigured with the family.
    full.reconfigure(Config::new().failure_threshold(7)).unwrap();
    assert_eq!(shared.config().failure_threshold(), 7);
}

#[test]
fn a_forced_breaker_is_kept_while_idle() {
    let c = clock();
    let api = family(c, 2, Duration::from_secs(1));
    api.breaker("/maintenance").unwrap().force_open();
    api.breaker("/other").unwrap();
    c.advance(Duration::from_secs(5));
    api.breaker("/new").unwrap(); // "/maintenance" is kept, "/other" goes
    assert_eq!(keys(&api), ["/maintenance", "/new"]);
    assert_eq!(api.evict_idle(), 0, "\"/new\" was just used, \"/maintenance\" is forced open");
    c.advance(Duration::from_secs(5));
    assert_eq!(api.evict_idle(), 1);
    assert_eq!(keys(&api), ["/maintenance"]);
}

#[test]
fn an_open_breaker_past_its_open_period_and_idle_can_go() {
    let c = clock();
    let api = family(c, 1, Duration::from_secs(1));
    let b = api.breaker("/was-down").unwrap();
    for _ in 0..2 {
        let _ = b.call(|| Err::<(), _>("503"));
    }
    drop(b);
    c.advance(Duration::from_secs(30));
    assert!(api.breaker("/next").is_err(), "within its 60 s open period: kept");
    c.advance(Duration::from_secs(31));
    // Ready to probe (shown HALF_OPEN) with nothing in flight, and idle: nothing left to protect.
    assert_eq!(api.get("/was-down").unwrap().state(), State::HalfOpen);
    api.breaker("/next").unwrap();
    assert_eq!(keys(&api), ["/next"]);
}

#[test]
fn inserts_into_a_full_family_take_constant_time() {
    // Build a full family of `n` idle keys, then time `m` inserts, each evicting one. A scan of
    // the map per insert (the old family) would make the large family ~40 times slower.
    fn time_inserts(n: usize, m: usize) -> Duration {
        let c = clock();
        let api = family(c, n, Duration::from_secs(1));
        for i in 0..n {
            api.breaker(&format!("/old/{i}")).unwrap();
        }
        c.advance(Duration::from_secs(2));
        let names: Vec<String> = (0..m).map(|i| format!("/new/{i}")).collect();
        let start = Instant::now();
        for name in &names {
            api.breaker(name).unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(api.len(), n);
        elapsed
    }
    let m = 1_000; // at most the small family's size: every insert evicts one idle key
    let small = (0..3).map(|_| time_inserts(1_000, m)).min().unwrap();
    let large = (0..2).map(|_| time_inserts(40_000, m)).min().unwrap();
    eprintln!("{m} inserts into a full family: 1 000 keys {small:?}, 40 000 keys {large:?}");
    assert!(large < small * 8, "1 000 keys: {small:?}, 40 000 keys: {large:?} for {m} inserts");
}

#[test]
fn evictions_are_in_use_order_and_reported() {
    let c = clock();
    let gone = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&gone);
    let api = Keyed::<u32>::builder("shard")
        .max_keys(100)
        .idle_timeout(Duration::from_secs(1))
        .clock(c)
        .on_evict(move |s: &Source<'_>| log.lock().unwrap().push(s.key().unwrap().parse::<u32>().unwrap()))
        .build()
        .unwrap();
    for k in 0..100 {
        api.breaker(&k).unwrap();
    }
    c.advance(Duration::from_secs(1));
    for k in 100..200 {
        api.breaker(&k).unwrap();
    }
    assert_eq!(*gone.lock().unwrap(), (0..100).collect::<Vec<_>>(), "oldest first, one per new key");
    assert_eq!(api.len(), 100);
    api.remove(&150);
    assert_eq!(gone.lock().unwrap().last(), Some(&150));
}

#[test]
fn idle_keys_are_shed_as_new_keys_arrive() {
    let c = clock();
    let api = family(c, 100, Duration::from_secs(60));
    api.breaker("/old").unwrap();
    c.advance(Duration::from_secs(30));
    api.breaker("/recent").unwrap();
    c.advance(Duration::from_secs(30));
    assert_eq!(api.evict_idle(), 1);
    assert!(api.get("/old").is_none());
    assert!(api.get("/recent").is_some());

    // Without `evict_idle`: each new key sheds one idle key.
    c.advance(Duration::from_secs(60));
    api.breaker("/newest").unwrap();
    assert!(api.get("/recent").is_none());
    assert_eq!(api.len(), 1);
}

#[test]
fn an_evicted_breaker_is_freed() {
    let c = clock();
    let api = family(c, 1, Duration::ZERO);
    let first = api.breaker("/a").unwrap();
    let weak = Arc::downgrade(&first);
    drop(first);
    api.breaker("/b").unwrap();
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
                api.breaker("/same").unwrap()
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
    let _ = shards.breaker(&Host("db1", 5432)).unwrap().call(|| Err::<(), _>(()));
    assert_eq!(shards.breaker(&Host("db1", 5432)).unwrap().key(), Some("db1:5432"));
    let h = shards.health();
    assert_eq!(h.name, "shard");
    assert_eq!(h.breakers.len(), 1);
    assert_eq!(h.breakers[0].failure_count, 1);
}

#[test]
fn each_key_gets_its_own_rate_window() {
    let rule = RateConfig::new(500, 4).validate().unwrap();
    let routes = Keyed::<String>::builder("routes")
        .config(Config::new().failure_threshold(100))
        .policy(move || Window::<4>::count(1, rule))
        .build()
        .unwrap();
    let users = routes.breaker("/users").unwrap();
    let orders = routes.breaker("/orders").unwrap();
    for ok in [true, false, true, false] {
        let _ = users.call(|| if ok { Ok(()) } else { Err("503") });
        let _ = orders.call(|| Ok::<_, &str>(()));
    }
    assert_eq!(users.state(), State::Open, "50 % of the last 4 calls");
    assert_eq!(orders.state(), State::Closed);
    assert_eq!(orders.snapshot().window.unwrap().calls, 4);

    let bad = Keyed::<String>::builder("routes").policy(move || Window::<2>::count(1, rule)).build();
    assert!(bad.is_err(), "a window that can never hold min_calls is refused at build");
}

#[test]
fn reconfiguring_a_family() {
    let api = family(clock(), 10, Duration::from_secs(60));
    let users = api.breaker("/users").unwrap();
    let _ = users.call(|| Err::<(), _>("503"));
    api.reconfigure(Config::new().failure_threshold(5).probe_timeout(Duration::from_secs(3))).unwrap();
    assert_eq!(users.failure_count(), 1, "state kept");
    assert_eq!(users.config().failure_threshold(), 5);
    assert_eq!(api.breaker("/new").unwrap().config().probe_timeout(), Some(Duration::from_secs(3)));
    assert!(api.reconfigure(Config::new().failure_threshold(0)).is_err());
    assert_eq!(api.config().failure_threshold(), 5);
}

#[test]
fn a_bound_of_zero_is_refused() {
    assert_eq!(
        Keyed::<String>::builder("api").max_keys(0).build().unwrap_err(),
        breaker_std::ConfigError::Zero { field: "max_keys" }
    );
}

#[test]
fn knobs_win_over_the_base_config_whatever_the_order() {
    let preset = Config::new().failure_threshold(9).recovery_timeout(Duration::from_secs(9));
    let a = Keyed::<String>::builder("api").failure_threshold(3).config(preset).build().unwrap();
    let b = Keyed::<String>::builder("api").config(preset).failure_threshold(3).build().unwrap();
    for family in [a, b] {
        let config = family.breaker("/k").unwrap().config();
        assert_eq!((config.failure_threshold(), config.recovery_timeout()), (3, Duration::from_secs(9)));
    }
}

#[test]
fn a_resolution_change_is_refused_before_anything_changes_and_the_overflow_label_is_reserved() {
    let api = family(clock(), 4, Duration::from_secs(10));
    let live = api.breaker("/users").unwrap();
    let other = Config::new().failure_threshold(9).open_time_resolution(Duration::from_millis(4));
    match api.reconfigure(other) {
        Err(RegistryError::Config(breaker_std::ConfigError::Conflict {
            field: "open_time_resolution",
            value: 4,
            limit: 1,
            ..
        })) => {}
        r => panic!("{r:?}"),
    }
    assert_eq!(api.config().failure_threshold(), 2, "the family's config is unchanged");
    assert_eq!(live.config().failure_threshold(), 2, "the live key is unchanged");
    assert_eq!(api.breaker("/new").unwrap().config().open_time_resolution(), Duration::from_millis(1));

    // A caller's key that displays as the overflow label: refused by `breaker`, and
    // `breaker_or_overflow` hands out the overflow breaker itself, so no two breakers share it.
    let reserved = breaker_std::keyed::OVERFLOW_KEY;
    assert!(matches!(api.breaker(reserved), Err(RegistryError::Config(_))));
    let a = api.breaker_or_overflow(reserved).unwrap();
    assert!(Arc::ptr_eq(&a, &api.breaker_or_overflow(reserved).unwrap()));
    assert_eq!(api.health().breakers.iter().filter(|h| h.key.as_deref() == Some(reserved)).count(), 1);
}
