//! [`PerEndpointLayer`]: puts a service behind per-endpoint breakers.

use tower_layer::Layer;

use super::PerEndpoint;
use crate::ErrorClassifier;

/// A [`Layer`] for [`PerEndpoint`]: each request goes through the breaker its [`Pick`]
/// chooses.
///
/// [`Pick`]: super::Pick
///
/// # Examples
///
/// One breaker per upstream host of an HTTP client (for axum routes, see the `axum` module,
/// feature `axum`):
///
/// ```
/// use breaker_tokio::per_endpoint::PerEndpointLayer;
/// use tower::{service_fn, ServiceBuilder};
///
/// let hosts = breaker_tokio::registry().build().unwrap().keyed_default::<String>("upstream").unwrap();
/// let client = service_fn(|_: http::Request<()>| async { Ok::<_, std::io::Error>(http::Response::new(())) });
/// let svc = ServiceBuilder::new().layer(PerEndpointLayer::by_host(hosts)).service(client);
/// # let _ = svc;
/// ```
#[derive(Clone, Debug)]
pub struct PerEndpointLayer<X, K = ErrorClassifier> {
    pick: X,
    classifier: K,
}

impl<X> PerEndpointLayer<X, ErrorClassifier> {
    /// A layer picking breakers with `pick`; every `Err` is a failure.
    pub fn new(pick: X) -> Self {
        PerEndpointLayer { pick, classifier: ErrorClassifier }
    }
}

#[cfg(feature = "http")]
impl<C: breaker_core::Clock + Clone> PerEndpointLayer<super::ByPath<C>, crate::HttpClassifier> {
    /// One breaker per route (axum's `MatchedPath`, else the URI path) from `family`, with the
    /// HTTP classifier. Feature `http`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::per_endpoint::PerEndpointLayer;
    ///
    /// let routes = breaker_tokio::registry().build().unwrap().keyed_default::<String>("api").unwrap();
    /// let layer = PerEndpointLayer::by_path(routes);
    /// # let _ = layer;
    /// ```
    pub fn by_path(family: std::sync::Arc<breaker_std::Keyed<String, C>>) -> Self {
        PerEndpointLayer { pick: super::ByPath::new(family), classifier: crate::HttpClassifier }
    }
}

#[cfg(feature = "http")]
impl<C: breaker_core::Clock + Clone> PerEndpointLayer<super::ByHost<C>, crate::HttpClassifier> {
    /// One breaker per upstream host (the `Host` header, else the URI's authority) from
    /// `family`, with the HTTP classifier. Feature `http`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::per_endpoint::PerEndpointLayer;
    ///
    /// let hosts = breaker_tokio::registry().build().unwrap().keyed_default::<String>("upstream").unwrap();
    /// let layer = PerEndpointLayer::by_host(hosts);
    /// # let _ = layer;
    /// ```
    pub fn by_host(family: std::sync::Arc<breaker_std::Keyed<String, C>>) -> Self {
        PerEndpointLayer { pick: super::ByHost::new(family), classifier: crate::HttpClassifier }
    }
}

impl<X, K> PerEndpointLayer<X, K> {
    /// The same layer with another classifier.
    pub fn classifier<K2>(self, classifier: K2) -> PerEndpointLayer<X, K2> {
        PerEndpointLayer { pick: self.pick, classifier }
    }
}

impl<S, X: Clone, K: Clone> Layer<S> for PerEndpointLayer<X, K> {
    type Service = PerEndpoint<S, X, K>;

    fn layer(&self, inner: S) -> Self::Service {
        PerEndpoint::with_classifier(inner, self.pick.clone(), self.classifier.clone())
    }
}
