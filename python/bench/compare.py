"""Per-call overhead of lockfree-breaker against circuitbreaker and pybreaker (from PyPI).

    pip install lockfree-breaker circuitbreaker pybreaker
    python bench/compare.py [--quick]

Rows:
- success: a no-op function through a closed breaker, minus the same function called directly;
- rejection: a call to an open breaker, caught (``try``/``except``), minus a direct call in
  the same ``try``/``except``; the breaker's exception is raised and caught, as a caller would;
- threads: calls per second from 1, 2, 4 and 8 threads, each call sleeping 200 µs (I/O: the
  GIL is released), through one shared closed breaker.

Each library is used through its decorator (circuitbreaker rejects only there: its ``call()``
does not check the state) and, for ours and pybreaker, through ``call(func)``. Timings are the
best of several repeats (``time.perf_counter_ns``), in nanoseconds per call.
"""

import argparse
import functools
import sys
import threading
import time

import circuitbreaker
import pybreaker

import lockfree_breaker


def noop():
    return None


def per_call(fn, n, repeats):
    """Best time per call of ``fn()`` in a loop of ``n``, in ns."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def per_call_caught(fn, exc, n, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            try:
                fn()
            except exc:
                pass
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def libraries():
    """(label, closed callable, open callable, rejection exception) for each way of calling."""
    out = []

    ours = lockfree_breaker.CircuitBreaker(failure_threshold=5, recovery_timeout=600, name="ours")
    ours_open = lockfree_breaker.CircuitBreaker(failure_threshold=1, recovery_timeout=600)
    ours_open.force_open()
    out.append(
        (
            "lockfree-breaker call(f)",
            lambda: ours.call(noop),
            lambda: ours_open.call(noop),
            lockfree_breaker.CircuitBreakerError,
        )
    )
    out.append(("lockfree-breaker @breaker", ours(noop), ours_open(noop), lockfree_breaker.CircuitBreakerError))

    pb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=600)
    pb_open = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=600)
    pb_open.open()
    out.append(("pybreaker call(f)", lambda: pb.call(noop), lambda: pb_open.call(noop), pybreaker.CircuitBreakerError))
    out.append(("pybreaker @breaker", pb(noop), pb_open(noop), pybreaker.CircuitBreakerError))

    cb = circuitbreaker.CircuitBreaker(failure_threshold=5, recovery_timeout=600, name="cb")
    cb_open = circuitbreaker.CircuitBreaker(failure_threshold=1, recovery_timeout=600, name="cb_open")

    @cb_open
    def boom():
        raise ConnectionError()

    try:
        boom()
    except ConnectionError:
        pass
    assert cb_open.opened
    out.append(("circuitbreaker @circuit", cb(noop), cb_open(noop), circuitbreaker.CircuitBreakerError))
    return out


def sleeper():
    time.sleep(0.0002)


def throughput(call, threads, seconds):
    stop = time.perf_counter() + seconds
    counts = [0] * threads
    start = threading.Barrier(threads)

    def worker(i):
        start.wait()
        n = 0
        while time.perf_counter() < stop:
            call()
            n += 1
        counts[i] = n

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    a = parser.parse_args()
    n, repeats, secs = (20_000, 3, 0.3) if a.quick else (200_000, 7, 2.0)

    print(f"Python {sys.version.split()[0]}, {n} calls x best of {repeats}")
    base = per_call(noop, n, repeats)
    base_caught = per_call_caught(noop, Exception, n, repeats)
    libs = libraries()
    rows = []
    for label, closed, opened, exc in libs:
        ok = per_call(closed, n, repeats) - base
        rej = per_call_caught(opened, exc, n, repeats) - base_caught
        rows.append((label, ok, rej))
    print()
    print("| library, API | success overhead (ns/call) | rejection overhead (ns/call) |")
    print("|---|---|---|")
    for label, ok, rej in rows:
        print(f"| {label} | {ok:,.0f} | {rej:,.0f} |")

    class Rejected(Exception):
        pass

    def raise_only():
        raise Rejected("breaker", 1.0, "open")

    floor = per_call_caught(raise_only, Rejected, n, repeats) - base_caught
    print(f"| (floor: a Python function raising an exception, caught) | | {floor:,.0f} |")
    # The lowest a rejection can cost: a C function (no Python frame) raising a built-in
    # exception that the caller catches, and nothing else.
    c_raise = functools.partial({}.__getitem__, "missing")
    c_floor = per_call_caught(c_raise, KeyError, n, repeats) - base_caught
    print(f"| (floor: a C function raising KeyError, caught) | | {c_floor:,.0f} |")

    best_ok = min(ok for label, ok, _ in rows if not label.startswith("lockfree"))
    best_rej = min(rej for label, _, rej in rows if not label.startswith("lockfree"))
    ours_ok = min(ok for label, ok, _ in rows if label.startswith("lockfree"))
    ours_rej = min(rej for label, _, rej in rows if label.startswith("lockfree"))
    print()
    print(f"success: {best_ok / ours_ok:.1f}x less overhead than the faster peer; "
          f"rejection: {best_rej / ours_rej:.1f}x")
    print(f"a 10x rejection would cost at most {best_rej / 10:,.0f} ns; the C floor above is "
          f"{c_floor:,.0f} ns, so at most {best_rej / c_floor:.1f}x is possible on this interpreter")

    print()
    print("| calls/s, 200 µs sleeping call | 1 thread | 2 threads | 4 threads | 8 threads |")
    print("|---|---|---|---|---|")
    for label, closed, _, _ in libs:
        if "@" not in label:
            continue
        # The decorated function sleeps: rebuild it around `sleeper`.
        wrapped = {
            "lockfree-breaker @breaker": lambda: lockfree_breaker.CircuitBreaker(name="t")(sleeper),
            "pybreaker @breaker": lambda: pybreaker.CircuitBreaker(fail_max=5)(sleeper),
            "circuitbreaker @circuit": lambda: circuitbreaker.CircuitBreaker(name="t")(sleeper),
        }[label]()
        cells = [throughput(wrapped, t, secs) for t in (1, 2, 4, 8)]
        print(f"| {label} | " + " | ".join(f"{c:,.0f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
