//! [`Registry`]: named breakers and keyed families, created on first use, in one store. Its
//! semantics are documented on the type.

mod store;

use core::any::{type_name, Any};
use core::fmt::{self, Display};
use core::hash::Hash;
use core::time::Duration;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use breaker_core::{Clock, Config, ConfigError, Consecutive, Policy, ReconfigureError, ValidConfig};

pub(crate) use self::store::{Eviction, Refused, Store};
use crate::health::{FamilyHealth, Health, RegistryHealth};
use crate::keyed::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_KEYS};
use crate::listener::{listener_methods, ListenerList, Listeners};
use crate::{Breaker, CoarseClock, Keyed, Source};

/// Default bound on the names (breakers and families) of one registry.
const DEFAULT_MAX_NAMES: usize = 1_024;

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

/// A recipe for the trip policy of each breaker built from it: called once per breaker (a
/// [`Window`](crate::Window) keeps its own counts, so every breaker gets a fresh one).
pub(crate) type Recipe<P> = Arc<dyn Fn() -> Result<P, ConfigError> + Send + Sync>;

/// The recipe of [`Consecutive`]: the default trip policy.
pub(crate) fn consecutive() -> Recipe<Consecutive> {
    Arc::new(|| Ok(Consecutive))
}

/// Called with the name and key of every breaker a family drops (evicted, or removed).
pub(crate) type EvictHook = Arc<dyn Fn(&Source<'_>) + Send + Sync>;

/// A policy recipe of some policy type, as a registry keeps it per name.
#[derive(Clone)]
struct AnyRecipe {
    /// A `Recipe<P>`.
    recipe: Arc<dyn Any + Send + Sync>,
    /// Runs the recipe once, to refuse an invalid one at build time.
    check: Arc<dyn Fn() -> Result<(), ConfigError> + Send + Sync>,
    policy_name: &'static str,
}

impl AnyRecipe {
    fn new<P: Policy + 'static>(recipe: Recipe<P>) -> Self {
        let check = Arc::clone(&recipe);
        AnyRecipe {
            recipe: Arc::new(recipe),
            check: Arc::new(move || check().map(drop)),
            policy_name: type_name::<P>(),
        }
    }

    fn get<P: Policy + 'static>(&self) -> Option<Recipe<P>> {
        self.recipe.downcast_ref::<Recipe<P>>().cloned()
    }
}

impl fmt::Debug for AnyRecipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.policy_name)
    }
}

/// What a registry knows about one configured name.
#[derive(Clone, Debug, Default)]
struct Spec {
    config: Option<ValidConfig>,
    policy: Option<AnyRecipe>,
    /// Family bounds: `(max_keys, idle_timeout)`. A name with bounds is a family.
    bounds: Option<(usize, Duration)>,
}

/// A named breaker, whatever its policy type.
trait Named: Send + Sync {
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    fn policy_name(&self) -> &'static str;
    fn health(&self) -> Health;
    fn force_open(&self);
    fn force_closed(&self);
    fn reset(&self);
    fn reconfigure(&self, config: Config) -> Result<ValidConfig, ReconfigureError>;
    #[cfg(feature = "metrics")]
    fn refresh_metrics(&self);
}

impl<C, P> Named for Breaker<C, P>
where
    C: Clock + Send + Sync + 'static,
    P: Policy + Send + Sync + 'static,
{
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
    fn policy_name(&self) -> &'static str {
        type_name::<P>()
    }
    fn health(&self) -> Health {
        Breaker::health(self)
    }
    fn force_open(&self) {
        Breaker::force_open(self);
    }
    fn force_closed(&self) {
        Breaker::force_closed(self);
    }
    fn reset(&self) {
        Breaker::reset(self);
    }
    fn reconfigure(&self, config: Config) -> Result<ValidConfig, ReconfigureError> {
        Breaker::reconfigure(self, config)
    }
    #[cfg(feature = "metrics")]
    fn refresh_metrics(&self) {
        Breaker::refresh_metrics(self);
    }
}

/// A keyed family, whatever its key and policy types.
pub(crate) trait Family: Send + Sync {
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    fn policy_name(&self) -> &'static str;
    fn health(&self) -> FamilyHealth;
    fn reconfigure(&self, config: Config) -> Result<(), RegistryError>;
    #[cfg(feature = "metrics")]
    fn refresh_metrics(&self);
}

