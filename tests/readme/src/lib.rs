//! The workspace README's Rust code blocks, compiled and run as doctests
//! (`cargo test -p breaker-readme --doc`), so the README cannot drift from the API.
//!
//! Shell, TOML and text blocks are fenced as `sh`, `toml` and `text` and are not compiled.

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
