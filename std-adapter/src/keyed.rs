//! [`Keyed`]: a family of breakers, one per key (route, host, tenant), bounded in number.
//!
//! A family has one static name and one configuration; each key gets its own breaker the
//! first time it is used, labelled with the key in logs (`circuit_breaker="api" key="/users"`),
//! listener events and metrics. Keys can come from outside (a URL path, a `Host` header), so
//! the family never grows without bound and never leaks:
//!
//! - at most [`max_keys`](KeyedBuilder::max_keys) breakers are kept (default 1 024);
//! - a breaker not used for [`idle_timeout`](KeyedBuilder::idle_timeout) (default 10 minutes)
//!   is *idle*; idle breakers are dropped when a new key is added and at least one idle timeout
//!   has passed since the last sweep, and whenever [`evict_idle`](Keyed::evict_idle) is called;
//! - when a new key arrives and the family is full, idle breakers go first, then the least
//!   recently used one.
//!
//! Eviction forgets: an evicted key that comes back starts CLOSED. A breaker that keeps
//! rejecting calls is in use (each rejection counts as use), so it is not the one evicted while
//! its key has traffic. Nothing is leaked per key: the family name is static, the key label is
//! owned by the breaker and freed with it.
//!
//! Cost: a lookup takes a read lock on the map, reads the clock (to mark the key as used) and
//! clones an `Arc`; the call itself runs after the lock is released, so listeners never run
//! under it. Hold the `Arc<Breaker>` from [`breaker`](Keyed::breaker) to skip the lookup.

use core::borrow::Borrow;
use core::fmt::Display;
use core::hash::Hash;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use breaker_core::{CallError, Clock, Config, ConfigError, Consecutive, ValidConfig, Verdict};

use crate::health::FamilyHealth;
use crate::listener::{listener_methods, ListenerList, Listeners};
use crate::{Breaker, CoarseClock};

/// Default bound on the number of keys a family keeps.
pub const DEFAULT_MAX_KEYS: usize = 1_024;
/// Default time without calls after which a key's breaker is idle.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

struct Slot<C: Clock> {
    breaker: Arc<Breaker<C>>,
    /// Clock reading (ms) of the last lookup for a call.
    last_used: AtomicU64,
}

/// A bounded family of breakers, one per key. See the [module docs](self) for eviction.
///
/// # Examples
///
/// One breaker per route, at most 100 routes, idle after 5 minutes:
///
/// ```
/// use breaker_core::{CallError, State};
/// use breaker_std::Keyed;
/// use std::time::Duration;
///
/// let api = Keyed::<String>::builder("api")
///     .failure_threshold(2)
///     .max_keys(100)
///     .idle_timeout(Duration::from_secs(300))
///     .build()
///     .unwrap();
/// for _ in 0..2 {
///     let _ = api.call("/users", || Err::<(), _>("503"));
/// }
/// // "/users" is open; "/orders" is unaffected.
/// assert!(matches!(api.call("/users", || Ok::<_, &str>(())), Err(CallError::Open(_))));
/// assert_eq!(api.call("/orders", || Ok::<_, &str>(7)), Ok(7));
/// assert_eq!(api.get("/users").unwrap().state(), State::Open);
/// ```
pub struct Keyed<K, C: Clock = CoarseClock> {
    name: &'static str,
    config: ValidConfig,
    clock: C,
    listeners: Listeners,
    max_keys: usize,
    idle_timeout_ms: u64,
    map: RwLock<HashMap<K, Slot<C>>>,
    last_sweep_ms: AtomicU64,
}

impl<K> Keyed<K, CoarseClock>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
{
    /// A builder for a family named `name`: the core's default config, [`DEFAULT_MAX_KEYS`],
    /// [`DEFAULT_IDLE_TIMEOUT`], a [`CoarseClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let hosts = Keyed::<String>::builder("upstream").build().unwrap();
    /// assert_eq!((hosts.name(), hosts.len()), ("upstream", 0));
    /// ```
    pub fn builder(name: &'static str) -> KeyedBuilder<K, CoarseClock> {
        KeyedBuilder {
            name,
            config: Config::new(),
            clock: CoarseClock::new(),
            listeners: ListenerList::default(),
            max_keys: DEFAULT_MAX_KEYS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            _key: core::marker::PhantomData,
        }
    }
}