/// One name in a registry.
#[derive(Clone)]
enum Entry {
    Breaker(&'static dyn Named),
    Family(Arc<dyn Family>),
}

/// An error from a [`Registry`] or [`Keyed`] family operation. Nothing in either panics.
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
    /// No breaker or family has this name (manual control and reconfiguration by name do not
    /// create one).
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The name is another kind: a family when asking for a breaker (or to control one by
    /// name), a breaker when asking for a family, or a family with another key type.
    NameTaken {
        /// The name asked for.
        name: String,
    },
    /// The name's breakers have another trip policy type than the one asked for.
    PolicyMismatch {
        /// The name asked for.
        name: String,
        /// The policy type the name is configured with (`Consecutive` unless configured).
        configured: &'static str,
        /// The policy type asked for.
        requested: &'static str,
    },
    /// The registry holds [`max_names`](RegistryBuilder::max_names) names: a new one is refused.
    TooManyNames {
        /// The bound.
        max: usize,
    },
    /// The family holds [`max_keys`](crate::KeyedBuilder::max_keys) keys and none can be
    /// evicted (each was used within the idle timeout, or still protects: see
    /// [`Keyed`](crate::Keyed#eviction)): a new key is refused.
    FamilyFull {
        /// The family's name.
        family: &'static str,
        /// The bound.
        max_keys: usize,
    },
    /// A builder was given the same setting twice for one name.
    Duplicate {
        /// The name configured twice.
        name: String,
        /// The setting: `"config"`, `"policy"` or `"bounds"`.
        setting: &'static str,
    },
    /// A configuration or policy is invalid (its own message, no source of its own).
    Config(ConfigError),
    /// Another reconfiguration of the breaker was being written at that moment; retry.
    Busy {
        /// The breaker's name.
        name: String,
    },
}

impl Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Unknown { name } => write!(f, "no circuit breaker named '{name}'"),
            RegistryError::NameTaken { name } => {
                write!(f, "the name '{name}' is taken by another kind of breaker or family")
            }
            RegistryError::PolicyMismatch { name, configured, requested } => {
                write!(f, "the circuit breaker '{name}' has the trip policy {configured}, not {requested}")
            }
            RegistryError::TooManyNames { max } => {
                write!(f, "the registry holds its maximum of {max} names")
            }
            RegistryError::FamilyFull { family, max_keys } => {
                write!(f, "the family '{family}' holds {max_keys} keys in use or protecting")
            }
            RegistryError::Duplicate { name, setting } => write!(f, "'{name}' is given a {setting} twice"),
            RegistryError::Config(e) => e.fmt(f),
            RegistryError::Busy { name } => {
                write!(f, "the circuit breaker '{name}' is being reconfigured by another caller")
            }
        }
    }
}

impl core::error::Error for RegistryError {}

impl From<ConfigError> for RegistryError {
    fn from(e: ConfigError) -> Self {
        RegistryError::Config(e)
    }
}

/// A reconfiguration asking a breaker for another open-time resolution than it was built with
/// (see `Config::open_time_resolution`), as a config error.
pub(crate) const fn resolution_conflict(current_ms: u32, requested_ms: u32) -> ConfigError {
    ConfigError::Conflict {
        field: "open_time_resolution",
        value: requested_ms as u64,
        limit: current_ms as u64,
        rule: "the open-time resolution the breaker was built with (it keeps it for life)",
    }
}

impl RegistryError {
    pub(crate) fn reconfigure(name: &str, e: ReconfigureError) -> Self {
        match e {
            ReconfigureError::Invalid(e) => RegistryError::Config(e),
            ReconfigureError::OpenTimeResolution { current_ms, requested_ms } => {
                RegistryError::Config(resolution_conflict(current_ms, requested_ms))
            }
            _ => RegistryError::Busy { name: name.to_owned() },
        }
    }
}

