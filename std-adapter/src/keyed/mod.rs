//! [`Keyed`](crate::Keyed): a family of breakers, one per key (route, host, tenant), bounded in
//! number.
//!
//! A family has one static name, one configuration and one trip policy recipe; each key gets its
//! own breaker (and its own policy state: a per-route rate window) the first time it is used,
//! labelled with the key in logs (`circuit_breaker="api" key="/users"`), listener events and
//! metrics. Keys can come from outside (a URL path, a `Host` header), so the family never grows
//! without bound, never leaks, and a flood of new keys never switches protection off: see
//! [`Keyed`'s eviction rule](crate::Keyed#eviction).
//!
//! Cost: a lookup is one hash lookup under the family's mutex, plus a clock read; the call itself
//! runs after the mutex is released, so listeners never run under it. An insert examines at most
//! four entries, whatever the family's size (the store is in use order: see the proof in the
//! source, `registry/store.rs`). Hold the `Arc<Breaker>` from
//! [`breaker`](crate::Keyed::breaker) to skip the lookup.
//!
//! This module holds the family's defaults and the key of its overflow breaker; the family is
//! [`Keyed`](crate::Keyed) and its builder [`KeyedBuilder`](crate::KeyedBuilder), both at the
//! crate root.

use core::time::Duration;

pub(crate) mod family;

/// Default bound on the number of keys a family keeps.
pub const DEFAULT_MAX_KEYS: usize = 1_024;
/// Default time without calls after which a key's breaker is idle.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// The key of a family's overflow breaker. A key that displays as it is refused by
/// [`Keyed::breaker`](crate::Keyed::breaker) (a
/// [`RegistryError::Config`](crate::RegistryError::Config) naming the field `key`) and gets the
/// overflow breaker from [`Keyed::breaker_or_overflow`](crate::Keyed::breaker_or_overflow), so no
/// caller's key shares its label.
///
/// # Examples
///
/// ```
/// use breaker_std::keyed::OVERFLOW_KEY;
/// use breaker_std::Keyed;
///
/// let api = Keyed::<String>::builder("api").build().unwrap();
/// assert!(api.breaker(OVERFLOW_KEY).is_err());
/// assert_eq!(api.breaker_or_overflow(OVERFLOW_KEY).unwrap().key(), Some(OVERFLOW_KEY));
/// ```
pub const OVERFLOW_KEY: &str = "(overflow)";
