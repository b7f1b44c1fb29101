//! [`Registry`]: named breakers and keyed families, created on first use. Its semantics are
//! documented on the type.

use core::any::Any;
use core::fmt::{self, Display};
use core::hash::Hash;
use core::time::Duration;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use breaker_core::{Clock, Config, ConfigError, Consecutive, ValidConfig};

use crate::health::{FamilyHealth, RegistryHealth};
use crate::keyed::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_KEYS};
use crate::listener::{listener_methods, ListenerList, Listeners};
use crate::{Breaker, CoarseClock, Keyed};

/// Returns a `&'static str` equal to `name`, leaking it the first time the process sees it.
pub(crate) fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// What a registry can do with any family, whatever its key type.
trait Family: Send + Sync {
    fn health(&self) -> FamilyHealth;
}

impl<K, C> Family for Keyed<K, C>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    C: Clock + Clone + Send + Sync + 'static,
{
    fn health(&self) -> FamilyHealth {
        Keyed::health(self)
    }
}

enum Slot<C: Clock> {
    Breaker(Arc<Breaker<C>>),
    Family { any: Arc<dyn Any + Send + Sync>, family: Arc<dyn Family> },
}

/// An error from a [`Registry`] operation.
///
/// # Examples
///
/// ```
/// use breaker_std::{Registry, RegistryError};
///
/// let registry = Registry::new();
/// let err = registry.force_open("nope").unwrap_err();
/// assert_eq!(err, RegistryError::Unknown { name: "nope".into() });
/// assert_eq!(err.to_string(), "no circuit breaker named 'nope'");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// No breaker has this name.
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The name is taken by a breaker (when asking for a family) or by a family (when asking
    /// for a breaker), or by a family with another key type.
    NameTaken {
        /// The name asked for.
        name: &'static str,
    },
    /// The configuration is invalid.
    Config(ConfigError),
}

