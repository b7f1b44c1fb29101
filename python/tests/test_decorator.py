"""``@breaker`` on plain functions: a native callable (``Decorated``) that looks like the function
it wraps, binds like one in a class, and runs every call through the breaker as ``call`` does."""

import copy
import functools
import gc
import inspect
import pickle
import weakref

import pytest

from lockfree_breaker import CircuitBreaker, CircuitBreakerError, CircuitState, ManualClock

MODULE_BREAKER = CircuitBreaker(failure_threshold=3, name="module_level")


@MODULE_BREAKER
def module_level(x):
    """Module-level, so pickle can find it by name."""
    return x * 2


def counts(b):
    return b.counters()["calls"]


# ---- metadata --------------------------------------------------------------------------------


def test_metadata_of_the_function_is_kept():
    b = CircuitBreaker(name="meta")

    def fetch(user_id: int, *, timeout: float = 1.5, **extra) -> dict:
        """Fetches one user."""
        return {"id": user_id, "timeout": timeout, **extra}

    fetch.tag = "custom"  # the function's own __dict__ is copied, as functools.wraps does
    fetch.retries = [1, 2]
    original_signature = inspect.signature(fetch)
    decorated = b(fetch)

    assert type(decorated).__name__ == "Decorated"
    assert decorated.__name__ == "fetch"
    assert decorated.__qualname__ == "test_metadata_of_the_function_is_kept.<locals>.fetch"
    assert decorated.__doc__ == "Fetches one user."
    assert decorated.__module__ == __name__
    assert decorated.__wrapped__ is fetch
    assert decorated.__annotations__ == {"user_id": int, "timeout": float, "return": dict}
    assert decorated.tag == "custom"
    assert decorated.retries is fetch.retries
    assert inspect.signature(decorated) == original_signature
    assert str(inspect.signature(decorated)) == "(user_id: int, *, timeout: float = 1.5, **extra) -> dict"
    assert inspect.unwrap(decorated) is fetch
    assert callable(decorated)
    assert not inspect.iscoroutinefunction(decorated)
    assert decorated(7, timeout=2) == {"id": 7, "timeout": 2}


def test_metadata_matches_functools_wraps():
    b = CircuitBreaker()

    def f(a, b=1):
        """Doc."""

    f.marker = object()
    reference = functools.wraps(f)(lambda *a, **k: None)
    decorated = b(f)
    for attr in functools.WRAPPER_ASSIGNMENTS:
        if hasattr(f, attr):
            assert getattr(decorated, attr) == getattr(reference, attr), attr
    assert decorated.marker is f.marker
    assert decorated.__wrapped__ is reference.__wrapped__ is f


def test_metadata_is_writable_like_a_functions():
    b = CircuitBreaker()

    @b
    def f():
        return 1

    f.__doc__ = "Changed."
    f.extra = 3
    assert (f.__doc__, f.extra, f()) == ("Changed.", 3, 1)


def test_a_function_without_a_docstring_keeps_none():
    @CircuitBreaker()
    def f():
        pass

    assert f.__doc__ is None


def test_repr_names_the_function_and_the_breaker():
    b = CircuitBreaker(name="payments")

    @b
    def charge():
        pass

    r = repr(charge)
    assert "charge" in r and "'payments'" in r and "Decorated" in r
    assert "test_repr_names_the_function_and_the_breaker.<locals>.charge" in r


def test_async_functions_keep_the_python_async_wrapper():
    b = CircuitBreaker()

    @b
    async def fetch():
        return 1

    assert inspect.iscoroutinefunction(fetch)
    assert type(fetch).__name__ != "Decorated"
    assert fetch.circuit_breaker is b

    @b
    def plain():
        return 1

    assert not inspect.iscoroutinefunction(plain)


# ---- calls and arguments ---------------------------------------------------------------------


def test_positional_and_keyword_arguments_pass_through():
    b = CircuitBreaker()

    @b
    def f(a, b=10, *rest, c, d=20, **kw):
        return (a, b, rest, c, d, kw)

    assert f(1, c=3) == (1, 10, (), 3, 20, {})
    assert f(1, 2, 3, 4, c=5, d=6, e=7) == (1, 2, (3, 4), 5, 6, {"e": 7})
    assert f(*[1, 2], **{"c": 3, "z": 9}) == (1, 2, (), 3, 20, {"z": 9})
    assert counts(b)["successful"] == 3


def test_keywords_named_like_the_call_machinery_pass_through():
    # `call(func, /, *args, **kwargs)` and our `__call__(*args, **kwargs)`: none of these names
    # is taken by the breaker.
    b = CircuitBreaker()

    @b
    def f(**kw):
        return kw

    kw = {"func": 1, "args": 2, "kwargs": 3, "self": 4, "slf": 5, "py": 6}
    assert f(**kw) == kw


