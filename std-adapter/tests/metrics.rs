//! With `metrics`: Prometheus-style names and labels, asserted with metrics-util's debugging
//! recorder (installed once, globally, for this test binary; every test uses its own breaker
//! names).
#![cfg(feature = "metrics")]
#![allow(clippy::std_instead_of_core)]

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use breaker_core::{ManualClock, RateConfig, Window};
use breaker_std::{Breaker, Keyed, Registry};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};

fn snapshotter() -> &'static Snapshotter {
    static S: OnceLock<Snapshotter> = OnceLock::new();
    S.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("no other recorder");
        snapshotter
    })
}

/// The debugging recorder's snapshots drain it (counters and gauges are swapped to zero), so
/// the tests of this binary run one at a time, counters are summed over every snapshot taken,
/// and a gauge is read from the first snapshot after it was set.
static SERIAL: Mutex<()> = Mutex::new(());
static COUNTERS: Mutex<Vec<(CompositeKey, u64)>> = Mutex::new(Vec::new());

fn serial() -> MutexGuard<'static, ()> {
    snapshotter();
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One scrape: every gauge as of now, and every counter's total so far.
struct Scrape {
    gauges: Vec<(CompositeKey, f64)>,
    counters: Vec<(CompositeKey, u64)>,
}

fn scrape() -> Scrape {
    let mut gauges = Vec::new();
    let mut totals = COUNTERS.lock().unwrap();
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        match value {
            DebugValue::Counter(n) => match totals.iter_mut().find(|(k, _)| *k == key) {
                Some((_, total)) => *total += n,
                None => totals.push((key, n)),
            },
            DebugValue::Gauge(g) => gauges.push((key, g.into_inner())),
            DebugValue::Histogram(_) => {}
        }
    }
    Scrape { gauges, counters: totals.clone() }
}

fn matches(key: &CompositeKey, name: &str, labels: &[(&str, &str)]) -> bool {
    key.key().name() == name
        && key.key().labels().count() == labels.len()
        && labels.iter().all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
}

impl Scrape {
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .iter()
            .find(|(k, _)| matches(k, name, labels))
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no counter {name} {labels:?}"))
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.gauges
            .iter()
            .find(|(k, _)| matches(k, name, labels))
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no gauge {name} {labels:?}"))
    }

    fn state(&self, breaker: &str, state: &str) -> f64 {
        self.gauge("circuit_breaker_state", &[("breaker", breaker), ("state", state)])
    }

    fn calls(&self, breaker: &str, outcome: &str) -> u64 {
        self.counter("circuit_breaker_calls_total", &[("breaker", breaker), ("outcome", outcome)])
    }

    fn transitions(&self, breaker: &str, from: &str, to: &str) -> u64 {
        self.counter("circuit_breaker_transitions_total", &[("breaker", breaker), ("from", from), ("to", to)])
    }
}

#[test]
fn calls_by_outcome_state_gauge_and_transitions() {
    let _serial = serial();
    let clock = ManualClock::new();
    let db = Breaker::builder("m-db").failure_threshold(2).clock(&clock).build().unwrap();
    let m = scrape();
    assert_eq!(m.state("m-db", "closed"), 1.0);
    assert_eq!(m.state("m-db", "open"), 0.0);
    assert_eq!(m.calls("m-db", "successful"), 0, "registered at zero");

    db.call(|| Ok::<_, ()>(())).unwrap();
    let _ = db.call_with(|| Err::<(), _>(()), breaker_std::classify::failures_where(|_: &()| false));
    let _ = db.call(|| Err::<(), _>(()));
    let _ = db.call(|| Err::<(), _>(()));
    let _ = db.call(|| Ok::<_, ()>(()));
    let _ = db.call(|| Ok::<_, ()>(()));
    let m = scrape();
    assert_eq!(m.calls("m-db", "successful"), 1);
    assert_eq!(m.calls("m-db", "ignored"), 1);
    assert_eq!(m.calls("m-db", "failed"), 2);
    assert_eq!(m.calls("m-db", "rejected"), 2);
    assert_eq!(m.state("m-db", "open"), 1.0);
    assert_eq!(m.state("m-db", "closed"), 0.0);
    assert_eq!(m.transitions("m-db", "closed", "open"), 1);

    clock.advance(Duration::from_secs(60));
    db.call(|| Ok::<_, ()>(())).unwrap();
    let m = scrape();
    assert_eq!(m.transitions("m-db", "closed", "open"), 1);
    assert_eq!(m.transitions("m-db", "open", "half_open"), 1);
    assert_eq!(m.transitions("m-db", "half_open", "closed"), 1);
    assert_eq!(m.calls("m-db", "successful"), 2);
    for (s, v) in
        [("closed", 1.0), ("open", 0.0), ("half_open", 0.0), ("forced_open", 0.0), ("forced_closed", 0.0)]
    {
        assert_eq!(m.state("m-db", s), v, "{s}");
    }
}