/// Named breakers (one per dependency, the circuit-breaker pattern's usual unit) and keyed
/// families (one breaker per route or host), created on first use, in one store.
///
/// # Semantics
///
/// - **Get-or-create.** [`breaker`](Registry::breaker) returns the breaker for a name, creating
///   it with the name's configuration ([`configure`](RegistryBuilder::configure), else the
///   registry's default) and trip policy ([`policy`](RegistryBuilder::policy), else consecutive
///   failures). Concurrent calls for one name get the same breaker. Lookups return a `Result`
///   and never panic.
/// - **One namespace.** A name is a breaker or a family, never both, and has one policy type:
///   asking for it as the other kind, or with another policy type, is an error.
/// - **Named breakers live for the process.** [`breaker`](Registry::breaker) returns
///   `&'static Breaker`: a `Copy` handle with no reference count to touch per call, which is what
///   a tower layer or a hot loop wants. The cost is stated: each distinct name looked up in a
///   registry allocates one breaker (about 1 KiB with the `metrics` feature, a few hundred bytes
///   more with a rate window) and its name (once per process), never freed, even if the
///   registry is dropped. A registry holds at most [`max_names`](RegistryBuilder::max_names)
///   names (default 1 024, so about 1 MiB at most), so names from requests cannot grow it
///   without bound: a new name past the bound is [`RegistryError::TooManyNames`]. Build one
///   registry per process; per-request keys belong in a [`Keyed`] family, which frees what it
///   evicts.
/// - **Locks.** The store's mutex guards only the map: a lookup is a hash lookup under it; calls,
///   listeners and logs run after it is released. Keep the handle instead of looking it up per
///   call.
/// - **Manual control and reconfiguration by name** ([`force_open`](Registry::force_open),
///   [`force_closed`](Registry::force_closed), [`reset`](Registry::reset),
///   [`reconfigure`](Registry::reconfigure)) act on existing names only, and are the breaker's
///   own: logged and counted like any transition.
///
/// # Examples
///
/// ```
/// use breaker_std::{Config, RateConfig, Registry, State, Window};
/// use std::time::Duration;
///
/// let rule = RateConfig::new(500, 10).validate()?; // 50 % failures, once 10 calls are in
/// let registry = Registry::builder()
///     .configure("database", Config::new().failure_threshold(5).recovery_timeout(Duration::from_secs(60)))
///     .policy("search", move || Window::<10>::count(10, rule))
///     .build()?;
/// let db = registry.breaker("database")?; // &'static Breaker: Copy, no refcount
/// assert_eq!(db.config().failure_threshold(), 5);
/// let search = registry.breaker_with_policy::<Window<10>>("search")?;
/// assert!(search.snapshot().window.is_some());
///
/// registry.force_open("database")?;
/// assert_eq!(db.state(), State::ForcedOpen);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Registry<C = CoarseClock> {
    default_config: ValidConfig,
    specs: HashMap<Box<str>, Spec>,
    clock: C,
    listeners: Listeners,
    on_evict: Option<EvictHook>,
    store: Store<&'static str, Entry>,
}

impl Registry<CoarseClock> {
    /// A registry with the core's default config (5 failures, 60 s) and consecutive failures for
    /// every name.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// assert_eq!(registry.breaker("redis").unwrap().config().failure_threshold(), 5);
    /// ```
    pub fn new() -> Self {
        Registry::builder().build().unwrap_or_else(|_| unreachable!("the default config is valid"))
    }

    /// A builder: default and per-name configs and policies, family bounds, the bound on names,
    /// clock, listeners.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Config, Registry};
    ///
    /// let registry = Registry::builder().default_config(Config::new().failure_threshold(10)).build().unwrap();
    /// assert_eq!(registry.breaker("x").unwrap().config().failure_threshold(), 10);
    /// ```
    pub fn builder() -> RegistryBuilder<CoarseClock> {
        RegistryBuilder {
            default_config: Config::new(),
            configs: Vec::new(),
            policies: Vec::new(),
            bounds: Vec::new(),
            max_names: DEFAULT_MAX_NAMES,
            clock: CoarseClock::new(),
            listeners: ListenerList::default(),
            on_evict: None,
        }
    }
}