impl<K, C> Keyed<K, C>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    C: Clock + Clone,
{
    pub(crate) fn from_parts(
        name: &'static str,
        config: ValidConfig,
        clock: C,
        listeners: Listeners,
        max_keys: usize,
        idle_timeout: Duration,
    ) -> Self {
        Keyed {
            name,
            config,
            clock,
            listeners,
            max_keys: max_keys.max(1),
            idle_timeout_ms: u64::try_from(idle_timeout.as_millis()).unwrap_or(u64::MAX),
            map: RwLock::new(HashMap::new()),
            last_sweep_ms: AtomicU64::new(0),
        }
    }

    /// The breaker for `key`, created if needed; marks the key as used.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// let users = api.breaker("/users");
    /// assert_eq!((users.name(), users.key()), ("api", Some("/users")));
    /// assert!(std::sync::Arc::ptr_eq(&users, &api.breaker("/users")));
    /// ```
    pub fn breaker<Q>(&self, key: &Q) -> Arc<Breaker<C>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = self.clock.now().as_millis();
        {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(slot) = map.get(key) {
                if slot.last_used.load(Ordering::Relaxed) < now {
                    slot.last_used.store(now, Ordering::Relaxed);
                }
                return Arc::clone(&slot.breaker);
            }
        }
        self.insert(key.to_owned(), now)
    }

    #[cold]
    fn insert(&self, key: K, now: u64) -> Arc<Breaker<C>> {
        let mut evicted = Vec::new();
        let breaker = {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(slot) = map.get(&key) {
                // Another thread created it between our read and write locks.
                return Arc::clone(&slot.breaker);
            }
            let since_sweep = now.saturating_sub(self.last_sweep_ms.load(Ordering::Relaxed));
            if map.len() >= self.max_keys || since_sweep >= self.idle_timeout_ms {
                self.last_sweep_ms.store(now, Ordering::Relaxed);
                self.drain_idle(&mut map, now, &mut evicted);
            }
            if map.len() >= self.max_keys {
                let lru = map
                    .iter()
                    .min_by_key(|(_, s)| s.last_used.load(Ordering::Relaxed))
                    .map(|(k, _)| k.clone());
                if let Some(slot) = lru.and_then(|k| map.remove(&k)) {
                    evicted.push(slot.breaker);
                }
            }
            let breaker = Arc::new(Breaker::from_parts(
                self.name,
                Some(key.to_string().into_boxed_str()),
                self.config,
                self.clock.clone(),
                Arc::clone(&self.listeners),
                Consecutive,
            ));
            map.insert(key, Slot { breaker: Arc::clone(&breaker), last_used: AtomicU64::new(now) });
            breaker
        };
        // Evicted breakers are dropped here, after the lock is released.
        drop(evicted);
        breaker
    }

    fn drain_idle(&self, map: &mut HashMap<K, Slot<C>>, now: u64, out: &mut Vec<Arc<Breaker<C>>>) {
        let idle = self.idle_timeout_ms;
        map.retain(|_, slot| {
            let keep = now.saturating_sub(slot.last_used.load(Ordering::Relaxed)) < idle;
            if !keep {
                out.push(Arc::clone(&slot.breaker));
            }
            keep
        });
    }

    /// Drops every idle breaker (no call for the idle timeout); returns how many.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::ManualClock;
    /// use breaker_std::Keyed;
    /// use std::time::Duration;
    ///
    /// static CLOCK: ManualClock = ManualClock::new();
    /// let api = Keyed::<String>::builder("api")
    ///     .idle_timeout(Duration::from_secs(60))
    ///     .clock(&CLOCK)
    ///     .build()
    ///     .unwrap();
    /// let _ = api.call("/users", || Ok::<_, ()>(()));
    /// CLOCK.advance(Duration::from_secs(60));
    /// assert_eq!(api.evict_idle(), 1);
    /// assert!(api.is_empty());
    /// ```
    pub fn evict_idle(&self) -> usize {
        let now = self.clock.now().as_millis();
        let mut evicted = Vec::new();
        {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            self.last_sweep_ms.store(now, Ordering::Relaxed);
            self.drain_idle(&mut map, now, &mut evicted);
        }
        evicted.len()
    }

    /// The breaker for `key` if it exists; does not create it or mark it as used.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// assert!(api.get("/users").is_none());
    /// api.breaker("/users").force_open();
    /// assert!(api.get("/users").unwrap().state().rejects_calls());
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<Breaker<C>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(key).map(|s| Arc::clone(&s.breaker))
    }

    /// Removes the breaker for `key`; returns it if it existed.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// api.breaker("/users");
    /// assert!(api.remove("/users").is_some());
    /// assert!(api.is_empty());
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<Arc<Breaker<C>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.map.write().unwrap_or_else(PoisonError::into_inner).remove(key);
        slot.map(|s| s.breaker)
    }

    /// Runs `f` through the breaker for `key` (see [`Breaker::call`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// assert_eq!(api.call("/users", || Ok::<_, ()>(3)), Ok(3));
    /// ```
    pub fn call<Q, T, E>(&self, key: &Q, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.breaker(key).call(f)
    }

    /// Runs `f` through the breaker for `key`, counting only the errors `is_failure` accepts
    /// (see [`Breaker::call_filtered`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// let r = api.call_filtered("/users", || Err::<(), u16>(404), |status| *status >= 500);
    /// assert!(r.is_err());
    /// assert_eq!(api.get("/users").unwrap().failure_count(), 0);
    /// ```
    pub fn call_filtered<Q, T, E>(
        &self,
        key: &Q,
        f: impl FnOnce() -> Result<T, E>,
        is_failure: impl FnOnce(&E) -> bool,
    ) -> Result<T, CallError<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.breaker(key).call_filtered(f, is_failure)
    }

    /// Runs `f` through the breaker for `key` with a classifier (see [`Breaker::call_with`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Verdict;
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// let r = api.call_with("/users", || Ok::<u16, ()>(503), |r| {
    ///     if matches!(r, Ok(s) if *s < 500) { Verdict::Success } else { Verdict::Failure }
    /// });
    /// assert_eq!(r, Ok(503));
    /// assert_eq!(api.get("/users").unwrap().failure_count(), 1);
    /// ```
    pub fn call_with<Q, T, E>(
        &self,
        key: &Q,
        f: impl FnOnce() -> Result<T, E>,
        classify: impl FnOnce(&Result<T, E>) -> Verdict,
    ) -> Result<T, CallError<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.breaker(key).call_with(f, classify)
    }

    /// The live keys and their breakers, sorted by key label.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// api.breaker("/b");
    /// api.breaker("/a");
    /// let keys: Vec<String> = api.entries().into_iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, ["/a", "/b"]);
    /// ```
    pub fn entries(&self) -> Vec<(K, Arc<Breaker<C>>)> {
        let mut v: Vec<_> = {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            map.iter().map(|(k, s)| (k.clone(), Arc::clone(&s.breaker))).collect()
        };
        v.sort_by(|a, b| a.1.key().cmp(&b.1.key()));
        v
    }

    /// Health of every live key, sorted by key.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// let _ = api.call("/users", || Err::<(), _>("503"));
    /// let h = api.health();
    /// assert_eq!(h.breakers[0].failure_count, 1);
    /// ```
    pub fn health(&self) -> FamilyHealth {
        FamilyHealth {
            name: self.name,
            breakers: self.entries().into_iter().map(|(_, b)| b.health()).collect(),
        }
    }

    /// The family's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// assert_eq!(Keyed::<u32>::builder("shard").build().unwrap().name(), "shard");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// How many keys are live.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let shards = Keyed::<u32>::builder("shard").build().unwrap();
    /// shards.breaker(&7);
    /// assert_eq!(shards.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// `true` if no key is live.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// assert!(Keyed::<u32>::builder("shard").build().unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound on live keys.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// assert_eq!(Keyed::<u32>::builder("shard").max_keys(8).build().unwrap().max_keys(), 8);
    /// ```
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// The configuration every key's breaker uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").failure_threshold(2).build().unwrap();
    /// assert_eq!(api.config().failure_threshold(), 2);
    /// ```
    pub fn config(&self) -> &ValidConfig {
        &self.config
    }
}

