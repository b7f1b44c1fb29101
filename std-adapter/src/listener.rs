//! Listeners: user callbacks for the breaker's events.
//!
//! A [`Listener`] sees every transition, rejection and call outcome of the breakers it is
//! attached to. Listeners are fixed when a breaker (or a [`Registry`](crate::Registry) or
//! [`Keyed`](crate::Keyed) family) is built and kept in an immutable shared slice, so calling
//! them takes no lock, and they are always called after the breaker's state word has been
//! updated, never while anything is locked.
//!
//! Each event reaches each listener exactly once, on the thread that caused it. A listener that
//! panics is caught (`catch_unwind`): the panic is logged with `tracing` at WARN, the remaining
//! listeners still run, and the breaker is unaffected (its state was already updated).

use core::panic::AssertUnwindSafe;
use std::panic::catch_unwind;
use std::sync::Arc;

use breaker_core::{CircuitOpen, Transition};

/// Which breaker an event comes from: its name and, for a [`Keyed`](crate::Keyed) family, the
/// key it was created for (rendered with `Display`).
///
/// # Examples
///
/// ```
/// use breaker_std::{Breaker, Source};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let db = Breaker::builder("database")
///     .on_success(move |s: &Source<'_>| log.lock().unwrap().push((s.name(), s.key().map(str::to_owned))))
///     .build()
///     .unwrap();
/// db.call(|| Ok::<_, ()>(())).unwrap();
/// assert_eq!(*seen.lock().unwrap(), [("database", None)]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source<'a> {
    name: &'static str,
    key: Option<&'a str>,
}

impl<'a> Source<'a> {
    pub(crate) fn new(name: &'static str, key: Option<&'a str>) -> Self {
        Source { name, key }
    }

    /// The breaker's name (the family name for a keyed breaker).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Breaker, Source};
    ///
    /// let b = Breaker::builder("kafka")
    ///     .on_failure(|s: &Source<'_>| assert_eq!(s.name(), "kafka"))
    ///     .build()
    ///     .unwrap();
    /// let _ = b.call(|| Err::<(), _>("down"));
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The key, for a breaker of a [`Keyed`](crate::Keyed) family.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::{Keyed, Source};
    ///
    /// let routes = Keyed::<String>::builder("api")
    ///     .on_failure(|s: &Source<'_>| assert_eq!(s.key(), Some("/users")))
    ///     .build()
    ///     .unwrap();
    /// let _ = routes.breaker("/users").unwrap().call(|| Err::<(), _>("503"));
    /// ```
    pub fn key(&self) -> Option<&'a str> {
        self.key
    }
}

/// Receives a breaker's events. Every method has an empty default; implement the ones you need.
///
/// Methods are called exactly once per event, after the breaker's state has been updated, with
/// no lock held. Keep them quick: they run on the caller's thread, inside the call.
///
/// # Examples
///
/// ```
/// use breaker_std::{Breaker, Listener, Source};
/// use breaker_std::{State, Transition};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// #[derive(Clone, Default)]
/// struct Openings(Arc<AtomicU32>);
/// impl Listener for Openings {
///     fn on_transition(&self, _: &Source<'_>, t: &Transition) {
///         if t.to == State::Open {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let openings = Openings::default();
/// let db = Breaker::builder("database")
///     .failure_threshold(1)
///     .listener(openings.clone())
///     .build()
///     .unwrap();
/// let _ = db.call(|| Err::<(), _>("connection refused"));
/// assert_eq!(openings.0.load(Ordering::Relaxed), 1);
/// ```
pub trait Listener: Send + Sync + 'static {
    /// The breaker changed state (including manual control).
    fn on_transition(&self, source: &Source<'_>, transition: &Transition) {
        let _ = (source, transition);
    }

    /// A call was rejected without running.
    fn on_rejected(&self, source: &Source<'_>, rejection: &CircuitOpen) {
        let _ = (source, rejection);
    }

    /// An admitted call succeeded.
    fn on_success(&self, source: &Source<'_>) {
        let _ = source;
    }

    /// An admitted call failed (including a panic inside the protected call).
    fn on_failure(&self, source: &Source<'_>) {
        let _ = source;
    }

    /// An admitted call ended counting as neither (an error the classifier did not count, or
    /// a permit dropped without a verdict).
    fn on_ignored(&self, source: &Source<'_>) {
        let _ = source;
    }
}

/// The listeners of one breaker or family: fixed at build time, shared, never locked.
pub(crate) type Listeners = Arc<[Box<dyn Listener>]>;

/// Calls `f` on every listener, catching panics one listener at a time.
#[inline]
pub(crate) fn each(listeners: &[Box<dyn Listener>], source: &Source<'_>, f: impl Fn(&dyn Listener)) {
    for l in listeners {
        if catch_unwind(AssertUnwindSafe(|| f(&**l))).is_err() {
            tracing::warn!(
                target: crate::LOG_TARGET,
                circuit_breaker = source.name,
                key = source.key,
                "Circuit breaker '{}' listener panicked; the panic was caught",
                source.name
            );
        }
    }
}

