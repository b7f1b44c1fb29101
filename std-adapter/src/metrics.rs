//! Prometheus-style metrics through the [`metrics`] facade (feature `metrics`).
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `circuit_breaker_state` | gauge | `breaker`, `key` (keyed families only), `state` | 1 for the breaker's current state, 0 for the other four (`closed`, `open`, `half_open`, `forced_open`, `forced_closed`) |
//! | `circuit_breaker_calls_total` | counter | `breaker`, `key` (keyed families only), `outcome` | calls by outcome: `successful`, `failed`, `ignored`, `rejected` |
//! | `circuit_breaker_transitions_total` | counter | `breaker`, `key` (keyed families only), `from`, `to` | state transitions, manual ones included |
//! | `circuit_breaker_failure_ratio` | gauge | `breaker`, `key` (keyed families only) | failure rate in 0..=1 of a rate policy's window, set by [`Breaker::refresh_metrics`](crate::Breaker::refresh_metrics) / [`Registry::refresh_metrics`](crate::Registry::refresh_metrics) (call it before rendering `/metrics`) |
//!
//! Names follow the Prometheus conventions: counters end in `_total`, the 0–1 gauge in `_ratio`.
//!
//! **Which series exist before the first event.** Every series is registered with the global
//! recorder when the breaker is built — the five `state` series, the four `calls_total`
//! outcomes, the four `transitions_total` pairs of the normal cycle (`closed→open`,
//! `open→half_open`, `half_open→closed`, `half_open→open`) at 0, and, for a rate policy, the
//! `failure_ratio` gauge — so a dashboard or an alert sees a 0 rather than no data. Only the
//! pairs of manual control and restore (`*→forced_open`, `forced_closed→closed`, …) appear at
//! their first transition. So **install the recorder** (for example
//! `metrics-exporter-prometheus`) **before building breakers**: a breaker built before it has
//! no series. Updates never allocate.
//!
//! # Bounded series for keyed families
//!
//! A family's keys can come from clients, and the
//! `metrics` facade has no call that removes a series: the exporter does it, for series not
//! updated within its idle timeout. So build the exporter with one, and refresh before each
//! render:
//!
//! ```
//! # use metrics_exporter_prometheus::PrometheusBuilder;
//! # use metrics_util::MetricKindMask;
//! # use std::time::Duration;
//! let recorder = PrometheusBuilder::new()
//!     .idle_timeout(MetricKindMask::ALL, Some(Duration::from_secs(300)))
//!     .build_recorder();
//! let prometheus = recorder.handle();
//! // metrics::set_global_recorder(recorder), then build the registry; in `/metrics`:
//! let registry = breaker_std::Registry::new();
//! registry.refresh_metrics(); // touches every live breaker's series
//! let page = prometheus.render(); // drops the series nobody touched for 5 minutes
//! # let _ = page;
//! ```
//!
//! [`Registry::refresh_metrics`](crate::Registry::refresh_metrics) (and
//! [`Breaker::refresh_metrics`](crate::Breaker::refresh_metrics)) *touches* every series of
//! every live breaker (a counter increment of 0, each gauge set to its value), so a live
//! breaker's series are never idle when the render that follows looks; the breaker of an
//! evicted key is gone, nobody touches its series, and the exporter drops them after the idle
//! timeout. Series then stay bounded by the family's `max_keys`, whatever the number of keys
//! clients send (`tests/metrics_bounded.rs` floods a family with 5 000 keys). Always refresh
//! right before rendering when an idle timeout is set: a render that finds a live breaker's
//! series idle drops them, and the breaker's handles then update a series no longer exported.

use std::sync::{Mutex, Once, OnceLock, PoisonError};

use breaker_core::limits::GENERATIONS;
use breaker_core::{State, Verdict};
use metrics::{Counter, Gauge, Label};

/// `circuit_breaker_state`.
pub const STATE: &str = "circuit_breaker_state";
/// `circuit_breaker_calls_total`.
pub const CALLS: &str = "circuit_breaker_calls_total";
/// `circuit_breaker_transitions_total`.
pub const TRANSITIONS: &str = "circuit_breaker_transitions_total";
/// `circuit_breaker_failure_ratio`.
pub const FAILURE_RATIO: &str = "circuit_breaker_failure_ratio";

const STATES: [State; 5] =
    [State::Closed, State::Open, State::HalfOpen, State::ForcedOpen, State::ForcedClosed];

const fn index(s: State) -> usize {
    match s {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 3,
        State::ForcedClosed => 4,
        // `STATES` lists every state this core has; a later one would be added there.
        _ => 0,
    }
}

/// `a` is a later generation than `b` (modulo the core's generation counter).
fn newer(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b) & (GENERATIONS - 1);
    d != 0 && d < GENERATIONS / 2
}

