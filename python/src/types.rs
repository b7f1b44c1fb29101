//! Python objects the native module uses, imported on first use: the `CircuitState` members,
//! `CircuitBreakerError` (both from `lockfree_breaker._types`, plain Python), the async
//! decorator and `call_async` (from `lockfree_breaker._aio`), `asyncio.CancelledError`, and
//! what the native decorator needs of the standard library (`inspect.iscoroutinefunction`,
//! `functools.update_wrapper`, `types.MethodType`).

use breaker_core::State;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

pub(crate) struct Types {
    /// `CircuitState.CLOSED`, `OPEN`, `HALF_OPEN`, `FORCED_OPEN`, `FORCED_CLOSED`.
    states: [Py<PyAny>; 5],
    pub(crate) error: Py<PyAny>,
    pub(crate) cancelled: Py<PyAny>,
    pub(crate) decorate_async: Py<PyAny>,
    pub(crate) call_async: Py<PyAny>,
    pub(crate) iscoroutinefunction: Py<PyAny>,
    pub(crate) update_wrapper: Py<PyAny>,
    pub(crate) method_type: Py<PyAny>,
}

static TYPES: PyOnceLock<Types> = PyOnceLock::new();

pub(crate) fn types(py: Python<'_>) -> PyResult<&'static Types> {
    TYPES.get_or_try_init(py, || {
        let m = py.import("lockfree_breaker._types")?;
        let aio = py.import("lockfree_breaker._aio")?;
        let state = m.getattr("CircuitState")?;
        let member = |n: &str| state.getattr(n).map(Bound::unbind);
        Ok(Types {
            states: [
                member("CLOSED")?,
                member("OPEN")?,
                member("HALF_OPEN")?,
                member("FORCED_OPEN")?,
                member("FORCED_CLOSED")?,
            ],
            error: m.getattr("CircuitBreakerError")?.unbind(),
            cancelled: py.import("asyncio")?.getattr("CancelledError")?.unbind(),
            decorate_async: aio.getattr("decorate_async")?.unbind(),
            call_async: aio.getattr("call_async")?.unbind(),
            iscoroutinefunction: py.import("inspect")?.getattr("iscoroutinefunction")?.unbind(),
            update_wrapper: py.import("functools")?.getattr("update_wrapper")?.unbind(),
            method_type: py.import("types")?.getattr("MethodType")?.unbind(),
        })
    })
}

impl Types {
    /// The `CircuitState` member of `s`.
    pub(crate) fn state(&self, py: Python<'_>, s: State) -> Py<PyAny> {
        self.states[state_index(s)].clone_ref(py)
    }
}

/// Index of a state in `Types::states` and in the observer's transition counters.
pub(crate) const fn state_index(s: State) -> usize {
    match s {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 3,
        State::ForcedClosed => 4,
        // A state a later core adds; this core has the five above.
        _ => 1,
    }
}

/// State names by index.
pub(crate) const STATE_NAMES: [&str; 5] = ["closed", "open", "half_open", "forced_open", "forced_closed"];