impl Default for Registry<CoarseClock> {
    fn default() -> Self {
        Registry::new()
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> Registry<C> {
    fn config_for(&self, spec: Option<&Spec>) -> ValidConfig {
        spec.and_then(|s| s.config).unwrap_or(self.default_config)
    }

    /// The recipe of policy type `P` for `name`: the configured one, or consecutive failures.
    fn recipe_for<P: Policy + 'static>(
        &self,
        name: &str,
        spec: Option<&Spec>,
    ) -> Result<Recipe<P>, RegistryError> {
        let recipe = spec.and_then(|s| s.policy.clone()).unwrap_or_else(|| AnyRecipe::new(consecutive()));
        recipe.get::<P>().ok_or_else(|| RegistryError::PolicyMismatch {
            name: name.to_owned(),
            configured: recipe.policy_name,
            requested: type_name::<P>(),
        })
    }

    /// The one get-or-create: the entry for `name`, made by `make` if absent.
    fn entry(
        &self,
        name: &str,
        make: impl FnOnce(&'static str, Option<&Spec>) -> Result<Entry, RegistryError>,
    ) -> Result<Entry, RegistryError> {
        let made = self.store.get_or_try_insert(
            name,
            0,
            |name| {
                let spec = self.specs.get(name);
                let name = intern(name);
                Ok((name, make(name, spec)?))
            },
            &mut Vec::new(),
        );
        made.map_err(|e| match e {
            Refused::Full => RegistryError::TooManyNames { max: self.store.max() },
            Refused::Make(e) => e,
        })
    }

    /// The breaker named `name` (consecutive failures), created if needed with the name's
    /// configuration or the default.
    ///
    /// # Errors
    ///
    /// [`NameTaken`](RegistryError::NameTaken) if `name` is a family,
    /// [`PolicyMismatch`](RegistryError::PolicyMismatch) if it is configured with another
    /// policy (use [`breaker_with_policy`](Registry::breaker_with_policy)),
    /// [`TooManyNames`](RegistryError::TooManyNames) for a new name past the bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Breaker, Registry};
    ///
    /// let registry = Registry::new();
    /// let a: &'static Breaker = registry.breaker("database").unwrap();
    /// let b = registry.breaker("database").unwrap();
    /// assert!(std::ptr::eq(a, b));
    /// registry.keyed::<String>("api").unwrap();
    /// assert!(registry.breaker("api").is_err()); // a family's name
    /// ```
    pub fn breaker(&self, name: &str) -> Result<&'static Breaker<C>, RegistryError> {
        self.breaker_with_policy::<Consecutive>(name)
    }

    /// The breaker named `name` with trip policy type `P` (configured with
    /// [`policy`](RegistryBuilder::policy)), created if needed.
    ///
    /// # Errors
    ///
    /// As [`breaker`](Registry::breaker); [`PolicyMismatch`](RegistryError::PolicyMismatch)
    /// unless `name` is configured with a policy of type `P` (or `P` is [`Consecutive`] and the
    /// name has no policy); [`Config`](RegistryError::Config) if the policy recipe fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{RateConfig, Registry, State, Window};
    ///
    /// let rule = RateConfig::new(500, 4).validate().unwrap();
    /// let registry = Registry::builder().policy("search", move || Window::<4>::count(5, rule)).build().unwrap();
    /// let search = registry.breaker_with_policy::<Window<4>>("search").unwrap();
    /// for ok in [true, false, true, false] {
    ///     let _ = search.call(|| if ok { Ok(()) } else { Err("503") });
    /// }
    /// assert_eq!(search.state(), State::Open); // 50 % of 4 calls failed
    /// assert!(registry.breaker("search").is_err()); // not consecutive failures
    /// ```
    pub fn breaker_with_policy<P>(&self, name: &str) -> Result<&'static Breaker<C, P>, RegistryError>
    where
        P: Policy + Send + Sync + 'static,
    {
        let entry = self.entry(name, |name, spec| {
            if spec.is_some_and(|s| s.bounds.is_some()) {
                return Err(RegistryError::NameTaken { name: name.to_owned() });
            }
            let recipe = self.recipe_for::<P>(name, spec)?;
            let policy = recipe()?;
            let breaker = Breaker::from_parts(
                name,
                None,
                self.config_for(spec),
                self.clock.clone(),
                Arc::clone(&self.listeners),
                policy,
            );
            Ok(Entry::Breaker(Box::leak(Box::new(breaker))))
        })?;
        match entry {
            Entry::Breaker(b) => {
                b.as_any().downcast_ref::<Breaker<C, P>>().ok_or_else(|| RegistryError::PolicyMismatch {
                    name: name.to_owned(),
                    configured: b.policy_name(),
                    requested: type_name::<P>(),
                })
            }
            Entry::Family(_) => Err(RegistryError::NameTaken { name: name.to_owned() }),
        }
    }

    /// The breaker named `name` (consecutive failures) if it exists; never creates one.
    ///
    /// # Errors
    ///
    /// [`Unknown`](RegistryError::Unknown) if it does not exist; otherwise as
    /// [`breaker`](Registry::breaker).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Registry, RegistryError};
    ///
    /// let registry = Registry::new();
    /// assert_eq!(registry.get("database").unwrap_err(), RegistryError::Unknown { name: "database".into() });
    /// registry.breaker("database").unwrap();
    /// assert!(registry.get("database").is_ok());
    /// ```
    pub fn get(&self, name: &str) -> Result<&'static Breaker<C>, RegistryError> {
        match self.store.peek(name) {
            None => Err(RegistryError::Unknown { name: name.to_owned() }),
            Some(_) => self.breaker(name),
        }
    }

