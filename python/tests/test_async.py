"""asyncio: the permit held across the await, cancellation, timeouts, probe slots, several
event loops."""

import asyncio
import threading

import pytest

from lockfree_breaker import CircuitBreaker, CircuitBreakerError, CircuitState, ManualClock



def tripped(clock, **kw):
    """A breaker opened by one failure, its recovery timeout (10 s) already passed."""
    b = CircuitBreaker(failure_threshold=1, recovery_timeout=10, clock=clock, **kw)
    with pytest.raises(ZeroDivisionError):
        b.call(lambda: 1 / 0)
    clock.advance(10)
    assert b.state == CircuitState.HALF_OPEN
    return b


@pytest.mark.asyncio
async def test_cancelled_probe_counts_as_neither_and_gives_its_slot_back():
    clock = ManualClock()
    b = tripped(clock)
    started, never = asyncio.Event(), asyncio.Event()

    async def hang():
        started.set()
        await never.wait()

    task = asyncio.create_task(b.call_async(hang))
    await started.wait()
    # The probe is in flight: its single slot is taken.
    with pytest.raises(CircuitBreakerError) as e:
        await b.call_async(asyncio.sleep, 0)
    assert e.value.state == CircuitState.HALF_OPEN
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Neither a success nor a failure: still half-open, and the slot is free again.
    assert b.state == CircuitState.HALF_OPEN
    assert b.snapshot()["probes_in_flight"] == 0
    assert await b.call_async(asyncio.sleep, 0, "ok") == "ok"
    assert b.state == CircuitState.CLOSED
    assert b.counters()["calls"]["ignored"] == 1


@pytest.mark.asyncio
async def test_cancelled_closed_call_counts_nothing():
    b = CircuitBreaker(failure_threshold=1)
    task = asyncio.create_task(b.call_async(asyncio.sleep, 10))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (b.state, b.failure_count) == (CircuitState.CLOSED, 0)


@pytest.mark.asyncio
async def test_cancelled_error_counts_as_neither_even_when_expected():
    b = CircuitBreaker(failure_threshold=1, expected_exception=BaseException)

    async def cancelled():
        raise asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        await b.call_async(cancelled)
    with pytest.raises(asyncio.CancelledError):
        b.call(lambda: (_ for _ in ()).throw(asyncio.CancelledError()))
    assert b.failure_count == 0


@pytest.mark.asyncio
async def test_call_timeout_counts_as_a_failure():
    b = CircuitBreaker(failure_threshold=2, call_timeout=0.01)
    assert b.call_timeout == 0.01
    for _ in range(2):
        with pytest.raises(asyncio.TimeoutError):
            await b.call_async(asyncio.sleep, 5)
    assert b.state == CircuitState.OPEN
    with pytest.raises(CircuitBreakerError):
        await b.call_async(asyncio.sleep, 0)


@pytest.mark.asyncio
async def test_callees_own_timeout_error_is_an_ordinary_exception():
    b = CircuitBreaker(failure_threshold=5, call_timeout=10, expected_exception=ConnectionError)

    async def own_timeout():
        raise asyncio.TimeoutError("the callee's")

    with pytest.raises(asyncio.TimeoutError, match="the callee's"):
        await b.call_async(own_timeout)
    assert b.failure_count == 0  # not a ConnectionError: neither


@pytest.mark.asyncio
async def test_outer_wait_for_is_a_cancellation_not_a_failure():
    b = CircuitBreaker(failure_threshold=1)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(b.call_async(asyncio.sleep, 5), 0.01)
    assert (b.state, b.failure_count) == (CircuitState.CLOSED, 0)


@pytest.mark.asyncio
async def test_probe_slots_and_successes_to_close():
    clock = ManualClock()
    b = tripped(clock, half_open_probes=2, successes_to_close=2)
    gate = asyncio.Event()
    entered = []

    async def probe(i):
        entered.append(i)
        await gate.wait()
        return i

    tasks = [asyncio.create_task(b.call_async(probe, i)) for i in range(2)]
    await asyncio.sleep(0)
    assert sorted(entered) == [0, 1]
    assert b.snapshot()["probes_in_flight"] == 2
    with pytest.raises(CircuitBreakerError):  # a third: both slots taken
        await b.call_async(probe, 2)
    gate.set()
    assert await asyncio.gather(*tasks) == [0, 1]
    assert b.state == CircuitState.CLOSED


@pytest.mark.asyncio
async def test_a_failed_probe_reopens():
    clock = ManualClock()
    b = tripped(clock)

    async def down():
        raise ConnectionError()

    with pytest.raises(ConnectionError):
        await b.call_async(down)
    assert b.state == CircuitState.OPEN
    assert b.failure_count == 2  # the one that opened it, and the failed probe


@pytest.mark.asyncio
async def test_non_matching_exception_passes_through_as_neither():
    b = CircuitBreaker(failure_threshold=1, expected_exception=(ConnectionError, TimeoutError))

    async def bad_request():
        raise KeyError("caller's mistake")

    with pytest.raises(KeyError):
        await b.call_async(bad_request)
    assert b.state == CircuitState.CLOSED


@pytest.mark.asyncio
async def test_call_async_accepts_a_sync_callable_and_arguments():
    b = CircuitBreaker()
    assert await b.call_async(lambda a, *, k: a + k, 1, k=2) == 3

    async def coro(a, b=0):
        return a * b

    assert await b.call_async(coro, 3, b=4) == 12


def test_several_event_loops_in_threads():
    b = CircuitBreaker(failure_threshold=1000)
    results = []

    def loop_thread(n):
        async def main():
            out = 0
            for i in range(200):
                out += await b.call_async(asyncio.sleep, 0, i % 2)
            return out

        results.append(asyncio.run(main()))

    threads = [threading.Thread(target=loop_thread, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [100] * 4
    assert b.counters()["calls"]["successful"] == 800
