//! Integration tests for the breaker crates live in `tests/`; this library holds the shared
//! reference model they check the real breaker against.
