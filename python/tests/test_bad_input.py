"""Bad input raises TypeError / ValueError naming the argument, at construction."""

import math

import pytest

from lockfree_breaker import CircuitBreaker, ManualClock


@pytest.mark.parametrize(
    "kwargs, error, arg",
    [
        ({"failure_threshold": 0}, ValueError, "failure_threshold"),
        ({"failure_threshold": -1}, ValueError, "failure_threshold"),
        ({"failure_threshold": 70000}, ValueError, "failure_threshold"),
        ({"failure_threshold": 2.5}, TypeError, "failure_threshold"),
        ({"failure_threshold": "5"}, TypeError, "failure_threshold"),
        ({"failure_threshold": True}, TypeError, "failure_threshold"),
        ({"recovery_timeout": -1}, ValueError, "recovery_timeout"),
        ({"recovery_timeout": 0}, ValueError, "recovery_timeout"),
        ({"recovery_timeout": math.nan}, ValueError, "recovery_timeout"),
        ({"recovery_timeout": math.inf}, ValueError, "recovery_timeout"),
        ({"recovery_timeout": "60"}, TypeError, "recovery_timeout"),
        ({"expected_exception": "database"}, ValueError, "did you mean name"),
        ({"expected_exception": int}, TypeError, "expected_exception"),
        ({"expected_exception": (ValueError, 3)}, TypeError, "expected_exception"),
        ({"expected_exception": ()}, ValueError, "expected_exception"),
        ({"expected_exception": 42}, TypeError, "expected_exception"),
        ({"name": 3}, TypeError, "name"),
        ({"name": ""}, ValueError, "name"),
        ({"failure_rate": 0.5, "window_size": 25}, ValueError, "window_size must be a multiple of 20"),
        ({"failure_rate": 0.5, "window_seconds": 0.01}, ValueError, "window_seconds must be a multiple"),
        ({"half_open_probes": 0}, ValueError, "half_open_probes"),
        ({"half_open_probes": 1, "successes_to_close": 2}, ValueError, "successes_to_close"),
        ({"backoff_max": 10, "recovery_timeout": 60}, ValueError, "backoff_max"),
        ({"jitter": -1}, ValueError, "jitter"),
        ({"probe_timeout": math.nan}, ValueError, "probe_timeout"),
        ({"count_abandoned_after": 0}, ValueError, "abandoned"),
        ({"count_abandoned_after": -1}, ValueError, "count_abandoned_after"),
        ({"gradual_recovery": 30}, TypeError, "gradual_recovery"),
        ({"gradual_recovery": (30, 101)}, ValueError, "gradual_recovery"),
        ({"failure_rate": 0}, ValueError, "failure_rate"),
        ({"failure_rate": 1.5}, ValueError, "failure_rate"),
        ({"failure_rate": math.nan}, ValueError, "failure_rate"),
        ({"window_size": 10}, ValueError, "window_size"),
        ({"window_size": 100, "window_seconds": 10}, ValueError, "window_seconds"),
        ({"window_seconds": 0}, ValueError, "window_seconds"),
        ({"window_size": 100, "min_calls": 500}, ValueError, "min_calls"),
        ({"slow_call_rate": 0.5}, ValueError, "slow_call_duration"),
        ({"slow_call_duration": -2}, ValueError, "slow_call_duration"),
        ({"slow_call_duration": 1, "slow_call_as_failure": "yes"}, TypeError, "slow_call_as_failure"),
        ({"call_timeout": -1}, ValueError, "call_timeout"),
        ({"call_timeout": "1s"}, TypeError, "call_timeout"),
        ({"clock": 5}, TypeError, "clock"),
        ({"clock": lambda: "noon"}, TypeError, "clock"),
        ({"listeners": 5}, TypeError, "listeners"),
        ({"listeners": [print, 5]}, TypeError, "listeners"),
    ],
)
def test_bad_input_raises_at_construction(kwargs, error, arg):
    with pytest.raises(error, match=arg):
        CircuitBreaker(**kwargs)


def test_positional_arguments_are_the_notes_four():
    b = CircuitBreaker(3, 30, ConnectionError, "kafka")
    assert (b.failure_threshold, b.recovery_timeout, b.name) == (3, 30, "kafka")
    with pytest.raises(TypeError):
        CircuitBreaker(3, 30, ConnectionError, "kafka", 1)  # the rest are keyword-only


def test_bad_use_of_a_live_breaker():
    b = CircuitBreaker()
    with pytest.raises(TypeError, match="decorates a function"):
        b(42)
    with pytest.raises(TypeError, match="listener"):
        b.add_listener(42)
    with pytest.raises(ValueError):
        b.remove_listener(print)
    permit = b.acquire()
    permit.success()
    with pytest.raises(RuntimeError, match="already been reported"):
        permit.failure()
    with pytest.raises(ValueError, match="seconds"):
        ManualClock().advance(-1)
    with pytest.raises(TypeError, match="seconds"):
        ManualClock().advance("1")
