//! The crate-private sync shim: every atomic the breaker's word uses comes from here.
//!
//! Under `--cfg breaker_loom` these are loom's atomics, so loom sees every access to the word
//! and explores every interleaving; otherwise they are portable-atomic's, which are the `core`
//! atomics on targets that have them. The library never enables portable-atomic's `fallback` or
//! `critical-section` features: on a target without compare-and-swap the *application* chooses
//! how CAS is provided (see the README, "Targets").

#[cfg(breaker_loom)]
pub(crate) use loom::sync::atomic::Ordering;
#[cfg(not(breaker_loom))]
pub(crate) use portable_atomic::Ordering;

#[cfg(all(breaker_loom, breaker_word32))]
pub(crate) use loom::sync::atomic::AtomicU32 as AtomicWord;
#[cfg(all(breaker_loom, not(breaker_word32)))]
pub(crate) use loom::sync::atomic::AtomicU64 as AtomicWord;
#[cfg(all(not(breaker_loom), any(breaker_word32, not(target_has_atomic = "64"))))]
pub(crate) use portable_atomic::AtomicU32 as AtomicWord;
#[cfg(all(not(breaker_loom), not(any(breaker_word32, not(target_has_atomic = "64")))))]
pub(crate) use portable_atomic::AtomicU64 as AtomicWord;

#[cfg(breaker_loom)]
pub(crate) use loom::sync::atomic::AtomicU32;
#[cfg(not(breaker_loom))]
pub(crate) use portable_atomic::AtomicU32;
