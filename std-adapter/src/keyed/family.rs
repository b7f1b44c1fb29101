//! The family and its builder (re-exported at the crate root).

use core::borrow::Borrow;
use core::fmt::Display;
use core::hash::Hash;
use core::time::Duration;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use breaker_core::{Clock, Config, ConfigError, Consecutive, Policy, ReconfigureError, State, ValidConfig};

use super::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_KEYS, OVERFLOW_KEY};
use crate::health::FamilyHealth;
use crate::knobs::Knobs;
use crate::listener::{listener_methods, ListenerList, Listeners};
use crate::registry::{consecutive, EvictHook, Eviction, Family, Recipe, Refused, RegistryError, Store};
use crate::{Breaker, CoarseClock, Source};

/// How many times a family retries a key's reconfiguration that found another one being
/// written, before reporting [`RegistryError::Busy`].
const BUSY_RETRIES: usize = 64;

/// A bounded family of breakers, one per key.
///
/// # Eviction
///
/// A key's breaker is **idle** once `idle_timeout` (default 10 minutes) has passed without a
/// lookup through [`breaker`](Keyed::breaker) (a call or a rejection through the family; the
/// clock's coarse ties are broken by the order of use). It **protects** while it is OPEN within
/// its open period, HALF_OPEN with a probe out or counted, or forced open or closed: forgetting
/// it would let calls through that it rejects, or undo an operator's decision. The rule:
///
/// 1. Only an idle breaker that does not protect is ever evicted, the least recently used first.
/// 2. An idle breaker that protects is kept, as if used now.
/// 3. A new key in a full family ([`max_keys`](KeyedBuilder::max_keys), default 1 024) takes the
///    place of an evictable breaker; when there is none, the new key is refused with
///    [`RegistryError::FamilyFull`] and nothing is forgotten. The caller decides what a refused
///    key gets: [`breaker_or_overflow`](Keyed::breaker_or_overflow) gives it the family's one
///    shared **overflow breaker** (key `(overflow)`), so every refused key is still protected,
///    together: if they fail, the overflow breaker opens and rejects them, and it never takes a
///    kept breaker's place. breaker-tokio's per-endpoint layer uses it.
/// 4. Each new key also sheds at most one idle breaker, so a family shrinks as its keys go quiet
///    without a sweep; [`evict_idle`](Keyed::evict_idle) sheds them all at once.
///
/// So a flood of new keys cannot evict an OPEN breaker, nor a breaker that had traffic within the
/// idle timeout: at worst the flood's own keys are refused once the family is full, or share the
/// overflow breaker. An evicted
/// key that comes back starts CLOSED. Every breaker that leaves the family (evicted or
/// [removed](Keyed::remove)) is reported to [`on_evict`](KeyedBuilder::on_evict), after the lock
/// is released; its memory is freed with its last handle, and its metrics series go with the
/// exporter's idle timeout ([bounded series](crate::metrics#bounded-series-for-keyed-families)).
///
/// # Rejections
///
/// A key's breaker rejects with the core's [`CircuitOpen`](crate::CircuitOpen), which names the
/// family, not the key: it is `Copy` and `no_std` (its name is a `&'static str`), and carrying a
/// run-time key would cost an allocation in every rejection or a leak per key. The key is where
/// the code that handles the rejection needs it: a direct call has it in hand (it asked
/// [`breaker`](Keyed::breaker) for it, and [`Breaker::key`](crate::Breaker::key) returns it),
/// listeners and logs get it in [`Source::key`](crate::Source::key), and breaker-tokio's layer,
/// which picks the key from the request, puts it in its rejection (`layer::Open::key`), so a
/// per-route 503 names its route.
///
/// ```
/// use breaker_std::{CallError, Config, Keyed};
///
/// let api = Keyed::<String>::builder("api").config(Config::new().failure_threshold(1)).build().unwrap();
/// let users = api.breaker("/users").unwrap();
/// let _ = users.call(|| Err::<(), _>("503"));
/// match users.call(|| Ok::<_, &str>(())) {
///     Err(CallError::Open(open)) => {
///         let said = format!("{} for {}", open.name(), users.key().unwrap_or("-"));
///         assert_eq!(said, "api for /users");
///     }
///     other => panic!("expected a rejection, got {other:?}"),
/// }
/// ```
///
/// # Examples
///
/// One breaker per route, at most 100 routes, idle after 5 minutes:
///
/// ```
/// use breaker_std::{CallError, Config, Keyed, State};
/// use std::time::Duration;
///
/// let api = Keyed::<String>::builder("api")
///     .config(Config::new().failure_threshold(2))
///     .max_keys(100)
///     .idle_timeout(Duration::from_secs(300))
///     .build()
///     .unwrap();
/// let users = api.breaker("/users").unwrap();
/// for _ in 0..2 {
///     let _ = users.call(|| Err::<(), _>("503"));
/// }
/// // "/users" is open; "/orders" is unaffected.
/// assert!(matches!(users.call(|| Ok::<_, &str>(())), Err(CallError::Open(_))));
/// assert_eq!(api.breaker("/orders").unwrap().call(|| Ok::<_, &str>(7)), Ok(7));
/// assert_eq!(api.get("/users").unwrap().state(), State::Open);
/// ```
pub struct Keyed<K, C = CoarseClock, P = Consecutive> {
    name: &'static str,
    /// The config of new keys; read under the store's mutex when a key is created.
    config: Mutex<ValidConfig>,
    policy: Recipe<P>,
    clock: C,
    listeners: Listeners,
    idle_timeout: Duration,
    on_evict: Option<EvictHook>,
    store: Store<K, Arc<Breaker<C, P>>>,
    /// The breaker refused keys share ([`breaker_or_overflow`](Keyed::breaker_or_overflow)),
    /// made on the first refusal.
    overflow: OnceLock<Arc<Breaker<C, P>>>,
}

