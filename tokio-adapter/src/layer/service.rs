//! [`CircuitBreaker`]: a service behind the breaker its [`Pick`] chooses for each request.

use core::ops::Deref;
use core::task::{Context, Poll};

use breaker_core::classify::Errors;
use breaker_core::{CircuitOpen, Classify, Clock, Permit, Policy};
use breaker_std::Breaker;
use tower_service::Service;

use super::error::BoxError;
use super::future::FailOnUnwind;
use super::{Open, Pick, ResponseFuture};

/// A service behind a circuit breaker. See the [module docs](super).
///
/// `S` is the inner service, `P` the [`Pick`] that chooses each request's breaker (a breaker
/// handle, which always picks itself, a [`ByKey`](super::ByKey), or a closure), `K` the
/// classifier ([`Errors`] unless you [`classify`](CircuitBreaker::classify) otherwise). Most
/// code builds it with [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// Its error is a `tower::BoxError`: the inner service's error as it is, or an [`Open`] for a
/// request the breaker turned away.
///
/// # Examples
///
/// ```
/// use breaker_tokio::layer::CircuitBreaker;
/// use tower::service_fn;
///
/// let registry = breaker_tokio::registry().build().unwrap();
/// let db: &'static breaker_tokio::Breaker = registry.breaker("database").unwrap();
/// let svc = CircuitBreaker::new(service_fn(|q: String| async move { Ok::<_, std::io::Error>(q.len()) }), db);
/// assert_eq!(svc.pick().name(), "database");
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreaker<S, P, K = Errors> {
    inner: S,
    pick: P,
    classifier: K,
}

impl<S, P> CircuitBreaker<S, P> {
    /// `inner` behind the breaker `pick` chooses (a handle for one breaker); every `Err` is a
    /// failure, every `Ok` a success ([`Errors`]).
    pub fn new(inner: S, pick: P) -> Self {
        CircuitBreaker { inner, pick, classifier: Errors }
    }
}

impl<S, P, K> CircuitBreaker<S, P, K> {
    /// The same service with `classifier` deciding which results are failures (a
    /// [`Classify`]: `HttpClassifier`, `failures_where(..)`, or a closure over the result).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::{layer::CircuitBreaker, HttpClassifier};
    /// use tower::service_fn;
    ///
    /// let api: &'static breaker_tokio::Breaker = Box::leak(Box::new(breaker_tokio::builder("api").build().unwrap()));
    /// let upstream = service_fn(|_: http::Request<()>| async { Ok::<_, std::io::Error>(http::Response::new(())) });
    /// let svc = CircuitBreaker::new(upstream, api).classify(HttpClassifier); // 5xx fail, 4xx do not
    /// # let _ = svc;
    /// ```
    pub fn classify<K2>(self, classifier: K2) -> CircuitBreaker<S, P, K2> {
        CircuitBreaker { inner: self.inner, pick: self.pick, classifier }
    }

    /// What picks the breakers (the handle, for one breaker).
    pub fn pick(&self) -> &P {
        &self.pick
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
    ///
    /// let api: &'static breaker_tokio::Breaker = Box::leak(Box::new(breaker_tokio::builder("api").build().unwrap()));
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

impl<S, P, K, Req, C, Po> Service<Req> for CircuitBreaker<S, P, K>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    P: Pick<Req>,
    P::Handle: Deref<Target = Breaker<C, Po>>,
    C: Clock,
    Po: Policy,
    K: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Permit<P::Handle>, K>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Nothing is reserved here: admission is decided in `call`, so a readiness check for a
        // request never sent cannot hold a probe slot.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        let Some(handle) = self.pick.pick(&request) else {
            return ResponseFuture::unguarded(self.inner.call(request));
        };
        match Permit::acquire(handle) {
            Ok(permit) => {
                let mut permit = Some(permit);
                // A panic in the inner `call` is a failed call too.
                let guard = FailOnUnwind(&mut permit);
                let future = self.inner.call(request);
                guard.disarm();
                ResponseFuture::called(future, permit, self.classifier.clone())
            }
            Err(open) => ResponseFuture::open(rejected(&self.pick, request, open)),
        }
    }
}

/// The rejection of `request`, boxed: an [`Open`] with the key of the breaker that refused it.
/// Out of line: only the rejection path pays for it.
#[cold]
#[inline(never)]
fn rejected<Req, P, C, Po>(pick: &P, request: Req, open: CircuitOpen) -> BoxError
where
    P: Pick<Req>,
    P::Handle: Deref<Target = Breaker<C, Po>>,
    C: Clock,
    Po: Policy,
{
    let rejection = Open::new(open);
    // The admission consumed the handle: ask the picker again, for the breaker's key (only a
    // keyed breaker has one).
    let rejection = match pick.pick(&request) {
        Some(handle) => match handle.key() {
            Some(key) => rejection.with_key(key),
            None => rejection,
        },
        None => rejection,
    };
    Box::new(rejection)
}