    /// The keyed family named `family` (consecutive failures), created if needed with the name's
    /// configuration (or the default) and bounds ([`bounds`](RegistryBuilder::bounds), else
    /// [`DEFAULT_MAX_KEYS`] keys idle after [`DEFAULT_IDLE_TIMEOUT`]).
    ///
    /// [`DEFAULT_MAX_KEYS`]: crate::keyed::DEFAULT_MAX_KEYS
    /// [`DEFAULT_IDLE_TIMEOUT`]: crate::keyed::DEFAULT_IDLE_TIMEOUT
    ///
    /// # Errors
    ///
    /// [`NameTaken`](RegistryError::NameTaken) if the name is a breaker or a family with another
    /// key type; [`PolicyMismatch`](RegistryError::PolicyMismatch) as for breakers;
    /// [`TooManyNames`](RegistryError::TooManyNames).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    /// use std::time::Duration;
    ///
    /// let registry = Registry::builder().bounds("api", 100, Duration::from_secs(300)).build().unwrap();
    /// let api = registry.keyed::<String>("api").unwrap();
    /// assert_eq!(api.max_keys(), 100);
    /// let _ = api.breaker("/users").unwrap().call(|| Ok::<_, ()>(()));
    /// assert_eq!(registry.health().families[0].breakers.len(), 1);
    /// ```
    pub fn keyed<K>(&self, family: &str) -> Result<Arc<Keyed<K, C>>, RegistryError>
    where
        K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    {
        self.keyed_with_policy::<K, Consecutive>(family)
    }

    /// The keyed family named `family` whose breakers have trip policy type `P` (one fresh policy
    /// per key, from the name's [`policy`](RegistryBuilder::policy) recipe): per-route rate
    /// windows.
    ///
    /// # Errors
    ///
    /// As [`keyed`](Registry::keyed) and [`breaker_with_policy`](Registry::breaker_with_policy).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{RateConfig, Registry, State, Window};
    ///
    /// let rule = RateConfig::new(500, 4).validate().unwrap();
    /// let registry = Registry::builder().policy("routes", move || Window::<4>::count(5, rule)).build().unwrap();
    /// let routes = registry.keyed_with_policy::<String, Window<4>>("routes").unwrap();
    /// let users = routes.breaker("/users").unwrap();
    /// for ok in [true, false, true, false] {
    ///     let _ = users.call(|| if ok { Ok(()) } else { Err("503") });
    /// }
    /// assert_eq!(users.state(), State::Open);
    /// assert_eq!(routes.breaker("/orders").unwrap().state(), State::Closed); // its own window
    /// ```
    pub fn keyed_with_policy<K, P>(&self, family: &str) -> Result<Arc<Keyed<K, C, P>>, RegistryError>
    where
        K: Hash + Eq + Clone + Display + Send + Sync + 'static,
        P: Policy + Send + Sync + 'static,
    {
        let entry = self.entry(family, |name, spec| {
            let (max_keys, idle_timeout) =
                spec.and_then(|s| s.bounds).unwrap_or((DEFAULT_MAX_KEYS, DEFAULT_IDLE_TIMEOUT));
            let keyed = Keyed::<K, C, P>::from_parts(
                name,
                self.config_for(spec),
                self.recipe_for::<P>(name, spec)?,
                self.clock.clone(),
                Arc::clone(&self.listeners),
                max_keys,
                idle_timeout,
                self.on_evict.clone(),
            );
            Ok(Entry::Family(Arc::new(keyed)))
        })?;
        match entry {
            Entry::Family(f) => {
                let configured = f.policy_name();
                f.into_any().downcast::<Keyed<K, C, P>>().map_err(|_| {
                    if configured == type_name::<P>() {
                        RegistryError::NameTaken { name: family.to_owned() }
                    } else {
                        RegistryError::PolicyMismatch {
                            name: family.to_owned(),
                            configured,
                            requested: type_name::<P>(),
                        }
                    }
                })
            }
            Entry::Breaker(_) => Err(RegistryError::NameTaken { name: family.to_owned() }),
        }
    }

    /// Health of every named breaker and every family, each sorted by name; in the
    /// `/health/detailed` shape when serialized (feature `serde`, see [`RegistryHealth`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Registry, State};
    ///
    /// let registry = Registry::new();
    /// registry.breaker("database").unwrap().force_open();
    /// assert_eq!(registry.health().breakers[0].state, State::ForcedOpen);
    /// ```
    pub fn health(&self) -> RegistryHealth {
        let mut entries = self.store.entries();
        entries.sort_unstable_by_key(|(name, _)| *name);
        let mut health = RegistryHealth::default();
        for (_, entry) in entries {
            match entry {
                Entry::Breaker(b) => health.breakers.push(b.health()),
                Entry::Family(f) => health.families.push(f.health()),
            }
        }
        health
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
    /// registry.breaker("database").unwrap();
    /// registry.refresh_metrics(); // in the `/metrics` handler, before rendering
    /// ```
    #[cfg(feature = "metrics")]
    pub fn refresh_metrics(&self) {
        for entry in self.store.values() {
            match entry {
                Entry::Breaker(b) => b.refresh_metrics(),
                Entry::Family(f) => f.refresh_metrics(),
            }
        }
    }

    fn named(&self, name: &str) -> Result<&'static dyn Named, RegistryError> {
        match self.store.peek(name) {
            Some(Entry::Breaker(b)) => Ok(b),
            Some(Entry::Family(_)) => Err(RegistryError::NameTaken { name: name.to_owned() }),
            None => Err(RegistryError::Unknown { name: name.to_owned() }),
        }
    }

