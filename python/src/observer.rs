//! The core's [`Observer`]: counters for metrics (atomics, no Python on a call's path), and on
//! every transition a `logging` record with the note's message, level and `extra` fields, then
//! the listeners (a listener that raises is logged, never breaks the breaker).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use breaker_core::{CircuitOpen, Observer, State, Transition, Trigger, Verdict};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::types::{state_index, types};

const ERROR: u8 = 40;
const WARNING: u8 = 30;
const INFO: u8 = 20;

/// Outcome names of `counters()["calls"]`, in the order of [`PyObserver::calls`].
pub(crate) const OUTCOMES: [&str; 4] = ["successful", "failed", "ignored", "rejected"];

pub(crate) struct PyObserver {
    /// `logging.getLogger("lockfree_breaker")`.
    logger: Py<PyAny>,
    /// Callables, each called with a [`TransitionEvent`]; a Python list, changed under the GIL.
    pub(crate) listeners: Py<PyList>,
    /// Calls by outcome ([`OUTCOMES`]).
    pub(crate) calls: [AtomicU64; 4],
    /// Transitions by `[from][to]` state index.
    pub(crate) transitions: [[AtomicU64; 5]; 5],
    /// Transitions not yet logged and given to the listeners, in the order they were made.
    queue: Mutex<Queue>,
}

/// The transitions waiting to be reported, and whether a thread is reporting.
///
/// Logging and listeners are Python code, during which the GIL may pass to another thread that
/// makes the next transition; reported directly, that one could reach a listener first. So a
/// transition is queued (in the order the transitions were made: every call into the core
/// holds the GIL, which the core never gives up between its compare-and-swap and this queue),
/// and one thread at a time reports the queue in order. The lock is held only to push or pop,
/// never while Python runs.
#[derive(Default)]
struct Queue {
    pending: VecDeque<Transition>,
    reporting: bool,
}

impl PyObserver {
    pub(crate) fn new(py: Python<'_>, listeners: Py<PyList>) -> PyResult<Self> {
        let logger = py.import("logging")?.call_method1("getLogger", ("lockfree_breaker",))?.unbind();
        Ok(PyObserver {
            logger,
            listeners,
            calls: Default::default(),
            transitions: Default::default(),
            queue: Mutex::default(),
        })
    }

    fn report(&self, py: Python<'_>, t: &Transition) {
        let logger = self.logger.bind(py);
        if let Err(e) = self.log(py, t) {
            e.write_unraisable(py, Some(logger));
        }
        let listeners = self.listeners.bind(py);
        if listeners.is_empty() {
            return;
        }
        let event = match TransitionEvent::new(py, t).and_then(|e| Py::new(py, e)) {
            Ok(e) => e,
            Err(e) => return e.write_unraisable(py, Some(logger)),
        };
        // A copy: a listener may add or remove listeners.
        for listener in listeners.to_tuple().iter() {
            if let Err(err) = listener.call1((event.clone_ref(py),)) {
                let kwargs = PyDict::new(py);
                let logged = kwargs.set_item("exc_info", err.value(py)).and_then(|()| {
                    logger.call_method(
                        "error",
                        ("Circuit breaker '%s' listener %r raised", t.name, &listener),
                        Some(&kwargs),
                    )
                });
                if let Err(e) = logged {
                    e.write_unraisable(py, Some(logger));
                }
            }
        }
    }

