"""The design note (circuit-breaker-pattern.md): its own test verbatim, then each of its
examples as a test, with stand-ins for the services it calls."""

import asyncio
import logging

import pytest

from lockfree_breaker import (
    CircuitBreaker,
    CircuitBreakerError,
    CircuitState,
    ManualClock,
    database_breaker,
    detailed_health,
    kafka_breaker,
)

logger = logging.getLogger("app")


# ---- "Testing": the note's test, verbatim --------------------------------------------------


def test_circuit_opens_on_failures():
    breaker = CircuitBreaker(failure_threshold=3)

    def failing_func():
        raise ValueError("Service down")

    # Cause failures
    for _ in range(3):
        with pytest.raises(ValueError):
            breaker.call(failing_func)

    # Circuit should be open
    assert breaker.state == CircuitState.OPEN

    # Next call rejected
    with pytest.raises(CircuitBreakerError):
        breaker.call(failing_func)


# ---- "Configuration" -----------------------------------------------------------------------


def test_configuration():
    breaker = CircuitBreaker(
        failure_threshold=5,  # Open after 5 consecutive failures
        recovery_timeout=60,  # Wait 60 seconds before testing recovery
        expected_exception=Exception,  # Exception type to catch
        name="my_service",  # Name for logging
    )
    assert breaker.name == "my_service"
    assert breaker.failure_threshold == 5
    assert breaker.recovery_timeout == 60
    assert breaker.state == CircuitState.CLOSED
    assert breaker.state == "closed"  # a str enum
    assert breaker.state.value == "closed"
    assert breaker.failure_count == 0


def test_defaults_are_the_notes():
    b = CircuitBreaker()
    assert (b.failure_threshold, b.recovery_timeout) == (5, 60)


# ---- "Basic Usage" -------------------------------------------------------------------------


def test_basic_usage():
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=30, clock=clock)
    service_up = True

    def call_external_service():
        if not service_up:
            raise ConnectionError("refused")
        return "live"

    def fallback_response():
        return "fallback"

    def handler():
        try:
            result = breaker.call(call_external_service)
        except CircuitBreakerError:
            # Circuit is open, service unavailable
            return fallback_response()
        except ConnectionError:
            return "error"
        return result

    assert handler() == "live"
    service_up = False
    assert [handler() for _ in range(3)] == ["error"] * 3
    assert handler() == "fallback"  # open: the service is not called
    service_up = True
    assert handler() == "fallback"
    clock.advance(30)  # "After timeout, one request is allowed to test if [it] recovered"
    assert breaker.state == CircuitState.HALF_OPEN
    assert handler() == "live"  # the probe succeeds: closed again
    assert breaker.state == CircuitState.CLOSED


def test_call_passes_arguments_and_returns_the_result():
    breaker = CircuitBreaker()
    assert breaker.call(lambda a, b=0, *, c: (a, b, c), 1, b=2, c=3) == (1, 2, 3)
    assert breaker.call(divmod, 7, 2) == (3, 1)


# ---- "Async Functions" ---------------------------------------------------------------------


class FakeDb:
    def __init__(self, up=True):
        self.up = up
        self.executed = 0

    async def execute(self, query):
        await asyncio.sleep(0)
        if not self.up:
            raise ConnectionError("database down")
        self.executed += 1
        return [("row", query)]


class get_db_factory:
    def __init__(self, db):
        self.db = db

    def __call__(self):
        db = self.db

        class Session:
            async def __aenter__(self):
                return db

            async def __aexit__(self, *exc):
                return False

        return Session()


@pytest.mark.asyncio
async def test_async_functions():
    db = FakeDb()
    get_db = get_db_factory(db)
    query = "SELECT 1"
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=30, clock=ManualClock())

    async def call_database():
        async with get_db() as db:
            return await db.execute(query)

    async def handler():
        try:
            result = await breaker.call_async(call_database)
        except CircuitBreakerError:
            # Handle circuit open
            return "open"
        return result

    assert await handler() == [("row", query)]
    db.up = False
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await breaker.call_async(call_database)
    assert breaker.state == CircuitState.OPEN
    assert await handler() == "open"
    assert db.executed == 1


