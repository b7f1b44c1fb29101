//! [`Hooks`]: the core observer this adapter plugs into every breaker. It turns the core's
//! events into `tracing` logs, listener calls and (with the `metrics` feature) metrics. It makes
//! no decision: the core has already made it, and updated its word, when a hook runs.

use breaker_core::{CircuitOpen, Observer, Transition, Verdict};

use crate::listener::{self, Listeners, Source};
use crate::log;

/// The observer behind every [`Breaker`](crate::Breaker) of this crate: logs, listeners and
/// metrics. It is the `Observer` type of the core breaker inside (see
/// [`AsBreaker`](crate::AsBreaker)); it has no public constructor or methods.
pub struct Hooks {
    pub(crate) key: Option<Box<str>>,
    pub(crate) listeners: Listeners,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: crate::metrics::Metrics,
}

impl Hooks {
    #[inline]
    fn source(&self, name: &'static str) -> Source<'_> {
        Source::new(name, self.key.as_deref())
    }

    /// The key label, for a breaker of a keyed family.
    pub(crate) fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

impl core::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hooks")
            .field("key", &self.key)
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

// The per-call hooks (outcomes and rejections) are split in two: an inlined part that is a
// counter bump and an emptiness check, and an out-of-line part that calls listeners (with its
// `catch_unwind` and `tracing` call), so the core's admission and settle functions stay as small
// as the hooks can make them. Transitions are entirely out of line.
impl Observer for Hooks {
    #[inline(never)]
    fn on_transition(&self, t: &Transition) {
        log::transition(t, self.key());
        #[cfg(feature = "metrics")]
        self.metrics.transition(t.from, t.to, t.generation);
        let source = self.source(t.name);
        listener::each(&self.listeners, &source, |l| l.on_transition(&source, t));
    }

    // Inlined like `on_outcome`: an emptiness check (and a counter bump), so a rejection
    // through this adapter costs what the core's does; the listeners are out of line.
    #[inline]
    fn on_rejected(&self, rejection: &CircuitOpen) {
        #[cfg(feature = "metrics")]
        self.metrics.rejected();
        if !self.listeners.is_empty() {
            self.notify_rejected(rejection);
        }
    }

    #[inline]
    fn on_outcome(&self, name: &'static str, verdict: Verdict) {
        #[cfg(feature = "metrics")]
        self.metrics.outcome(verdict);
        if !self.listeners.is_empty() {
            self.notify_outcome(name, verdict);
        }
    }
}

impl Hooks {
    #[cold]
    #[inline(never)]
    fn notify_rejected(&self, rejection: &CircuitOpen) {
        let source = self.source(rejection.name());
        listener::each(&self.listeners, &source, |l| l.on_rejected(&source, rejection));
    }

    #[inline(never)]
    fn notify_outcome(&self, name: &'static str, verdict: Verdict) {
        let source = self.source(name);
        listener::each(&self.listeners, &source, |l| match verdict {
            Verdict::Success => l.on_success(&source),
            Verdict::Failure => l.on_failure(&source),
            _ => l.on_ignored(&source),
        });
    }
}
