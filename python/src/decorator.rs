//! `@breaker` on a plain (not `async def`) function: a native callable, [`Decorated`].
//!
//! A Python wrapper (`def wrapper(*args, **kwargs): return breaker.call(func, *args,
//! **kwargs)`) costs a Python frame, packing the arguments and a method call on every call:
//! about as much as the breaker itself. A `Decorated` is called straight from the
//! interpreter's call slot into the code of `CircuitBreaker.call` ([`CircuitBreaker`]'s
//! `call_through`), with the same classification and the same `CircuitBreakerError`.
//!
//! It looks like the function it wraps: `functools.update_wrapper` fills its `__dict__`
//! (`__module__`, `__name__`, `__qualname__`, `__doc__`, the function's own `__dict__`,
//! `__wrapped__`, so `inspect.signature` shows the function's signature); `__get__` binds it
//! like a function (`types.MethodType`), so it decorates methods; it is pickled by reference,
//! like a function. `circuit_breaker` is the breaker.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use crate::types::types;
use crate::CircuitBreaker;

/// How a decorated function's call reaches its breaker.
enum Via {
    /// The code of `CircuitBreaker.call` itself: the breaker's class does not override `call`.
    Native,
    /// A subclass's own `call` (bound to the breaker), called as `call(func, *args, **kwargs)`,
    /// as the Python wrapper this replaces did.
    Method(Py<PyAny>),
}

/// A plain function decorated with `@breaker`: calling it calls the function through the
/// breaker, as `breaker.call(func, *args, **kwargs)` does. It carries the function's
/// metadata (`functools.update_wrapper`) and binds like a function when it is a method.
#[pyclass(frozen, dict, weakref, module = "lockfree_breaker", name = "Decorated")]
pub struct Decorated {
    breaker: Py<CircuitBreaker>,
    func: Py<PyAny>,
    via: Via,
}

impl Decorated {
    /// `func` (a callable that is not a coroutine function) decorated with `breaker`.
    pub(crate) fn wrap<'py>(
        breaker: &Bound<'py, CircuitBreaker>,
        func: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Decorated>> {
        let py = breaker.py();
        let via = if breaker.is_exact_instance_of::<CircuitBreaker>() || !overrides_call(breaker)? {
            Via::Native
        } else {
            Via::Method(breaker.getattr("call")?.unbind())
        };
        let decorated = Bound::new(
            py,
            Decorated { breaker: breaker.clone().unbind(), func: func.clone().unbind(), via },
        )?;
        types(py)?.update_wrapper.bind(py).call1((&decorated, func))?;
        Ok(decorated)
    }
}

/// Whether the breaker's class (a subclass) defines a `call` of its own.
fn overrides_call(breaker: &Bound<'_, CircuitBreaker>) -> PyResult<bool> {
    let py = breaker.py();
    let name = pyo3::intern!(py, "call");
    let own = breaker.get_type().getattr(name)?;
    let base = py.get_type::<CircuitBreaker>().getattr(name)?;
    Ok(!own.is(&base))
}

#[pymethods]
impl Decorated {
    /// `func(*args, **kwargs)` through the breaker; `CircuitBreakerError` without calling
    /// `func` while the circuit is open.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let func = self.func.bind(py);
        match &self.via {
            Via::Native => self.breaker.get().call_through(py, func, args, kwargs),
            Via::Method(call) => {
                let mut all = Vec::with_capacity(args.len() + 1);
                all.push(func.clone());
                all.extend(args.iter());
                let all = PyTuple::new(py, all)?;
                call.bind(py).call(all, kwargs).map(Bound::unbind)
            }
        }
    }

    /// A function's binding: through an instance, a bound method (`types.MethodType`) whose
    /// call passes the instance first; through the class (`instance` None), itself.
    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        instance: Option<&Bound<'py, PyAny>>,
        _owner: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match instance.filter(|i| !i.is_none()) {
            None => Ok(slf.clone().into_any()),
            Some(obj) => types(slf.py())?.method_type.bind(slf.py()).call1((slf, obj)),
        }
    }

    /// The breaker the calls go through.
    #[getter]
    fn circuit_breaker(&self, py: Python<'_>) -> Py<CircuitBreaker> {
        self.breaker.clone_ref(py)
    }

    /// Pickled by reference, as a function is: the name `pickle` looks up in `__module__`
    /// (the function's `__qualname__`), so `pickle` and `copy` give this very object back.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        match slf.getattr(pyo3::intern!(slf.py(), "__qualname__")) {
            Ok(q) if q.is_instance_of::<PyString>() => Ok(q),
            _ => Err(PyTypeError::new_err(format!(
                "cannot pickle {}: the decorated callable has no __qualname__",
                slf.repr()?
            ))),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let func = self.func.bind(py);
        let what = match func.getattr(pyo3::intern!(py, "__qualname__")) {
            Ok(q) if q.is_instance_of::<PyString>() => q.str()?.to_string(),
            _ => func.repr()?.to_string(),
        };
        Ok(format!(
            "<lockfree_breaker.Decorated {what} through CircuitBreaker {}>",
            self.breaker.get().name.bind(py).repr()?
        ))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.breaker)?;
        visit.call(&self.func)?;
        if let Via::Method(call) = &self.via {
            visit.call(call)?;
        }
        Ok(())
    }
}