# ---- "Decorator Pattern" -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_decorator_pattern():
    breaker = CircuitBreaker(failure_threshold=2)

    class ExternalApi:
        up = True

        async def get(self, path):
            if not self.up:
                raise TimeoutError(path)
            return {"path": path}

    external_api = ExternalApi()

    @breaker
    async def fetch_data():
        """This function is now protected by circuit breaker."""
        return await external_api.get("/data")

    assert fetch_data.__name__ == "fetch_data"  # functools.wraps
    assert fetch_data.__doc__ == "This function is now protected by circuit breaker."
    assert fetch_data.__wrapped__ is not None
    assert asyncio.iscoroutinefunction(fetch_data)
    assert await fetch_data() == {"path": "/data"}
    external_api.up = False
    for _ in range(2):
        with pytest.raises(TimeoutError):
            await fetch_data()
    with pytest.raises(CircuitBreakerError):
        await fetch_data()


def test_decorator_on_a_plain_function_and_a_method():
    breaker = CircuitBreaker(failure_threshold=1)

    @breaker
    def add(a, b):
        """Adds."""
        return a + b

    class Service:
        def __init__(self):
            self.calls = 0

        @breaker
        def ping(self):
            self.calls += 1
            return "pong"

    assert (add.__name__, add.__doc__, add(1, 2)) == ("add", "Adds.", 3)
    assert add.circuit_breaker is breaker
    s = Service()
    assert s.ping() == "pong" and s.calls == 1
    with pytest.raises(TypeError):
        add(1)  # a TypeError from the call itself: an Exception, so it counts
    with pytest.raises(CircuitBreakerError):
        s.ping()


# ---- "Protected Services": the presets -----------------------------------------------------


def test_database_breaker_preset():
    assert database_breaker.name == "database"
    assert database_breaker.failure_threshold == 5
    assert database_breaker.recovery_timeout == 60


def test_kafka_breaker_preset():
    assert kafka_breaker.name == "kafka"
    assert kafka_breaker.failure_threshold == 3
    assert kafka_breaker.recovery_timeout == 30


def test_kafka_behaviour_events_are_logged_but_not_sent(caplog):
    # "After 3 consecutive Kafka publish failures, circuit opens; events are logged but not
    # sent for 30 seconds; the application continues functioning even if Kafka is down."
    clock = ManualClock()
    kafka = CircuitBreaker(failure_threshold=3, recovery_timeout=30, name="kafka", clock=clock)
    sent, dropped = [], []

    def produce(event):
        raise ConnectionError("broker unreachable")

    def publish_event(event):
        try:
            kafka.call(produce, event)
            sent.append(event)
        except CircuitBreakerError:
            logger.info("kafka down, event not sent: %s", event)
            dropped.append(event)
        except ConnectionError:
            dropped.append(event)

    for i in range(5):
        publish_event(i)
    assert kafka.state == CircuitState.OPEN and sent == [] and dropped == [0, 1, 2, 3, 4]
    clock.advance(29.999)
    assert kafka.state == CircuitState.OPEN
    clock.advance(0.001)
    assert kafka.state == CircuitState.HALF_OPEN


def test_database_behaviour_one_probe_after_the_timeout():
    # "After timeout, one request is allowed to test if database recovered."
    clock = ManualClock()
    db = CircuitBreaker(failure_threshold=5, recovery_timeout=60, name="database", clock=clock)
    for _ in range(5):
        with pytest.raises(OSError):
            db.call(_raise, OSError("connection refused"))
    clock.advance(60)
    probe = db.acquire()
    assert probe.is_probe
    with pytest.raises(CircuitBreakerError) as e:  # only one request while it tests
        db.call(lambda: None)
    assert e.value.state == CircuitState.HALF_OPEN
    probe.success()
    assert db.state == CircuitState.CLOSED


def _raise(exc):
    raise exc


# ---- "Use Per-Service Breakers" ------------------------------------------------------------