    /// The transition's log record (breaker-std's table, in Python `logging`).
    fn log(&self, py: Python<'_>, t: &Transition) -> PyResult<()> {
        let name = t.name;
        let extra = PyDict::new(py);
        extra.set_item("circuit_breaker", name)?;
        extra.set_item("state", t.to.as_str())?;
        let counts = |extra: &Bound<'_, PyDict>| -> PyResult<()> {
            extra.set_item("failure_count", t.failure_count)?;
            extra.set_item("threshold", t.threshold)
        };
        let (level, message) = match (t.to, t.trigger) {
            (State::Open, Trigger::FailureThreshold) => {
                counts(&extra)?;
                (ERROR, format!("Circuit breaker '{name}' opening circuit"))
            }
            (State::Open, trigger) => {
                counts(&extra)?;
                extra.set_item("trigger", trigger.as_str())?;
                (ERROR, format!("Circuit breaker '{name}' {}", trigger.opening_message()))
            }
            (State::HalfOpen, _) => {
                extra.set_item("elapsed_seconds", t.open_for.map_or(0.0, |d| d.as_secs_f64()))?;
                (INFO, format!("Circuit breaker '{name}' transitioning to HALF_OPEN"))
            }
            (State::Closed, Trigger::Reset) => {
                counts(&extra)?;
                (INFO, format!("Circuit breaker '{name}' reset, closing circuit"))
            }
            (State::Closed, _) => (INFO, format!("Circuit breaker '{name}' recovered, closing circuit")),
            (State::ForcedOpen, _) => {
                counts(&extra)?;
                (WARNING, format!("Circuit breaker '{name}' forced open"))
            }
            (State::ForcedClosed, _) => {
                counts(&extra)?;
                (WARNING, format!("Circuit breaker '{name}' forced closed"))
            }
            (to, _) => (INFO, format!("Circuit breaker '{name}' now {}", to.as_str())),
        };
        let logger = self.logger.bind(py);
        if !logger.call_method1("isEnabledFor", (level,))?.is_truthy()? {
            return Ok(());
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("extra", extra)?;
        // The message is already formatted: no `%` arguments, so a `%` in a name is literal.
        logger.call_method("log", (level, message), Some(&kwargs))?;
        Ok(())
    }
}

impl Observer for PyObserver {
    fn on_transition(&self, t: &Transition) {
        self.transitions[state_index(t.from)][state_index(t.to)].fetch_add(1, Ordering::Relaxed);
        {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.pending.push_back(*t);
            if q.reporting {
                return; // the thread reporting now reports this one too, in order
            }
            q.reporting = true;
        }
        // Every call into the core is made from a method holding the GIL: this only checks.
        Python::attach(|py| loop {
            let next = {
                let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                let next = q.pending.pop_front();
                if next.is_none() {
                    q.reporting = false;
                }
                next
            };
            match next {
                Some(t) => self.report(py, &t),
                None => break,
            }
        });
    }

    #[inline]
    fn on_rejected(&self, _rejection: &CircuitOpen) {
        self.calls[3].fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    fn on_outcome(&self, _name: &'static str, verdict: Verdict) {
        let i = match verdict {
            Verdict::Success => 0,
            Verdict::Failure => 1,
            _ => 2,
        };
        self.calls[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// One state transition, as a listener receives it: `listener(transition)`.
#[pyclass(frozen, get_all, module = "lockfree_breaker", name = "Transition")]
pub(crate) struct TransitionEvent {
    /// The breaker's name.
    name: String,
    /// The state before (a `CircuitState`).
    old_state: Py<PyAny>,
    /// The state after (a `CircuitState`).
    new_state: Py<PyAny>,
    /// Why: `failure_threshold`, `failure_rate`, `slow_call_rate`, `recovery_timeout`,
    /// `probe_succeeded`, `probe_failed`, `probe_timeout`, `force_open`, `force_closed`, `reset`.
    trigger: &'static str,
    /// Failures at the transition (the threshold when CLOSED trips).
    failure_count: u32,
    /// The configured threshold.
    threshold: u32,
    /// Seconds spent OPEN, on OPEN → HALF_OPEN.
    elapsed_seconds: Option<f64>,
    /// Seconds the breaker will stay OPEN, on transitions into OPEN (after backoff and jitter).
    open_seconds: Option<f64>,
    /// Failed recoveries in a row.
    backoff_level: u32,
    /// The core's cycle counter after the transition (wrapping): one more for each transition.
    generation: u32,
}

impl TransitionEvent {
    fn new(py: Python<'_>, t: &Transition) -> PyResult<Self> {
        let ty = types(py)?;
        Ok(TransitionEvent {
            name: t.name.to_owned(),
            old_state: ty.state(py, t.from),
            new_state: ty.state(py, t.to),
            trigger: t.trigger.as_str(),
            failure_count: t.failure_count,
            threshold: t.threshold,
            elapsed_seconds: t.open_for.map(|d| d.as_secs_f64()),
            open_seconds: t.open_duration.map(|d| d.as_secs_f64()),
            backoff_level: t.backoff_level,
            generation: t.generation,
        })
    }
}

#[pymethods]
impl TransitionEvent {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Transition(name={:?}, old_state={}, new_state={}, trigger={:?}, failure_count={})",
            self.name,
            self.old_state.bind(py).str()?,
            self.new_state.bind(py).str()?,
            self.trigger,
            self.failure_count
        ))
    }
}
