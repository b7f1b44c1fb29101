"""The parts of ``CircuitBreaker`` written in Python: the decorator of ``async def`` functions
and ``call_async``.

The native ``CircuitBreaker.__call__`` and ``CircuitBreaker.call_async`` call these (a plain
function is decorated natively: ``Decorated``, in ``src/decorator.rs``); the breaker's
decisions are the native core's (``breaker.acquire()`` hands out the core's permit, held
across the ``await``).
"""

import asyncio
import functools
import inspect

__all__ = ["decorate_async", "call_async"]


def decorate_async(breaker, func):
    """``@breaker`` on an ``async def`` function: an ``async def`` wrapper (so that
    ``inspect.iscoroutinefunction`` stays true) awaiting ``func`` through ``breaker``."""

    @functools.wraps(func)
    async def async_wrapper(*args, **kwargs):
        return await call_async(breaker, func, args, kwargs)

    async_wrapper.circuit_breaker = breaker
    return async_wrapper


async def call_async(breaker, func, args, kwargs):
    """``await breaker.call_async(func, *args, **kwargs)``.

    The core's permit is taken before ``func`` runs and reported when it is done: a result is
    a success; an exception is classified by ``expected_exception`` (a failure, or neither);
    a cancelled task (``asyncio.CancelledError``) counts as neither and gives a half-open probe
    slot back; the breaker's own ``call_timeout`` running out is reported as a timeout (a
    failure, unless a slow-call window says a call that long is a slow success) and raises
    ``asyncio.TimeoutError``.
    """
    permit = breaker.acquire()  # raises CircuitBreakerError while open
    timeout = breaker.call_timeout
    try:
        result = func(*args, **kwargs)
        if inspect.isawaitable(result):
            if timeout is None:
                result = await result
            else:
                result = await _with_timeout(result, timeout)
    except _CallTimedOut:
        permit.timed_out(timeout)
        raise asyncio.TimeoutError(
            f"circuit breaker '{breaker.name}': call timed out after {timeout}s"
        ) from None
    except asyncio.CancelledError:
        permit.ignore()
        raise
    except BaseException as exc:
        permit.exception(exc)
        raise
    permit.success()
    return result


class _CallTimedOut(Exception):
    """Our own timeout ran out (never seen outside this module)."""


async def _with_timeout(awaitable, timeout):
    """``await awaitable``, cancelled after ``timeout`` seconds: ``_CallTimedOut`` then, so our
    deadline is told apart from the callee's own ``TimeoutError`` and from a cancellation that
    came from outside (which stays a ``CancelledError``, counted as neither)."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    fired = False

    def expire():
        nonlocal fired
        fired = True
        task.cancel()

    handle = loop.call_later(timeout, expire)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if fired:
            uncancel = getattr(task, "uncancel", None)  # 3.11+: keep the cancel count right
            if uncancel is not None:
                uncancel()
            raise _CallTimedOut() from None
        raise
    finally:
        handle.cancel()
