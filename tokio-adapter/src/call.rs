//! `call_async`: any future through a breaker, with an optional per-call timeout. The rules
//! (laziness, one verdict, cancellation, timeouts) are documented on [`BreakerExt`].

use core::any::Any;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use breaker_core::{CallError, Clock, Policy, Verdict};
use breaker_std::Breaker;

use crate::{Classify, ErrorClassifier, TimedCallError};

mod sealed {
    pub trait Sealed {}
    impl<C: breaker_core::Clock, P: breaker_core::Policy> Sealed for breaker_std::Breaker<C, P> {}
}

/// Async calls through a [`breaker_std::Breaker`] (and so through everything the registry
/// hands out): the seed's `breaker.call_async(...)`.
///
/// Each method returns a future that borrows the breaker; to spawn, move an
/// `Arc<Breaker>` into the task and call it there. The futures are `Send` when the call's future
/// is.
///
/// # Rules
///
/// - **Lazy.** Nothing happens until the returned future is first polled: admission (and so a
///   half-open probe slot) and the timeout's clock both start there.
/// - **Exactly one verdict per admitted call.** The outcome is classified and reported once, when
///   the inner future finishes; a timeout reports the timeout verdict; a panic in the inner
///   future reports a failure and keeps unwinding.
/// - **Cancellation is neutral.** A call future dropped before it finishes (a `select!` branch
///   that lost, a client that went away, an aborted task) reports [`Verdict::Ignore`]: neither
///   a success nor a failure, and a half-open probe slot is given back, so a cancelled probe
///   never leaves the breaker stuck. This is the core permit's drop guard.
/// - **Timeouts.** A call still running when its timeout elapses is dropped (as tokio's
///   `timeout` does) and counted as a **failure**; with a slow-call policy (a rate window with
///   [`RateConfig::slow_calls`](breaker_core::RateConfig::slow_calls)) and a timeout at least as
///   long as the slow-call threshold, it is counted as a **slow** call instead (and as a failure
///   only if the policy says slow calls are failures).
///
/// # Examples
///
/// ```
/// use breaker_core::CallError;
/// use breaker_tokio::BreakerExt;
///
/// async fn call_database() -> Result<u32, std::io::Error> {
///     Ok(42)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let database_breaker = breaker_tokio::presets::database().build().unwrap();
/// match database_breaker.call_async(call_database()).await {
///     Ok(rows) => assert_eq!(rows, 42),
///     Err(CallError::Open(open)) => println!("circuit open, retry in {:?}", open.retry_after()),
///     Err(CallError::Inner(e)) => println!("service error: {e}"),
/// }
/// # }
/// ```
pub trait BreakerExt: sealed::Sealed {
    /// Runs `future` through the breaker: rejected without being polled while open; an `Err`
    /// counts as a failure, an `Ok` as a success; dropped before it finishes, as neither.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{CallError, State};
    /// use breaker_tokio::BreakerExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let kafka = breaker_tokio::presets::kafka().build().unwrap(); // 3 failures, 30 s
    /// for _ in 0..3 {
    ///     let r = kafka.call_async(async { Err::<(), _>("broker unreachable") }).await;
    ///     assert_eq!(r, Err(CallError::Inner("broker unreachable")));
    /// }
    /// assert_eq!(kafka.state(), State::Open);
    /// let r = kafka.call_async(async { unreachable!("not polled while open") as Result<(), &str> }).await;
    /// assert!(r.unwrap_err().is_open());
    /// # }
    /// ```
    fn call_async<F, T, E>(&self, future: F) -> impl Future<Output = Result<T, CallError<E>>>
    where
        F: IntoFuture<Output = Result<T, E>>;

    /// Runs `future` and lets `classify` decide the verdict from the whole result (an
    /// `Ok(503)` can be a failure, an `Err(NotFound)` neither).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Verdict;
    /// use breaker_tokio::BreakerExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let api = breaker_tokio::builder("api").build().unwrap();
    /// let status = api
    ///     .call_async_with(async { Ok::<u16, ()>(503) }, |r: &Result<u16, ()>| match r {
    ///         Ok(s) if *s < 500 => Verdict::Success,
    ///         _ => Verdict::Failure,
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!((status, api.failure_count()), (503, 1));
    /// # }
    /// ```
    fn call_async_with<F, T, E, K>(
        &self,
        future: F,
        classify: K,
    ) -> impl Future<Output = Result<T, CallError<E>>>
    where
        F: IntoFuture<Output = Result<T, E>>,
        K: Classify<T, E>;

    /// [`call_async`](BreakerExt::call_async) with a timeout: a call still running after
    /// `timeout` is dropped and answered with [`TimedCallError::TimedOut`], and counts as a
    /// failure (or as slow, with a slow-call policy; see the trait docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::{BreakerExt, TimedCallError};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let db = breaker_tokio::builder("database").build().unwrap();
    /// let hanging = async {
    ///     tokio::time::sleep(Duration::from_secs(3600)).await;
    ///     Ok::<u32, std::io::Error>(1)
    /// };
    /// let r = db.call_async_timeout(Duration::from_secs(2), hanging).await;
    /// assert!(matches!(r, Err(TimedCallError::TimedOut(_))));
    /// assert_eq!(db.failure_count(), 1);
    /// # }
    /// ```
    fn call_async_timeout<F, T, E>(
        &self,
        timeout: Duration,
        future: F,
    ) -> impl Future<Output = Result<T, TimedCallError<E>>>
    where
        F: IntoFuture<Output = Result<T, E>>;

