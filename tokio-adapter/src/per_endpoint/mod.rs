//! Per-endpoint breakers (the seed's enhancement 5): [`PerEndpoint`] picks the breaker for each
//! request, by route or host, from a breaker-std [`Keyed`] family (or a [`Registry`]), so one
//! failing route or upstream host opens its own circuit and leaves the others alone.
//!
//! The family bounds the number of breakers (`max_keys`, idle eviction, then least recently
//! used), so keys taken from requests cannot grow memory without bound. With axum, prefer
//! `ByPath` under `Router::route_layer`: the key is then the route template (`/users/{id}`),
//! not the raw path.
//!
//! The response future and the error are the plain middleware's
//! ([`crate::layer::ResponseFuture`], [`crate::layer::Error`]): a
//! request through a picked breaker is the same thing as a request through a fixed one.
//! A request for which no breaker is picked ([`Pick::pick`] returns `None`) goes through
//! unguarded.
//!
//! Cost per request: the family lookup (a read lock, a clock read, an `Arc` clone; no
//! allocation for a known key) on top of the plain middleware's.
//!
//! [`Keyed`]: breaker_std::Keyed
//! [`Registry`]: breaker_std::Registry
//!
//! # Examples
//!
//! ```
//! use breaker_core::State;
//! use breaker_tokio::per_endpoint::PerEndpointLayer;
//! use http::{Request, Response, StatusCode};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry = breaker_tokio::registry().build().unwrap();
//! let routes = registry.keyed_default::<String>("api").unwrap();
//! let upstream = service_fn(|req: Request<()>| async move {
//!     let status = if req.uri().path() == "/flaky" { 503 } else { 200 };
//!     Ok::<_, std::io::Error>(Response::builder().status(status).body(()).unwrap())
//! });
//! let svc = PerEndpointLayer::by_path(routes.clone()).layer(upstream);
//!
//! for _ in 0..5 {
//!     let _ = svc.clone().oneshot(Request::get("/flaky").body(()).unwrap()).await;
//! }
//! assert_eq!(routes.get("/flaky").unwrap().state(), State::Open);
//! let ok = svc.clone().oneshot(Request::get("/users").body(()).unwrap()).await.unwrap();
//! assert_eq!(ok.status(), StatusCode::OK); // another route, another breaker
//! # }
//! ```

#[allow(clippy::module_inception)] // the tower layout: `layer.rs` holds the `Layer`
mod layer;

use core::task::{Context, Poll};

use tower_service::Service;

pub use layer::PerEndpointLayer;

use crate::layer::{Error, ResponseFuture};
use crate::{BreakerRef, Classify, ErrorClassifier, OwnedPermit};

/// Chooses the breaker for a request.
///
/// Implemented for `ByPath` and `ByHost` (feature `http`) and for closures
/// `Fn(&Req) -> Option<H>` where `H` is a [`BreakerRef`] (`Arc<Breaker>`, `&'static Breaker`).
///
/// # Examples
///
/// By a tenant header, from a registry:
///
/// ```
/// use breaker_tokio::per_endpoint::{PerEndpointLayer, Pick};
/// use std::sync::Arc;
///
/// let registry = Arc::new(breaker_tokio::registry().build().unwrap());
/// let tenants = registry.keyed_default::<String>("tenant").unwrap();
/// let pick = move |req: &http::Request<()>| {
///     let tenant = req.headers().get("x-tenant")?.to_str().ok()?;
///     Some(tenants.breaker(tenant))
/// };
/// let req = http::Request::get("/").header("x-tenant", "acme").body(()).unwrap();
/// assert_eq!(pick.pick(&req).unwrap().key(), Some("acme"));
/// let layer = PerEndpointLayer::new(pick);
/// # let _ = layer;
/// ```
pub trait Pick<Req> {
    /// The handle of the breakers picked.
    type Handle: BreakerRef;

    /// The breaker for `request`, or `None` to let it through unguarded.
    fn pick(&self, request: &Req) -> Option<Self::Handle>;
}

impl<F, Req, H> Pick<Req> for F
where
    F: Fn(&Req) -> Option<H>,
    H: BreakerRef,
{
    type Handle = H;

    #[inline]
    fn pick(&self, request: &Req) -> Option<H> {
        self(request)
    }
}

#[cfg(feature = "http")]
mod http_keys {
    use std::sync::Arc;

    use breaker_core::Clock;
    use breaker_std::{Breaker, Keyed};

    use super::Pick;
    use crate::TokioClock;

    /// Picks by route: the breaker of `family` keyed by axum's `MatchedPath` (the route
    /// template, feature `axum`) when the request has one, else by the URI path. Feature
    /// `http`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::per_endpoint::{ByPath, Pick};
    ///
    /// let routes = breaker_tokio::registry().build().unwrap().keyed_default::<String>("api").unwrap();
    /// let by_path = ByPath::new(routes);
    /// let req = http::Request::get("/users?page=2").body(()).unwrap();
    /// assert_eq!(by_path.pick(&req).unwrap().key(), Some("/users"));
    /// ```
    pub struct ByPath<C: Clock = TokioClock> {
        family: Arc<Keyed<String, C>>,
    }

    impl<C: Clock> ByPath<C> {
        /// Picks from `family`.
        pub fn new(family: Arc<Keyed<String, C>>) -> Self {
            ByPath { family }
        }

        /// The family.
        pub fn family(&self) -> &Arc<Keyed<String, C>> {
            &self.family
        }
    }