impl<K, C: Clock> core::fmt::Debug for Keyed<K, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keyed")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("max_keys", &self.max_keys)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Keyed`] family.
///
/// # Examples
///
/// ```
/// use breaker_std::{Keyed, MonotonicClock};
/// use std::time::Duration;
///
/// let hosts = Keyed::<String>::builder("upstream")
///     .failure_threshold(3)
///     .recovery_timeout(Duration::from_secs(10))
///     .max_keys(256)
///     .clock(MonotonicClock::new())
///     .build()
///     .unwrap();
/// assert_eq!(hosts.max_keys(), 256);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct KeyedBuilder<K, C = CoarseClock> {
    name: &'static str,
    config: Config,
    clock: C,
    listeners: ListenerList,
    max_keys: usize,
    idle_timeout: Duration,
    _key: core::marker::PhantomData<fn() -> K>,
}

impl<K, C: core::fmt::Debug> core::fmt::Debug for KeyedBuilder<K, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyedBuilder")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("listeners", &self.listeners)
            .field("max_keys", &self.max_keys)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

impl<K, C> KeyedBuilder<K, C>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    C: Clock + Clone,
{
    /// The configuration of every key's breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{presets, Keyed};
    ///
    /// let dbs = Keyed::<String>::builder("database").config(presets::DATABASE).build().unwrap();
    /// assert_eq!(dbs.config().failure_threshold(), 5);
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Consecutive failures that open a key's circuit.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").failure_threshold(4).build().unwrap();
    /// assert_eq!(api.config().failure_threshold(), 4);
    /// ```
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.config = self.config.failure_threshold(n);
        self
    }

    /// How long a key's OPEN circuit rejects before a probe.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    /// use std::time::Duration;
    ///
    /// let api = Keyed::<String>::builder("api").recovery_timeout(Duration::from_secs(5)).build().unwrap();
    /// assert_eq!(api.config().recovery_timeout(), Duration::from_secs(5));
    /// ```
    pub fn recovery_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.recovery_timeout(timeout);
        self
    }

    /// At most this many keys are kept (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<u16>::builder("port").max_keys(2).build().unwrap();
    /// for port in [80, 443, 8080] {
    ///     api.breaker(&port);
    /// }
    /// assert_eq!(api.len(), 2);
    /// ```
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// A key without calls for this long is idle and may be dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    /// use std::time::Duration;
    ///
    /// let api = Keyed::<String>::builder("api").idle_timeout(Duration::from_secs(30)).build().unwrap();
    /// # let _ = api;
    /// ```
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Uses `clock` for every key's breaker and for idleness.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::ManualClock;
    /// use breaker_std::Keyed;
    ///
    /// static CLOCK: ManualClock = ManualClock::new();
    /// let api = Keyed::<String>::builder("api").clock(&CLOCK).build().unwrap();
    /// # let _ = api;
    /// ```
    pub fn clock<C2: Clock + Clone>(self, clock: C2) -> KeyedBuilder<K, C2> {
        KeyedBuilder {
            name: self.name,
            config: self.config,
            clock,
            listeners: self.listeners,
            max_keys: self.max_keys,
            idle_timeout: self.idle_timeout,
            _key: core::marker::PhantomData,
        }
    }

    listener_methods!("breaker_std::Keyed::<String>::builder(\"api\")");

    /// Validates the configuration and builds the family.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// assert!(Keyed::<String>::builder("api").failure_threshold(0).build().is_err());
    /// ```
    pub fn build(self) -> Result<Keyed<K, C>, ConfigError> {
        Ok(Keyed::from_parts(
            self.name,
            self.config.validate()?,
            self.clock,
            self.listeners.freeze(),
            self.max_keys,
            self.idle_timeout,
        ))
    }
}
