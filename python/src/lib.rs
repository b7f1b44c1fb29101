//! `lockfree_breaker._native`: the Python original's `CircuitBreaker` on breaker-core.
//!
//! The Python object owns a core [`Breaker`] (in an `Arc`, so an async call's [`Permit`] can
//! hold it across an `await`). A synchronous `call` goes through the core's `call_with`: in
//! CLOSED with no failures pending that is one atomic load before and none after the Python
//! call. A plain function decorated with `@breaker` is a native [`Decorated`] (`decorator.rs`)
//! whose call is that same code, with no Python frame of ours. The GIL is never released:
//! every step of ours takes nanoseconds, less than a release and a re-acquire, the callable
//! needs the GIL anyway, and the core has no lock to wait on, so there is nothing to deadlock
//! with.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use breaker_core::limits::{MAX_FAILURE_THRESHOLD, MAX_HALF_OPEN_PROBES};
use breaker_core::{
    Breaker, CallError, CircuitOpen, Config, Consecutive, RateConfig, Snapshot, Verdict, Window,
};
use pyo3::exceptions::{PyBaseException, PyException, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple, PyType};

mod args;
mod clock;
mod decorator;
mod observer;
mod types;

use clock::{type_name, ManualClock, PyClock};
use decorator::Decorated;
use observer::{PyObserver, TransitionEvent, OUTCOMES};
use types::{types, STATE_NAMES};

/// Buckets of a rate window: a count window of `window_size` calls (a multiple of 20) is 20
/// buckets of `window_size / 20` calls, a time window of `window_seconds` (a multiple of 20 ms)
/// 20 buckets of a 20th; any other size is a `ValueError`, never rounded.
const BUCKETS: usize = 20;

type ConsecutiveBreaker = Breaker<PyClock, PyObserver, Consecutive>;
type RateBreaker = Breaker<PyClock, PyObserver, Window<BUCKETS>>;

/// The core breaker, by trip policy.
enum Core {
    Consecutive(Arc<ConsecutiveBreaker>),
    Rate(Arc<RateBreaker>),
}

/// `$body` with `$b` bound to the core breaker, whichever its policy.
macro_rules! with_core {
    ($core:expr, $b:ident => $body:expr) => {
        match $core {
            Core::Consecutive($b) => $body,
            Core::Rate($b) => $body,
        }
    };
}

/// A permit of either policy's breaker.
enum CorePermit {
    Consecutive(breaker_core::Permit<Arc<ConsecutiveBreaker>>),
    Rate(breaker_core::Permit<Arc<RateBreaker>>),
}

/// `expected_exception`: which exceptions count as failures. The others pass through and count
/// as neither, and so does `asyncio.CancelledError` always.
enum Expected {
    /// An exception class or a tuple of them (`except` semantics).
    Classes(Py<PyAny>),
    /// A predicate called with the exception: truthy counts it as a failure.
    Predicate(Py<PyAny>),
}

