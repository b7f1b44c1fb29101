"""Prometheus metrics for breakers, through ``prometheus_client`` (``pip install
lockfree-breaker[prometheus]``).

A collector reads each breaker's counters at scrape time, so a call costs no Python work for
metrics (the counters are atomics in the native breaker)::

    from lockfree_breaker import database_breaker, kafka_breaker
    from lockfree_breaker.prometheus import register

    register(database_breaker, kafka_breaker)   # on prometheus_client's default REGISTRY

| name | type | labels |
|---|---|---|
| ``circuit_breaker_state`` | gauge | ``breaker``, ``state`` (1 for the current state, 0 for the others) |
| ``circuit_breaker_calls_total`` | counter | ``breaker``, ``outcome`` (``successful``, ``failed``, ``ignored``, ``rejected``) |
| ``circuit_breaker_transitions_total`` | counter | ``breaker``, ``from``, ``to`` |
| ``circuit_breaker_failure_count`` | gauge | ``breaker`` |
| ``circuit_breaker_failure_ratio`` | gauge | ``breaker`` (rate windows only) |

The names are breaker-std's (the Rust side's) metrics.
"""

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from ._types import CircuitState

__all__ = ["BreakerCollector", "register"]


class BreakerCollector:
    """A ``prometheus_client`` collector over a fixed set of breakers."""

    def __init__(self, *breakers):
        self._breakers = list(breakers)

    def add(self, breaker):
        self._breakers.append(breaker)

    def describe(self):
        return []

    def collect(self):
        state = GaugeMetricFamily(
            "circuit_breaker_state", "1 for the breaker's current state", labels=["breaker", "state"]
        )
        calls = CounterMetricFamily(
            "circuit_breaker_calls", "Calls by outcome", labels=["breaker", "outcome"]
        )
        transitions = CounterMetricFamily(
            "circuit_breaker_transitions", "State transitions", labels=["breaker", "from", "to"]
        )
        failures = GaugeMetricFamily(
            "circuit_breaker_failure_count", "Failures the breaker counts", labels=["breaker"]
        )
        ratio = GaugeMetricFamily(
            "circuit_breaker_failure_ratio", "Failure rate of the window", labels=["breaker"]
        )
        for b in self._breakers:
            snap = b.snapshot()
            for s in CircuitState:
                state.add_metric([b.name, s.value], 1.0 if snap["state"] == s else 0.0)
            counters = b.counters()
            for outcome, n in counters["calls"].items():
                calls.add_metric([b.name, outcome], n)
            for (src, dst), n in counters["transitions"].items():
                transitions.add_metric([b.name, src, dst], n)
            failures.add_metric([b.name], snap["failure_count"])
            if snap["window"] is not None:
                ratio.add_metric([b.name], snap["window"]["failure_rate"])
        yield from (state, calls, transitions, failures, ratio)


def register(*breakers, registry=REGISTRY):
    """Registers a :class:`BreakerCollector` for ``breakers`` on ``registry`` and returns it."""
    collector = BreakerCollector(*breakers)
    registry.register(collector)
    return collector
