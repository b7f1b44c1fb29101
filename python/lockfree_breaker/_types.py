"""The value types the native module hands out: ``CircuitState`` and ``CircuitBreakerError``.

Plain Python, imported by the native module on first use (so it has no import of its own on
the native module).
"""

import enum

__all__ = ["CircuitState", "CircuitBreakerError"]


class CircuitState(str, enum.Enum):
    """A breaker's state. A ``str`` enum: ``CircuitState.OPEN == "open"``."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    #: Manually opened (``force_open()``): every call is rejected until ``reset()``.
    FORCED_OPEN = "forced_open"
    #: Manually closed (``force_closed()``): every call passes, nothing counts, until ``reset()``.
    FORCED_CLOSED = "forced_closed"

    def __str__(self) -> str:
        return self.value


class CircuitBreakerError(Exception):
    """Raised instead of calling through an open circuit (the call was not made).

    ``name`` is the breaker's name, ``retry_after`` the seconds until a probe is admitted
    (``None`` when that depends on events, not time: probes in flight, or forced open) and
    ``state`` the :class:`CircuitState` that rejected the call. The arguments are kept in
    ``args`` (no ``__init__`` of its own, so raising one costs what raising ``Exception`` does).
    """

    @property
    def name(self):
        return self.args[0] if self.args else None

    @property
    def retry_after(self):
        return self.args[1] if len(self.args) > 1 else None

    @property
    def state(self):
        return self.args[2] if len(self.args) > 2 else CircuitState.OPEN

    def __str__(self) -> str:
        if len(self.args) < 3:
            return super().__str__()
        name, retry_after, state = self.args[:3]
        if state == CircuitState.HALF_OPEN:
            return f"circuit breaker '{name}' is half-open and its probe slots are taken"
        if state == CircuitState.FORCED_OPEN:
            return f"circuit breaker '{name}' is forced open"
        if retry_after is not None:
            return f"circuit breaker '{name}' is open; retry in {retry_after:.3f}s"
        return f"circuit breaker '{name}' is open"