impl Expected {
    fn from_arg(py: Python<'_>, v: Option<&Bound<'_, PyAny>>) -> PyResult<Expected> {
        let Some(v) = v.filter(|v| !v.is_none()) else {
            return Ok(Expected::Classes(py.get_type::<PyException>().into_any().unbind()));
        };
        let is_exception_class = |c: &Bound<'_, PyAny>| {
            c.cast::<PyType>().is_ok_and(|t| t.is_subclass_of::<PyBaseException>().unwrap_or(false))
        };
        if v.is_instance_of::<PyString>() {
            return Err(PyValueError::new_err(format!(
                "expected_exception must be an exception class, a tuple of them or a predicate, \
                 not the string {}: did you mean name={}?",
                v.repr()?,
                v.repr()?
            )));
        }
        if let Ok(t) = v.cast::<PyTuple>() {
            if t.is_empty() {
                return Err(PyValueError::new_err(
                    "expected_exception must not be an empty tuple (no exception would count)",
                ));
            }
            for c in t.iter() {
                if !is_exception_class(&c) {
                    return Err(PyTypeError::new_err(format!(
                        "expected_exception: every item of the tuple must be an exception class, got {}",
                        c.repr()?
                    )));
                }
            }
            return Ok(Expected::Classes(v.clone().unbind()));
        }
        if v.is_instance_of::<PyType>() {
            if is_exception_class(v) {
                return Ok(Expected::Classes(v.clone().unbind()));
            }
            return Err(PyTypeError::new_err(format!(
                "expected_exception must be an exception class (a subclass of BaseException), got {}",
                v.repr()?
            )));
        }
        if v.is_callable() {
            return Ok(Expected::Predicate(v.clone().unbind()));
        }
        Err(PyTypeError::new_err(format!(
            "expected_exception must be an exception class, a tuple of them or a predicate, not {}",
            type_name(v)
        )))
    }

    /// The verdict for a call that raised `err` (the synchronous path: the error is not
    /// normalized unless a predicate needs its value).
    fn verdict(&self, py: Python<'_>, err: &PyErr) -> Verdict {
        let Ok(ty) = types(py) else { return Verdict::Failure };
        if err.is_instance(py, ty.cancelled.bind(py)) {
            return Verdict::Ignore;
        }
        match self {
            Expected::Classes(c) => {
                if err.is_instance(py, c.bind(py)) {
                    Verdict::Failure
                } else {
                    Verdict::Ignore
                }
            }
            Expected::Predicate(p) => predicate(py, p, err.value(py).as_any()),
        }
    }

    /// The verdict for an exception object (the async path).
    fn verdict_of(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> Verdict {
        let Ok(ty) = types(py) else { return Verdict::Failure };
        if exc.is_instance(ty.cancelled.bind(py)).unwrap_or(false) {
            return Verdict::Ignore;
        }
        match self {
            Expected::Classes(c) => {
                if exc.is_instance(c.bind(py)).unwrap_or(false) {
                    Verdict::Failure
                } else {
                    Verdict::Ignore
                }
            }
            Expected::Predicate(p) => predicate(py, p, exc),
        }
    }
}

/// A predicate's verdict; one that raises is reported as unraisable and the call counts.
fn predicate(py: Python<'_>, p: &Py<PyAny>, exc: &Bound<'_, PyAny>) -> Verdict {
    match p.bind(py).call1((exc,)).and_then(|r| r.is_truthy()) {
        Ok(true) => Verdict::Failure,
        Ok(false) => Verdict::Ignore,
        Err(e) => {
            e.write_unraisable(py, Some(p.bind(py)));
            Verdict::Failure
        }
    }
}

/// Breaker names live for the process (the core keeps `&'static str`): each distinct name is
/// leaked once. Taken at construction only, never on a call.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Option<HashMap<String, &'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let names = names.get_or_insert_with(HashMap::new);
    if let Some(n) = names.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(name.to_owned(), leaked);
    leaked
}

/// A circuit breaker: `CircuitBreaker(failure_threshold=5, recovery_timeout=60,
/// expected_exception=Exception, name=None, *, ...)`.
///
/// Calls through it with `call(func, *args, **kwargs)`, `await call_async(func, ...)` or the
/// `@breaker` decorator. `expected_exception` is an exception class, a tuple of them, or a
/// predicate on the exception; other exceptions pass through and count as neither.
#[pyclass(frozen, subclass, weakref, module = "lockfree_breaker", name = "CircuitBreaker")]
pub struct CircuitBreaker {
    core: Core,
    expected: Arc<Expected>,
    name: Py<PyString>,
    call_timeout: Option<f64>,
}

