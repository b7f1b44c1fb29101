//! [`ResponseFuture`]: the response future of [`CircuitBreaker`](super::CircuitBreaker).
//!
//! An enum of what `call` decided: *called* (the inner future, the [`Permit`](crate::Permit)
//! to settle with its verdict and the classifier that gives it), *open* (the breaker said no:
//! ready at once with the rejection, the inner service untouched) or *unguarded* (no breaker
//! was picked for this request), and *done*. Dropping the future before it finishes drops the
//! permit, which settles the call as ignored and gives a half-open probe slot back.
//!
//! The poll of a called future is the inner poll, the classifier and the permit's settle, all
//! inlined (`#[inline(always)]`, so the caller's code, not the compiler's mood at that call
//! site, decides the cost); off that path are the unwinding guard's drop (a panic in the inner
//! future is a failure) and the core's settle of anything but a clean CLOSED success. A
//! finished future is `Done` whichever way it finished, so the caller's drop of it folds away.

use core::future::Future;
use core::mem;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use breaker_core::{AsBreaker, Classify, Permit, Verdict};

use super::error::BoxError;

pin_project_lite::pin_project! {
    /// The response future of a service behind a breaker. See the [module docs](self).
    ///
    /// `F` is the inner service's future, `G` the permit it holds for an admitted request (a
    /// [`Permit<H>`](crate::Permit) over the picked handle `H`), `K` the classifier: the same
    /// order as [`CircuitBreaker<S, P, K>`](super::CircuitBreaker).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::layer::CircuitBreaker;
    /// use std::convert::Infallible;
    /// use tower::{service_fn, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let api: &'static breaker_tokio::Breaker = Box::leak(Box::new(breaker_tokio::builder("api").build().unwrap()));
    /// let mut svc = CircuitBreaker::new(service_fn(|x: u32| async move { Ok::<_, Infallible>(x + 1) }), api);
    /// let future = svc.ready().await.unwrap().call(41); // admission happens here, in `call`
    /// assert_eq!(future.await.unwrap(), 42);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, G, K> {
        #[pin]
        state: State<F, G, K>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    #[project_replace = StateReplace]
    enum State<F, G, K> {
        Called {
            #[pin]
            future: F,
            // `None` only while a panic unwinds out of the inner poll (the guard took it).
            permit: Option<G>,
            classifier: K,
        },
        Unguarded {
            #[pin]
            future: F,
        },
        Open {
            // The rejection, boxed in `call`.
            error: BoxError,
        },
        // Finished: nothing left to drop, whichever way it finished.
        Done,
    }
}

impl<F, G, K> ResponseFuture<F, G, K> {
    #[inline(always)]
    pub(super) fn called(future: F, permit: Option<G>, classifier: K) -> Self {
        ResponseFuture { state: State::Called { future, permit, classifier } }
    }

    #[inline(always)]
    pub(super) fn open(error: BoxError) -> Self {
        ResponseFuture { state: State::Open { error } }
    }

    #[inline(always)]
    pub(super) fn unguarded(future: F) -> Self {
        ResponseFuture { state: State::Unguarded { future } }
    }
}

/// Records a failure if dropped while armed: it is dropped only when the code it guards
/// unwinds (on the normal path it is forgotten), so a panic in the inner service is a failed
/// call, and the panic keeps unwinding. Nothing on the normal path: no `catch_unwind`, no flag.
pub(super) struct FailOnUnwind<'a, H>(pub(super) &'a mut Option<Permit<H>>)
where
    H: Deref,
    H::Target: AsBreaker;

impl<H> FailOnUnwind<'_, H>
where
    H: Deref,
    H::Target: AsBreaker,
{
    /// The guarded code returned: nothing to record.
    #[inline(always)]
    pub(super) fn disarm(self) {
        mem::forget(self);
    }
}

impl<H> Drop for FailOnUnwind<'_, H>
where
    H: Deref,
    H::Target: AsBreaker,
{
    #[cold]
    fn drop(&mut self) {
        if let Some(permit) = self.0.take() {
            permit.record(Verdict::Failure);
        }
    }
}

impl<F, H, K, T, E> Future for ResponseFuture<F, Permit<H>, K>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    H: Deref,
    H::Target: AsBreaker,
    K: Classify<T, E>,
{
    type Output = Result<T, BoxError>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let result = match state.as_mut().project() {
            StateProj::Called { future, permit, .. } => {
                let guard = FailOnUnwind(permit);
                let poll = future.poll(cx);
                guard.disarm();
                match poll {
                    Poll::Ready(result) => result,
                    Poll::Pending => return Poll::Pending,
                }
            }
            StateProj::Unguarded { future } => {
                let result = ready!(future.poll(cx));
                state.set(State::Done);
                return Poll::Ready(result.map_err(Into::into));
            }
            StateProj::Open { .. } => return Poll::Ready(Err(take_open(state))),
            StateProj::Done => polled_after_completion(),
        };
        // Finished: the permit and the classifier move out, the inner future is dropped, and
        // the state is `Done` on every path, so dropping this future is free.
        if let StateReplace::Called { permit: Some(permit), classifier, .. } =
            state.project_replace(State::Done)
        {
            // A panic in the settle (a panicking `tracing` subscriber or `metrics` recorder: the
            // core does not panic and breaker-std catches its listeners') unwinds as from any
            // other call; the permit is consumed first, so nothing is settled twice.
            permit.record(classifier.classify(&result));
        }
        Poll::Ready(result.map_err(Into::into))
    }
}

/// The rejection, moved out of a future in the `Open` state (which becomes `Done`).
#[inline]
fn take_open<F, G, K>(state: Pin<&mut State<F, G, K>>) -> BoxError {
    match state.project_replace(State::Done) {
        StateReplace::Open { error } => error,
        _ => polled_after_completion(),
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn polled_after_completion() -> ! {
    panic!("circuit breaker ResponseFuture polled after it completed")
}

impl<F, G, K> core::fmt::Debug for ResponseFuture<F, G, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Unguarded { .. } => "unguarded",
            State::Open { .. } => "open",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish_non_exhaustive()
    }
}