    /// Forces the breaker named `name` open (see [`Breaker::force_open`]).
    ///
    /// # Errors
    ///
    /// [`Unknown`](RegistryError::Unknown) if no breaker has this name (none is created),
    /// [`NameTaken`](RegistryError::NameTaken) for a family's name (control its keys through
    /// [`Keyed::get`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    ///
    /// let registry = Registry::new();
    /// let db = registry.breaker("database").unwrap();
    /// registry.force_open("database").unwrap();
    /// assert!(db.call(|| Ok::<_, ()>(())).is_err());
    /// ```
    pub fn force_open(&self, name: &str) -> Result<(), RegistryError> {
        self.named(name).map(|b| b.force_open())
    }

    /// Forces the breaker named `name` closed (see [`Breaker::force_closed`]).
    ///
    /// # Errors
    ///
    /// As [`force_open`](Registry::force_open).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Registry, State};
    ///
    /// let registry = Registry::new();
    /// let db = registry.breaker("database").unwrap();
    /// registry.force_closed("database").unwrap();
    /// assert_eq!(db.state(), State::ForcedClosed);
    /// ```
    pub fn force_closed(&self, name: &str) -> Result<(), RegistryError> {
        self.named(name).map(|b| b.force_closed())
    }

    /// Resets the breaker named `name` (see [`Breaker::reset`]).
    ///
    /// # Errors
    ///
    /// As [`force_open`](Registry::force_open).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Registry, State};
    ///
    /// let registry = Registry::new();
    /// let db = registry.breaker("database").unwrap();
    /// db.force_open();
    /// registry.reset("database").unwrap();
    /// assert_eq!(db.state(), State::Closed);
    /// ```
    pub fn reset(&self, name: &str) -> Result<(), RegistryError> {
        self.named(name).map(|b| b.reset())
    }

    /// Replaces the configuration of the breaker or family named `name`, keeping state (see
    /// [`Breaker::reconfigure`]); for a family, every live key's breaker and the keys created
    /// from now on ([`Keyed::reconfigure`]). The trip policy is not part of it.
    ///
    /// # Errors
    ///
    /// [`Unknown`](RegistryError::Unknown) if nothing has this name yet (a configured name not
    /// yet looked up included: nothing is created), [`Config`](RegistryError::Config) for an
    /// invalid config (the old one stays), [`Busy`](RegistryError::Busy) while another change
    /// of the same breaker is being written (retry).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Config, Registry, RegistryError};
    ///
    /// let registry = Registry::new();
    /// let db = registry.breaker("database").unwrap();
    /// registry.reconfigure("database", Config::new().failure_threshold(2)).unwrap();
    /// assert_eq!(db.config().failure_threshold(), 2);
    /// let err = registry.reconfigure("database", Config::new().failure_threshold(0)).unwrap_err();
    /// assert!(matches!(err, RegistryError::Config(_)));
    /// assert_eq!(db.config().failure_threshold(), 2);
    /// ```
    pub fn reconfigure(&self, name: &str, config: Config) -> Result<(), RegistryError> {
        match self.store.peek(name) {
            Some(Entry::Breaker(b)) => {
                b.reconfigure(config).map(drop).map_err(|e| RegistryError::reconfigure(name, e))
            }
            Some(Entry::Family(f)) => f.reconfigure(config),
            None => Err(RegistryError::Unknown { name: name.to_owned() }),
        }
    }
}