fn describe() {
    static DESCRIBED: Once = Once::new();
    DESCRIBED.call_once(|| {
        metrics::describe_gauge!(STATE, "Circuit breaker state: 1 for the current state, 0 for the others.");
        metrics::describe_counter!(CALLS, "Calls through a circuit breaker, by outcome.");
        metrics::describe_counter!(TRANSITIONS, "Circuit breaker state transitions.");
        metrics::describe_gauge!(FAILURE_RATIO, "Circuit breaker failure rate (0..=1).");
    });
}

/// One breaker's metric handles.
pub(crate) struct Metrics {
    labels: Vec<Label>,
    successful: Counter,
    failed: Counter,
    ignored: Counter,
    rejected: Counter,
    state: [Gauge; 5],
    /// Generation of the transition the state gauge shows. Transitions are reported by the
    /// threads that made them, so two reports can arrive out of order; the gauge follows the
    /// newest generation only. A lock, because reading and setting must not interleave; it is
    /// taken only on transitions (and refreshes) and never around user code. With it, the
    /// state the gauge shows (an index into `STATES`).
    shown: Mutex<(Option<u32>, usize)>,
    transitions: [[OnceLock<Counter>; 5]; 5],
    failure_rate: OnceLock<Gauge>,
}

impl Metrics {
    pub(crate) fn new(name: &'static str, key: Option<&str>) -> Self {
        describe();
        let mut labels = vec![Label::new("breaker", name)];
        if let Some(key) = key {
            labels.push(Label::new("key", key.to_owned()));
        }
        let with = |k: &'static str, v: &'static str| {
            let mut l = labels.clone();
            l.push(Label::new(k, v));
            l
        };
        let calls = |outcome| metrics::counter!(CALLS, with("outcome", outcome));
        let state = STATES.map(|s| metrics::gauge!(STATE, with("state", s.as_str())));
        state[index(State::Closed)].set(1.0);
        let metrics = Metrics {
            successful: calls("successful"),
            failed: calls("failed"),
            ignored: calls("ignored"),
            rejected: calls("rejected"),
            state,
            shown: Mutex::new((None, index(State::Closed))),
            transitions: Default::default(),
            failure_rate: OnceLock::new(),
            labels,
        };
        // The normal cycle's transitions exist from the start, at 0.
        for (from, to) in [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed),
            (State::HalfOpen, State::Open),
        ] {
            metrics.transition_counter(from, to);
        }
        metrics
    }

    /// The `transitions_total` counter of `from → to`, registered on first use.
    fn transition_counter(&self, from: State, to: State) -> &Counter {
        self.transitions[index(from)][index(to)].get_or_init(|| {
            let mut l = self.labels.clone();
            l.push(Label::new("from", from.as_str()));
            l.push(Label::new("to", to.as_str()));
            metrics::counter!(TRANSITIONS, l)
        })
    }

    /// Registers the `failure_ratio` gauge at 0 (a rate policy's breaker, at build).
    pub(crate) fn register_failure_ratio(&self) {
        self.failure_rate.get_or_init(|| metrics::gauge!(FAILURE_RATIO, self.labels.clone())).set(0.0);
    }

    #[inline]
    pub(crate) fn outcome(&self, verdict: Verdict) {
        match verdict {
            Verdict::Success => self.successful.increment(1),
            Verdict::Failure => self.failed.increment(1),
            _ => self.ignored.increment(1),
        }
    }

    #[inline]
    pub(crate) fn rejected(&self) {
        self.rejected.increment(1);
    }

    pub(crate) fn transition(&self, from: State, to: State, generation: u32) {
        self.transition_counter(from, to).increment(1);
        let mut shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
        if shown.0.map_or(true, |g| newer(generation, g)) {
            *shown = (Some(generation), index(to));
            self.show(index(to));
        }
    }

    fn show(&self, state: usize) {
        for (i, gauge) in self.state.iter().enumerate() {
            gauge.set(if i == state { 1.0 } else { 0.0 });
        }
    }

    /// Touches every registered series (see the module docs: bounded series): counters by 0,
    /// gauges set to the value they show, so an exporter's idle timeout never drops a live
    /// breaker's series.
    pub(crate) fn touch(&self) {
        for counter in [&self.successful, &self.failed, &self.ignored, &self.rejected] {
            counter.increment(0);
        }
        for counter in self.transitions.iter().flatten().filter_map(OnceLock::get) {
            counter.increment(0);
        }
        let shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
        self.show(shown.1);
        drop(shown);
        // The failure-ratio gauge is set by the refresh itself, right after.
    }

    pub(crate) fn failure_rate(&self, rate: f64) {
        self.failure_rate.get_or_init(|| metrics::gauge!(FAILURE_RATIO, self.labels.clone())).set(rate);
    }
}
