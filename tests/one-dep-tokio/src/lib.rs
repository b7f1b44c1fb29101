//! A tokio/axum service written against `breaker-tokio` alone (its `Cargo.toml` has no other
//! breaker crate): the test in `tests/service.rs` names every breaker type through
//! `breaker_tokio::`.
