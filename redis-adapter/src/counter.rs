//! [`FailureCounter`]: the local failures of the breakers shared in [`Mode::Counts`]
//! (crate::Mode::Counts), counted by a listener and taken by the fleet's task in batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use breaker_std::{Listener, Source};

/// Counts the failures of the named breakers for [`Mode::Counts`](crate::Mode::Counts): install
/// it as a listener on the breakers' registry (or builder), and give it to
/// [`FleetBuilder::counter`](crate::FleetBuilder::counter). Per call it costs the listener's
/// virtual call; per failure, a lookup among the names and one relaxed atomic add. Nothing else
/// happens on the call path: the fleet's task takes the counts and sends them to Redis in
/// batches.
///
/// # Examples
///
/// ```
/// use breaker_redis::FailureCounter;
///
/// let counter = FailureCounter::new(&["database"]);
/// let registry = breaker_tokio::registry().listener(counter.clone()).build().unwrap();
/// let db = registry.breaker("database").unwrap();
/// let _ = db.call(|| Err::<(), _>("refused"));
/// let _ = db.call(|| Ok::<_, ()>(()));
/// assert_eq!(counter.pending("database"), 1);
/// ```
#[derive(Clone, Debug)]
pub struct FailureCounter {
    counts: Arc<[(&'static str, AtomicU64)]>,
}

impl FailureCounter {
    /// A counter for the breakers named `names` (failures of other breakers are not counted).
    ///
    /// # Examples
    ///
    /// See [`FailureCounter`].
    pub fn new(names: &[&'static str]) -> FailureCounter {
        FailureCounter { counts: names.iter().map(|n| (*n, AtomicU64::new(0))).collect() }
    }

    /// Failures of `name` counted and not yet taken by the fleet.
    ///
    /// # Examples
    ///
    /// See [`FailureCounter`].
    pub fn pending(&self, name: &str) -> u64 {
        self.slot(name).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn slot(&self, name: &str) -> Option<&AtomicU64> {
        self.counts.iter().find(|(n, _)| *n == name).map(|(_, c)| c)
    }

    /// Takes the failures counted for `name` since the last take.
    pub(crate) fn take(&self, name: &str) -> u64 {
        self.slot(name).map_or(0, |c| c.swap(0, Ordering::Relaxed))
    }

    pub(crate) fn counts(&self, name: &str) -> bool {
        self.slot(name).is_some()
    }
}

impl Listener for FailureCounter {
    fn on_failure(&self, source: &Source<'_>) {
        if source.key().is_none() {
            if let Some(c) = self.slot(source.name()) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