def test_return_value_is_the_functions_own_object():
    sentinel = object()
    assert CircuitBreaker()(lambda: sentinel)() is sentinel


def test_a_wrong_call_is_the_functions_type_error():
    b = CircuitBreaker(failure_threshold=5)

    @b
    def f(a):
        return a

    with pytest.raises(TypeError, match="argument"):
        f()
    with pytest.raises(TypeError):
        f(1, 2)
    with pytest.raises(TypeError, match="unexpected keyword"):
        f(1, nope=2)
    # A TypeError is an Exception: with the default expected_exception it counts, as it does
    # through `call`.
    assert b.failure_count == 3


# ---- failures and rejection ------------------------------------------------------------------


def test_failures_count_and_an_open_circuit_rejects_without_calling():
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=2, recovery_timeout=30, name="svc", clock=clock)
    calls = []

    @b
    def fetch(fail):
        calls.append(fail)
        if fail:
            raise ConnectionError("down")
        return "ok"

    assert fetch(False) == "ok"
    with pytest.raises(ConnectionError, match="down"):
        fetch(True)
    assert (b.state, b.failure_count) == (CircuitState.CLOSED, 1)
    with pytest.raises(ConnectionError):
        fetch(fail=True)
    assert (b.state, b.failure_count) == (CircuitState.OPEN, 2)

    with pytest.raises(CircuitBreakerError) as info:
        fetch(False)
    assert calls == [False, True, True]  # not called while open
    assert info.value.name == "svc"
    assert info.value.state == CircuitState.OPEN
    assert info.value.retry_after == pytest.approx(30)
    assert counts(b) == {"successful": 1, "failed": 2, "ignored": 0, "rejected": 1}

    clock.advance(30)
    assert fetch(False) == "ok"  # the probe
    assert (b.state, b.failure_count) == (CircuitState.CLOSED, 0)
    assert calls == [False, True, True, False]


def test_classification_follows_expected_exception_as_call_does():
    b = CircuitBreaker(failure_threshold=1, expected_exception=(ConnectionError, TimeoutError))

    @b
    def raises(exc):
        raise exc

    with pytest.raises(KeyError):
        raises(KeyError("not a failure"))
    assert (b.failure_count, counts(b)["ignored"]) == (0, 1)
    with pytest.raises(TimeoutError):
        raises(TimeoutError())
    assert b.state == CircuitState.OPEN
    with pytest.raises(CircuitBreakerError):
        raises(KeyError("rejected before it is called"))


def test_a_predicate_classifies_the_decorated_functions_exceptions():
    b = CircuitBreaker(failure_threshold=1, expected_exception=lambda e: getattr(e, "status", 0) >= 500)

    class HttpError(Exception):
        def __init__(self, status):
            super().__init__(status)
            self.status = status

    @b
    def get(status):
        raise HttpError(status)

    with pytest.raises(HttpError):
        get(404)
    assert b.state == CircuitState.CLOSED
    with pytest.raises(HttpError):
        get(503)
    assert b.state == CircuitState.OPEN


def test_the_decorator_and_call_share_one_breaker():
    b = CircuitBreaker(failure_threshold=2)

    def fail():
        raise ConnectionError()

    decorated = b(fail)
    with pytest.raises(ConnectionError):
        b.call(fail)
    with pytest.raises(ConnectionError):
        decorated()
    assert b.state == CircuitState.OPEN
    with pytest.raises(CircuitBreakerError):
        b.call(fail)
    with pytest.raises(CircuitBreakerError):
        decorated()


def test_forced_states_apply_to_decorated_functions():
    b = CircuitBreaker(failure_threshold=1)

    @b
    def f():
        return 1

    b.force_open()
    with pytest.raises(CircuitBreakerError) as info:
        f()
    assert info.value.state == CircuitState.FORCED_OPEN
    b.force_closed()
    assert f() == 1
    b.reset()
    assert f() == 1


# ---- circuit_breaker ------------------------------------------------------------------------


def test_circuit_breaker_attribute():
    b = CircuitBreaker(name="attr")

    @b
    def f():
        pass

    assert f.circuit_breaker is b
    with pytest.raises(AttributeError):
        f.circuit_breaker = CircuitBreaker()
    assert f.circuit_breaker is b
    f.circuit_breaker.force_open()
    with pytest.raises(CircuitBreakerError):
        f()


def test_stacked_breakers_each_count_and_the_outer_one_is_the_attribute():
    inner = CircuitBreaker(failure_threshold=5, name="inner")
    outer = CircuitBreaker(failure_threshold=1, name="outer")

    @outer
    @inner
    def f():
        raise ConnectionError()

    assert f.circuit_breaker is outer
    assert f.__wrapped__.circuit_breaker is inner
    assert f.__name__ == "f" and inspect.unwrap(f).__name__ == "f"
    with pytest.raises(ConnectionError):
        f()
    assert (outer.failure_count, inner.failure_count) == (1, 1)
    with pytest.raises(CircuitBreakerError) as info:
        f()
    assert info.value.name == "outer"
    assert inner.failure_count == 1  # the outer one rejected: the inner one was not called


