//! Checking constructor arguments: every bad value is a `TypeError` or `ValueError` naming the
//! argument, raised by the constructor.

use std::time::Duration;

use breaker_core::ConfigError;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use crate::clock::type_name;

/// An `int` (not a `bool`) in `min..=max`.
pub(crate) fn int(v: &Bound<'_, PyAny>, arg: &str, min: u64, max: u64) -> PyResult<u32> {
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("{arg} must be an int, not {}", type_name(v))));
    }
    let n: i128 = v.extract().unwrap_or(i128::MAX);
    if n < i128::from(min) {
        return Err(PyValueError::new_err(format!("{arg} must be at least {min}, got {n}")));
    }
    if n > i128::from(max) {
        return Err(PyValueError::new_err(format!("{arg} must be at most {max}, got {n}")));
    }
    Ok(n as u32)
}

/// A number (`int` or `float`, not a `bool`).
pub(crate) fn number(v: &Bound<'_, PyAny>, arg: &str) -> PyResult<f64> {
    if v.is_instance_of::<PyBool>() || !(v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>()) {
        return Err(PyTypeError::new_err(format!("{arg} must be a number, not {}", type_name(v))));
    }
    let x: f64 = v.extract()?;
    if x.is_nan() {
        return Err(PyValueError::new_err(format!("{arg} must be a number, got nan")));
    }
    Ok(x)
}

/// Seconds, as a whole number of milliseconds (rounded); zero allowed only if `allow_zero`.
pub(crate) fn seconds(v: &Bound<'_, PyAny>, arg: &str, allow_zero: bool) -> PyResult<Duration> {
    let s = number(v, arg)?;
    if s < 0.0 {
        return Err(PyValueError::new_err(format!("{arg} must not be negative, got {s}")));
    }
    if !s.is_finite() || s > 1e12 {
        return Err(PyValueError::new_err(format!("{arg} is too large: {s} seconds")));
    }
    let ms = (s * 1000.0).round() as u64;
    if ms == 0 && !allow_zero {
        return Err(PyValueError::new_err(format!("{arg} must be at least 0.001 seconds, got {s}")));
    }
    Ok(Duration::from_millis(ms))
}

/// A share in `(0, 1]`, as permille (at least 1).
pub(crate) fn rate(v: &Bound<'_, PyAny>, arg: &str) -> PyResult<u32> {
    let x = number(v, arg)?;
    if !(x > 0.0 && x <= 1.0) {
        return Err(PyValueError::new_err(format!("{arg} must be in (0, 1], got {x}")));
    }
    Ok(((x * 1000.0).round() as u32).max(1))
}

/// The Python argument a core config field comes from.
fn argument_of(field: &str) -> &str {
    match field {
        "failure_permille" => "failure_rate",
        "slow_call_permille" => "slow_call_rate",
        "slow_call_threshold" => "slow_call_duration",
        "bucket_width" => "window_seconds",
        "calls_per_bucket" => "window_size",
        "ramp_period" | "ramp_start_percent" => "gradual_recovery",
        other => other,
    }
}

/// A core config error as a `ValueError` naming the argument.
pub(crate) fn config_error(e: ConfigError) -> PyErr {
    let arg = argument_of(e.field());
    PyValueError::new_err(format!("{arg}: {e}"))
}
