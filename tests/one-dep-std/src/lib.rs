//! A threaded service written against `breaker-std` alone (its `Cargo.toml` has no other breaker
//! crate): the test in `tests/service.rs` names every type it needs through `breaker_std::`.