impl Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Unknown { name } => write!(f, "no circuit breaker named '{name}'"),
            RegistryError::NameTaken { name } => {
                write!(f, "the name '{name}' is taken by another kind of breaker")
            }
            RegistryError::Config(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for RegistryError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            RegistryError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for RegistryError {
    fn from(e: ConfigError) -> Self {
        RegistryError::Config(e)
    }
}

/// Named breakers (one per service, the seed's best practice 5) and keyed families (one
/// breaker per route or host, enhancement 5), created on first use.
///
/// # Semantics
///
/// - **Get-or-create.** [`breaker`](Registry::breaker) returns the breaker for a name, creating
///   it with the name's configuration ([`configure`](RegistryBuilder::configure)) or the
///   registry's default. Concurrent calls for the same name get the same breaker: creation
///   happens under the registry's write lock, after a second look.
/// - **Names are interned.** A breaker's name is `&'static str`; a name first seen at run time
///   is leaked once per distinct name, for the life of the process, shared by every registry.
///   Names come from your configuration (services you call), so this is bounded by it; do not
///   build names from request data. Per-request keys belong in a [`Keyed`](crate::Keyed) family,
///   which leaks nothing and bounds its size.
/// - **One namespace.** A name is either a breaker or a family.
/// - **Locks.** The registry's lock guards only its map: lookups take the read lock and clone
///   an `Arc`; calls, listeners and logs run after it is released. Keep the `Arc<Breaker>` on the
///   hot path instead of looking it up per call.
/// - **Manual control by name** ([`force_open`](Registry::force_open),
///   [`force_closed`](Registry::force_closed), [`reset`](Registry::reset)) is the breaker's own
///   control: logged and counted like any transition.
///
/// # Examples
///
/// ```
/// use breaker_core::State;
/// use breaker_std::{presets, Registry};
///
/// let registry = Registry::builder()
///     .configure("database", presets::DATABASE)
///     .configure("kafka", presets::KAFKA)
///     .build()
///     .unwrap();
/// let db = registry.breaker("database");
/// assert_eq!(db.config().failure_threshold(), 5);
/// assert_eq!(registry.breaker("kafka").config().failure_threshold(), 3);
///
/// registry.force_open("kafka").unwrap();
/// assert_eq!(registry.get("kafka").unwrap().state(), State::ForcedOpen);
/// ```
pub struct Registry<C: Clock = CoarseClock> {
    default_config: ValidConfig,
    configs: HashMap<Box<str>, ValidConfig>,
    clock: C,
    listeners: Listeners,
    slots: RwLock<BTreeMap<&'static str, Slot<C>>>,
}

impl Registry<CoarseClock> {
    /// A registry with the core's default config (5 failures, 60 s) for every name.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// assert_eq!(registry.breaker("redis").config().failure_threshold(), 5);
    /// ```
    pub fn new() -> Self {
        Registry::builder().build().unwrap_or_else(|_| unreachable!("the default config is valid"))
    }

    /// A builder: default and per-name configs, clock, listeners.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Config;
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::builder()
    ///     .default_config(Config::new().failure_threshold(10))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(registry.breaker("x").config().failure_threshold(), 10);
    /// ```
    pub fn builder() -> RegistryBuilder<CoarseClock> {
        RegistryBuilder {
            default_config: Config::new(),
            configs: Vec::new(),
            clock: CoarseClock::new(),
            listeners: ListenerList::default(),
        }
    }
}

impl Default for Registry<CoarseClock> {
    fn default() -> Self {
        Registry::new()
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> Registry<C> {
    fn config_for(&self, name: &str) -> ValidConfig {
        self.configs.get(name).copied().unwrap_or(self.default_config)
    }

    /// The breaker named `name`, created with the name's configuration (or the default) if it
    /// does not exist yet. Concurrent calls for one name return the same breaker.
    ///
    /// # Panics
    ///
    /// If `name` is a keyed family's name (a programming error: one namespace for both).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    /// use std::sync::Arc;
    ///
    /// let registry = Registry::new();
    /// let a = registry.breaker("database");
    /// let b = registry.breaker("database");
    /// assert!(Arc::ptr_eq(&a, &b));
    /// ```
    pub fn breaker(&self, name: &str) -> Arc<Breaker<C>> {
        match self.get_or_create(name, None) {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`breaker`](Registry::breaker), with `config` if the breaker is created now. An
    /// existing breaker is returned as it is (the first creation's config wins).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Config;
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// let search = registry.breaker_with("search", Config::new().failure_threshold(2)).unwrap();
    /// assert_eq!(search.config().failure_threshold(), 2);
    /// assert!(registry.breaker_with("bad", Config::new().failure_threshold(0)).is_err());
    /// ```
    pub fn breaker_with(&self, name: &str, config: Config) -> Result<Arc<Breaker<C>>, RegistryError> {
        self.get_or_create(name, Some(config))
    }

    fn get_or_create(&self, name: &str, config: Option<Config>) -> Result<Arc<Breaker<C>>, RegistryError> {
        let read = |slots: &BTreeMap<&'static str, Slot<C>>| match slots.get(name) {
            Some(Slot::Breaker(b)) => Some(Ok(Arc::clone(b))),
            Some(Slot::Family { .. }) => Some(Err(RegistryError::NameTaken { name: intern(name) })),
            None => None,
        };
        if let Some(found) = read(&self.slots.read().unwrap_or_else(PoisonError::into_inner)) {
            return found;
        }
        let config = match config {
            Some(c) => c.validate()?,
            None => self.config_for(name),
        };
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = read(&slots) {
            return found;
        }
        let name = intern(name);
        let breaker = Arc::new(Breaker::from_parts(
            name,
            None,
            config,
            self.clock.clone(),
            Arc::clone(&self.listeners),
            Consecutive,
        ));
        slots.insert(name, Slot::Breaker(Arc::clone(&breaker)));
        Ok(breaker)
    }

    /// The breaker named `name`, if it exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// assert!(registry.get("database").is_none());
    /// registry.breaker("database");
    /// assert!(registry.get("database").is_some());
    /// ```
    pub fn get(&self, name: &str) -> Option<Arc<Breaker<C>>> {
        match self.slots.read().unwrap_or_else(PoisonError::into_inner).get(name) {
            Some(Slot::Breaker(b)) => Some(Arc::clone(b)),
            _ => None,
        }
    }

    /// The keyed family named `family`, created if needed with the name's configuration (or
    /// the default), bounded to `max_keys` keys with `idle_timeout`.
    ///
    /// An existing family is returned as it is. Errors if the name is a breaker's, or a family
    /// with another key type.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    /// use std::time::Duration;
    ///
    /// let registry = Registry::new();
    /// let api = registry.keyed::<String>("api", 100, Duration::from_secs(300)).unwrap();
    /// let _ = api.call("/users", || Ok::<_, ()>(()));
    /// assert_eq!(registry.health().families[0].breakers.len(), 1);
    /// ```
    pub fn keyed<K>(
        &self,
        family: &str,
        max_keys: usize,
        idle_timeout: Duration,
    ) -> Result<Arc<Keyed<K, C>>, RegistryError>
    where
        K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    {
        let read = |slots: &BTreeMap<&'static str, Slot<C>>| match slots.get(family) {
            Some(Slot::Family { any, .. }) => Some(
                Arc::clone(any)
                    .downcast::<Keyed<K, C>>()
                    .map_err(|_| RegistryError::NameTaken { name: intern(family) }),
            ),
            Some(Slot::Breaker(_)) => Some(Err(RegistryError::NameTaken { name: intern(family) })),
            None => None,
        };
        if let Some(found) = read(&self.slots.read().unwrap_or_else(PoisonError::into_inner)) {
            return found;
        }
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = read(&slots) {
            return found;
        }
        let name = intern(family);
        let keyed = Arc::new(Keyed::<K, C>::from_parts(
            name,
            self.config_for(family),
            self.clock.clone(),
            Arc::clone(&self.listeners),
            max_keys,
            idle_timeout,
        ));
        slots.insert(
            name,
            Slot::Family {
                any: Arc::clone(&keyed) as Arc<dyn Any + Send + Sync>,
                family: Arc::clone(&keyed) as Arc<dyn Family>,
            },
        );
        Ok(keyed)
    }

    /// [`keyed`](Registry::keyed) with the default bounds ([`DEFAULT_MAX_KEYS`],
    /// [`DEFAULT_IDLE_TIMEOUT`]).
    ///
    /// [`DEFAULT_MAX_KEYS`]: crate::keyed::DEFAULT_MAX_KEYS
    /// [`DEFAULT_IDLE_TIMEOUT`]: crate::keyed::DEFAULT_IDLE_TIMEOUT
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// let hosts = registry.keyed_default::<String>("upstream").unwrap();
    /// assert_eq!(hosts.max_keys(), 1_024);
    /// ```
    pub fn keyed_default<K>(&self, family: &str) -> Result<Arc<Keyed<K, C>>, RegistryError>
    where
        K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    {
        self.keyed(family, DEFAULT_MAX_KEYS, DEFAULT_IDLE_TIMEOUT)
    }

    /// Every named breaker, sorted by name, for health checks and metrics. The list is a copy:
    /// no lock is held while you use it.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.breaker("kafka");
    /// registry.breaker("database");
    /// let names: Vec<_> = registry.breakers().iter().map(|b| b.name()).collect();
    /// assert_eq!(names, ["database", "kafka"]);
    /// ```
    pub fn breakers(&self) -> Vec<Arc<Breaker<C>>> {
        self.slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter_map(|s| match s {
                Slot::Breaker(b) => Some(Arc::clone(b)),
                Slot::Family { .. } => None,
            })
            .collect()
    }

    /// Health of every named breaker and every family, in the seed's `/health/detailed` shape
    /// when serialized (feature `serde`).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::State;
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.breaker("database").force_open();
    /// assert_eq!(registry.health().breakers[0].state, State::ForcedOpen);
    /// ```
    pub fn health(&self) -> RegistryHealth {
        let (breakers, families): (Vec<_>, Vec<_>) = {
            let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
            let mut b = Vec::new();
            let mut f = Vec::new();
            for slot in slots.values() {
                match slot {
                    Slot::Breaker(x) => b.push(Arc::clone(x)),
                    Slot::Family { family, .. } => f.push(Arc::clone(family)),
                }
            }
            (b, f)
        };
        RegistryHealth {
            breakers: breakers.iter().map(|b| b.health()).collect(),
            families: families.iter().map(|f| f.health()).collect(),
        }
    }

    /// Updates the read-on-demand gauges of every named breaker and family (see
    /// [`Breaker::refresh_metrics`]). Feature `metrics`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.breaker("database");
    /// registry.refresh_metrics(); // in the `/metrics` handler, before rendering
    /// ```
    #[cfg(feature = "metrics")]
    pub fn refresh_metrics(&self) {
        for b in self.breakers() {
            b.refresh_metrics();
        }
    }

    fn control(&self, name: &str, op: fn(&Breaker<C>)) -> Result<(), RegistryError> {
        let breaker = self.get(name).ok_or_else(|| RegistryError::Unknown { name: name.to_owned() })?;
        op(&breaker);
        Ok(())
    }

    /// Forces the breaker named `name` open (see [`Breaker::force_open`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// let db = registry.breaker("database");
    /// registry.force_open("database").unwrap();
    /// assert!(db.call(|| Ok::<_, ()>(())).is_err());
    /// ```
    pub fn force_open(&self, name: &str) -> Result<(), RegistryError> {
        self.control(name, Breaker::force_open)
    }

    /// Forces the breaker named `name` closed (see [`Breaker::force_closed`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::State;
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.breaker("database");
    /// registry.force_closed("database").unwrap();
    /// assert_eq!(registry.get("database").unwrap().state(), State::Disabled);
    /// ```
    pub fn force_closed(&self, name: &str) -> Result<(), RegistryError> {
        self.control(name, Breaker::force_closed)
    }

    /// Resets the breaker named `name` (see [`Breaker::reset`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::State;
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.breaker("database").force_open();
    /// registry.reset("database").unwrap();
    /// assert_eq!(registry.get("database").unwrap().state(), State::Closed);
    /// ```
    pub fn reset(&self, name: &str) -> Result<(), RegistryError> {
        self.control(name, Breaker::reset)
    }
}

impl<C: Clock> fmt::Debug for Registry<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Registry")
            .field("default_config", &self.default_config)
            .field("names", &slots.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Registry`].
///
/// # Examples
///
/// ```
/// use breaker_core::ManualClock;
/// use breaker_std::{presets, Registry};
///
/// static CLOCK: ManualClock = ManualClock::new();
/// let registry = Registry::builder()
///     .configure("database", presets::DATABASE)
///     .clock(&CLOCK)
///     .build()
///     .unwrap();
/// # let _ = registry;
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Debug)]
pub struct RegistryBuilder<C = CoarseClock> {
    default_config: Config,
    configs: Vec<(String, Config)>,
    clock: C,
    listeners: ListenerList,
}

impl<C: Clock + Clone + Send + Sync + 'static> RegistryBuilder<C> {
    /// The configuration for names without their own.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{presets, Registry};
    ///
    /// let registry = Registry::builder().default_config(presets::KAFKA).build().unwrap();
    /// assert_eq!(registry.breaker("any").config().failure_threshold(), 3);
    /// ```
    pub fn default_config(mut self, config: Config) -> Self {
        self.default_config = config;
        self
    }

    /// The configuration for `name` (a breaker or a family).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Config;
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::builder()
    ///     .configure("redis", Config::new().failure_threshold(20))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(registry.breaker("redis").config().failure_threshold(), 20);
    /// ```
    pub fn configure(mut self, name: impl Into<String>, config: Config) -> Self {
        self.configs.push((name.into(), config));
        self
    }

    /// Uses `clock` for every breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{MonotonicClock, Registry};
    ///
    /// let registry = Registry::builder().clock(MonotonicClock::new()).build().unwrap();
    /// # let _ = registry;
    /// ```
    pub fn clock<C2: Clock + Clone + Send + Sync + 'static>(self, clock: C2) -> RegistryBuilder<C2> {
        RegistryBuilder {
            default_config: self.default_config,
            configs: self.configs,
            clock,
            listeners: self.listeners,
        }
    }

    listener_methods!("breaker_std::Registry::builder()");

    /// Validates every configuration and builds the registry.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Config;
    /// use breaker_std::Registry;
    ///
    /// let err = Registry::builder()
    ///     .configure("db", Config::new().failure_threshold(0))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "failure_threshold");
    /// ```
    pub fn build(self) -> Result<Registry<C>, ConfigError> {
        let mut configs = HashMap::with_capacity(self.configs.len());
        for (name, config) in self.configs {
            configs.insert(name.into_boxed_str(), config.validate()?);
        }
        Ok(Registry {
            default_config: self.default_config.validate()?,
            configs,
            clock: self.clock,
            listeners: self.listeners.freeze(),
            slots: RwLock::new(BTreeMap::new()),
        })
    }
}