#[test]
fn manual_control_is_counted() {
    let _serial = serial();
    let registry = Registry::new();
    registry.breaker("m-manual").unwrap();
    registry.force_open("m-manual").unwrap();
    let m = scrape();
    assert_eq!(m.state("m-manual", "forced_open"), 1.0);
    assert_eq!(m.state("m-manual", "closed"), 0.0);
    registry.force_closed("m-manual").unwrap();
    let m = scrape();
    assert_eq!(m.state("m-manual", "forced_closed"), 1.0);
    assert_eq!(m.state("m-manual", "forced_open"), 0.0);
    registry.reset("m-manual").unwrap();
    let m = scrape();
    assert_eq!(m.state("m-manual", "closed"), 1.0);
    assert_eq!(m.transitions("m-manual", "closed", "forced_open"), 1);
    assert_eq!(m.transitions("m-manual", "forced_open", "forced_closed"), 1);
    assert_eq!(m.transitions("m-manual", "forced_closed", "closed"), 1);
}

#[test]
fn keyed_breakers_add_the_key_label() {
    let _serial = serial();
    let api = Keyed::<String>::builder("m-api").failure_threshold(1).build().unwrap();
    let _ = api.breaker("/users").unwrap().call(|| Err::<(), _>(()));
    let m = scrape();
    assert_eq!(
        m.counter(
            "circuit_breaker_calls_total",
            &[("breaker", "m-api"), ("key", "/users"), ("outcome", "failed")]
        ),
        1
    );
    assert_eq!(
        m.gauge("circuit_breaker_state", &[("breaker", "m-api"), ("key", "/users"), ("state", "open")]),
        1.0
    );
}

#[test]
fn failure_rate_gauge_for_rate_policies() {
    let _serial = serial();
    let rule = RateConfig::new(900, 100).validate().unwrap();
    let api = Breaker::builder("m-rate")
        .clock(ManualClock::new())
        .policy(Window::<4>::count(25, rule).unwrap())
        .build()
        .unwrap();
    for ok in [true, false, false, true] {
        let _ = api.call(|| if ok { Ok(()) } else { Err(()) });
    }
    api.refresh_metrics();
    let m = scrape();
    assert_eq!(m.gauge("circuit_breaker_failure_ratio", &[("breaker", "m-rate")]), 0.5);
}

#[test]
fn series_exist_before_the_first_event() {
    let _serial = serial();
    let _db = Breaker::builder("m-fresh").clock(ManualClock::new()).build().unwrap();
    let rule = RateConfig::new(500, 10).validate().unwrap();
    let _api = Breaker::builder("m-fresh-rate")
        .clock(ManualClock::new())
        .policy(Window::<4>::count(10, rule).unwrap())
        .build()
        .unwrap();
    let m = scrape();
    for outcome in ["successful", "failed", "ignored", "rejected"] {
        assert_eq!(m.calls("m-fresh", outcome), 0);
    }
    for (from, to) in
        [("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open")]
    {
        assert_eq!(m.transitions("m-fresh", from, to), 0);
    }
    assert_eq!((m.state("m-fresh", "closed"), m.state("m-fresh", "open")), (1.0, 0.0));
    assert_eq!(m.gauge("circuit_breaker_failure_ratio", &[("breaker", "m-fresh-rate")]), 0.0);
}

#[test]
fn metrics_are_described_and_typed() {
    let _serial = serial();
    let _b = Breaker::builder("m-kinds").build().unwrap();
    let snapshot = snapshotter().snapshot().into_vec();
    let ours: Vec<_> =
        snapshot.iter().filter(|(k, ..)| k.key().labels().any(|l| l.value() == "m-kinds")).collect();
    let has = |name: &str, kind| ours.iter().any(|(k, ..)| k.key().name() == name && k.kind() == kind);
    assert!(has("circuit_breaker_calls_total", MetricKind::Counter));
    assert!(has("circuit_breaker_state", MetricKind::Gauge));
    let described = ours
        .iter()
        .find(|(k, ..)| k.key().name() == "circuit_breaker_calls_total")
        .and_then(|(_, _, desc, _)| desc.clone());
    assert!(described.is_some(), "HELP text registered");
}