/// Keyword-only settings beyond the note's four, gathered for `build`.
struct Settings<'a, 'py> {
    half_open_probes: &'a Bound<'py, PyAny>,
    successes_to_close: &'a Bound<'py, PyAny>,
    backoff_max: Option<&'a Bound<'py, PyAny>>,
    jitter: Option<&'a Bound<'py, PyAny>>,
    jitter_seed: Option<&'a Bound<'py, PyAny>>,
    probe_timeout: Option<&'a Bound<'py, PyAny>>,
    gradual_recovery: Option<&'a Bound<'py, PyAny>>,
    count_abandoned_after: Option<&'a Bound<'py, PyAny>>,
}

fn some<'a, 'py>(v: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    v.filter(|v| !v.is_none())
}

fn config(
    failure_threshold: &Bound<'_, PyAny>,
    recovery_timeout: Option<&Bound<'_, PyAny>>,
    s: &Settings<'_, '_>,
) -> PyResult<breaker_core::ValidConfig> {
    let threshold = args::int(failure_threshold, "failure_threshold", 1, u64::from(MAX_FAILURE_THRESHOLD))?;
    let timeout = match some(recovery_timeout) {
        Some(t) => args::seconds(t, "recovery_timeout", false)?,
        None => Duration::from_secs(60),
    };
    let probes = args::int(s.half_open_probes, "half_open_probes", 1, u64::from(MAX_HALF_OPEN_PROBES))?;
    let successes =
        args::int(s.successes_to_close, "successes_to_close", 1, u64::from(MAX_HALF_OPEN_PROBES))?;
    if successes > probes {
        return Err(PyValueError::new_err(format!(
            "successes_to_close ({successes}) must be at most half_open_probes ({probes})"
        )));
    }
    let mut c = Config::new()
        .failure_threshold(threshold)
        .recovery_timeout(timeout)
        .half_open_probes(probes)
        .successes_to_close(successes);
    if let Some(max) = some(s.backoff_max) {
        c = c.backoff(args::seconds(max, "backoff_max", false)?);
    }
    if let Some(j) = some(s.jitter) {
        let seed = match some(s.jitter_seed) {
            Some(seed) => args::int(seed, "jitter_seed", 0, u64::from(u32::MAX))?,
            None => random_seed(),
        };
        c = c.jitter(args::seconds(j, "jitter", false)?, seed);
    }
    if let Some(t) = some(s.probe_timeout) {
        c = c.probe_timeout(args::seconds(t, "probe_timeout", false)?);
    }
    if let Some(t) = some(s.count_abandoned_after) {
        c = c.count_abandoned_after(args::seconds(t, "count_abandoned_after", false)?);
    }
    if let Some(g) = some(s.gradual_recovery) {
        let t = g.cast::<PyTuple>().ok().filter(|t| t.len() == 2).ok_or_else(|| {
            PyTypeError::new_err("gradual_recovery must be a tuple (period_seconds, start_percent)")
        })?;
        let period = args::seconds(&t.get_item(0)?, "gradual_recovery", false)?;
        let start = args::int(&t.get_item(1)?, "gradual_recovery", 0, 100)?;
        c = c.gradual_recovery(period, start);
    }
    c.validate().map_err(args::config_error)
}

/// A seed for jitter, different per breaker and process (std's hasher keys are random).
fn random_seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish() as u32
}

/// The rate window's arguments.
struct RateArgs<'a, 'py> {
    failure_rate: Option<&'a Bound<'py, PyAny>>,
    window_size: Option<&'a Bound<'py, PyAny>>,
    window_seconds: Option<&'a Bound<'py, PyAny>>,
    min_calls: Option<&'a Bound<'py, PyAny>>,
    slow_call_duration: Option<&'a Bound<'py, PyAny>>,
    slow_call_rate: Option<&'a Bound<'py, PyAny>>,
    slow_call_as_failure: bool,
}

impl RateArgs<'_, '_> {
    fn wanted(&self) -> bool {
        [
            self.failure_rate,
            self.window_size,
            self.window_seconds,
            self.min_calls,
            self.slow_call_duration,
            self.slow_call_rate,
        ]
        .into_iter()
        .any(|v| some(v).is_some())
    }

