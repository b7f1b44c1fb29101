"""The note's log records: messages, levels and extra fields, on logger "lockfree_breaker"."""

import logging

import pytest

from lockfree_breaker import LOGGER_NAME, CircuitBreaker, ManualClock


def fail():
    raise ConnectionError("down")


def records(caplog):
    return [r for r in caplog.records if r.name == LOGGER_NAME]


def test_the_notes_three_records(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=5, recovery_timeout=60, name="database", clock=clock)
    for _ in range(5):
        with pytest.raises(ConnectionError):
            b.call(fail)
    clock.advance(61.2)
    assert b.call(lambda: "ok") == "ok"
    opening, half_open, recovered = records(caplog)

    assert opening.levelno == logging.ERROR
    assert opening.getMessage() == "Circuit breaker 'database' opening circuit"
    assert (opening.circuit_breaker, opening.state) == ("database", "open")
    assert (opening.failure_count, opening.threshold) == (5, 5)

    assert half_open.levelno == logging.INFO
    assert half_open.getMessage() == "Circuit breaker 'database' transitioning to HALF_OPEN"
    assert (half_open.circuit_breaker, half_open.state) == ("database", "half_open")
    assert half_open.elapsed_seconds == pytest.approx(61.2)

    assert recovered.levelno == logging.INFO
    assert recovered.getMessage() == "Circuit breaker 'database' recovered, closing circuit"
    assert (recovered.circuit_breaker, recovered.state) == ("database", "closed")


def test_failed_probe_and_manual_control_records(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=1, recovery_timeout=1, name="kafka", clock=clock)
    with pytest.raises(ConnectionError):
        b.call(fail)
    clock.advance(1)
    with pytest.raises(ConnectionError):
        b.call(fail)  # the probe fails
    b.force_open()
    b.force_closed()
    b.reset()
    got = [(r.levelname, r.getMessage(), r.state) for r in records(caplog)]
    assert got == [
        ("ERROR", "Circuit breaker 'kafka' opening circuit", "open"),
        ("INFO", "Circuit breaker 'kafka' transitioning to HALF_OPEN", "half_open"),
        ("ERROR", "Circuit breaker 'kafka' probe failed, reopening circuit", "open"),
        ("WARNING", "Circuit breaker 'kafka' forced open", "forced_open"),
        ("WARNING", "Circuit breaker 'kafka' forced closed", "forced_closed"),
        ("INFO", "Circuit breaker 'kafka' reset, closing circuit", "closed"),
    ]
    probe_failed = records(caplog)[2]
    assert (probe_failed.trigger, probe_failed.failure_count, probe_failed.threshold) == (
        "probe_failed",
        2,
        1,
    )


def test_a_raising_listener_is_logged_and_changes_nothing(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    seen = []

    def bad_listener(t):
        raise RuntimeError("listener bug")

    b = CircuitBreaker(failure_threshold=1, name="svc", listeners=[bad_listener, seen.append])
    with pytest.raises(ConnectionError):  # the caller sees its own error, not the listener's
        b.call(fail)
    assert b.state == "open"
    assert [t.new_state for t in seen] == ["open"]  # the next listener still ran
    failed = [r for r in records(caplog) if "listener" in r.getMessage()]
    assert len(failed) == 1 and failed[0].levelno == logging.ERROR
    assert failed[0].exc_info[0] is RuntimeError


def test_a_percent_in_a_name_is_literal(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    b = CircuitBreaker(failure_threshold=1, name="100%s")
    with pytest.raises(ConnectionError):
        b.call(fail)
    assert records(caplog)[0].getMessage() == "Circuit breaker '100%s' opening circuit"


def test_nothing_logged_below_the_level(caplog):
    caplog.set_level(logging.CRITICAL, logger=LOGGER_NAME)
    b = CircuitBreaker(failure_threshold=1)
    with pytest.raises(ConnectionError):
        b.call(fail)
    assert records(caplog) == []