impl<C: Clock> fmt::Debug for Registry<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&'static str> = self.store.entries().into_iter().map(|(n, _)| n).collect();
        names.sort_unstable();
        f.debug_struct("Registry")
            .field("default_config", &self.default_config)
            .field("names", &names)
            .field("max_names", &self.store.max())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Registry`].
///
/// Each setting is given once per name: a second config, policy or bounds for one name is
/// [`RegistryError::Duplicate`] at [`build`](RegistryBuilder::build), never a silent
/// replacement, and the order of the calls does not matter.
///
/// # Examples
///
/// ```
/// use breaker_std::{Config, ManualClock, RateConfig, Registry, Window};
/// use std::time::Duration;
///
/// static CLOCK: ManualClock = ManualClock::new();
/// let rule = RateConfig::new(250, 20).validate().unwrap();
/// let registry = Registry::builder()
///     .default_config(Config::new().recovery_timeout(Duration::from_secs(30)))
///     .configure("database", Config::new().failure_threshold(5).backoff(Duration::from_secs(300)))
///     .policy("routes", move || Window::<10>::time(Duration::from_secs(1), rule))
///     .bounds("routes", 256, Duration::from_secs(600))
///     .max_names(64)
///     .clock(&CLOCK)
///     .build()
///     .unwrap();
/// # let _ = registry;
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct RegistryBuilder<C = CoarseClock> {
    default_config: Config,
    configs: Vec<(String, Config)>,
    policies: Vec<(String, AnyRecipe)>,
    bounds: Vec<(String, usize, Duration)>,
    max_names: usize,
    clock: C,
    listeners: ListenerList,
    on_evict: Option<EvictHook>,
}

