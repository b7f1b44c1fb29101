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
    /// taken only on transitions and never around user code.
    shown: Mutex<Option<u32>>,
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
            shown: Mutex::new(None),
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
        if shown.map_or(true, |g| newer(generation, g)) {
            *shown = Some(generation);
            for s in STATES {
                self.state[index(s)].set(if s == to { 1.0 } else { 0.0 });
            }
        }
    }

    pub(crate) fn failure_rate(&self, rate: f64) {
        self.failure_rate.get_or_init(|| metrics::gauge!(FAILURE_RATIO, self.labels.clone())).set(rate);
    }
}
