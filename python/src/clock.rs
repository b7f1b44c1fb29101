//! The breaker's clock: monotonic by default, or injected for tests (a [`ManualClock`] moved
//! with `advance(seconds)`, or any callable returning seconds, like `time.monotonic`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use breaker_core::{Clock, Timestamp};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::args::seconds;

/// A clock the breaker reads in whole milliseconds.
pub(crate) enum PyClock {
    /// `std::time::Instant`, from the breaker's construction.
    Monotonic(Instant),
    /// A [`ManualClock`]: read without calling Python.
    Manual(Arc<breaker_core::ManualClock>),
    /// A Python callable returning seconds; readings are taken relative to the first one and
    /// never go back (a reading below the last one, or a failing call, repeats the last one).
    Callable { func: Py<PyAny>, origin: f64, last: AtomicU64 },
}

impl PyClock {
    /// The `clock` argument: `None`, a [`ManualClock`] or a callable returning seconds.
    pub(crate) fn from_arg(clock: Option<&Bound<'_, PyAny>>) -> PyResult<PyClock> {
        let Some(clock) = clock.filter(|c| !c.is_none()) else {
            return Ok(PyClock::Monotonic(Instant::now()));
        };
        if let Ok(manual) = clock.cast::<ManualClock>() {
            return Ok(PyClock::Manual(Arc::clone(&manual.get().inner)));
        }
        if !clock.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "clock must be a ManualClock or a callable returning seconds (like time.monotonic), not {}",
                type_name(clock)
            )));
        }
        let origin = read_seconds(clock).map_err(|e| {
            let py = clock.py();
            let err = PyTypeError::new_err("clock() must return a finite number of seconds");
            err.set_cause(py, Some(e));
            err
        })?;
        Ok(PyClock::Callable { func: clock.clone().unbind(), origin, last: AtomicU64::new(0) })
    }
}

fn read_seconds(func: &Bound<'_, PyAny>) -> PyResult<f64> {
    let v = func.call0()?;
    let s: f64 = v.extract()?;
    if s.is_finite() {
        Ok(s)
    } else {
        Err(PyTypeError::new_err(format!("clock() returned {s}")))
    }
}

pub(crate) fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".to_owned())
}

impl Clock for PyClock {
    #[inline]
    fn now(&self) -> Timestamp {
        match self {
            PyClock::Monotonic(start) => Timestamp::from_millis(start.elapsed().as_millis() as u64),
            PyClock::Manual(clock) => clock.now(),
            PyClock::Callable { func, origin, last } => Python::attach(|py| {
                let reading = match read_seconds(func.bind(py)) {
                    Ok(s) => ((s - origin) * 1000.0).max(0.0) as u64,
                    Err(e) => {
                        e.write_unraisable(py, Some(func.bind(py)));
                        0
                    }
                };
                let prev = last.fetch_max(reading, Ordering::Relaxed);
                Timestamp::from_millis(prev.max(reading))
            }),
        }
    }
}

/// A clock that moves only when told to, for tests: `ManualClock(start=0.0)`, then
/// `clock.advance(seconds)`. Pass it as `CircuitBreaker(..., clock=clock)`; the breaker reads
/// it without calling into Python. Calling it returns its reading in seconds, like
/// `time.monotonic()`.
#[pyclass(frozen, module = "lockfree_breaker", name = "ManualClock")]
pub(crate) struct ManualClock {
    inner: Arc<breaker_core::ManualClock>,
}

#[pymethods]
impl ManualClock {
    #[new]
    #[pyo3(signature = (start = None))]
    fn new(start: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let start = match start {
            Some(s) if !s.is_none() => seconds(s, "start", true)?,
            _ => std::time::Duration::ZERO,
        };
        let ms = Timestamp::from_millis(start.as_millis() as u64);
        Ok(ManualClock { inner: Arc::new(breaker_core::ManualClock::starting_at(ms)) })
    }

    /// Moves the clock forward by `seconds` (whole milliseconds; not negative).
    fn advance(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = crate::args::seconds(seconds, "seconds", true)?;
        self.inner.advance(d);
        Ok(())
    }

    /// The reading, in seconds.
    fn now(&self) -> f64 {
        self.inner.now().as_millis() as f64 / 1000.0
    }

    fn __call__(&self) -> f64 {
        self.now()
    }

    fn __repr__(&self) -> String {
        format!("ManualClock({})", self.now())
    }
}