    fn window(&self) -> PyResult<Window<BUCKETS>> {
        let permille = match some(self.failure_rate) {
            Some(r) => args::rate(r, "failure_rate")?,
            None => 500,
        };
        let min_calls = match some(self.min_calls) {
            Some(m) => args::int(m, "min_calls", 1, u64::from(u32::MAX))?,
            None => 10,
        };
        let mut rule = RateConfig::new(permille, min_calls);
        if let Some(d) = some(self.slow_call_duration) {
            let threshold = args::seconds(d, "slow_call_duration", false)?;
            let rate = match some(self.slow_call_rate) {
                Some(r) => args::rate(r, "slow_call_rate")?,
                None => 1000,
            };
            rule = rule.slow_calls(threshold, rate, self.slow_call_as_failure);
        } else if some(self.slow_call_rate).is_some() {
            return Err(PyValueError::new_err("slow_call_rate needs slow_call_duration"));
        }
        let rule = rule.validate().map_err(args::config_error)?;
        match (some(self.window_size), some(self.window_seconds)) {
            (Some(_), Some(_)) => {
                Err(PyValueError::new_err("window_size and window_seconds: give one or the other"))
            }
            (None, Some(s)) => {
                let total = args::seconds(s, "window_seconds", false)?;
                let total_ms = total.as_millis() as u64;
                if total_ms % BUCKETS as u64 != 0 {
                    // Never a silently rounded value: the window is 20 equal buckets of whole ms.
                    return Err(PyValueError::new_err(format!(
                        "window_seconds must be a multiple of {} ms (the window's {BUCKETS} buckets of whole milliseconds), got {total_ms} ms",
                        BUCKETS
                    )));
                }
                let width = Duration::from_millis(total_ms / BUCKETS as u64);
                Window::time(width, rule).map_err(args::config_error)
            }
            (size, None) => {
                let n = match size {
                    Some(n) => args::int(n, "window_size", BUCKETS as u64, 1 << 30)?,
                    None => 100,
                };
                if n % BUCKETS as u32 != 0 {
                    // Never a silently rounded value: "the last N calls" is exact only for N a
                    // multiple of the window's buckets.
                    return Err(PyValueError::new_err(format!(
                        "window_size must be a multiple of {BUCKETS} (the window's buckets), got {n}"
                    )));
                }
                Window::count(n / BUCKETS as u32, rule).map_err(args::config_error)
            }
        }
    }
}

