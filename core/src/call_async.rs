//! Async calls without an executor of our own: [`call_async`] runs any [`Future`] through a
//! breaker. `no_std`, no allocation, nothing from an async runtime: the returned [`CallAsync`]
//! is a plain future that any executor polls (embassy's, tokio's, a firmware poll loop).
//! breaker-tokio's `call_async` is this future with a tokio timer around it.
//!
//! # Rules
//!
//! - **Lazy.** Nothing happens until the first poll: admission (and so a half-open probe slot)
//!   is asked for there. A rejected call resolves at once to [`CallError::Open`], without the
//!   inner future ever being polled.
//! - **One verdict per admitted call**, when the inner future finishes, from the classifier
//!   ([`Classify`]; the default, [`Errors`], counts every `Err` as a failure). On targets that
//!   unwind, a panic in the inner future or in the classifier counts as a failure and keeps
//!   unwinding (as in [`Breaker::call_with`](crate::Breaker::call_with)).
//! - **Cancellation is neutral.** A `CallAsync` dropped before its inner future finishes (a
//!   select that took another branch, a timeout, a task that was cancelled) counts as neither a
//!   success nor a failure, and a half-open probe's slot is given back: this is the [`Permit`]'s
//!   drop guard (and its abandoned-call rule: with
//!   [`Config::count_abandoned_after`](crate::Config::count_abandoned_after), a call dropped after
//!   that long counts as a failure).
//! - **Timeouts** belong to the executor's timer: when it fires first, call
//!   [`CallAsync::time_out`] (the call counts as timed out, [`Permit::timed_out`]) and drop the
//!   future.
//!
//! The decisions are the breaker's own (admission, settling a verdict); this file only holds a
//! permit across polls.

use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use crate::classify::{Classify, Errors};
use crate::{AsBreaker, CallError, Permit};

/// Runs `future` through `breaker`: rejected without being polled while the breaker rejects;
/// an `Err` counts as a failure, an `Ok` as a success (change that with
/// [`CallAsync::classify`]); dropped before it finishes, as neither. See [`CallAsync`] for
/// the rules.
///
/// `breaker` is any breaker type of this crate or of an adapter crate ([`AsBreaker`]).
///
/// # Examples
///
/// With a minimal executor (in firmware: embassy's, or a poll loop; in a service: tokio's):
///
/// ```
/// use breaker_core::{call_async, Breaker, CallError, Config, ManualClock, State};
/// use core::future::Future;
/// use core::pin::pin;
/// use core::task::{Context, Poll, Waker};
///
/// fn block_on<F: Future>(future: F) -> F::Output {
///     let mut future = pin!(future);
///     let mut cx = Context::from_waker(Waker::noop());
///     loop {
///         if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
///             return v;
///         }
///     }
/// }
///
/// let modem = Breaker::try_new("modem", Config::new().failure_threshold(2), ManualClock::new()).unwrap();
/// for _ in 0..2 {
///     let r = block_on(call_async(&modem, async { Err::<u8, _>("no carrier") }));
///     assert_eq!(r, Err(CallError::Inner("no carrier")));
/// }
/// assert_eq!(modem.state(), State::Open);
/// let r = block_on(call_async(&modem, async { unreachable!("not polled while open") as Result<u8, &str> }));
/// assert!(r.unwrap_err().is_open());
/// ```
#[inline]
pub fn call_async<B: AsBreaker, F: IntoFuture>(
    breaker: &B,
    future: F,
) -> CallAsync<'_, B, F::IntoFuture, Errors> {
    CallAsync { breaker, future: future.into_future(), classify: Errors, stage: Stage::Idle }
}

/// Where a call is: not yet polled, admitted (holding its permit), or finished.
enum Stage<'a, B: AsBreaker> {
    Idle,
    Admitted(Permit<&'a B>),
    Done,
}

pin_project_lite::pin_project! {
    /// The future of [`call_async`], and its builder: set the classifier with
    /// [`classify`](CallAsync::classify), then poll it (`.await`). Resolves to the inner
    /// future's result, or to [`CallError::Open`], without polling the inner future, when the
    /// breaker rejects.
    ///
    /// # Panics
    ///
    /// Polling it again after it resolved (or after [`time_out`](CallAsync::time_out)), which
    /// the [`Future`] contract forbids.
    ///
    /// # Examples
    ///
    /// A classifier, and a probe whose future is dropped (its slot comes back):
    ///
    /// ```
    /// use breaker_core::{call_async, Breaker, Config, ManualClock, State, Verdict};
    /// use core::future::Future;
    /// use core::pin::pin;
    /// use core::task::{Context, Poll, Waker};
    /// use core::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let config = Config::new().failure_threshold(1).recovery_timeout(Duration::from_secs(1));
    /// let api = Breaker::try_new("api", config, &clock).unwrap();
    /// let mut cx = Context::from_waker(Waker::noop());
    ///
    /// // A 503 is a failure although the call returned `Ok`.
    /// let by_status = |r: &Result<u16, ()>| match r {
    ///     Ok(s) if *s < 500 => Verdict::Success,
    ///     _ => Verdict::Failure,
    /// };
    /// let call = pin!(call_async(&api, async { Ok::<u16, ()>(503) }).classify(by_status));
    /// assert_eq!(call.poll(&mut cx), Poll::Ready(Ok(503)));
    /// assert_eq!(api.state(), State::Open);
    ///
    /// clock.advance(Duration::from_secs(1));
    /// {
    ///     let mut probe = Box::pin(call_async(&api, core::future::pending::<Result<u16, ()>>()));
    ///     assert!(probe.as_mut().poll(&mut cx).is_pending()); // admitted: the probe is out
    ///     assert!(api.try_acquire().is_err()); // no second probe
    /// } // dropped: neither a success nor a failure, and the probe slot is free again
    /// assert!(api.try_acquire().is_ok());
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct CallAsync<'a, B, F, K>
    where
        B: AsBreaker,
    {
        breaker: &'a B,
        #[pin]
        future: F,
        classify: K,
        stage: Stage<'a, B>,
    }
}

