//! `call_async`: any future through a breaker, as a builder that is the future
//! ([`CallAsync`], and [`CallAsyncTimeout`] once a timeout is set). The rules (laziness, one
//! verdict, cancellation, timeouts) are documented on [`BreakerExt`].
//!
//! There is one async call implementation: the core's executor-agnostic
//! [`breaker_core::CallAsync`] (admission on the first poll, the permit held across polls, the
//! verdict, a panic counted as a failure, a drop counted as neither). This file adds tokio's
//! timer for `.timeout(d)` and the adapter's error type.

use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use breaker_core::classify::Errors;
use breaker_core::{CallError, Classify, Clock, Policy};
use breaker_std::Breaker;

use crate::{Elapsed, TimedCallError};

mod sealed {
    pub trait Sealed {}
    impl<C: breaker_core::Clock, P: breaker_core::Policy> Sealed for breaker_std::Breaker<C, P> {}
}

/// Async calls through a [`Breaker`] (and so through everything the registry and keyed families
/// hand out): `breaker.call_async(future)`, the async form of `call`.
///
/// `call_async` returns a builder that is the future: `.classify(c)` sets which outcomes count
/// (any [`Classify`]; the default counts every `Err`), `.timeout(d)` gives the call a deadline.
/// The future borrows the breaker; to spawn, move an `Arc<Breaker>` (or a `&'static` one from
/// the registry) into the task and call it there. It is `Send` when the call's future is.
///
/// # Rules
///
/// - **Lazy.** Nothing happens until the future is first polled: admission (and so a half-open
///   probe slot) and the timeout's clock both start there.
/// - **Exactly one verdict per admitted call.** The outcome is classified and reported once,
///   when the inner future finishes; a panic in the inner future reports a failure and keeps
///   unwinding.
/// - **Cancellation is neutral.** A call future dropped before it finishes (a `select!` branch
///   that lost, a client that went away, an aborted task) reports neither a success nor a
///   failure, and a half-open probe slot is given back, so a cancelled probe never leaves the
///   breaker stuck. This is the core [`Permit`](crate::Permit)'s drop guard.
/// - **Timeouts.** A call still running when its timeout elapses is dropped (as tokio's
///   `timeout` does), answered with [`TimedCallError::TimedOut`] and reported to the core as
///   timed out ([`Permit::timed_out`](crate::Permit::timed_out)): a **failure**, or with a slow-call policy and a timeout
///   at least the slow-call threshold, a **slow** call.
///
/// # Examples
///
/// ```
/// use breaker_tokio::prelude::*;
///
/// async fn call_database() -> Result<u32, std::io::Error> {
///     Ok(42)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let database_breaker = breaker_tokio::builder("database").build().unwrap();
/// match database_breaker.call_async(call_database()).await {
///     Ok(rows) => assert_eq!(rows, 42),
///     Err(CallError::Open(open)) => println!("circuit open, retry in {:?}", open.retry_after()),
///     Err(CallError::Inner(e)) => println!("service error: {e}"),
/// }
/// # }
/// ```
pub trait BreakerExt: sealed::Sealed + breaker_core::AsBreaker + Sized {
    /// Runs `future` through the breaker: rejected without being polled while open; an `Err`
    /// counts as a failure, an `Ok` as a success (change it with
    /// [`classify`](CallAsync::classify)); dropped before it finishes, as neither. Add a
    /// deadline with [`timeout`](CallAsync::timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::prelude::*;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let kafka = breaker_tokio::builder("kafka").failure_threshold(3).build().unwrap();
    /// for _ in 0..3 {
    ///     let r = kafka.call_async(async { Err::<(), _>("broker unreachable") }).await;
    ///     assert_eq!(r, Err(CallError::Inner("broker unreachable")));
    /// }
    /// assert_eq!(kafka.state(), State::Open);
    /// let r = kafka.call_async(async { unreachable!("not polled while open") as Result<(), &str> }).await;
    /// assert!(r.unwrap_err().is_open());
    ///
    /// // A deadline, and a classifier: a unique violation (SQLSTATE 23505) is the caller's.
    /// let db = breaker_tokio::builder("database").build().unwrap();
    /// let r = db
    ///     .call_async(async { Err::<(), _>("23505") })
    ///     .classify(failures_where(|e: &&str| !e.starts_with("23")))
    ///     .timeout(Duration::from_secs(2))
    ///     .await;
    /// assert!(matches!(r, Err(TimedCallError::Inner("23505"))));
    /// assert_eq!(db.failure_count(), 0);
    /// # }
    /// ```
    fn call_async<F: IntoFuture>(&self, future: F) -> CallAsync<'_, Self, F::IntoFuture, Errors>;
}

impl<C: Clock, P: Policy> BreakerExt for Breaker<C, P> {
    #[inline]
    fn call_async<F: IntoFuture>(&self, future: F) -> CallAsync<'_, Self, F::IntoFuture, Errors> {
        CallAsync { call: breaker_core::call_async(self, future) }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`BreakerExt::call_async`], and its builder: set the classifier with
    /// [`classify`](CallAsync::classify) and a deadline with [`timeout`](CallAsync::timeout),
    /// then `.await` it. Resolves to the call's result, or [`CallError::Open`] without polling the
    /// call while the breaker rejects.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let api = breaker_tokio::builder("api").build().unwrap();
    /// let status = api
    ///     .call_async(async { Ok::<u16, ()>(503) })
    ///     .classify(|r: &Result<u16, ()>| match r {
    ///         Ok(s) if *s < 500 => Verdict::Success,
    ///         _ => Verdict::Failure,
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!((status, api.failure_count()), (503, 1));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct CallAsync<'a, B, F, K>
    where
        B: breaker_core::AsBreaker,
    {
        #[pin]
        call: breaker_core::CallAsync<'a, B, F, K>,
    }
}