#[pymethods]
impl CircuitBreaker {
    #[new]
    #[pyo3(signature = (
        failure_threshold = None, recovery_timeout = None, expected_exception = None, name = None, *,
        half_open_probes = None, successes_to_close = None, backoff_max = None, jitter = None,
        jitter_seed = None, probe_timeout = None, gradual_recovery = None, count_abandoned_after = None,
        failure_rate = None, window_size = None, window_seconds = None, min_calls = None,
        slow_call_duration = None, slow_call_rate = None, slow_call_as_failure = None,
        call_timeout = None, clock = None, listeners = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        failure_threshold: Option<&Bound<'_, PyAny>>,
        recovery_timeout: Option<&Bound<'_, PyAny>>,
        expected_exception: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
        half_open_probes: Option<&Bound<'_, PyAny>>,
        successes_to_close: Option<&Bound<'_, PyAny>>,
        backoff_max: Option<&Bound<'_, PyAny>>,
        jitter: Option<&Bound<'_, PyAny>>,
        jitter_seed: Option<&Bound<'_, PyAny>>,
        probe_timeout: Option<&Bound<'_, PyAny>>,
        gradual_recovery: Option<&Bound<'_, PyAny>>,
        count_abandoned_after: Option<&Bound<'_, PyAny>>,
        failure_rate: Option<&Bound<'_, PyAny>>,
        window_size: Option<&Bound<'_, PyAny>>,
        window_seconds: Option<&Bound<'_, PyAny>>,
        min_calls: Option<&Bound<'_, PyAny>>,
        slow_call_duration: Option<&Bound<'_, PyAny>>,
        slow_call_rate: Option<&Bound<'_, PyAny>>,
        slow_call_as_failure: Option<&Bound<'_, PyAny>>,
        call_timeout: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyAny>>,
        listeners: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let five = 5u32.into_pyobject(py)?.into_any();
        let one = 1u32.into_pyobject(py)?.into_any();
        let name_str = match some(name) {
            None => "default".to_owned(),
            Some(n) => {
                let s = n.cast::<PyString>().map_err(|_| {
                    PyTypeError::new_err(format!("name must be a str or None, not {}", type_name(n)))
                })?;
                let s: String = s.extract()?;
                if s.is_empty() {
                    return Err(PyValueError::new_err("name must not be empty"));
                }
                s
            }
        };
        let settings = Settings {
            half_open_probes: some(half_open_probes).unwrap_or(&one),
            successes_to_close: some(successes_to_close).unwrap_or(&one),
            backoff_max,
            jitter,
            jitter_seed,
            probe_timeout,
            gradual_recovery,
            count_abandoned_after,
        };
        let valid = config(some(failure_threshold).unwrap_or(&five), recovery_timeout, &settings)?;
        let expected = Expected::from_arg(py, expected_exception)?;
        let slow_call_as_failure = match some(slow_call_as_failure) {
            None => false,
            Some(v) if v.is_instance_of::<PyBool>() => v.is_truthy()?,
            Some(v) => {
                return Err(PyTypeError::new_err(format!(
                    "slow_call_as_failure must be a bool, not {}",
                    type_name(v)
                )))
            }
        };
        let rate = RateArgs {
            failure_rate,
            window_size,
            window_seconds,
            min_calls,
            slow_call_duration,
            slow_call_rate,
            slow_call_as_failure,
        };
        let call_timeout = match some(call_timeout) {
            Some(t) => Some(args::seconds(t, "call_timeout", false)?.as_secs_f64()),
            None => None,
        };
        let listener_list = PyList::empty(py);
        if let Some(ls) = some(listeners) {
            let iter = ls.try_iter().map_err(|_| {
                PyTypeError::new_err(format!(
                    "listeners must be an iterable of callables, not {}",
                    type_name(ls)
                ))
            })?;
            for l in iter {
                let l = l?;
                if !l.is_callable() {
                    return Err(PyTypeError::new_err(format!("listeners: {} is not callable", l.repr()?)));
                }
                listener_list.append(l)?;
            }
        }
        let clock = PyClock::from_arg(clock)?;
        // The lazily imported Python types, now: an import problem shows at construction.
        types(py)?;
        let observer = PyObserver::new(py, listener_list.unbind())?;
        let leaked = intern(&name_str);
        let core = if rate.wanted() {
            let window = rate.window()?;
            Core::Rate(Arc::new(Breaker::with_policy(leaked, valid, clock, observer, window)))
        } else {
            Core::Consecutive(Arc::new(Breaker::with_observer(leaked, valid, clock, observer)))
        };
        Ok(CircuitBreaker {
            core,
            expected: Arc::new(expected),
            name: PyString::new(py, leaked).unbind(),
            call_timeout,
        })
    }

    /// `call(func, *args, **kwargs)`: `func(*args, **kwargs)` through the breaker. Raises
    /// `CircuitBreakerError` without calling `func` while the circuit is open.
    #[pyo3(signature = (func, /, *args, **kwargs))]
    fn call(
        &self,
        py: Python<'_>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        self.call_through(py, func, args, kwargs)
    }

    /// `await call_async(func, *args, **kwargs)`: `func` a coroutine function (or any callable
    /// returning an awaitable). The permit is held across the `await`; a cancelled task counts
    /// as neither and gives a half-open probe slot back; with `call_timeout` set, a call that
    /// runs out of it counts as a failure and raises `asyncio.TimeoutError`.
    #[pyo3(signature = (func, /, *args, **kwargs))]
    fn call_async<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let kwargs = match kwargs {
            Some(k) => k.clone(),
            None => PyDict::new(py),
        };
        types(py)?.call_async.bind(py).call1((slf, func, args, kwargs))
    }

    /// `@breaker`: the decorated function (plain or `async def`) runs through the breaker. A
    /// plain function becomes a native [`Decorated`] (no Python frame of ours on its calls);
    /// an `async def` one a Python `async def` wrapper (`_aio.decorate_async`), so that it
    /// stays a coroutine function.
    fn __call__<'py>(slf: &Bound<'py, Self>, func: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if !func.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "a CircuitBreaker decorates a function, not {}",
                type_name(func)
            )));
        }
        let py = slf.py();
        let ty = types(py)?;
        if ty.iscoroutinefunction.bind(py).call1((func,))?.is_truthy()? {
            return ty.decorate_async.bind(py).call1((slf, func));
        }
        Ok(Decorated::wrap(slf, func)?.into_any())
    }

    /// A permit for one call, or `CircuitBreakerError`: report the outcome on it (`success()`,
    /// `failure()`, `ignore()`, `timed_out(seconds)`, `exception(exc)`), or use it as a context
    /// manager. A permit dropped without a report counts as neither.
    fn acquire(&self, py: Python<'_>) -> PyResult<Permit> {
        let permit = match &self.core {
            Core::Consecutive(b) => breaker_core::Permit::acquire(Arc::clone(b)).map(CorePermit::Consecutive),
            Core::Rate(b) => breaker_core::Permit::acquire(Arc::clone(b)).map(CorePermit::Rate),
        };
        match permit {
            Ok(p) => Ok(Permit { inner: Some(p), expected: Arc::clone(&self.expected) }),
            Err(open) => Err(self.rejection(py, &open)),
        }
    }

    /// The state, a `CircuitState`. An open breaker whose recovery timeout has passed shows
    /// `HALF_OPEN`: the next call is its probe.
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let s = with_core!(&self.core, b => b.state());
        Ok(types(py)?.state(py, s))
    }

    /// Failures counted: consecutive ones in CLOSED (those in the window with a rate policy);
    /// while OPEN or HALF_OPEN, those that opened it plus failed probes.
    #[getter]
    fn failure_count(&self) -> u32 {
        with_core!(&self.core, b => b.failure_count())
    }

    /// The note's spelling (`database_breaker._failure_count` in its health endpoint).
    #[getter]
    fn _failure_count(&self) -> u32 {
        self.failure_count()
    }

    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    #[getter]
    fn failure_threshold(&self) -> u32 {
        with_core!(&self.core, b => b.config().failure_threshold())
    }

    /// Seconds.
    #[getter]
    fn recovery_timeout(&self) -> f64 {
        with_core!(&self.core, b => b.config().recovery_timeout().as_secs_f64())
    }

    /// Seconds, or `None`: the deadline of `call_async`.
    #[getter]
    fn call_timeout(&self) -> Option<f64> {
        self.call_timeout
    }

    /// Opens the circuit until `reset()`: every call is rejected.
    fn force_open(&self) {
        with_core!(&self.core, b => b.force_open())
    }

    /// Closes the circuit until `reset()`: every call passes and nothing is counted.
    fn force_closed(&self) {
        with_core!(&self.core, b => b.force_closed())
    }

    /// Back to CLOSED with no failures (outcomes of calls admitted before are not counted).
    fn reset(&self) {
        with_core!(&self.core, b => b.reset())
    }

    /// Adds a listener: called with a `Transition` on every state change, by the thread that
    /// made it. A listener that raises is logged and changes nothing.
    fn add_listener(&self, py: Python<'_>, listener: &Bound<'_, PyAny>) -> PyResult<()> {
        if !listener.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "listener must be callable, not {}",
                type_name(listener)
            )));
        }
        self.listeners(py).append(listener)
    }

    /// Removes a listener added before (`ValueError` if it was not).
    fn remove_listener(&self, py: Python<'_>, listener: &Bound<'_, PyAny>) -> PyResult<()> {
        let list = self.listeners(py);
        let i = list.index(listener)?;
        list.del_item(i)
    }

    /// Everything a health endpoint shows, from one read of the state word.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (s, timeout): (Snapshot, Duration) =
            with_core!(&self.core, b => (b.snapshot(), b.config().recovery_timeout()));
        let d = PyDict::new(py);
        d.set_item("name", self.name.bind(py))?;
        d.set_item("state", types(py)?.state(py, s.state))?;
        d.set_item("failure_count", s.failure_count)?;
        d.set_item("failure_threshold", s.failure_threshold)?;
        d.set_item("recovery_timeout_seconds", timeout.as_secs_f64())?;
        d.set_item("retry_after_seconds", s.retry_after.map(|r| r.as_secs_f64()))?;
        d.set_item("probes_in_flight", s.probes_in_flight)?;
        d.set_item("probe_successes", s.probe_successes)?;
        d.set_item("backoff_level", s.backoff_level)?;
        d.set_item("recovering", s.recovering.map(f64::from))?;
        let window = match s.window {
            None => None,
            Some(w) => {
                let wd = PyDict::new(py);
                wd.set_item("calls", w.calls)?;
                wd.set_item("failures", w.failures)?;
                wd.set_item("slow", w.slow)?;
                wd.set_item("failure_rate", f64::from(w.failure_rate))?;
                wd.set_item("slow_rate", f64::from(w.slow_rate))?;
                wd.set_item("trip_rate", f64::from(w.trip_rate))?;
                Some(wd)
            }
        };
        d.set_item("window", window)?;
        d.set_item("generation", s.generation)?;
        Ok(d)
    }

    /// Counters for metrics: `{"calls": {outcome: n}, "transitions": {(from, to): n}}` (the
    /// normal cycle's four transitions always present, others once they happened).
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let obs = with_core!(&self.core, b => b.observer());
        let calls = PyDict::new(py);
        for (name, n) in OUTCOMES.iter().zip(&obs.calls) {
            calls.set_item(*name, n.load(Ordering::Relaxed))?;
        }
        let transitions = PyDict::new(py);
        let normal = [(0, 1), (1, 2), (2, 0), (2, 1)];
        for (from, row) in obs.transitions.iter().enumerate() {
            for (to, n) in row.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 || normal.contains(&(from, to)) {
                    transitions.set_item((STATE_NAMES[from], STATE_NAMES[to]), n)?;
                }
            }
        }
        let d = PyDict::new(py);
        d.set_item("calls", calls)?;
        d.set_item("transitions", transitions)?;
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let s = with_core!(&self.core, b => b.state());
        Ok(format!(
            "<CircuitBreaker {} state={} failure_count={} failure_threshold={}>",
            self.name.bind(py).repr()?,
            s.as_str(),
            self.failure_count(),
            self.failure_threshold()
        ))
    }
}