# ---- methods ---------------------------------------------------------------------------------


def test_an_instance_method_gets_self():
    b = CircuitBreaker(failure_threshold=2)

    class Client:
        def __init__(self, name):
            self.name = name

        @b
        def get(self, path, *, retries=0):
            """Gets a path."""
            if path == "/fail":
                raise ConnectionError(path)
            return (self.name, path, retries)

    one, two = Client("one"), Client("two")
    assert one.get("/a") == ("one", "/a", 0)
    assert two.get("/b", retries=3) == ("two", "/b", 3)
    assert Client.get(one, "/c") == ("one", "/c", 0)  # through the class: a plain function

    bound = one.get
    assert inspect.ismethod(bound)
    assert bound.__self__ is one
    assert bound.__func__ is Client.__dict__["get"]
    assert Client.get is Client.__dict__["get"]
    assert bound.__name__ == "get" and bound.__doc__ == "Gets a path."
    assert str(inspect.signature(bound)) == "(path, *, retries=0)"
    assert str(inspect.signature(Client.get)) == "(self, path, *, retries=0)"
    assert bound.circuit_breaker is b

    with pytest.raises(ConnectionError):
        one.get("/fail")
    with pytest.raises(ConnectionError):
        two.get("/fail")
    # One breaker for the method, whichever instance called it.
    with pytest.raises(CircuitBreakerError):
        one.get("/a")


def test_binding_by_hand_follows_the_descriptor_protocol():
    @CircuitBreaker()
    def whoami(self):
        return self

    assert whoami.__get__(None, int) is whoami
    assert whoami.__get__(5)() == 5
    assert whoami.__get__(5, int)() == 5


def test_an_instance_attribute_is_not_bound():
    # Stored on an instance (not the class), it is called as it is, as a function would be.
    b = CircuitBreaker()

    class Holder:
        pass

    h = Holder()
    h.callback = b(lambda x: x + 1)
    assert h.callback(1) == 2


def test_staticmethod_and_classmethod_decorated_inside():
    b = CircuitBreaker(failure_threshold=1)

    class Api:
        base = "https://example"

        @staticmethod
        @b
        def join(a, b):
            return f"{a}/{b}"

        @classmethod
        @b
        def url(cls, path):
            return f"{cls.base}/{path}"

    class Sub(Api):
        base = "https://sub"

    assert Api.join("a", "b") == Api().join("a", "b") == "a/b"
    assert Api.url("x") == Api().url("x") == "https://example/x"
    assert Sub.url("y") == "https://sub/y"
    assert Api.__dict__["join"].__func__.circuit_breaker is b
    assert str(inspect.signature(Api.join)) == "(a, b)"
    assert str(inspect.signature(Api.url)) == "(path)"
    assert counts(b)["successful"] == 5

    with pytest.raises(TypeError):
        Api.join("only one")  # counts: the breaker opens
    with pytest.raises(CircuitBreakerError):
        Api.url("x")


# ---- subclasses, pickling, garbage -----------------------------------------------------------


def test_a_subclass_overriding_call_is_used_by_the_decorator():
    seen = []

    class Audited(CircuitBreaker):
        def call(self, func, *args, **kwargs):
            seen.append((func.__name__, args, kwargs))
            return super().call(func, *args, **kwargs)

    class Plain(CircuitBreaker):
        pass

    audited = Audited(failure_threshold=1)

    @audited
    def add(a, b=0):
        return a + b

    assert add(1, b=2) == 3
    assert seen == [("add", (1,), {"b": 2})]
    assert add.circuit_breaker is audited

    plain = Plain()
    assert plain(lambda x: x * 3)(2) == 6
    assert counts(plain)["successful"] == 1


def test_pickled_and_copied_by_reference_like_a_function():
    assert pickle.loads(pickle.dumps(module_level)) is module_level
    assert pickle.loads(pickle.dumps(module_level, protocol=2)) is module_level
    assert copy.copy(module_level) is module_level
    assert copy.deepcopy(module_level) is module_level
    assert module_level(21) == 42


def test_weak_references_and_reference_cycles_are_collected():
    b = CircuitBreaker()

    def make():
        @b
        def countdown(n):  # refers to itself through its closure: a reference cycle
            return countdown(n - 1) if n else "done"

        assert countdown(3) == "done"
        return weakref.ref(countdown)

    ref = make()
    gc.collect()
    assert ref() is None


def test_not_instantiable_from_python():
    decorated_type = type(CircuitBreaker()(len))
    with pytest.raises(TypeError):
        decorated_type(CircuitBreaker(), len)