    /// [`call_async_with`](BreakerExt::call_async_with) with a timeout (see
    /// [`call_async_timeout`](BreakerExt::call_async_timeout)). `timeout` is optional here, for
    /// callers whose timeout comes from configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Verdict;
    /// use breaker_tokio::BreakerExt;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let db = breaker_tokio::builder("database").build().unwrap();
    /// let unique_violation = |r: &Result<(), &str>| match r {
    ///     Err(e) if e.starts_with("23") => Verdict::Ignore, // SQLSTATE class 23: the caller's data
    ///     Err(_) => Verdict::Failure,
    ///     Ok(_) => Verdict::Success,
    /// };
    /// let timeout = Some(Duration::from_secs(1));
    /// let r = db.call_async_timeout_with(timeout, async { Err("23505") }, unique_violation).await;
    /// assert!(r.is_err());
    /// assert_eq!(db.failure_count(), 0);
    /// # }
    /// ```
    fn call_async_timeout_with<F, T, E, K>(
        &self,
        timeout: Option<Duration>,
        future: F,
        classify: K,
    ) -> impl Future<Output = Result<T, TimedCallError<E>>>
    where
        F: IntoFuture<Output = Result<T, E>>,
        K: Classify<T, E>;
}

impl<C: Clock, P: Policy> BreakerExt for Breaker<C, P> {
    fn call_async<F, T, E>(&self, future: F) -> impl Future<Output = Result<T, CallError<E>>>
    where
        F: IntoFuture<Output = Result<T, E>>,
    {
        self.call_async_with(future, ErrorClassifier)
    }

    fn call_async_with<F, T, E, K>(
        &self,
        future: F,
        classify: K,
    ) -> impl Future<Output = Result<T, CallError<E>>>
    where
        F: IntoFuture<Output = Result<T, E>>,
        K: Classify<T, E>,
    {
        let call = self.call_async_timeout_with(None, future, classify);
        async move {
            match call.await {
                Ok(v) => Ok(v),
                Err(TimedCallError::Open(open)) => Err(CallError::Open(open)),
                Err(TimedCallError::Inner(e)) => Err(CallError::Inner(e)),
                // No timeout was set, so none can elapse.
                Err(TimedCallError::TimedOut(_)) => unreachable!("no timeout was set"),
            }
        }
    }

    fn call_async_timeout<F, T, E>(
        &self,
        timeout: Duration,
        future: F,
    ) -> impl Future<Output = Result<T, TimedCallError<E>>>
    where
        F: IntoFuture<Output = Result<T, E>>,
    {
        self.call_async_timeout_with(Some(timeout), future, ErrorClassifier)
    }

    fn call_async_timeout_with<F, T, E, K>(
        &self,
        timeout: Option<Duration>,
        future: F,
        classify: K,
    ) -> impl Future<Output = Result<T, TimedCallError<E>>>
    where
        F: IntoFuture<Output = Result<T, E>>,
        K: Classify<T, E>,
    {
        let future = future.into_future();
        async move {
            // Admission on first poll; the permit's drop guard makes cancellation neutral.
            let permit = self.try_acquire().map_err(TimedCallError::Open)?;
            let outcome = match timeout {
                None => CatchUnwind { future }.await,
                Some(limit) => match tokio::time::timeout(limit, CatchUnwind { future }).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        permit.record(timeout_verdict(self, limit));
                        return Err(TimedCallError::TimedOut(crate::Elapsed::new(self.name(), limit)));
                    }
                },
            };
            match outcome {
                Ok(result) => {
                    permit.record(classify.classify(&result));
                    result.map_err(TimedCallError::Inner)
                }
                Err(panic) => {
                    permit.failure();
                    resume_unwind(panic)
                }
            }
        }
    }
}

/// The verdict for a call that timed out: a failure, unless the policy tracks slow calls and the
/// timeout is at least the slow-call threshold, in which case a success that the core records as
/// slow (and as a failure if the policy counts slow calls as failures).
///
/// Both clocks read tokio's time, and readings are floored to whole milliseconds, so a call that
/// ran for at least `timeout` has an elapsed reading of at least `timeout` in whole milliseconds.
fn timeout_verdict<C: Clock, P: Policy>(breaker: &Breaker<C, P>, timeout: Duration) -> Verdict {
    match breaker.core().policy().slow_call_ms() {
        Some(slow_ms) if timeout.as_millis() >= u128::from(slow_ms) => Verdict::Success,
        _ => Verdict::Failure,
    }
}

pin_project_lite::pin_project! {
    /// Polls `future`, turning a panic into a value so its permit can be settled as a failure
    /// before unwinding resumes. No cost on the non-panicking path beyond the landing pad.
    pub(crate) struct CatchUnwind<F> {
        #[pin]
        pub(crate) future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