impl CircuitBreaker {
    /// `func(*args, **kwargs)` through the breaker: the code of `call` and of a decorated
    /// plain function's call ([`decorator::Decorated`]).
    #[inline]
    fn call_through(
        &self,
        py: Python<'_>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        // No arguments (the note's `breaker.call(call_external_service)`): a vectorcall
        // without building a call.
        let f = || match kwargs {
            None if args.is_empty() => func.call0().map(Bound::unbind),
            _ => func.call(args, kwargs).map(Bound::unbind),
        };
        let expected = &*self.expected;
        let classify = |r: &PyResult<Py<PyAny>>| match r {
            Ok(_) => Verdict::Success,
            Err(e) => expected.verdict(py, e),
        };
        match with_core!(&self.core, b => b.call_with(f, classify)) {
            Ok(v) => Ok(v),
            Err(CallError::Inner(e)) => Err(e),
            Err(CallError::Open(open)) => Err(self.rejection(py, &open)),
        }
    }

    fn listeners<'py>(&self, py: Python<'py>) -> &Bound<'py, PyList> {
        with_core!(&self.core, b => b.observer().listeners.bind(py))
    }

    /// The `CircuitBreakerError` for a rejection.
    fn rejection(&self, py: Python<'_>, open: &CircuitOpen) -> PyErr {
        let ty = match types(py) {
            Ok(t) => t,
            Err(e) => return e,
        };
        let retry = open.retry_after().map(|d| d.as_secs_f64());
        match ty.error.bind(py).call1((self.name.bind(py), retry, ty.state(py, open.state()))) {
            Ok(err) => PyErr::from_value(err),
            Err(e) => e,
        }
    }
}

