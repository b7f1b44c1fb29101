//! Health data: [`Health`] for one breaker, [`FamilyHealth`] for a keyed family,
//! [`RegistryHealth`] for a registry (`Serialize` + `Deserialize` with the feature `serde`). The
//! one table of the JSON fields, with examples, is in the crate docs, "Health" (`lib.rs`): keep
//! it in step with the serde attributes below.

use core::time::Duration;
use std::borrow::Cow;

use breaker_core::{Snapshot, State, WindowStats};

/// One breaker's health: the core's [`Snapshot`] plus the recovery timeout and the key.
///
/// # Examples
///
/// ```
/// use breaker_std::State;
/// use breaker_std::Breaker;
///
/// let db = Breaker::builder("database").build().unwrap();
/// let _ = db.call(|| Err::<(), _>("timeout"));
/// let h = db.health();
/// assert_eq!((h.state, h.failure_count, h.failure_threshold), (State::Closed, 1, 5));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Health {
    /// The breaker's name (the key of its entry when serialized, not a field; empty after
    /// deserializing one breaker's health on its own).
    pub name: Cow<'static, str>,
    /// The key, for a breaker of a keyed family (the key of its entry, not a field).
    pub key: Option<String>,
    /// `circuit_breaker`: the state, as [`State::as_str`] spells it (`closed`, `open`,
    /// `half_open`, `forced_open`, `forced_closed`).
    pub state: State,
    /// `failure_count`: consecutive failures counted in CLOSED.
    pub failure_count: u32,
    /// `failure_threshold`.
    pub failure_threshold: u32,
    /// `recovery_timeout_seconds`.
    pub recovery_timeout: Duration,
    /// `retry_after_seconds`: while OPEN, the time until a probe is admitted.
    pub retry_after: Option<Duration>,
    /// `probes_in_flight`: half-open probes admitted and still running.
    pub probes_in_flight: u32,
    /// `probe_successes`: successful probes in this half-open cycle.
    pub probe_successes: u32,
    /// `backoff_level`: failed recoveries in a row (OPEN and HALF_OPEN; 0 otherwise).
    pub backoff_level: u32,
    /// `recovering`: during gradual recovery, the share of calls admitted now (0.0–1.0).
    pub recovering: Option<f32>,
    /// `window`: a rate policy's figures while CLOSED (`calls`, `failures`, `slow`,
    /// `failure_rate`, `slow_rate`, `trip_rate`, `baseline`); `null` for consecutive failures.
    pub window: Option<WindowStats>,
    /// `generation`: the core's cycle counter (changes on every transition; wraps).
    pub generation: u32,
}

impl Health {
    pub(crate) fn new(s: Snapshot, recovery_timeout: Duration, key: Option<&str>) -> Self {
        Health {
            name: Cow::Borrowed(s.name),
            key: key.map(str::to_owned),
            state: s.state,
            failure_count: s.failure_count,
            failure_threshold: s.failure_threshold,
            recovery_timeout,
            retry_after: s.retry_after,
            probes_in_flight: s.probes_in_flight,
            probe_successes: s.probe_successes,
            backoff_level: s.backoff_level,
            recovering: s.recovering,
            window: s.window,
            generation: s.generation,
        }
    }
}

/// The health of every breaker in a [`Registry`](crate::Registry): named breakers, and keyed
/// families with their live keys, each sorted by name.
///
/// # Examples
///
/// ```
/// use breaker_std::Registry;
///
/// let registry = Registry::new();
/// registry.breaker("kafka").unwrap();
/// registry.breaker("database").unwrap();
/// let health = registry.health();
/// let names: Vec<&str> = health.breakers.iter().map(|h| &*h.name).collect();
/// assert_eq!(names, ["database", "kafka"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RegistryHealth {
    /// The named breakers, by name.
    pub breakers: Vec<Health>,
    /// The keyed families, by name.
    pub families: Vec<FamilyHealth>,
}

/// The health of a [`Keyed`](crate::Keyed) family: one [`Health`] per live key, sorted by key.
///
/// # Examples
///
/// ```
/// use breaker_std::Keyed;
///
/// let api = Keyed::<String>::builder("api").build().unwrap();
/// let _ = api.breaker("/users").unwrap().call(|| Ok::<_, ()>(()));
/// let h = api.health();
/// assert_eq!((&*h.name, h.breakers.len()), ("api", 1));
/// assert_eq!(h.breakers[0].key.as_deref(), Some("/users"));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct FamilyHealth {
    /// The family's name (the key of its entry when serialized; empty after deserializing one
    /// family's health on its own).
    pub name: Cow<'static, str>,
    /// One entry per key.
    pub breakers: Vec<Health>,
}

#[cfg(feature = "serde")]
mod ser {
    //! The `/health/detailed` shape, both ways. A name or key is the key of its entry, so one
    //! [`Health`] or [`FamilyHealth`] deserialized on its own has an empty name.

