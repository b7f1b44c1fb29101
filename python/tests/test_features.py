"""What the Rust core adds: manual control, listeners, snapshot, clocks, permits, rate
windows, slow calls, backoff, jitter, probe timeout, gradual recovery, metrics."""

import pytest

from lockfree_breaker import (
    CircuitBreaker,
    CircuitBreakerError,
    CircuitState,
    ManualClock,
    Transition,
)


def fail():
    raise ConnectionError("down")


def trip(b, n=1):
    for _ in range(n):
        with pytest.raises(ConnectionError):
            b.call(fail)


def test_manual_control():
    b = CircuitBreaker(failure_threshold=1)
    b.force_open()
    assert b.state == CircuitState.FORCED_OPEN == "forced_open"
    with pytest.raises(CircuitBreakerError) as e:
        b.call(lambda: 1)
    assert e.value.state == CircuitState.FORCED_OPEN and e.value.retry_after is None
    assert str(e.value) == "circuit breaker 'default' is forced open"
    b.force_closed()
    trip(b, 3)  # nothing counts
    assert (b.state, b.failure_count) == (CircuitState.FORCED_CLOSED, 0)
    b.reset()
    assert b.state == CircuitState.CLOSED
    trip(b)
    assert b.state == CircuitState.OPEN
    b.reset()
    assert b.call(lambda: 1) == 1


def test_listeners_get_transitions():
    clock = ManualClock()
    seen = []
    b = CircuitBreaker(failure_threshold=2, recovery_timeout=5, name="svc", clock=clock)
    b.add_listener(seen.append)
    trip(b, 2)
    clock.advance(5)
    b.call(lambda: None)
    b.remove_listener(seen.append)
    b.force_open()
    assert all(isinstance(t, Transition) for t in seen)
    assert [(t.old_state, t.new_state, t.trigger) for t in seen] == [
        ("closed", "open", "failure_threshold"),
        ("open", "half_open", "recovery_timeout"),
        ("half_open", "closed", "probe_succeeded"),
    ]
    opened, half_open, _ = seen
    assert (opened.name, opened.failure_count, opened.threshold) == ("svc", 2, 2)
    assert opened.open_seconds == 5.0
    assert half_open.elapsed_seconds == 5.0
    assert [t.generation for t in seen] == [1, 2, 3]


def test_a_listener_may_use_the_breaker():
    b = CircuitBreaker(failure_threshold=1)
    states = []
    b.add_listener(lambda t: states.append((t.new_state, b.state, b.failure_count)))
    trip(b)
    assert states == [("open", "open", 1)]


def test_snapshot():
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=2, recovery_timeout=30, name="db", clock=clock)
    trip(b, 2)
    clock.advance(10)
    s = b.snapshot()
    assert s == {
        "name": "db",
        "state": CircuitState.OPEN,
        "failure_count": 2,
        "failure_threshold": 2,
        "recovery_timeout_seconds": 30.0,
        "retry_after_seconds": 20.0,
        "probes_in_flight": 0,
        "probe_successes": 0,
        "backoff_level": 0,
        "recovering": None,
        "window": None,
        "generation": 1,
    }


def test_callable_clock():
    now = [100.0]
    b = CircuitBreaker(failure_threshold=1, recovery_timeout=2, clock=lambda: now[0])
    trip(b)
    now[0] += 1.5
    assert b.state == CircuitState.OPEN
    now[0] -= 10  # backwards: ignored, the clock never goes back
    assert b.state == CircuitState.OPEN
    now[0] += 10.5
    assert b.state == CircuitState.HALF_OPEN


def test_manual_clock():
    c = ManualClock(5)
    c.advance(0.25)
    assert c.now() == c() == 5.25
    assert repr(c) == "ManualClock(5.25)"


def test_permit_context_manager():
    b = CircuitBreaker(failure_threshold=1, expected_exception=ConnectionError)
    with b.acquire():
        pass
    with pytest.raises(KeyError):
        with b.acquire():
            raise KeyError()  # not expected: neither
    assert b.state == CircuitState.CLOSED
    with pytest.raises(ConnectionError):
        with b.acquire():
            raise ConnectionError()
    assert b.state == CircuitState.OPEN
    with pytest.raises(CircuitBreakerError):
        b.acquire()
    assert b.counters()["calls"] == {"successful": 1, "failed": 1, "ignored": 1, "rejected": 1}


def test_dropped_permit_counts_as_neither():
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=1, recovery_timeout=1, clock=clock)
    trip(b)
    clock.advance(1)
    p = b.acquire()
    assert p.is_probe
    del p
    assert b.snapshot()["probes_in_flight"] == 0
    assert b.acquire().is_probe


def test_expected_exception_tuple_and_predicate():
    b = CircuitBreaker(failure_threshold=1, expected_exception=(ConnectionError, TimeoutError))
    with pytest.raises(ValueError):
        b.call(lambda: int("x"))
    assert b.failure_count == 0
    with pytest.raises(TimeoutError):
        b.call(lambda: (_ for _ in ()).throw(TimeoutError()))
    assert b.state == CircuitState.OPEN

    def is_server_error(exc):
        return getattr(exc, "status", 0) >= 500

    class HttpError(Exception):
        def __init__(self, status):
            self.status = status

    def raise_status(status):
        raise HttpError(status)

    p = CircuitBreaker(failure_threshold=2, expected_exception=is_server_error)
    for status in (404, 400, 503):
        with pytest.raises(HttpError):
            p.call(raise_status, status)
    assert (p.failure_count, p.state) == (1, CircuitState.CLOSED)


