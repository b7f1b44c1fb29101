import pytest

import lockfree_breaker


@pytest.fixture(autouse=True)
def fresh_presets():
    """The presets are module globals: every test starts (and leaves) them closed."""
    lockfree_breaker.database_breaker.reset()
    lockfree_breaker.kafka_breaker.reset()
    yield
    lockfree_breaker.database_breaker.reset()
    lockfree_breaker.kafka_breaker.reset()
