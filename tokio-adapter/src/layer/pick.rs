//! [`Pick`]: which breaker a request goes through. One breaker handle picks itself; [`ByKey`]
//! picks from a keyed family by path, host or route; a closure picks however it likes.

use std::sync::Arc;

use breaker_core::{Clock, Policy};
use breaker_std::Breaker;

/// Chooses the breaker a request goes through, or none (the request then goes through
/// unguarded).
///
/// Implemented for
/// - a breaker handle, which always picks itself: `&'static Breaker` (what the registry hands
///   out; copied per request) and `Arc<Breaker>` (cloned per request: two atomic operations);
/// - [`ByKey`] (feature `http`): the breaker of a keyed family for the request's path, host or
///   route;
/// - closures `Fn(&Req) -> Option<H>` where `H` is one of those handles.
///
/// # Examples
///
/// By a tenant header, from a keyed family:
///
/// ```
/// use breaker_tokio::layer::{CircuitBreakerLayer, Pick};
///
/// let registry = breaker_tokio::registry().build().unwrap();
/// let tenants = registry.keyed::<String>("tenant").unwrap();
/// let pick = move |req: &http::Request<()>| {
///     let tenant = req.headers().get("x-tenant")?.to_str().ok()?;
///     tenants.breaker(tenant).ok()
/// };
/// let req = http::Request::get("/").header("x-tenant", "acme").body(()).unwrap();
/// assert_eq!(pick.pick(&req).unwrap().key(), Some("acme"));
/// let layer = CircuitBreakerLayer::new(pick);
/// # let _ = layer;
/// ```
pub trait Pick<Req> {
    /// The handle of the breakers picked: `&'static Breaker` or `Arc<Breaker>`.
    type Handle;

    /// The breaker for `request`, or `None` to let it through unguarded.
    fn pick(&self, request: &Req) -> Option<Self::Handle>;
}

/// A `&Breaker` picks itself: a copy per request, no reference counting.
impl<'a, Req, C: Clock, P: Policy> Pick<Req> for &'a Breaker<C, P> {
    type Handle = &'a Breaker<C, P>;

    #[inline(always)]
    fn pick(&self, _: &Req) -> Option<Self::Handle> {
        Some(*self)
    }
}

/// An `Arc<Breaker>` picks itself: a clone per request (and a drop when the response future
/// settles): two atomic read-modify-writes on the shared count.
impl<Req, C: Clock, P: Policy> Pick<Req> for Arc<Breaker<C, P>> {
    type Handle = Arc<Breaker<C, P>>;

    #[inline(always)]
    fn pick(&self, _: &Req) -> Option<Self::Handle> {
        Some(Arc::clone(self))
    }
}

impl<F, Req, H> Pick<Req> for F
where
    F: Fn(&Req) -> Option<H>,
{
    type Handle = H;

    #[inline]
    fn pick(&self, request: &Req) -> Option<H> {
        self(request)
    }
}

#[cfg(feature = "http")]
pub use by_key::ByKey;

#[cfg(feature = "http")]
mod by_key {
    use std::sync::Arc;

    use breaker_core::{Clock, Policy};
    use breaker_std::{Breaker, Keyed};

    use super::Pick;

    /// Picks the breaker of a keyed family by a key taken from the HTTP request: its path
    /// ([`by_path`](ByKey::by_path)), its host ([`by_host`](ByKey::by_host)) or, with feature
    /// `axum`, its route template (`by_route`). Feature `http`.
    ///
    /// Which part of the request is the key is decided by the constructor, never by a cargo
    /// feature: enabling `axum` adds `by_route` and changes nothing else.
    ///
    /// The family bounds the number of breakers ([`Keyed`]'s limit and eviction), so keys
    /// taken from requests cannot grow memory without bound. A request whose key the family
    /// cannot hold (every breaker in it must be kept, say all open) goes through the family's
    /// shared overflow breaker ([`Keyed::breaker_or_overflow`]): a flood of attacker-chosen keys
    /// neither evicts an open breaker nor goes unprotected, and if the flood's calls fail, the
    /// overflow breaker opens and rejects them.
    ///
    /// Cost per request: the family's lookup (no allocation for a known key) and an `Arc` clone,
    /// on top of the layer's own.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::{ByKey, Pick};
    ///
    /// let routes = breaker_tokio::registry().build().unwrap().keyed::<String>("api").unwrap();
    /// let by_path = ByKey::by_path(routes);
    /// let req = http::Request::get("/users?page=2").body(()).unwrap();
    /// assert_eq!(by_path.pick(&req).unwrap().key(), Some("/users"));
    /// ```
    #[derive(Clone, Debug)]
    pub struct ByKey<F> {
        family: F,
        key: Key,
    }