impl<'a, B: AsBreaker, F, K> CallAsync<'a, B, F, K> {
    /// Decides the verdict with `classify` (any [`Classify`]) instead of the default (every
    /// `Err` a failure).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::classify::failures_where;
    /// use breaker_core::{call_async, Breaker, Config, ManualClock};
    /// use core::future::Future;
    /// use core::pin::pin;
    /// use core::task::{Context, Poll, Waker};
    ///
    /// let db = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// // Only 5xx count; a 404 is the caller's business.
    /// let call = call_async(&db, async { Err::<(), u16>(404) }).classify(failures_where(|s: &u16| *s >= 500));
    /// assert!(pin!(call).poll(&mut Context::from_waker(Waker::noop())).is_ready());
    /// assert_eq!(db.failure_count(), 0);
    /// ```
    pub fn classify<K2>(self, classify: K2) -> CallAsync<'a, B, F, K2> {
        let CallAsync { breaker, future, stage, .. } = self;
        CallAsync { breaker, future, classify, stage }
    }

    /// The breaker this call goes through.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{call_async, AsBreaker, Breaker, Config, ManualClock};
    ///
    /// let db = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// let call = call_async(&db, async { Ok::<(), ()>(()) });
    /// assert_eq!(call.breaker().as_breaker().name(), "db");
    /// ```
    pub fn breaker(&self) -> &'a B {
        self.breaker
    }

    /// `true` while the call is admitted and running: polled at least once, let through, and
    /// not finished (nor timed out).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{call_async, Breaker, Config, ManualClock};
    /// use core::future::Future;
    /// use core::task::{Context, Waker};
    ///
    /// let db = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// let mut call = Box::pin(call_async(&db, core::future::pending::<Result<(), ()>>()));
    /// assert!(!call.is_admitted()); // lazy: nothing before the first poll
    /// let _ = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    /// assert!(call.is_admitted());
    /// ```
    pub fn is_admitted(&self) -> bool {
        matches!(self.stage, Stage::Admitted(_))
    }

    /// The caller's timer fired first: the call is given up after `timeout` and counts as timed
    /// out ([`Permit::timed_out`]: a failure, or a slow call under a slow-call policy whose
    /// threshold `timeout` reaches). Returns `true` if an admitted call was counted, `false` if
    /// the call had not been admitted or had finished. Drop the future afterwards (that drops
    /// the inner future); polling it again panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{call_async, Breaker, Config, ManualClock};
    /// use core::future::Future;
    /// use core::task::{Context, Waker};
    /// use core::time::Duration;
    ///
    /// let db = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// let mut call = Box::pin(call_async(&db, core::future::pending::<Result<(), ()>>()));
    /// assert!(call.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    /// // ... the executor's timer for 2 s fires before the call finishes:
    /// assert!(call.as_mut().time_out(Duration::from_secs(2)));
    /// drop(call);
    /// assert_eq!(db.failure_count(), 1);
    /// ```
    pub fn time_out(self: Pin<&mut Self>, timeout: Duration) -> bool {
        match core::mem::replace(self.project().stage, Stage::Done) {
            Stage::Admitted(permit) => {
                permit.timed_out(timeout);
                true
            }
            Stage::Idle | Stage::Done => false,
        }
    }
}

/// Holds the permit while the inner future or the classifier runs: if either unwinds, the call
/// counts as a failure (on the normal path the permit is taken back out).
struct FailOnUnwind<'a, B: AsBreaker>(Option<Permit<&'a B>>);

impl<'a, B: AsBreaker> FailOnUnwind<'a, B> {
    #[inline(always)]
    fn disarm(mut self) -> Option<Permit<&'a B>> {
        self.0.take()
    }
}

impl<B: AsBreaker> Drop for FailOnUnwind<'_, B> {
    fn drop(&mut self) {
        if let Some(permit) = self.0.take() {
            permit.failure();
        }
    }
}

impl<B, F, K, T, E> Future for CallAsync<'_, B, F, K>
where
    B: AsBreaker,
    F: Future<Output = Result<T, E>>,
    K: Classify<T, E>,
{
    type Output = Result<T, CallError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let permit = match core::mem::replace(this.stage, Stage::Done) {
            Stage::Idle => match Permit::acquire(*this.breaker) {
                Ok(permit) => permit,
                Err(open) => return Poll::Ready(Err(CallError::Open(open))),
            },
            Stage::Admitted(permit) => permit,
            Stage::Done => panic!("`CallAsync` polled after it resolved"),
        };
        let guard = FailOnUnwind(Some(permit));
        match this.future.poll(cx) {
            Poll::Pending => {
                if let Some(permit) = guard.disarm() {
                    *this.stage = Stage::Admitted(permit);
                }
                Poll::Pending
            }
            Poll::Ready(result) => {
                let verdict = this.classify.classify(&result);
                if let Some(permit) = guard.disarm() {
                    permit.record(verdict);
                }
                Poll::Ready(result.map_err(CallError::Inner))
            }
        }
    }
}

impl<B: AsBreaker, F, K> core::fmt::Debug for CallAsync<'_, B, F, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CallAsync")
            .field("breaker", &self.breaker.as_breaker().name())
            .field("admitted", &self.is_admitted())
            .finish_non_exhaustive()
    }
}
