//! [`CircuitBreakerLayer`]: puts services behind a breaker.

use breaker_core::classify::Errors;
use tower_layer::Layer;

use super::CircuitBreaker;

/// A [`Layer`] that puts services behind the breaker its [`Pick`](super::Pick) chooses for
/// each request: one breaker handle (`&'static Breaker` from the registry, or an
/// `Arc<Breaker>`), a [`ByKey`](super::ByKey) over a keyed family, or a closure. Every service
/// it wraps shares the breakers: they are one dependency.
///
/// `P` is the pick, `K` the classifier ([`Errors`] unless you
/// [`classify`](CircuitBreakerLayer::classify) otherwise), as on [`CircuitBreaker`].
///
/// # Examples
///
/// An HTTP client behind the registry's breaker, with a timeout below it so a slow upstream
/// counts as a failure:
///
/// ```
/// use breaker_tokio::layer::CircuitBreakerLayer;
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder};
///
/// let registry = breaker_tokio::registry().build().unwrap();
/// let upstream = registry.breaker("upstream").unwrap(); // a `&'static Breaker`
/// let client = service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::io::Error>(http::Response::new(()))
/// });
/// let svc = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::http(upstream)) // 5xx and errors fail, 4xx do not
///     .timeout(Duration::from_secs(2))
///     .service(client);
/// # let _ = svc;
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer<P, K = Errors> {
    pick: P,
    classifier: K,
}

impl<P> CircuitBreakerLayer<P> {
    /// A layer for the breakers `pick` chooses (a handle, for one breaker) in which every `Err`
    /// is a failure and every `Ok` a success ([`Errors`], the default of every tower type here).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::CircuitBreakerLayer;
    ///
    /// let registry = breaker_tokio::registry().build().unwrap();
    /// let layer = CircuitBreakerLayer::new(registry.breaker("kafka").unwrap());
    /// assert_eq!(layer.pick().name(), "kafka");
    /// ```
    pub fn new(pick: P) -> Self {
        CircuitBreakerLayer { pick, classifier: Errors }
    }
}

#[cfg(feature = "http")]
impl<P> CircuitBreakerLayer<P, crate::HttpClassifier> {
    /// `CircuitBreakerLayer::new(pick).classify(HttpClassifier)`, for HTTP services: transport
    /// errors and 5xx responses are failures, 4xx are not. Feature `http`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::{ByKey, CircuitBreakerLayer};
    /// use std::sync::Arc;
    ///
    /// let registry = breaker_tokio::registry().build().unwrap();
    /// let hosts = registry.keyed::<String>("upstream").unwrap();
    /// let layer = CircuitBreakerLayer::http(ByKey::by_host(hosts)); // one breaker per upstream host
    /// # let _ = layer;
    /// ```
    pub fn http(pick: P) -> Self {
        CircuitBreakerLayer { pick, classifier: crate::HttpClassifier }
    }
}

impl<P, K> CircuitBreakerLayer<P, K> {
    /// The same layer with `classifier` deciding which results are failures (a
    /// [`Classify`](crate::Classify)).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::classify::failures_where;
    /// use breaker_tokio::layer::CircuitBreakerLayer;
    ///
    /// let registry = breaker_tokio::registry().build().unwrap();
    /// // Only connection errors count; a `NotFound` is the caller's problem.
    /// let layer = CircuitBreakerLayer::new(registry.breaker("api").unwrap())
    ///     .classify(failures_where(|e: &std::io::Error| e.kind() != std::io::ErrorKind::NotFound));
    /// # let _ = layer;
    /// ```
    pub fn classify<K2>(self, classifier: K2) -> CircuitBreakerLayer<P, K2> {
        CircuitBreakerLayer { pick: self.pick, classifier }
    }

    /// What picks the breakers (the handle, for one breaker).
    pub fn pick(&self) -> &P {
        &self.pick
    }

    /// The classifier.
    pub fn classifier(&self) -> &K {
        &self.classifier
    }
}

impl<S, P: Clone, K: Clone> Layer<S> for CircuitBreakerLayer<P, K> {
    type Service = CircuitBreaker<S, P, K>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::new(inner, self.pick.clone()).classify(self.classifier.clone())
    }
}
