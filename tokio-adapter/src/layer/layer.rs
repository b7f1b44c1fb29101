//! [`CircuitBreakerLayer`]: puts a service behind a breaker.

use std::sync::Arc;

use tower_layer::Layer;

use super::CircuitBreaker;
use crate::{BreakerRef, ErrorClassifier};

/// A [`Layer`] that puts services behind one breaker (shared by every service it wraps: they
/// are one dependency), given by any [`BreakerRef`]: an `Arc<Breaker>` or a `&'static Breaker`.
///
/// # Examples
///
/// An HTTP client behind the breaker, with a timeout below it so a slow upstream counts as a
/// failure:
///
/// ```
/// use breaker_tokio::layer::CircuitBreakerLayer;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder};
///
/// let upstream = Arc::new(breaker_tokio::builder("upstream").build().unwrap());
/// let client = service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::io::Error>(http::Response::new(()))
/// });
/// let svc = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::http(upstream)) // 5xx and errors fail, 4xx do not
///     .timeout(Duration::from_secs(2))
///     .service(client);
/// # let _ = svc;
/// ```
pub struct CircuitBreakerLayer<K = ErrorClassifier, H: BreakerRef = Arc<crate::Breaker>> {
    breaker: H,
    classifier: K,
}

impl<H: BreakerRef> CircuitBreakerLayer<ErrorClassifier, H> {
    /// A layer for `breaker` in which every `Err` is a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::CircuitBreakerLayer;
    /// use std::sync::Arc;
    ///
    /// let layer = CircuitBreakerLayer::new(Arc::new(breaker_tokio::presets::kafka().build().unwrap()));
    /// assert_eq!(layer.breaker().name(), "kafka");
    /// ```
    pub fn new(breaker: H) -> Self {
        CircuitBreakerLayer { breaker, classifier: ErrorClassifier }
    }
}

#[cfg(feature = "http")]
impl<H: BreakerRef> CircuitBreakerLayer<crate::HttpClassifier, H> {
    /// A layer for `breaker` with the HTTP classifier: transport errors and 5xx responses are
    /// failures, 4xx are not. Feature `http`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::CircuitBreakerLayer;
    /// use std::sync::Arc;
    ///
    /// let layer = CircuitBreakerLayer::http(Arc::new(breaker_tokio::builder("api").build().unwrap()));
    /// # let _ = layer;
    /// ```
    pub fn http(breaker: H) -> Self {
        CircuitBreakerLayer { breaker, classifier: crate::HttpClassifier }
    }
}

impl<K, H: BreakerRef> CircuitBreakerLayer<K, H> {
    /// The same layer with another classifier.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Verdict;
    /// use breaker_tokio::layer::CircuitBreakerLayer;
    /// use std::sync::Arc;
    ///
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// // Only connection errors count; a `NotFound` is the caller's problem.
    /// let layer = CircuitBreakerLayer::new(api).classifier(|r: &Result<u32, std::io::Error>| match r {
    ///     Err(e) if e.kind() == std::io::ErrorKind::NotFound => Verdict::Ignore,
    ///     Err(_) => Verdict::Failure,
    ///     Ok(_) => Verdict::Success,
    /// });
    /// # let _ = layer;
    /// ```
    pub fn classifier<K2>(self, classifier: K2) -> CircuitBreakerLayer<K2, H> {
        CircuitBreakerLayer { breaker: self.breaker, classifier }
    }

    /// The breaker's handle.
    pub fn breaker(&self) -> &H {
        &self.breaker
    }
}

impl<S, K: Clone, H: BreakerRef> Layer<S> for CircuitBreakerLayer<K, H> {
    type Service = CircuitBreaker<S, K, H>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::with_classifier(inner, self.breaker.clone(), self.classifier.clone())
    }
}

impl<K: Clone, H: BreakerRef> Clone for CircuitBreakerLayer<K, H> {
    fn clone(&self) -> Self {
        CircuitBreakerLayer { breaker: self.breaker.clone(), classifier: self.classifier.clone() }
    }
}

impl<K: core::fmt::Debug, H: BreakerRef> core::fmt::Debug for CircuitBreakerLayer<K, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker.breaker().name())
            .field("classifier", &self.classifier)
            .finish()
    }
}