/// Admission to make one call (from `CircuitBreaker.acquire()`): report exactly once, with
/// `success()`, `failure()`, `ignore()`, `timed_out(seconds)` or `exception(exc)` (classified
/// by the breaker's `expected_exception`); dropped unreported, it counts as neither (or as a
/// failure once it has been out `count_abandoned_after` seconds, if the breaker sets it). As a
/// context manager, leaving the block reports a success, or the exception that left it.
#[pyclass(module = "lockfree_breaker", name = "Permit")]
pub struct Permit {
    inner: Option<CorePermit>,
    expected: Arc<Expected>,
}

impl Permit {
    fn take(&mut self) -> PyResult<CorePermit> {
        self.inner.take().ok_or_else(|| PyRuntimeError::new_err("this permit has already been reported"))
    }

    fn record(&mut self, verdict: Verdict) -> PyResult<()> {
        match self.take()? {
            CorePermit::Consecutive(p) => p.record(verdict),
            CorePermit::Rate(p) => p.record(verdict),
        }
        Ok(())
    }
}

#[pymethods]
impl Permit {
    /// `True` if this call is a half-open probe.
    #[getter]
    fn is_probe(&self) -> bool {
        match &self.inner {
            Some(CorePermit::Consecutive(p)) => p.is_probe(),
            Some(CorePermit::Rate(p)) => p.is_probe(),
            None => false,
        }
    }