    impl<C: Clock> Clone for ByPath<C> {
        fn clone(&self) -> Self {
            ByPath { family: Arc::clone(&self.family) }
        }
    }

    impl<C: Clock + Clone> core::fmt::Debug for ByPath<C> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("ByPath").field("family", &self.family.name()).finish()
        }
    }

    impl<B, C> Pick<http::Request<B>> for ByPath<C>
    where
        C: Clock + Clone,
    {
        type Handle = Arc<Breaker<C>>;

        #[inline]
        fn pick(&self, request: &http::Request<B>) -> Option<Arc<Breaker<C>>> {
            #[cfg(feature = "axum")]
            if let Some(route) = request.extensions().get::<axum::extract::MatchedPath>() {
                return Some(self.family.breaker(route.as_str()));
            }
            Some(self.family.breaker(request.uri().path()))
        }
    }

    /// Picks by upstream host: the breaker of `family` keyed by the `Host` header (or the URI's
    /// authority), port included. A request with neither goes through unguarded. Feature `http`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::per_endpoint::{ByHost, Pick};
    ///
    /// let hosts = breaker_tokio::registry().build().unwrap().keyed_default::<String>("upstream").unwrap();
    /// let by_host = ByHost::new(hosts);
    /// let req = http::Request::get("http://billing.internal:8080/invoices").body(()).unwrap();
    /// assert_eq!(by_host.pick(&req).unwrap().key(), Some("billing.internal:8080"));
    /// ```
    pub struct ByHost<C: Clock = TokioClock> {
        family: Arc<Keyed<String, C>>,
    }

    impl<C: Clock> ByHost<C> {
        /// Picks from `family`.
        pub fn new(family: Arc<Keyed<String, C>>) -> Self {
            ByHost { family }
        }

        /// The family.
        pub fn family(&self) -> &Arc<Keyed<String, C>> {
            &self.family
        }
    }

    impl<C: Clock> Clone for ByHost<C> {
        fn clone(&self) -> Self {
            ByHost { family: Arc::clone(&self.family) }
        }
    }

    impl<C: Clock + Clone> core::fmt::Debug for ByHost<C> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("ByHost").field("family", &self.family.name()).finish()
        }
    }

    impl<B, C> Pick<http::Request<B>> for ByHost<C>
    where
        C: Clock + Clone,
    {
        type Handle = Arc<Breaker<C>>;

        #[inline]
        fn pick(&self, request: &http::Request<B>) -> Option<Arc<Breaker<C>>> {
            let host = request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| request.uri().authority().map(|a| a.as_str()))?;
            Some(self.family.breaker(host))
        }
    }
}

#[cfg(feature = "http")]
pub use http_keys::{ByHost, ByPath};

/// A service whose requests each go through the breaker a [`Pick`] chooses. See the
/// [module docs](self).
///
/// # Examples
///
/// ```
/// use breaker_tokio::per_endpoint::{ByHost, PerEndpoint};
/// use tower::service_fn;
///
/// let hosts = breaker_tokio::registry().build().unwrap().keyed_default::<String>("upstream").unwrap();
/// let client = service_fn(|_: http::Request<()>| async { Ok::<_, std::io::Error>(http::Response::new(())) });
/// let svc = PerEndpoint::new(client, ByHost::new(hosts));
/// # let _ = svc;
/// ```
pub struct PerEndpoint<S, X, K = ErrorClassifier> {
    inner: S,
    pick: X,
    classifier: K,
}

impl<S, X> PerEndpoint<S, X, ErrorClassifier> {
    /// `inner` behind the breakers `pick` chooses; every `Err` is a failure.
    pub fn new(inner: S, pick: X) -> Self {
        PerEndpoint::with_classifier(inner, pick, ErrorClassifier)
    }
}

impl<S, X, K> PerEndpoint<S, X, K> {
    /// `inner` behind the breakers `pick` chooses, with `classifier`.
    pub fn with_classifier(inner: S, pick: X, classifier: K) -> Self {
        PerEndpoint { inner, pick, classifier }
    }

    /// The picker.
    pub fn pick(&self) -> &X {
        &self.pick
    }

    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::per_endpoint::PerEndpoint;
    /// use std::sync::Arc;
    ///
    /// let pick = |_: &()| None::<Arc<breaker_tokio::Breaker>>;
    /// let mut svc = PerEndpoint::new(1_u8, pick);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 2);
    /// assert_eq!(svc.into_inner(), 2);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, X: Clone, K: Clone> Clone for PerEndpoint<S, X, K> {
    fn clone(&self) -> Self {
        PerEndpoint {
            inner: self.inner.clone(),
            pick: self.pick.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S: core::fmt::Debug, X, K: core::fmt::Debug> core::fmt::Debug for PerEndpoint<S, X, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PerEndpoint")
            .field("inner", &self.inner)
            .field("classifier", &self.classifier)
            .finish_non_exhaustive()
    }
}

impl<S, X, K, Req> Service<Req> for PerEndpoint<S, X, K>
where
    S: Service<Req>,
    X: Pick<Req>,
    K: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, K, X::Handle>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let Some(breaker) = self.pick.pick(&request) else {
            return ResponseFuture::unguarded(self.inner.call(request));
        };
        match OwnedPermit::try_acquire_owned(breaker) {
            Ok(permit) => ResponseFuture::called(self.inner.call(request), permit, self.classifier.clone()),
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}