def test_keyboard_interrupt_is_not_an_exception_so_it_counts_as_neither():
    b = CircuitBreaker(failure_threshold=1)

    def interrupted():
        raise KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        b.call(interrupted)
    assert b.state == CircuitState.CLOSED


def test_count_window_failure_rate():
    b = CircuitBreaker(failure_rate=0.5, window_size=20, min_calls=10)
    for _ in range(5):
        b.call(lambda: 1)
    trip(b, 4)
    assert b.state == CircuitState.CLOSED  # 9 calls: below min_calls
    w = b.snapshot()["window"]
    assert (w["calls"], w["failures"]) == (9, 4)
    trip(b)  # 5 of 10: 50 %
    assert b.state == CircuitState.OPEN


def test_time_window_and_slow_calls():
    clock = ManualClock()
    b = CircuitBreaker(
        window_seconds=10,
        min_calls=4,
        slow_call_duration=1,
        slow_call_rate=0.5,
        clock=clock,
    )

    def slow():
        clock.advance(2)

    for _ in range(2):
        b.call(lambda: None)
    b.call(slow)
    assert b.state == CircuitState.CLOSED
    b.call(slow)  # 2 of 4 calls slow: 50 %
    assert b.state == CircuitState.OPEN


def test_backoff_doubles_the_open_time():
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=1, recovery_timeout=10, backoff_max=40, clock=clock)
    trip(b)
    clock.advance(10)
    trip(b)  # the probe fails
    assert b.snapshot()["retry_after_seconds"] == 20.0
    clock.advance(20)
    trip(b)
    assert b.snapshot()["retry_after_seconds"] == 40.0


def test_jitter_stays_within_its_bound():
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=1, recovery_timeout=10, jitter=5, jitter_seed=7, clock=clock)
    trip(b)
    assert 10.0 <= b.snapshot()["retry_after_seconds"] <= 15.0


def test_probe_timeout_reopens_a_stuck_half_open():
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=1, recovery_timeout=1, probe_timeout=5, clock=clock)
    trip(b)
    clock.advance(1)
    stuck = b.acquire()
    clock.advance(5)
    with pytest.raises(CircuitBreakerError):
        b.call(lambda: None)
    assert b.state == CircuitState.OPEN
    stuck.success()  # stale: changes nothing
    assert b.state == CircuitState.OPEN


def test_a_permit_abandoned_past_the_limit_counts_as_a_failure():
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=2, recovery_timeout=1, count_abandoned_after=2, clock=clock)
    quick = b.acquire()
    clock.advance(0.5)
    del quick  # given up after 0.5 s: neither
    assert b.failure_count == 0
    for _ in range(2):
        hung = b.acquire()
        clock.advance(3)
        del hung  # given up after 3 s on a hung dependency: a failure
    assert b.state == CircuitState.OPEN


def test_gradual_recovery_ramps_up():
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=1, recovery_timeout=1, gradual_recovery=(10, 10), clock=clock)
    trip(b)
    clock.advance(1)
    b.call(lambda: None)  # the probe closes it, then the ramp starts at 10 %
    admitted = 0
    for _ in range(100):
        try:
            b.call(lambda: None)
            admitted += 1
        except CircuitBreakerError:
            pass
    assert 5 <= admitted <= 20
    assert b.snapshot()["recovering"] == pytest.approx(0.1)
    clock.advance(10)
    assert all(b.call(lambda: True) for _ in range(10))


def test_counters_and_repr():
    b = CircuitBreaker(failure_threshold=1, name="svc")
    b.call(lambda: None)
    trip(b)
    with pytest.raises(CircuitBreakerError):
        b.call(lambda: None)
    c = b.counters()
    assert c["calls"] == {"successful": 1, "failed": 1, "ignored": 0, "rejected": 1}
    assert c["transitions"][("closed", "open")] == 1
    assert repr(b) == "<CircuitBreaker 'svc' state=open failure_count=1 failure_threshold=1>"


def test_subclassing():
    class MyBreaker(CircuitBreaker):
        def describe(self):
            return f"{self.name}: {self.state.value}"

    b = MyBreaker(name="sub")
    assert b.describe() == "sub: closed"
    assert b.call(lambda: 2) == 2


def test_prometheus_metrics():
    prometheus_client = pytest.importorskip("prometheus_client")
    from lockfree_breaker.prometheus import register

    registry = prometheus_client.CollectorRegistry()
    b = CircuitBreaker(failure_threshold=1, name="metrics_test")
    register(b, registry=registry)
    b.call(lambda: None)
    trip(b)
    text = prometheus_client.generate_latest(registry).decode()
    assert 'circuit_breaker_state{breaker="metrics_test",state="open"} 1.0' in text
    assert 'circuit_breaker_state{breaker="metrics_test",state="closed"} 0.0' in text
    assert 'circuit_breaker_calls_total{breaker="metrics_test",outcome="successful"} 1.0' in text
    assert 'circuit_breaker_calls_total{breaker="metrics_test",outcome="failed"} 1.0' in text
    assert 'circuit_breaker_transitions_total{breaker="metrics_test",from="closed",to="open"} 1.0' in text
    assert 'circuit_breaker_failure_count{breaker="metrics_test"} 1.0' in text
