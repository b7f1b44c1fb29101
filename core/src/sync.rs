//! The crate-private sync shim: every atomic the breaker uses comes from here.
//!
//! Under `--cfg breaker_loom` these are loom's atomics, so loom sees every access and explores
//! every interleaving; otherwise they are portable-atomic's, which are the `core` atomics on
//! targets that have them. The library never enables portable-atomic's `fallback` or
//! `critical-section` features: on a target without compare-and-swap the *application* chooses
//! how CAS is provided (see the README, "Targets").
//!
//! [`AtomicWord`] is the atomic of the word type `layout.rs` chose for this target; the choice
//! itself is made there, once.

#[cfg(breaker_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, Ordering};
#[cfg(not(breaker_loom))]
pub(crate) use portable_atomic::{AtomicU32, Ordering};
// The config cell's fences (`config_cell.rs`).
#[cfg(all(breaker_loom, feature = "reconfigure"))]
pub(crate) use loom::sync::atomic::fence;
#[cfg(all(not(breaker_loom), feature = "reconfigure"))]
pub(crate) use portable_atomic::fence;

/// The atomic type of an integer type.
pub(crate) trait HasAtomic {
    /// Its atomic.
    type Atomic;
}

impl HasAtomic for u32 {
    type Atomic = AtomicU32;
}

// Only where 64-bit atomics exist: portable-atomic provides no `AtomicU64` elsewhere without
// its `fallback` feature, and the 32-bit layout never asks for one.
#[cfg(all(breaker_loom, target_has_atomic = "64"))]
impl HasAtomic for u64 {
    type Atomic = loom::sync::atomic::AtomicU64;
}
#[cfg(all(not(breaker_loom), target_has_atomic = "64"))]
impl HasAtomic for u64 {
    type Atomic = portable_atomic::AtomicU64;
}

/// The atomic of the breaker's word (`layout::Word`).
pub(crate) type AtomicWord = <crate::layout::Word as HasAtomic>::Atomic;

/// `const fn` outside loom, plain `fn` under loom (whose atomics have no `const` constructor):
/// one constructor, two builds.
macro_rules! constructor {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty { $($body:tt)* }) => {
        $(#[$m])*
        #[cfg(not(breaker_loom))]
        $vis const fn $name($($arg: $ty),*) -> $ret { $($body)* }
        $(#[$m])*
        #[cfg(breaker_loom)]
        $vis fn $name($($arg: $ty),*) -> $ret { $($body)* }
    };
}
pub(crate) use constructor;
