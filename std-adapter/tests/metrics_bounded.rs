//! A keyed family flooded with keys chosen by clients: its metrics series stay bounded by the
//! family's `max_keys`, and the flood evicts neither an OPEN breaker nor its series.
//!
//! Its own test binary: it installs a Prometheus recorder with an idle timeout as the global
//! recorder, the way a service does.
#![cfg(feature = "metrics")]

use std::collections::BTreeSet;
use std::time::Duration;

use breaker_std::{Keyed, ManualClock, Registry, State};
use metrics_exporter_prometheus::PrometheusBuilder;
use metrics_util::MetricKindMask;

static CLOCK: ManualClock = ManualClock::new();

/// The distinct `key` label values on a rendered page, for the family `family`.
fn keys_on(page: &str, family: &str) -> BTreeSet<String> {
    let marker = format!("breaker=\"{family}\",key=\"");
    page.lines()
        .filter_map(|l| {
            l.split_once(&marker).and_then(|(_, rest)| rest.split_once('"')).map(|(k, _)| k.to_owned())
        })
        .collect()
}

fn series_of(page: &str, family: &str) -> usize {
    let marker = format!("breaker=\"{family}\"");
    page.lines().filter(|l| !l.starts_with('#') && l.contains(&marker)).count()
}

#[test]
fn a_key_flood_keeps_series_bounded_and_the_open_breaker_open() {
    const MAX_KEYS: usize = 64;
    const FLOOD: usize = 5_000;
    // Real time for the exporter's idle timeout (it reads its own clock).
    const IDLE: Duration = Duration::from_millis(300);
    let recorder = PrometheusBuilder::new().idle_timeout(MetricKindMask::ALL, Some(IDLE)).build_recorder();
    let prometheus = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this binary");

    let registry = Registry::new();
    let named = registry.breaker("database").unwrap();
    let api = Keyed::<String>::builder("flood")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(86_400))
        .max_keys(MAX_KEYS)
        .idle_timeout(Duration::from_secs(1))
        .clock(&CLOCK)
        .build()
        .unwrap();
    let hot = api.breaker("/hot").unwrap();
    let _ = hot.call(|| Err::<(), _>("503"));
    assert_eq!(hot.state(), State::Open);

    // The flood: every request a new key, a little apart, so earlier keys go idle.
    for n in 0..FLOOD {
        CLOCK.advance(Duration::from_millis(300));
        if let Ok(b) = api.breaker(&format!("/flood/{n}")) {
            let _ = b.call(|| Ok::<_, ()>(()));
        }
    }
    assert!(api.len() <= MAX_KEYS);
    // The OPEN breaker was kept: the flood did not switch its protection off.
    let still = api.get("/hot").expect("an OPEN breaker is never evicted");
    assert!(std::sync::Arc::ptr_eq(&still, &hot));
    assert_eq!(still.state(), State::Open);

    // Scrapes as a service makes them: refresh, then render. The evicted keys' series are not
    // touched any more and go after the idle timeout; the live ones are touched and stay.
    api.refresh_metrics();
    named.refresh_metrics();
    let during = prometheus.render();
    std::thread::sleep(IDLE + Duration::from_millis(200));
    api.refresh_metrics();
    named.refresh_metrics();
    let after = prometheus.render();

    let live: BTreeSet<String> = api.entries().into_iter().map(|(k, _)| k).collect();
    let exported = keys_on(&after, "flood");
    assert_eq!(exported, live, "after the idle timeout, exactly the live keys have series");
    assert!(keys_on(&during, "flood").len() > MAX_KEYS, "the flood did register series (the test has teeth)");
    // Per breaker: 5 state gauges, 4 outcomes, the transitions seen (at most a few).
    assert!(series_of(&after, "flood") <= MAX_KEYS * 16, "{} series", series_of(&after, "flood"));
    assert!(
        after.contains("circuit_breaker_state{breaker=\"flood\",key=\"/hot\",state=\"open\"} 1"),
        "{after}"
    );
    // The named breaker, idle all along, kept its series because it was refreshed.
    assert!(after.contains("circuit_breaker_state{breaker=\"database\",state=\"closed\"} 1"));
    // And its handles still feed the exported series.
    let _ = named.call(|| Ok::<_, ()>(()));
    let page = prometheus.render();
    assert!(
        page.contains("circuit_breaker_calls_total{breaker=\"database\",outcome=\"successful\"} 1"),
        "{page}"
    );
}