def test_per_service_breakers():
    # Good - separate breakers
    database_breaker = CircuitBreaker(name="database")
    redis_breaker = CircuitBreaker(name="redis")
    api_breaker = CircuitBreaker(name="external_api")
    for _ in range(5):
        with pytest.raises(ConnectionError):
            redis_breaker.call(_raise, ConnectionError("redis down"))
    assert redis_breaker.state == CircuitState.OPEN
    assert database_breaker.state == CircuitState.CLOSED
    assert api_breaker.call(lambda: "ok") == "ok"
    # Bad - shared breaker
    shared_breaker = CircuitBreaker(name="everything")
    assert shared_breaker.name == "everything"


# ---- "Error Handling" ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_error_handling(caplog):
    cached_data = {"cached": True}
    default_response = {"default": True}

    async def my_function():
        raise RuntimeError("db exploded")

    async def handler():
        try:
            result = await database_breaker.call_async(my_function)
        except CircuitBreakerError as e:
            # Circuit is open, provide fallback
            logger.warning(f"Circuit breaker open: {e}")
            return cached_data or default_response
        except Exception as e:
            # Actual service error
            logger.error(f"Service error: {e}")
            raise
        return result

    for _ in range(5):
        with pytest.raises(RuntimeError):
            await handler()
    with caplog.at_level(logging.WARNING, logger="app"):
        assert await handler() == cached_data
    warning = [r for r in caplog.records if r.name == "app"][-1]
    assert warning.getMessage().startswith("Circuit breaker open: circuit breaker 'database' is open")


def test_circuit_breaker_error_carries_name_and_retry_after():
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=1, recovery_timeout=30, name="kafka", clock=clock)
    with pytest.raises(ValueError):
        b.call(_raise, ValueError())
    clock.advance(10)
    with pytest.raises(CircuitBreakerError) as e:
        b.call(lambda: None)
    assert e.value.name == "kafka"
    assert e.value.retry_after == pytest.approx(20.0)
    assert e.value.state is CircuitState.OPEN
    assert str(e.value) == "circuit breaker 'kafka' is open; retry in 20.000s"
    assert isinstance(e.value, Exception)


# ---- "Integration with Health Checks" ------------------------------------------------------


@pytest.mark.asyncio
async def test_health_endpoint_verbatim():
    async def detailed_health_endpoint():
        return {
            "status": "healthy",
            "database": {
                "circuit_breaker": database_breaker.state.value,
                "failure_count": database_breaker._failure_count,
            },
            "kafka": {
                "circuit_breaker": kafka_breaker.state.value,
                "failure_count": kafka_breaker._failure_count,
            },
        }

    for _ in range(3):
        with pytest.raises(ConnectionError):
            kafka_breaker.call(_raise, ConnectionError())
    body = await detailed_health_endpoint()
    assert body == {
        "status": "healthy",
        "database": {"circuit_breaker": "closed", "failure_count": 0},
        "kafka": {"circuit_breaker": "open", "failure_count": 3},
    }
    # The helper gives the same shape, with a status that says a circuit is open.
    assert detailed_health() == dict(body, status="degraded")


def test_health_helper_shape():
    a, b = CircuitBreaker(name="a"), CircuitBreaker(name="b", failure_threshold=1)
    assert detailed_health([a, b]) == {
        "status": "healthy",
        "a": {"circuit_breaker": "closed", "failure_count": 0},
        "b": {"circuit_breaker": "closed", "failure_count": 0},
    }
    with pytest.raises(KeyError):
        b.call(_raise, KeyError())
    assert detailed_health({"primary": a, "replica": b}) == {
        "status": "degraded",
        "primary": {"circuit_breaker": "closed", "failure_count": 0},
        "replica": {"circuit_breaker": "open", "failure_count": 1},
    }
    b.force_closed()
    assert detailed_health([b])["b"] == {"circuit_breaker": "forced_closed", "failure_count": 0}
    assert detailed_health([b])["status"] == "healthy"
    with pytest.raises(TypeError):
        detailed_health([object()])