    /// The part of the request that is the key.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Key {
        Path,
        Host,
        #[cfg(feature = "axum")]
        Route,
    }

    impl<C: Clock, P: Policy> ByKey<Arc<Keyed<String, C, P>>> {
        /// By the request's URI path, without the query (`/users/7`): one breaker per
        /// distinct path. For the breakers of an HTTP client in front of a few endpoints; for
        /// axum routes with parameters prefer `by_route`.
        ///
        /// # Examples
        ///
        /// ```
        /// use breaker_tokio::layer::{ByKey, Pick};
        ///
        /// let family = breaker_tokio::registry().build().unwrap().keyed::<String>("api").unwrap();
        /// let by_path = ByKey::by_path(family);
        /// let req = http::Request::get("http://api.internal/orders/7?full=1").body(()).unwrap();
        /// assert_eq!(by_path.pick(&req).unwrap().key(), Some("/orders/7"));
        /// ```
        pub fn by_path(family: Arc<Keyed<String, C, P>>) -> Self {
            ByKey { family, key: Key::Path }
        }

        /// By the upstream host: the `Host` header, else the URI's authority, port included
        /// (`billing.internal:8080`). A request with neither goes through unguarded.
        ///
        /// # Examples
        ///
        /// ```
        /// use breaker_tokio::layer::{ByKey, Pick};
        ///
        /// let hosts = breaker_tokio::registry().build().unwrap().keyed::<String>("upstream").unwrap();
        /// let by_host = ByKey::by_host(hosts);
        /// let req = http::Request::get("http://billing.internal:8080/invoices").body(()).unwrap();
        /// assert_eq!(by_host.pick(&req).unwrap().key(), Some("billing.internal:8080"));
        /// let no_host = http::Request::get("/invoices").body(()).unwrap();
        /// assert!(by_host.pick(&no_host).is_none());
        /// ```
        pub fn by_host(family: Arc<Keyed<String, C, P>>) -> Self {
            ByKey { family, key: Key::Host }
        }

        /// By axum's route template (`/users/{id}`, the request's `MatchedPath`): one breaker
        /// per route, whatever the parameters. Feature `axum`.
        ///
        /// The router sets `MatchedPath` before it calls a route, so put the layer on the routes
        /// (`Router::route_layer`, or `Router::layer`, which wraps each route). A request without
        /// one (no route matched: the router's fallback) goes through unguarded: a 404 for a
        /// random path is not a dependency failing, and must not create a breaker.
        ///
        /// # Examples
        ///
        /// ```
        /// use axum::extract::MatchedPath;
        /// use breaker_tokio::layer::{ByKey, Pick};
        ///
        /// let routes = breaker_tokio::registry().build().unwrap().keyed::<String>("routes").unwrap();
        /// let by_route = ByKey::by_route(routes);
        /// let unrouted = http::Request::get("/users/7").body(()).unwrap();
        /// assert!(by_route.pick(&unrouted).is_none());
        /// # let _ = std::marker::PhantomData::<MatchedPath>;
        /// ```
        #[cfg(feature = "axum")]
        pub fn by_route(family: Arc<Keyed<String, C, P>>) -> Self {
            ByKey { family, key: Key::Route }
        }
    }

    impl<F> ByKey<F> {
        /// The family the breakers are picked from.
        ///
        /// # Examples
        ///
        /// ```
        /// use breaker_tokio::layer::ByKey;
        ///
        /// let family = breaker_tokio::registry().build().unwrap().keyed::<String>("api").unwrap();
        /// assert_eq!(ByKey::by_path(family).family().name(), "api");
        /// ```
        pub fn family(&self) -> &F {
            &self.family
        }
    }

    /// The key of `request` that `key` names, if it has one.
    #[inline]
    fn key_of<B>(key: Key, request: &http::Request<B>) -> Option<&str> {
        match key {
            Key::Path => Some(request.uri().path()),
            Key::Host => request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| request.uri().authority().map(|a| a.as_str())),
            #[cfg(feature = "axum")]
            Key::Route => request.extensions().get::<axum::extract::MatchedPath>().map(|r| r.as_str()),
        }
    }

    impl<B, C, P> Pick<http::Request<B>> for ByKey<Arc<Keyed<String, C, P>>>
    where
        C: Clock + Clone,
        P: Policy,
    {
        type Handle = Arc<Breaker<C, P>>;

        #[inline]
        fn pick(&self, request: &http::Request<B>) -> Option<Self::Handle> {
            self.family.breaker_or_overflow(key_of(self.key, request)?).ok()
        }
    }
}
