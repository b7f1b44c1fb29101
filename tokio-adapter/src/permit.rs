//! [`OwnedPermit`]: admission that owns a handle to its breaker (an `Arc`, or a `&'static`)
//! instead of borrowing it, so it can live in a `'static` future (a tower response future, a
//! spawned task). [`BreakerRef`] is what such a handle is.
//!
//! It wraps the core's [`Ticket`] and gives it the drop guard the core's borrowed `Permit` has:
//! a permit dropped without a verdict (a cancelled request, a future dropped by `select!`, a
//! panic unwinding) counts as neither success nor failure and gives its half-open probe slot
//! back. Every permit is settled exactly once.

use core::ops::Deref;
use std::sync::Arc;

use breaker_core::{CircuitOpen, Clock, Policy, Ticket, Verdict};
use breaker_std::Breaker;

/// A handle that owns access to a breaker-std [`Breaker`]: `Arc<Breaker>` (what a registry
/// hands out) or `&'static Breaker` (a breaker in a `static`, or leaked with
/// [`leak`](crate::leak)). Implemented for every `Clone` type that dereferences to a
/// `Breaker`.
///
/// The choice is a cost: an `Arc` handle is cloned and dropped once per admitted call (two
/// atomic read-modify-writes, about 19 ns on the development machine), a `&'static` one is
/// copied (free). See the tower bench in the README.
///
/// # Examples
///
/// ```
/// use breaker_tokio::BreakerRef;
/// use std::sync::Arc;
///
/// fn name_of(handle: &impl BreakerRef) -> &'static str {
///     handle.breaker().name()
/// }
/// let shared = Arc::new(breaker_tokio::builder("db").build().unwrap());
/// let forever: &'static breaker_tokio::Breaker = breaker_tokio::leak(Arc::clone(&shared));
/// assert_eq!((name_of(&shared), name_of(&forever)), ("db", "db"));
/// ```
pub trait BreakerRef: Clone {
    /// The breaker's clock.
    type Clock: Clock;
    /// The breaker's trip policy.
    type Policy: Policy;

    /// The breaker.
    fn breaker(&self) -> &Breaker<Self::Clock, Self::Policy>;
}

impl<H, C, P> BreakerRef for H
where
    H: Deref<Target = Breaker<C, P>> + Clone,
    C: Clock,
    P: Policy,
{
    type Clock = C;
    type Policy = P;

    #[inline(always)]
    fn breaker(&self) -> &Breaker<C, P> {
        self
    }
}

/// Admission to make one call, owning an `Arc` of its breaker. Report with
/// [`success`](OwnedPermit::success), [`failure`](OwnedPermit::failure),
/// [`ignore`](OwnedPermit::ignore) or [`record`](OwnedPermit::record); dropping it reports
/// [`Verdict::Ignore`].
///
/// # Examples
///
/// A permit moved into a spawned task:
///
/// ```
/// use breaker_core::State;
/// use breaker_tokio::OwnedPermit;
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let db = Arc::new(breaker_tokio::builder("database").failure_threshold(1).build().unwrap());
/// let permit = OwnedPermit::try_acquire(&db).expect("closed");
/// tokio::spawn(async move {
///     // ... the call fails:
///     permit.failure();
/// })
/// .await
/// .unwrap();
/// assert_eq!(db.state(), State::Open);
/// assert!(OwnedPermit::try_acquire(&db).is_err());
/// # }
/// ```
#[must_use = "dropping a permit reports the call as ignored"]
pub struct OwnedPermit<H: BreakerRef = Arc<crate::Breaker>> {
    breaker: H,
    ticket: Option<Ticket>,
}

impl<H: BreakerRef> OwnedPermit<H> {
    /// Asks `breaker` to make a call: the permit, or the open error (with retry-after) if the
    /// call must not be made. Cost: the core's admission (one atomic load when CLOSED) and a
    /// clone of the handle (see [`BreakerRef`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::OwnedPermit;
    /// use std::sync::Arc;
    ///
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// match OwnedPermit::try_acquire(&api) {
    ///     Ok(permit) => permit.success(), // make the call, then report
    ///     Err(open) => println!("skipped: {open}"),
    /// }
    /// ```
    #[inline]
    pub fn try_acquire(breaker: &H) -> Result<Self, CircuitOpen> {
        let ticket = breaker.breaker().core().try_acquire_ticket()?;
        Ok(OwnedPermit { breaker: breaker.clone(), ticket: Some(ticket) })
    }

    /// [`try_acquire`](OwnedPermit::try_acquire) for a breaker handle you already own (from a
    /// registry lookup, say): no extra clone.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::OwnedPermit;
    ///
    /// let registry = breaker_tokio::registry().build().unwrap();
    /// let permit = OwnedPermit::try_acquire_owned(registry.breaker("search")).unwrap();
    /// permit.success();
    /// ```
    #[inline]
    pub fn try_acquire_owned(breaker: H) -> Result<Self, CircuitOpen> {
        let ticket = breaker.breaker().core().try_acquire_ticket()?;
        Ok(OwnedPermit { breaker, ticket: Some(ticket) })
    }

    /// The call succeeded.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::OwnedPermit;
    /// use std::sync::Arc;
    ///
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// OwnedPermit::try_acquire(&api).unwrap().success();
    /// assert_eq!(api.failure_count(), 0);
    /// ```
    #[inline]
    pub fn success(self) {
        self.record(Verdict::Success);
    }

    /// The call failed and the failure counts.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::OwnedPermit;
    /// use std::sync::Arc;
    ///
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// OwnedPermit::try_acquire(&api).unwrap().failure();
    /// assert_eq!(api.failure_count(), 1);
    /// ```
    #[inline]
    pub fn failure(self) {
        self.record(Verdict::Failure);
    }

    /// The call counts as neither (a client error, say); a probe's slot is given back.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::OwnedPermit;
    /// use std::sync::Arc;
    ///
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// OwnedPermit::try_acquire(&api).unwrap().ignore();
    /// assert_eq!(api.failure_count(), 0);
    /// ```
    #[inline]
    pub fn ignore(self) {
        self.record(Verdict::Ignore);
    }

    /// Reports `verdict`.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::Verdict;
    /// use breaker_tokio::OwnedPermit;
    /// use std::sync::Arc;
    ///
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// OwnedPermit::try_acquire(&api).unwrap().record(Verdict::Failure);
    /// assert_eq!(api.failure_count(), 1);
    /// ```
    #[inline]
    pub fn record(mut self, verdict: Verdict) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.breaker().core().settle(ticket, verdict);
        }
    }

    /// `true` if this call is a half-open probe.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::OwnedPermit;
    /// use std::sync::Arc;
    ///
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// assert!(!OwnedPermit::try_acquire(&api).unwrap().is_probe());
    /// ```
    pub fn is_probe(&self) -> bool {
        self.ticket.as_ref().is_some_and(Ticket::is_probe)
    }

    /// The breaker this permit belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::OwnedPermit;
    /// use std::sync::Arc;
    ///
    /// let api = Arc::new(breaker_tokio::builder("api").build().unwrap());
    /// let permit = OwnedPermit::try_acquire(&api).unwrap();
    /// assert_eq!(permit.breaker().name(), "api");
    /// ```
    pub fn breaker(&self) -> &H {
        &self.breaker
    }
}

impl<H: BreakerRef> Drop for OwnedPermit<H> {
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.breaker().core().settle(ticket, Verdict::Ignore);
        }
    }
}

impl<H: BreakerRef> core::fmt::Debug for OwnedPermit<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("breaker", &self.breaker.breaker().name())
            .field("ticket", &self.ticket)
            .finish()
    }
}