impl<C: fmt::Debug> fmt::Debug for RegistryBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("default_config", &self.default_config)
            .field("configs", &self.configs)
            .field("policies", &self.policies)
            .field("bounds", &self.bounds)
            .field("max_names", &self.max_names)
            .field("clock", &self.clock)
            .field("listeners", &self.listeners)
            .finish_non_exhaustive()
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> RegistryBuilder<C> {
    /// The configuration for names without their own (every [`Config`] knob: thresholds,
    /// timeouts, backoff, jitter, probe timeout, gradual recovery). Default: [`Config::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Config, Registry};
    ///
    /// let registry = Registry::builder().default_config(Config::new().failure_threshold(3)).build().unwrap();
    /// assert_eq!(registry.breaker("any").unwrap().config().failure_threshold(), 3);
    /// ```
    pub fn default_config(mut self, config: Config) -> Self {
        self.default_config = config;
        self
    }

    /// The configuration for `name` (a breaker, or each key of a family).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Config, Registry};
    /// use std::time::Duration;
    ///
    /// let registry = Registry::builder()
    ///     .configure("redis", Config::new().failure_threshold(20).probe_timeout(Duration::from_secs(5)))
    ///     .build()
    ///     .unwrap();
    /// let redis = registry.breaker("redis").unwrap();
    /// assert_eq!(redis.config().probe_timeout(), Some(Duration::from_secs(5)));
    /// ```
    pub fn configure(mut self, name: impl Into<String>, config: Config) -> Self {
        self.configs.push((name.into(), config));
        self
    }

    /// The trip policy of `name`'s breakers: `recipe` is called once per breaker (a named
    /// breaker, or each key of a family) and must return a fresh policy, such as a
    /// [`Window`](crate::Window); it is called once at [`build`](RegistryBuilder::build)
    /// to check it. Look the name up with [`breaker_with_policy`](Registry::breaker_with_policy)
    /// or [`keyed_with_policy`](Registry::keyed_with_policy) and the recipe's policy type. The
    /// recipe runs under the registry's (or the family's) lock: it must not use the registry.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{RateConfig, Registry, Window};
    ///
    /// let rule = RateConfig::new(500, 20).validate().unwrap();
    /// let registry = Registry::builder().policy("api", move || Window::<10>::count(10, rule)).build().unwrap();
    /// assert!(registry.breaker_with_policy::<Window<10>>("api").is_ok());
    /// ```
    pub fn policy<P, F>(mut self, name: impl Into<String>, recipe: F) -> Self
    where
        P: Policy + Send + Sync + 'static,
        F: Fn() -> Result<P, ConfigError> + Send + Sync + 'static,
    {
        self.policies.push((name.into(), AnyRecipe::new::<P>(Arc::new(recipe))));
        self
    }

    /// Makes `name` a keyed family of at most `max_keys` keys (at least 1), a key's breaker idle
    /// after `idle_timeout` without calls (see [`Keyed`](crate::Keyed#eviction)). Defaults:
    /// [`DEFAULT_MAX_KEYS`], [`DEFAULT_IDLE_TIMEOUT`].
    ///
    /// [`DEFAULT_MAX_KEYS`]: crate::keyed::DEFAULT_MAX_KEYS
    /// [`DEFAULT_IDLE_TIMEOUT`]: crate::keyed::DEFAULT_IDLE_TIMEOUT
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Registry;
    /// use std::time::Duration;
    ///
    /// let registry = Registry::builder().bounds("tenants", 10_000, Duration::from_secs(60)).build().unwrap();
    /// assert_eq!(registry.keyed::<u64>("tenants").unwrap().max_keys(), 10_000);
    /// assert!(registry.breaker("tenants").is_err()); // a family's name
    /// ```
    pub fn bounds(mut self, name: impl Into<String>, max_keys: usize, idle_timeout: Duration) -> Self {
        self.bounds.push((name.into(), max_keys, idle_timeout));
        self
    }

    /// At most `n` names (breakers and families, at least 1); default 1 024. A new name past it
    /// is [`RegistryError::TooManyNames`]. This bounds what names from requests can allocate.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Registry, RegistryError};
    ///
    /// let registry = Registry::builder().max_names(2).build().unwrap();
    /// registry.breaker("database").unwrap();
    /// registry.breaker("kafka").unwrap();
    /// assert_eq!(registry.breaker("redis").unwrap_err(), RegistryError::TooManyNames { max: 2 });
    /// assert!(registry.breaker("kafka").is_ok()); // existing names still work
    /// ```
    pub fn max_names(mut self, n: usize) -> Self {
        self.max_names = n;
        self
    }

    /// Uses `clock` for every breaker and for the families' idleness.
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
            policies: self.policies,
            bounds: self.bounds,
            max_names: self.max_names,
            clock,
            listeners: self.listeners,
            on_evict: self.on_evict,
        }
    }

    /// Calls `f` with the name and key of every breaker a family of this registry drops
    /// (evicted, or removed with [`Keyed::remove`](crate::Keyed::remove)), after the family's
    /// lock is released: the place to remove the key's metrics series from an exporter.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Registry, Source};
    ///
    /// let registry = Registry::builder()
    ///     .on_evict(|s: &Source<'_>| eprintln!("{} forgets {:?}", s.name(), s.key()))
    ///     .build()
    ///     .unwrap();
    /// # let _ = registry;
    /// ```
    pub fn on_evict(mut self, f: impl Fn(&Source<'_>) + Send + Sync + 'static) -> Self {
        self.on_evict = Some(Arc::new(f));
        self
    }

    listener_methods!("breaker_std::Registry::builder()");

    /// Validates every configuration, policy recipe and bound, and builds the registry.
    ///
    /// # Errors
    ///
    /// [`Config`](RegistryError::Config) for an invalid config or policy, or a bound of 0;
    /// [`Duplicate`](RegistryError::Duplicate) for a setting given twice for one name.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Config, ConfigError, Registry, RegistryError};
    ///
    /// let err = Registry::builder().configure("db", Config::new().failure_threshold(0)).build().unwrap_err();
    /// assert_eq!(err, RegistryError::Config(ConfigError::Zero { field: "failure_threshold" }));
    /// let err = Registry::builder().configure("db", Config::new()).configure("db", Config::new()).build().unwrap_err();
    /// assert!(matches!(err, RegistryError::Duplicate { setting: "config", .. }));
    /// ```
    pub fn build(self) -> Result<Registry<C>, RegistryError> {
        fn slot<'a>(
            specs: &'a mut HashMap<Box<str>, Spec>,
            name: String,
            setting: &'static str,
            taken: impl Fn(&Spec) -> bool,
        ) -> Result<&'a mut Spec, RegistryError> {
            let spec = specs.entry(name.clone().into_boxed_str()).or_default();
            if taken(spec) {
                return Err(RegistryError::Duplicate { name, setting });
            }
            Ok(spec)
        }
        if self.max_names == 0 {
            return Err(ConfigError::Zero { field: "max_names" }.into());
        }
        let mut specs = HashMap::new();
        for (name, config) in self.configs {
            slot(&mut specs, name, "config", |s| s.config.is_some())?.config = Some(config.validate()?);
        }
        for (name, recipe) in self.policies {
            slot(&mut specs, name, "policy", |s| s.policy.is_some())?.policy = Some(recipe);
        }
        for (name, max_keys, idle_timeout) in self.bounds {
            if max_keys == 0 {
                return Err(ConfigError::Zero { field: "max_keys" }.into());
            }
            slot(&mut specs, name, "bounds", |s| s.bounds.is_some())?.bounds = Some((max_keys, idle_timeout));
        }
        let registry = Registry {
            default_config: self.default_config.validate()?,
            specs,
            clock: self.clock,
            listeners: self.listeners.freeze(),
            on_evict: self.on_evict,
            store: Store::new(self.max_names, None),
        };
        for recipe in registry.specs.values().filter_map(|s| s.policy.as_ref()) {
            (recipe.check)()?;
        }
        Ok(registry)
    }
}
