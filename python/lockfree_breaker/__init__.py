"""A lock-free circuit breaker for Python services, on the Rust ``breaker-core``.

The API of the ``app.utils.circuit_breaker`` design note, verbatim::

    from lockfree_breaker import CircuitBreaker, CircuitBreakerError, CircuitState

    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=30, name="kafka")
    try:
        result = breaker.call(call_external_service)
    except CircuitBreakerError:
        result = fallback_response()

plus ``await breaker.call_async(...)``, the ``@breaker`` decorator, the ``database_breaker``
and ``kafka_breaker`` presets, ``logging`` records with the note's messages and ``extra``
fields (logger ``"lockfree_breaker"``), and :func:`detailed_health`. The core's additions are
keyword-only constructor arguments (half-open probes, rate windows, slow calls, backoff with
jitter, gradual recovery, probe timeout, an injectable clock, listeners), manual control
(``force_open()``, ``force_closed()``, ``reset()``), ``snapshot()`` and Prometheus metrics
(:mod:`lockfree_breaker.prometheus`, with the ``prometheus`` extra).
"""

from ._types import CircuitBreakerError, CircuitState
from ._native import CircuitBreaker, ManualClock, Permit, Transition

__all__ = [
    "CircuitBreaker",
    "CircuitBreakerError",
    "CircuitState",
    "ManualClock",
    "Permit",
    "Transition",
    "database_breaker",
    "kafka_breaker",
    "detailed_health",
    "LOGGER_NAME",
]

__version__ = "0.1.0"

#: The name of the :mod:`logging` logger every breaker logs its transitions to.
LOGGER_NAME = "lockfree_breaker"

#: The note's database breaker: 5 failures, 60 s, "database".
database_breaker = CircuitBreaker(failure_threshold=5, recovery_timeout=60, name="database")
#: The note's Kafka breaker: 3 failures, 30 s, "kafka".
kafka_breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=30, name="kafka")

_REJECTING = (CircuitState.OPEN, CircuitState.FORCED_OPEN)


def detailed_health(breakers=None):
    """The note's ``/health/detailed`` body for a set of breakers::

        {"status": "healthy",
         "database": {"circuit_breaker": "closed", "failure_count": 0},
         "kafka": {"circuit_breaker": "open", "failure_count": 3}}

    ``breakers`` is an iterable of breakers (keyed by their names) or a mapping of key to
    breaker; by default the two presets. ``status`` is ``"healthy"``, or ``"degraded"`` while
    any of them rejects calls (open or forced open).
    """
    if breakers is None:
        breakers = (database_breaker, kafka_breaker)
    if isinstance(breakers, CircuitBreaker):
        breakers = (breakers,)
    items = breakers.items() if hasattr(breakers, "items") else ((getattr(b, "name", None), b) for b in breakers)
    body = {"status": "healthy"}
    for key, breaker in items:
        if not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"breakers: expected CircuitBreaker, got {type(breaker).__name__}")
        state = breaker.state
        body[key] = {"circuit_breaker": state.value, "failure_count": breaker.failure_count}
        if state in _REJECTING:
            body["status"] = "degraded"
    return body
