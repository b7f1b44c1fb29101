"""Many threads at once: the transitions a listener sees form a valid path, and match state."""

import random
import threading

from lockfree_breaker import CircuitBreaker, CircuitBreakerError, CircuitState, ManualClock

VALID = {
    ("closed", "open"),
    ("open", "half_open"),
    ("half_open", "closed"),
    ("half_open", "open"),
}


def test_eight_threads_random_failures_listener_sees_a_valid_path():
    clock = ManualClock()
    seen = []
    b = CircuitBreaker(
        failure_threshold=3,
        recovery_timeout=0.05,
        half_open_probes=2,
        successes_to_close=1,
        clock=clock,
        listeners=[seen.append],
    )
    calls = {"ok": 0, "failed": 0, "rejected": 0}
    lock = threading.Lock()  # the test's own bookkeeping, not the breaker's
    start = threading.Barrier(8)

    def worker(seed):
        rng = random.Random(seed)
        start.wait()
        local = {"ok": 0, "failed": 0, "rejected": 0}
        for i in range(3000):
            fail = rng.random() < 0.4
            try:
                b.call(_maybe_fail, fail)
                local["ok"] += 1
            except ConnectionError:
                local["failed"] += 1
            except CircuitBreakerError:
                local["rejected"] += 1
            if i % 50 == 0:
                clock.advance(0.01)
        with lock:
            for k, v in local.items():
                calls[k] += v

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(calls.values()) == 8 * 3000
    counters = b.counters()["calls"]
    assert counters["successful"] == calls["ok"]
    assert counters["failed"] == calls["failed"]
    assert counters["rejected"] == calls["rejected"]
    assert len(seen) > 10, "the breaker should have cycled"
    # One path: each transition starts where the previous one ended, from closed.
    state = "closed"
    assert [t.generation for t in seen] == list(range(1, len(seen) + 1))
    for t in seen:
        assert (t.old_state.value, t.new_state.value) in VALID, t
        assert t.old_state == state, (t, state)
        state = t.new_state.value
    shown = b.state
    # The last transition is the state now (an open breaker past its timeout shows half_open).
    assert shown == state or (state == "open" and shown == CircuitState.HALF_OPEN)
    assert b.counters()["transitions"][("closed", "open")] == sum(
        1 for t in seen if (t.old_state, t.new_state) == ("closed", "open")
    )


def _maybe_fail(fail):
    if fail:
        raise ConnectionError("down")
    return 1


def test_threads_closed_breaker_counts_every_success():
    b = CircuitBreaker()
    n = 8

    def worker():
        for _ in range(5000):
            b.call(int)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.counters()["calls"]["successful"] == n * 5000
    assert b.state == CircuitState.CLOSED