impl<'a, B: breaker_core::AsBreaker, F, K> CallAsync<'a, B, F, K> {
    /// Decides the verdict with `classify` instead of the default (every `Err` a failure).
    ///
    /// # Examples
    ///
    /// See [`CallAsync`].
    pub fn classify<K2>(self, classify: K2) -> CallAsync<'a, B, F, K2> {
        CallAsync { call: self.call.classify(classify) }
    }

    /// Gives the call a deadline: still running after `timeout`, it is dropped, answered with
    /// [`TimedCallError::TimedOut`] and reported as timed out (a failure, or a slow call under a
    /// slow-call policy; see [`BreakerExt`]). The clock starts at the first poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::prelude::*;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let db = breaker_tokio::builder("database").build().unwrap();
    /// let hanging = async {
    ///     tokio::time::sleep(Duration::from_secs(3600)).await;
    ///     Ok::<u32, std::io::Error>(1)
    /// };
    /// let r = db.call_async(hanging).timeout(Duration::from_secs(2)).await;
    /// assert!(matches!(r, Err(TimedCallError::TimedOut(_))));
    /// assert_eq!(db.failure_count(), 1);
    /// # }
    /// ```
    pub fn timeout(self, timeout: Duration) -> CallAsyncTimeout<'a, B, F, K> {
        CallAsyncTimeout { call: self.call, timeout, sleep: None }
    }
}

impl<B, F, K, T, E> Future for CallAsync<'_, B, F, K>
where
    B: breaker_core::AsBreaker,
    F: Future<Output = Result<T, E>>,
    K: Classify<T, E>,
{
    type Output = Result<T, CallError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll(cx)
    }
}

impl<B: breaker_core::AsBreaker, F, K> core::fmt::Debug for CallAsync<'_, B, F, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CallAsync")
            .field("breaker", &self.call.breaker().as_breaker().name())
            .field("admitted", &self.call.is_admitted())
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// [`CallAsync`] with a deadline (from [`CallAsync::timeout`]): resolves to the call's
    /// result, [`TimedCallError::Open`] while the breaker rejects, or
    /// [`TimedCallError::TimedOut`] when the deadline passed first.
    ///
    /// # Examples
    ///
    /// See [`CallAsync::timeout`].
    #[must_use = "futures do nothing unless polled"]
    pub struct CallAsyncTimeout<'a, B, F, K>
    where
        B: breaker_core::AsBreaker,
    {
        #[pin]
        call: breaker_core::CallAsync<'a, B, F, K>,
        timeout: Duration,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
    }
}

impl<'a, B: breaker_core::AsBreaker, F, K> CallAsyncTimeout<'a, B, F, K> {
    /// Decides the verdict with `classify` instead of the default (every `Err` a failure).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::prelude::*;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let db = breaker_tokio::builder("database").build().unwrap();
    /// let r = db
    ///     .call_async(async { Err::<(), _>(404) })
    ///     .timeout(Duration::from_secs(1))
    ///     .classify(failures_where(|status: &u16| *status >= 500))
    ///     .await;
    /// assert!(r.is_err());
    /// assert_eq!(db.failure_count(), 0);
    /// # }
    /// ```
    pub fn classify<K2>(self, classify: K2) -> CallAsyncTimeout<'a, B, F, K2> {
        CallAsyncTimeout { call: self.call.classify(classify), timeout: self.timeout, sleep: self.sleep }
    }
}

impl<B, F, K, T, E> Future for CallAsyncTimeout<'_, B, F, K>
where
    B: breaker_core::AsBreaker,
    F: Future<Output = Result<T, E>>,
    K: Classify<T, E>,
{
    type Output = Result<T, TimedCallError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let first = this.sleep.is_none();
        match this.call.as_mut().poll(cx) {
            Poll::Ready(Ok(v)) => return Poll::Ready(Ok(v)),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(TimedCallError::from(e))),
            Poll::Pending => {}
        }
        if first {
            // Admitted and still running: the deadline counts from this first poll.
            this.sleep.set(Some(tokio::time::sleep(*this.timeout)));
        }
        let Some(sleep) = this.sleep.as_pin_mut() else { return Poll::Pending };
        if sleep.poll(cx).is_pending() {
            return Poll::Pending;
        }
        let name = this.call.breaker().as_breaker().name();
        this.call.time_out(*this.timeout);
        Poll::Ready(Err(TimedCallError::TimedOut(Elapsed::new(name, *this.timeout))))
    }
}

impl<B: breaker_core::AsBreaker, F, K> core::fmt::Debug for CallAsyncTimeout<'_, B, F, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CallAsyncTimeout")
            .field("breaker", &self.call.breaker().as_breaker().name())
            .field("timeout", &self.timeout)
            .field("admitted", &self.call.is_admitted())
            .finish_non_exhaustive()
    }
}