/// The error for a caller's key that displays as [`OVERFLOW_KEY`].
const fn reserved_key() -> ConfigError {
    ConfigError::Conflict {
        field: "key",
        value: 0,
        limit: 0,
        rule: "not `(overflow)`, the label of the family's overflow breaker",
    }
}

/// Whether an idle breaker must be kept (see [`Keyed`'s eviction rule](Keyed#eviction)).
fn protects<C: Clock, P: Policy>(breaker: &Arc<Breaker<C, P>>) -> bool {
    let s = breaker.snapshot();
    match s.state {
        State::Closed => false,
        // Ready to probe (an OPEN breaker past its open period shows so) and nothing out.
        State::HalfOpen => s.probes_in_flight > 0 || s.probe_successes > 0,
        _ => true,
    }
}

impl<K> Keyed<K, CoarseClock, Consecutive>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
{
    /// A builder for a family named `name`: the core's default config, consecutive failures,
    /// [`DEFAULT_MAX_KEYS`], [`DEFAULT_IDLE_TIMEOUT`], a [`CoarseClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let hosts = Keyed::<String>::builder("upstream").build().unwrap();
    /// assert_eq!((hosts.name(), hosts.len()), ("upstream", 0));
    /// ```
    pub fn builder(name: &'static str) -> KeyedBuilder<K, CoarseClock, Consecutive> {
        KeyedBuilder {
            name,
            config: Config::new(),
            knobs: Knobs::default(),
            policy: consecutive(),
            clock: CoarseClock::new(),
            listeners: ListenerList::default(),
            max_keys: DEFAULT_MAX_KEYS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            on_evict: None,
            _key: core::marker::PhantomData,
        }
    }
}