    use core::fmt;
    use core::time::Duration;
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    use breaker_core::{State, WindowStats};
    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};
    use serde::{Deserialize, Serialize};

    use super::{FamilyHealth, Health, RegistryHealth};

    /// A state by its name (`State::as_str`).
    fn state_named(name: &str) -> Option<State> {
        [State::Closed, State::Open, State::HalfOpen, State::ForcedOpen, State::ForcedClosed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// A rate window's figures.
    #[derive(Serialize, Deserialize)]
    struct Window {
        calls: u32,
        failures: u32,
        slow: u32,
        failure_rate: f32,
        slow_rate: f32,
        trip_rate: f32,
        baseline: Option<f32>,
    }

    impl From<&WindowStats> for Window {
        fn from(w: &WindowStats) -> Self {
            Window {
                calls: w.calls,
                failures: w.failures,
                slow: w.slow,
                failure_rate: w.failure_rate,
                slow_rate: w.slow_rate,
                trip_rate: w.trip_rate,
                baseline: w.baseline,
            }
        }
    }

    impl From<Window> for WindowStats {
        fn from(w: Window) -> Self {
            let mut stats = WindowStats::default();
            stats.calls = w.calls;
            stats.failures = w.failures;
            stats.slow = w.slow;
            stats.failure_rate = w.failure_rate;
            stats.slow_rate = w.slow_rate;
            stats.trip_rate = w.trip_rate;
            stats.baseline = w.baseline;
            stats
        }
    }

    /// One breaker's entry, field by field.
    #[derive(Serialize, Deserialize)]
    struct Entry<'a> {
        circuit_breaker: Cow<'a, str>,
        failure_count: u32,
        failure_threshold: u32,
        recovery_timeout_seconds: f64,
        retry_after_seconds: Option<f64>,
        probes_in_flight: u32,
        probe_successes: u32,
        backoff_level: u32,
        recovering: Option<f32>,
        window: Option<Window>,
        generation: u32,
    }

    fn seconds<E: de::Error>(field: &'static str, s: f64) -> Result<Duration, E> {
        Duration::try_from_secs_f64(s).map_err(|_| E::custom(format_args!("{field}: {s} is not a duration")))
    }

    impl Serialize for Health {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            Entry {
                circuit_breaker: Cow::Borrowed(self.state.as_str()),
                failure_count: self.failure_count,
                failure_threshold: self.failure_threshold,
                recovery_timeout_seconds: self.recovery_timeout.as_secs_f64(),
                retry_after_seconds: self.retry_after.map(|d| d.as_secs_f64()),
                probes_in_flight: self.probes_in_flight,
                probe_successes: self.probe_successes,
                backoff_level: self.backoff_level,
                recovering: self.recovering,
                window: self.window.as_ref().map(Window::from),
                generation: self.generation,
            }
            .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for Health {
        /// One breaker's entry; the name is empty and the key `None` (they are the entry's key).
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let e = Entry::deserialize(deserializer)?;
            let state = state_named(&e.circuit_breaker).ok_or_else(|| {
                de::Error::custom(format_args!("circuit_breaker: unknown state '{}'", e.circuit_breaker))
            })?;
            Ok(Health {
                name: Cow::Borrowed(""),
                key: None,
                state,
                failure_count: e.failure_count,
                failure_threshold: e.failure_threshold,
                recovery_timeout: seconds("recovery_timeout_seconds", e.recovery_timeout_seconds)?,
                retry_after: e.retry_after_seconds.map(|s| seconds("retry_after_seconds", s)).transpose()?,
                probes_in_flight: e.probes_in_flight,
                probe_successes: e.probe_successes,
                backoff_level: e.backoff_level,
                recovering: e.recovering,
                window: e.window.map(WindowStats::from),
                generation: e.generation,
            })
        }
    }

    impl Serialize for FamilyHealth {
        /// An object with one entry per key.
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut m = serializer.serialize_map(Some(self.breakers.len()))?;
            for h in &self.breakers {
                m.serialize_entry(h.key.as_deref().unwrap_or(""), h)?;
            }
            m.end()
        }
    }

    /// Entries of one family, in key order, each with its key filled in.
    fn family(name: Cow<'static, str>, keys: BTreeMap<String, Health>) -> FamilyHealth {
        let breakers = keys
            .into_iter()
            .map(|(key, mut h)| {
                h.name = name.clone();
                h.key = Some(key);
                h
            })
            .collect();
        FamilyHealth { name, breakers }
    }

    impl<'de> Deserialize<'de> for FamilyHealth {
        /// An object with one entry per key; the family's name is empty (it is the entry's key).
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            Ok(family(Cow::Borrowed(""), BTreeMap::deserialize(deserializer)?))
        }
    }

    impl Serialize for RegistryHealth {
        /// An object with one entry per named breaker and per family.
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut m = serializer.serialize_map(Some(self.breakers.len() + self.families.len()))?;
            for h in &self.breakers {
                m.serialize_entry(&*h.name, h)?;
            }
            for f in &self.families {
                m.serialize_entry(&*f.name, f)?;
            }
            m.end()
        }
    }

    /// A registry entry: a breaker's object (it has `circuit_breaker`), or a family's.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Named {
        Breaker(Health),
        Family(BTreeMap<String, Health>),
    }

    impl<'de> Deserialize<'de> for RegistryHealth {
        /// One entry per name: an object with `circuit_breaker` is a breaker, any other object
        /// a family; each sorted by name.
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Names;
            impl<'de> Visitor<'de> for Names {
                type Value = RegistryHealth;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object of breakers and families by name")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RegistryHealth, A::Error> {
                    let mut entries = BTreeMap::new();
                    while let Some((name, entry)) = map.next_entry::<String, Named>()? {
                        entries.insert(name, entry);
                    }
                    let mut health = RegistryHealth::default();
                    for (name, entry) in entries {
                        match entry {
                            Named::Breaker(mut h) => {
                                h.name = Cow::Owned(name);
                                health.breakers.push(h);
                            }
                            Named::Family(keys) => health.families.push(family(Cow::Owned(name), keys)),
                        }
                    }
                    Ok(health)
                }
            }
            deserializer.deserialize_map(Names)
        }
    }
}