macro_rules! closure_listener {
    ($(#[$doc:meta])* $name:ident, $method:ident, ($($arg:ident: $ty:ty),*)) => {
        $(#[$doc])*
        pub(crate) struct $name<F>(pub(crate) F);
        impl<F> Listener for $name<F>
        where
            F: Fn(&Source<'_>, $($ty),*) + Send + Sync + 'static,
        {
            fn $method(&self, source: &Source<'_>, $($arg: $ty),*) {
                (self.0)(source, $($arg),*)
            }
        }
    };
}

closure_listener!(
    /// A closure called on transitions.
    OnTransition, on_transition, (t: &Transition)
);
closure_listener!(
    /// A closure called on rejections.
    OnRejected, on_rejected, (r: &CircuitOpen)
);
closure_listener!(
    /// A closure called on successes.
    OnSuccess, on_success, ()
);
closure_listener!(
    /// A closure called on failures.
    OnFailure, on_failure, ()
);
closure_listener!(
    /// A closure called on ignored outcomes.
    OnIgnored, on_ignored, ()
);

/// Collects listeners for a builder.
#[derive(Default)]
pub(crate) struct ListenerList(pub(crate) Vec<Box<dyn Listener>>);

impl ListenerList {
    pub(crate) fn push(&mut self, l: impl Listener) {
        self.0.push(Box::new(l));
    }

    pub(crate) fn freeze(self) -> Listeners {
        Arc::from(self.0)
    }
}

impl core::fmt::Debug for ListenerList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "[{} listener(s)]", self.0.len())
    }
}

/// The listener methods of the registry and keyed-family builders (the breaker builder spells
/// them out). `$make` is an expression building the builder, for the doc examples.
macro_rules! listener_methods {
    ($make:literal) => {
        /// Adds a [`Listener`](crate::Listener) to every breaker built from this.
        ///
        /// # Examples
        ///
        #[doc = concat!("```\nstruct Quiet;\nimpl breaker_std::Listener for Quiet {}\nlet b = ", $make, ".listener(Quiet).build().unwrap();\n# let _ = b;\n```")]
        pub fn listener(mut self, listener: impl crate::Listener) -> Self {
            self.listeners.push(listener);
            self
        }

        /// Adds a callback for transitions.
        ///
        /// # Examples
        ///
        #[doc = concat!("```\nuse breaker_std::Source;\nuse breaker_std::Transition;\nlet b = ", $make, ".on_transition(|s: &Source<'_>, t: &Transition| eprintln!(\"{} {:?} -> {}\", s.name(), s.key(), t.to)).build().unwrap();\n# let _ = b;\n```")]
        pub fn on_transition(
            self,
            f: impl Fn(&crate::Source<'_>, &breaker_core::Transition) + Send + Sync + 'static,
        ) -> Self {
            self.listener(crate::listener::OnTransition(f))
        }

        /// Adds a callback for rejected calls.
        ///
        /// # Examples
        ///
        #[doc = concat!("```\nuse breaker_std::Source;\nuse breaker_std::CircuitOpen;\nlet b = ", $make, ".on_rejected(|_: &Source<'_>, open: &CircuitOpen| eprintln!(\"{open}\")).build().unwrap();\n# let _ = b;\n```")]
        pub fn on_rejected(
            self,
            f: impl Fn(&crate::Source<'_>, &breaker_core::CircuitOpen) + Send + Sync + 'static,
        ) -> Self {
            self.listener(crate::listener::OnRejected(f))
        }

        /// Adds a callback for successful calls.
        ///
        /// # Examples
        ///
        #[doc = concat!("```\nuse breaker_std::Source;\nlet b = ", $make, ".on_success(|_: &Source<'_>| {}).build().unwrap();\n# let _ = b;\n```")]
        pub fn on_success(self, f: impl Fn(&crate::Source<'_>) + Send + Sync + 'static) -> Self {
            self.listener(crate::listener::OnSuccess(f))
        }

        /// Adds a callback for failed calls (a panic in the call included).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\nuse breaker_std::Source;\nlet b = ", $make, ".on_failure(|_: &Source<'_>| {}).build().unwrap();\n# let _ = b;\n```")]
        pub fn on_failure(self, f: impl Fn(&crate::Source<'_>) + Send + Sync + 'static) -> Self {
            self.listener(crate::listener::OnFailure(f))
        }

        /// Adds a callback for calls that count as neither success nor failure.
        ///
        /// # Examples
        ///
        #[doc = concat!("```\nuse breaker_std::Source;\nlet b = ", $make, ".on_ignored(|_: &Source<'_>| {}).build().unwrap();\n# let _ = b;\n```")]
        pub fn on_ignored(self, f: impl Fn(&crate::Source<'_>) + Send + Sync + 'static) -> Self {
            self.listener(crate::listener::OnIgnored(f))
        }
    };
}
pub(crate) use listener_methods;