impl<K, C, P> Keyed<K, C, P>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    C: Clock + Clone,
    P: Policy,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        name: &'static str,
        config: ValidConfig,
        policy: Recipe<P>,
        clock: C,
        listeners: Listeners,
        max_keys: usize,
        idle_timeout: Duration,
        on_evict: Option<EvictHook>,
    ) -> Self {
        let idle_ms = u64::try_from(idle_timeout.as_millis()).unwrap_or(u64::MAX);
        Keyed {
            name,
            config: Mutex::new(config),
            policy,
            clock,
            listeners,
            idle_timeout,
            on_evict,
            store: Store::new(max_keys, Some(Eviction { idle_ms, protects: protects::<C, P> })),
            overflow: OnceLock::new(),
        }
    }

    /// A breaker of this family for `key`, with the config of new keys.
    fn make(&self, key: Box<str>) -> Result<Breaker<C, P>, ConfigError> {
        let config = *self.config.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Breaker::from_parts(
            self.name,
            Some(key),
            config,
            self.clock.clone(),
            Arc::clone(&self.listeners),
            (self.policy)()?,
        ))
    }

    fn now(&self) -> u64 {
        self.clock.now().as_millis()
    }

    /// Reports and drops breakers that left the family, with no lock held.
    fn forget(&self, gone: Vec<Arc<Breaker<C, P>>>) -> usize {
        let n = gone.len();
        if let Some(hook) = &self.on_evict {
            for b in &gone {
                hook(&Source::new(self.name, b.key()));
            }
        }
        n
    }

    /// The breaker for `key`, created if needed; marks the key as used. Call through it with
    /// [`Breaker::call`] / [`Breaker::call_with`].
    ///
    /// # Errors
    ///
    /// [`FamilyFull`](RegistryError::FamilyFull) for a new key when the family is full and no
    /// breaker can be evicted ([the rule](Keyed#eviction));
    /// [`Config`](RegistryError::Config) if the policy recipe fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// let users = api.breaker("/users").unwrap();
    /// assert_eq!((users.name(), users.key()), ("api", Some("/users")));
    /// assert!(std::sync::Arc::ptr_eq(&users, &api.breaker("/users").unwrap()));
    /// assert_eq!(users.call(|| Ok::<_, ()>(3)), Ok(3));
    /// ```
    pub fn breaker<Q>(&self, key: &Q) -> Result<Arc<Breaker<C, P>>, RegistryError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut evicted = Vec::new();
        let found = self.store.get_or_try_insert(
            key,
            self.now(),
            |key| {
                let key = key.to_owned();
                let label = key.to_string();
                if label == OVERFLOW_KEY {
                    return Err(reserved_key());
                }
                let breaker = self.make(label.into_boxed_str())?;
                Ok((key, Arc::new(breaker)))
            },
            &mut evicted,
        );
        self.forget(evicted);
        found.map_err(|e| match e {
            Refused::Full => RegistryError::FamilyFull { family: self.name, max_keys: self.store.max() },
            Refused::Make(e) => RegistryError::Config(e),
        })
    }

    /// Evicts every idle breaker that does not protect ([the rule](Keyed#eviction)); returns
    /// how many. Takes time in the number of idle breakers, under the family's lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Keyed, ManualClock};
    /// use std::time::Duration;
    ///
    /// static CLOCK: ManualClock = ManualClock::new();
    /// let api = Keyed::<String>::builder("api")
    ///     .idle_timeout(Duration::from_secs(60))
    ///     .clock(&CLOCK)
    ///     .build()
    ///     .unwrap();
    /// api.breaker("/users").unwrap();
    /// CLOCK.advance(Duration::from_secs(60));
    /// assert_eq!(api.evict_idle(), 1);
    /// assert!(api.is_empty());
    /// ```
    pub fn evict_idle(&self) -> usize {
        let mut evicted = Vec::new();
        self.store.evict_idle(self.now(), &mut evicted);
        self.forget(evicted)
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
    /// api.breaker("/users").unwrap().force_open();
    /// assert!(api.get("/users").unwrap().state().rejects_calls());
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<Breaker<C, P>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.store.peek(key)
    }

    /// Removes the breaker for `key` (reported to [`on_evict`](KeyedBuilder::on_evict));
    /// returns it if it existed.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// api.breaker("/users").unwrap();
    /// assert!(api.remove("/users").is_some());
    /// assert!(api.is_empty());
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<Arc<Breaker<C, P>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let removed = self.store.remove(key)?;
        self.forget(vec![Arc::clone(&removed)]);
        Some(removed)
    }

    /// The live keys and their breakers, sorted by key label.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// api.breaker("/b").unwrap();
    /// api.breaker("/a").unwrap();
    /// let keys: Vec<String> = api.entries().into_iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, ["/a", "/b"]);
    /// ```
    pub fn entries(&self) -> Vec<(K, Arc<Breaker<C, P>>)> {
        let mut v = self.store.entries();
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
    /// let _ = api.breaker("/users").unwrap().call(|| Err::<(), _>("503"));
    /// let h = api.health();
    /// assert_eq!(h.breakers[0].failure_count, 1);
    /// ```
    pub fn health(&self) -> FamilyHealth {
        let mut breakers: Vec<_> = self.entries().into_iter().map(|(_, b)| b.health()).collect();
        breakers.extend(self.overflow.get().map(|b| b.health()));
        FamilyHealth { name: self.name.into(), breakers }
    }

    /// The breaker for `key` as [`breaker`](Keyed::breaker) gives it, or, when the family is
    /// full and `key` is refused ([the rule](Keyed#eviction)), the family's **overflow
    /// breaker**, shared by every refused key (key [`OVERFLOW_KEY`], made on the first refusal
    /// with the config of new keys, listed last in [`health`](Keyed::health), reconfigured with
    /// the family). A flood of new keys then shares one breaker: it cannot evict a kept breaker,
    /// cannot go unprotected, and cannot grow memory or metrics series.
    ///
    /// # Errors
    ///
    /// [`Config`](RegistryError::Config) if the policy recipe fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Config, Keyed, State};
    ///
    /// let api = Keyed::<String>::builder("api").config(Config::new().failure_threshold(1)).max_keys(1).build().unwrap();
    /// let _ = api.breaker("/users").unwrap().call(|| Err::<(), _>("503")); // OPEN: kept
    /// let flood = api.breaker_or_overflow("/random-1").unwrap();
    /// assert_eq!(flood.key(), Some(breaker_std::keyed::OVERFLOW_KEY));
    /// let _ = flood.call(|| Err::<(), _>("503"));
    /// assert_eq!(api.breaker_or_overflow("/random-2").unwrap().state(), State::Open); // shared
    /// assert_eq!(api.breaker("/users").unwrap().state(), State::Open); // never forgotten
    /// ```
    pub fn breaker_or_overflow<Q>(&self, key: &Q) -> Result<Arc<Breaker<C, P>>, RegistryError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.breaker(key) {
            Err(RegistryError::FamilyFull { .. }) => self.overflow(),
            Err(RegistryError::Config(e)) if e == reserved_key() => self.overflow(),
            found => found,
        }
    }

    /// The overflow breaker, made on first use. Two threads that both make one keep the first
    /// set (the other is dropped unused).
    fn overflow(&self) -> Result<Arc<Breaker<C, P>>, RegistryError> {
        if let Some(b) = self.overflow.get() {
            return Ok(Arc::clone(b));
        }
        let made = Arc::new(self.make(OVERFLOW_KEY.into())?);
        let b = Arc::clone(self.overflow.get_or_init(|| made));
        // A family reconfiguration between `make` and the publication did not see this breaker.
        let config = self.config();
        if b.config() != config {
            let _ = b.reconfigure(Config::from(config));
        }
        Ok(b)
    }

    /// The configuration of keys created from now on (live keys have it too unless they were
    /// reconfigured one by one).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Config, Keyed};
    ///
    /// let api = Keyed::<String>::builder("api").config(Config::new().failure_threshold(4)).build().unwrap();
    /// assert_eq!(api.config().failure_threshold(), 4);
    /// ```
    pub fn config(&self) -> ValidConfig {
        *self.config.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the configuration of every live key's breaker (keeping each one's state, see
    /// [`Breaker::reconfigure`]) and of the keys created from now on. The trip policy is not
    /// part of it.
    ///
    /// # Errors
    ///
    /// [`Config`](RegistryError::Config) for an invalid config (nothing changes);
    /// [`Busy`](RegistryError::Busy) if a key's breaker stayed busy with another change (the
    /// other keys and new keys have the new config; retry).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Config, Keyed};
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// let users = api.breaker("/users").unwrap();
    /// api.reconfigure(Config::new().failure_threshold(2)).unwrap();
    /// assert_eq!(users.config().failure_threshold(), 2);
    /// assert_eq!(api.breaker("/orders").unwrap().config().failure_threshold(), 2);
    /// ```
    pub fn reconfigure(&self, config: Config) -> Result<(), RegistryError> {
        let valid = config.validate()?;
        // Refused before anything changes: the family's breakers keep their resolution.
        let (current, requested) = (self.config().open_time_resolution(), valid.open_time_resolution());
        if current != requested {
            let ms = |d: Duration| d.as_millis() as u32;
            return Err(crate::registry::resolution_conflict(ms(current), ms(requested)).into());
        }
        // Set before the live keys are listed: a key created meanwhile reads the config under
        // the store's mutex, so it either has the new one or is in the list.
        *self.config.lock().unwrap_or_else(PoisonError::into_inner) = valid;
        let mut result = Ok(());
        for breaker in self.store.values().into_iter().chain(self.overflow.get().cloned()) {
            let mut tries = 0;
            loop {
                match breaker.reconfigure(config) {
                    Ok(_) => break,
                    Err(ReconfigureError::Busy) if tries < BUSY_RETRIES => {
                        tries += 1;
                        std::thread::yield_now();
                    }
                    Err(e) => {
                        result = Err(RegistryError::reconfigure(self.name, e));
                        break;
                    }
                }
            }
        }
        result
    }

    /// Updates the read-on-demand gauges of every live key (see [`Breaker::refresh_metrics`]).
    /// Feature `metrics`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    ///
    /// let api = Keyed::<String>::builder("api").build().unwrap();
    /// api.breaker("/users").unwrap();
    /// api.refresh_metrics();
    /// ```
    #[cfg(feature = "metrics")]
    pub fn refresh_metrics(&self) {
        for b in self.store.values().into_iter().chain(self.overflow.get().cloned()) {
            b.refresh_metrics();
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
    /// shards.breaker(&7).unwrap();
    /// assert_eq!(shards.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.store.len()
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
        self.store.max()
    }

    /// The time without calls after which a key's breaker is idle.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    /// use std::time::Duration;
    ///
    /// let shards = Keyed::<u32>::builder("shard").build().unwrap();
    /// assert_eq!(shards.idle_timeout(), Duration::from_secs(600));
    /// ```
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
}

impl<K, C, P> Family for Keyed<K, C, P>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    C: Clock + Clone + Send + Sync + 'static,
    P: Policy + Send + Sync + 'static,
{
    fn into_any(self: Arc<Self>) -> Arc<dyn core::any::Any + Send + Sync> {
        self
    }
    fn policy_name(&self) -> &'static str {
        core::any::type_name::<P>()
    }
    fn health(&self) -> FamilyHealth {
        Keyed::health(self)
    }
    fn reconfigure(&self, config: Config) -> Result<(), RegistryError> {
        Keyed::reconfigure(self, config)
    }
    #[cfg(feature = "metrics")]
    fn refresh_metrics(&self) {
        Keyed::refresh_metrics(self);
    }
}

