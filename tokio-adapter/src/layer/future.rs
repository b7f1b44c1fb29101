//! [`ResponseFuture`]: the response future of [`CircuitBreaker`](super::CircuitBreaker) and
//! [`PerEndpoint`](crate::per_endpoint::PerEndpoint).
//!
//! An enum of states decided in `call`: *called* (the inner future and the permit that will be
//! settled with its verdict), *rejected* (the breaker said no; ready at once, the inner service
//! untouched) or *unguarded* (no breaker applies to this request). The permit is an
//! [`OwnedPermit`], so dropping the future before it finishes settles the call as ignored and
//! gives a half-open probe slot back.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use std::sync::Arc;

use breaker_core::CircuitOpen;

use super::{Error, Rejected};
use crate::{BreakerRef, Classify, OwnedPermit};

pin_project_lite::pin_project! {
    /// The response future of a service behind a breaker. See the [module docs](self).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::CircuitBreaker;
    /// use std::convert::Infallible;
    /// use std::sync::Arc;
    /// use tower::{service_fn, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// let mut svc = CircuitBreaker::new(service_fn(|x: u32| async move { Ok::<_, Infallible>(x + 1) }), api);
    /// let future = svc.ready().await.unwrap().call(41); // admission happens here, in `call`
    /// assert_eq!(future.await.unwrap(), 42);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, K, H: BreakerRef = Arc<crate::Breaker>> {
        #[pin]
        state: State<F, K, H>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, K, H: BreakerRef> {
        Called {
            #[pin]
            future: F,
            permit: Option<OwnedPermit<H>>,
            classifier: K,
        },
        Unguarded {
            #[pin]
            future: F,
        },
        Rejected {
            open: CircuitOpen,
        },
    }
}

impl<F, K, H: BreakerRef> ResponseFuture<F, K, H> {
    #[inline]
    pub(crate) fn called(future: F, permit: OwnedPermit<H>, classifier: K) -> Self {
        ResponseFuture { state: State::Called { future, permit: Some(permit), classifier } }
    }

    #[inline]
    pub(crate) fn rejected(open: CircuitOpen) -> Self {
        ResponseFuture { state: State::Rejected { open } }
    }

    #[inline]
    pub(crate) fn unguarded(future: F) -> Self {
        ResponseFuture { state: State::Unguarded { future } }
    }
}

impl<F, K, H, T, E> Future for ResponseFuture<F, K, H>
where
    F: Future<Output = Result<T, E>>,
    K: Classify<T, E>,
    H: BreakerRef,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future, permit, classifier } => {
                // A panicking inner future is a failed call; the panic keeps unwinding.
                let result = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(result)) => result,
                    Err(panic) => {
                        if let Some(p) = permit.take() {
                            p.failure();
                        }
                        resume_unwind(panic)
                    }
                };
                if let Some(p) = permit.take() {
                    p.record(classifier.classify(&result));
                }
                Poll::Ready(result.map_err(Error::Inner))
            }
            StateProj::Unguarded { future } => future.poll(cx).map_err(Error::Inner),
            StateProj::Rejected { open } => Poll::Ready(Err(Error::Rejected(Rejected::new(*open)))),
        }
    }
}

impl<F, K, H: BreakerRef> core::fmt::Debug for ResponseFuture<F, K, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = match &self.state {
            State::Called { permit, .. } => match permit {
                Some(p) => format!("called ({})", p.breaker().breaker().name()),
                None => "finished".to_owned(),
            },
            State::Unguarded { .. } => "unguarded".to_owned(),
            State::Rejected { open } => format!("rejected ({open})"),
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish_non_exhaustive()
    }
}