    /// `True` once reported.
    #[getter]
    fn reported(&self) -> bool {
        self.inner.is_none()
    }

    fn success(&mut self) -> PyResult<()> {
        self.record(Verdict::Success)
    }

    fn failure(&mut self) -> PyResult<()> {
        self.record(Verdict::Failure)
    }

    fn ignore(&mut self) -> PyResult<()> {
        self.record(Verdict::Ignore)
    }

    /// The call was given up after `seconds`: a failure, unless a slow-call window counts a
    /// call that long as a slow success.
    fn timed_out(&mut self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = args::seconds(seconds, "seconds", true)?;
        match self.take()? {
            CorePermit::Consecutive(p) => p.timed_out(d),
            CorePermit::Rate(p) => p.timed_out(d),
        }
        Ok(())
    }

    /// The call raised `exc`: a failure if `expected_exception` matches it, else neither.
    fn exception(&mut self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<()> {
        let verdict = self.expected.verdict_of(py, exc);
        self.record(verdict)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (_exc_type, exc, _traceback))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        exc: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if self.inner.is_some() {
            if exc.is_none() {
                self.record(Verdict::Success)?;
            } else {
                self.exception(py, exc)?;
            }
        }
        Ok(false)
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CircuitBreaker>()?;
    m.add_class::<Permit>()?;
    m.add_class::<Decorated>()?;
    m.add_class::<ManualClock>()?;
    m.add_class::<TransitionEvent>()?;
    Ok(())
}
