//! The tower middleware: [`CircuitBreaker`] (the `Service`), [`CircuitBreakerLayer`] (the
//! `Layer`), [`ResponseFuture`] and [`Error`].
//!
//! # Semantics
//!
//! - **Rejection happens in `call`**, never in `poll_ready`: `poll_ready` only asks the inner
//!   service, so no admission is reserved that a request never sent would leak. A rejected
//!   request gets a response future that is ready at once with [`Error::Rejected`], and the inner
//!   service is not called.
//! - **One verdict per admitted request**, from the classifier (a [`crate::Classify`]), when the
//!   response future finishes. A response future dropped before it finishes (the client went
//!   away, a timeout layer above gave up) counts as **neither** success nor failure and gives a
//!   half-open probe slot back. A panic in the inner future is a failure.
//! - **Errors from `poll_ready`** of the inner service are passed through as
//!   [`Error::Inner`] and not counted: they belong to no request.
//! - **The breaker handle** is any [`BreakerRef`]: an `Arc<Breaker>` (from a
//!   registry) or a `&'static Breaker` (a `static`, or [`crate::leak`]). The response future owns
//!   a copy of it, so it is `'static`.
//! - **Costs** on a CLOSED success: the core's one atomic load, the classifier, the breaker-std
//!   hooks (listeners and metrics, if any), **no allocation** (`tests/alloc.rs`), and the handle's
//!   clone and drop: nothing for a `&'static`, two atomic read-modify-writes for an `Arc`
//!   (about 19 ns of the 30 ns measured on the development machine; the README's tower bench).
//!
//! A timeout for the calls belongs below the breaker (`tower::timeout::TimeoutLayer` inside
//! `CircuitBreakerLayer`), so a timed-out call reaches the classifier as an `Err`: a failure.
//!
//! # Examples
//!
//! ```
//! use breaker_core::State;
//! use breaker_tokio::layer::{CircuitBreakerLayer, Error};
//! use std::sync::Arc;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker = Arc::new(breaker_tokio::builder("upstream").failure_threshold(2).build().unwrap());
//! let upstream = service_fn(|fail: bool| async move { if fail { Err("502") } else { Ok("ok") } });
//! let mut svc = CircuitBreakerLayer::new(Arc::clone(&breaker)).layer(upstream);
//!
//! for _ in 0..2 {
//!     let r = svc.ready().await.unwrap().call(true).await;
//!     assert!(matches!(r, Err(Error::Inner("502"))));
//! }
//! assert_eq!(breaker.state(), State::Open);
//! let r = svc.ready().await.unwrap().call(false).await;
//! assert!(matches!(r, Err(Error::Rejected(ref e)) if e.retry_after().is_some()));
//! # }
//! ```

mod error;
mod future;
#[allow(clippy::module_inception)] // the tower layout: `layer.rs` holds the `Layer`
mod layer;

use core::task::{Context, Poll};
use std::sync::Arc;

use tower_service::Service;

pub use error::{Error, Rejected};
pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;

use crate::{BreakerRef, Classify, ErrorClassifier, OwnedPermit};

/// A service behind a circuit breaker. See the [module docs](self).
///
/// `K` decides which results are failures ([`ErrorClassifier`] by default; `HttpClassifier`
/// for HTTP services, feature `http`).
///
/// # Examples
///
/// ```
/// use breaker_tokio::layer::CircuitBreaker;
/// use std::sync::Arc;
/// use tower::service_fn;
///
/// let db = Arc::new(breaker_tokio::presets::database().build().unwrap());
/// let svc = CircuitBreaker::new(service_fn(|q: String| async move { Ok::<_, std::io::Error>(q.len()) }), db);
/// assert_eq!(svc.breaker().name(), "database");
/// ```
pub struct CircuitBreaker<S, K = ErrorClassifier, H: BreakerRef = Arc<crate::Breaker>> {
    inner: S,
    breaker: H,
    classifier: K,
}

impl<S, H: BreakerRef> CircuitBreaker<S, ErrorClassifier, H> {
    /// `inner` behind `breaker`; every `Err` is a failure.
    pub fn new(inner: S, breaker: H) -> Self {
        CircuitBreaker::with_classifier(inner, breaker, ErrorClassifier)
    }
}

impl<S, K, H: BreakerRef> CircuitBreaker<S, K, H> {
    /// `inner` behind `breaker`, with `classifier` deciding which results are failures.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::{layer::CircuitBreaker, HttpClassifier};
    /// use std::sync::Arc;
    /// use tower::service_fn;
    ///
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// let upstream = service_fn(|_: http::Request<()>| async { Ok::<_, std::io::Error>(http::Response::new(())) });
    /// let svc = CircuitBreaker::with_classifier(upstream, api, HttpClassifier);
    /// # let _ = svc;
    /// ```
    pub fn with_classifier(inner: S, breaker: H, classifier: K) -> Self {
        CircuitBreaker { inner, breaker, classifier }
    }

    /// The breaker's handle.
    pub fn breaker(&self) -> &H {
        &self.breaker
    }

    /// The classifier.
    pub fn classifier(&self) -> &K {
        &self.classifier
    }

    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::CircuitBreaker;
    /// use std::sync::Arc;
    ///
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// let mut svc = CircuitBreaker::new(7_u32, api);
    /// assert_eq!(*svc.get_ref(), 7);
    /// *svc.get_mut() += 1;
    /// assert_eq!(svc.into_inner(), 8);
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

impl<S: Clone, K: Clone, H: BreakerRef> Clone for CircuitBreaker<S, K, H> {
    fn clone(&self) -> Self {
        CircuitBreaker {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S: core::fmt::Debug, K: core::fmt::Debug, H: BreakerRef> core::fmt::Debug for CircuitBreaker<S, K, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker.breaker().name())
            .field("classifier", &self.classifier)
            .finish()
    }
}

impl<S, K, H, Req> Service<Req> for CircuitBreaker<S, K, H>
where
    S: Service<Req>,
    K: Classify<S::Response, S::Error> + Clone,
    H: BreakerRef,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, K, H>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Nothing is reserved here: admission is decided in `call`.
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        match OwnedPermit::try_acquire(&self.breaker) {
            Ok(permit) => ResponseFuture::called(self.inner.call(request), permit, self.classifier.clone()),
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}