impl<K, C: Clock, P: Policy> core::fmt::Debug for Keyed<K, C, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keyed")
            .field("name", &self.name)
            .field("max_keys", &self.store.max())
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Keyed`] family: configuration (every [`Config`] knob, as a base
/// [`config`](KeyedBuilder::config) and one by one, the knobs winning whatever the order), trip
/// policy, bounds, clock, listeners, eviction hook.
///
/// # Examples
///
/// ```
/// use breaker_std::{Config, Keyed, MonotonicClock};
/// use std::time::Duration;
///
/// let hosts = Keyed::<String>::builder("upstream")
///     .config(Config::new().failure_threshold(3).recovery_timeout(Duration::from_secs(10)))
///     .max_keys(256)
///     .clock(MonotonicClock::new())
///     .build()
///     .unwrap();
/// assert_eq!(hosts.max_keys(), 256);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct KeyedBuilder<K, C = CoarseClock, P = Consecutive> {
    name: &'static str,
    config: Config,
    knobs: Knobs,
    policy: Recipe<P>,
    clock: C,
    listeners: ListenerList,
    max_keys: usize,
    idle_timeout: Duration,
    on_evict: Option<EvictHook>,
    _key: core::marker::PhantomData<fn() -> K>,
}

impl<K, C: core::fmt::Debug, P> core::fmt::Debug for KeyedBuilder<K, C, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyedBuilder")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("knobs", &self.knobs)
            .field("policy", &core::any::type_name::<P>())
            .field("clock", &self.clock)
            .field("listeners", &self.listeners)
            .field("max_keys", &self.max_keys)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl<K, C, P> KeyedBuilder<K, C, P>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    C: Clock + Clone,
    P: Policy,
{
    /// The base configuration of every key's breaker: every [`Config`] knob (thresholds,
    /// timeouts, backoff, jitter, probe timeout, gradual recovery) in one value. Default:
    /// [`Config::new`]. The knobs set one by one ([`failure_threshold`](KeyedBuilder::failure_threshold)
    /// and the rest) are applied over it, whatever the order of the calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Config, Keyed};
    /// use std::time::Duration;
    ///
    /// let config = Config::new()
    ///     .failure_threshold(5)
    ///     .recovery_timeout(Duration::from_secs(10))
    ///     .backoff(Duration::from_secs(120))
    ///     .gradual_recovery(Duration::from_secs(30), 10);
    /// let dbs = Keyed::<String>::builder("database").config(config).build().unwrap();
    /// assert_eq!(dbs.config().backoff_max(), Duration::from_secs(120));
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    crate::knobs::knob_setters!("let builder = breaker_std::Keyed::<String>::builder(\"api\");");

    /// The trip policy of every key's breaker: `recipe` is called once per key and must return a
    /// fresh policy, such as a rate [`Window`](crate::Window) (each key gets its own
    /// window); it is called once at [`build`](KeyedBuilder::build) to check it. It runs under
    /// the family's lock: it must not use the family.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Keyed, RateConfig, State, Window};
    ///
    /// let rule = RateConfig::new(500, 4).validate().unwrap(); // 50 %, once 4 calls are in
    /// let routes = Keyed::<String>::builder("routes")
    ///     .policy(move || Window::<4>::count(5, rule))
    ///     .build()
    ///     .unwrap();
    /// let users = routes.breaker("/users").unwrap();
    /// for ok in [true, false, true, false] {
    ///     let _ = users.call(|| if ok { Ok(()) } else { Err("503") });
    /// }
    /// assert_eq!(users.state(), State::Open);
    /// ```
    pub fn policy<P2, F>(self, recipe: F) -> KeyedBuilder<K, C, P2>
    where
        P2: Policy,
        F: Fn() -> Result<P2, ConfigError> + Send + Sync + 'static,
    {
        KeyedBuilder {
            name: self.name,
            config: self.config,
            knobs: self.knobs,
            policy: Arc::new(recipe),
            clock: self.clock,
            listeners: self.listeners,
            max_keys: self.max_keys,
            idle_timeout: self.idle_timeout,
            on_evict: self.on_evict,
            _key: core::marker::PhantomData,
        }
    }

    /// At most this many keys are kept (at least 1; 0 is refused by
    /// [`build`](KeyedBuilder::build)).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Keyed, RegistryError};
    ///
    /// let ports = Keyed::<u16>::builder("port").max_keys(2).build().unwrap();
    /// ports.breaker(&80).unwrap();
    /// ports.breaker(&443).unwrap();
    /// // Both were just used: the third key is refused, nothing is forgotten.
    /// assert!(matches!(ports.breaker(&8080), Err(RegistryError::FamilyFull { max_keys: 2, .. })));
    /// assert_eq!(ports.len(), 2);
    /// ```
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// A key without calls for this long is idle and may be evicted
    /// ([the rule](Keyed#eviction)).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Keyed;
    /// use std::time::Duration;
    ///
    /// let api = Keyed::<String>::builder("api").idle_timeout(Duration::from_secs(30)).build().unwrap();
    /// assert_eq!(api.idle_timeout(), Duration::from_secs(30));
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
    /// use breaker_std::{Keyed, ManualClock};
    ///
    /// static CLOCK: ManualClock = ManualClock::new();
    /// let api = Keyed::<String>::builder("api").clock(&CLOCK).build().unwrap();
    /// # let _ = api;
    /// ```
    pub fn clock<C2: Clock + Clone>(self, clock: C2) -> KeyedBuilder<K, C2, P> {
        KeyedBuilder {
            name: self.name,
            config: self.config,
            knobs: self.knobs,
            policy: self.policy,
            clock,
            listeners: self.listeners,
            max_keys: self.max_keys,
            idle_timeout: self.idle_timeout,
            on_evict: self.on_evict,
            _key: core::marker::PhantomData,
        }
    }

    /// Calls `f` with the name and key of every breaker that leaves the family (evicted, or
    /// [removed](Keyed::remove)), after the family's lock is released: the place to remove the
    /// key's metrics series from an exporter, so series stay bounded whatever the key count.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Keyed, ManualClock, Source};
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// static CLOCK: ManualClock = ManualClock::new();
    /// let gone = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&gone);
    /// let api = Keyed::<String>::builder("api")
    ///     .idle_timeout(Duration::from_secs(1))
    ///     .clock(&CLOCK)
    ///     .on_evict(move |s: &Source<'_>| log.lock().unwrap().push(s.key().unwrap().to_owned()))
    ///     .build()
    ///     .unwrap();
    /// api.breaker("/old").unwrap();
    /// CLOCK.advance(Duration::from_secs(1));
    /// api.evict_idle();
    /// assert_eq!(*gone.lock().unwrap(), ["/old"]);
    /// ```
    pub fn on_evict(mut self, f: impl Fn(&Source<'_>) + Send + Sync + 'static) -> Self {
        self.on_evict = Some(Arc::new(f));
        self
    }

    listener_methods!("breaker_std::Keyed::<String>::builder(\"api\")");

    /// Validates the configuration, the policy recipe and the bound, and builds the family.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of an invalid config or policy; `Zero { field: "max_keys" }`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Config, ConfigError, Keyed};
    ///
    /// let err = Keyed::<String>::builder("api").config(Config::new().failure_threshold(0)).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { field: "failure_threshold" });
    /// assert!(Keyed::<String>::builder("api").max_keys(0).build().is_err());
    /// ```
    pub fn build(self) -> Result<Keyed<K, C, P>, ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::Zero { field: "max_keys" });
        }
        (self.policy)()?;
        Ok(Keyed::from_parts(
            self.name,
            self.knobs.apply(self.config).validate()?,
            self.policy,
            self.clock,
            self.listeners.freeze(),
            self.max_keys,
            self.idle_timeout,
            self.on_evict,
        ))
    }
}
