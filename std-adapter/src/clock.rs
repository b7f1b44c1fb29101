//! Clocks: [`CoarseClock`] (the default: cheap, tick resolution) and [`MonotonicClock`]
//! (`std::time::Instant`, precise).
//!
//! Both keep the core's clock contract: milliseconds since the clock's creation, monotonic,
//! never wrapping within a `u64`, infallible. A breaker reads its clock only when it needs time:
//! to reject a call while OPEN (the remaining wait is computed from it), to stamp a trip, and
//! to let the first probe through. A CLOSED success never reads it.
//!
//! # Which one
//!
//! Measured with `cargo bench -p breaker-benches --bench clocks` (see the crate docs for the
//! numbers): on Linux `CLOCK_MONOTONIC_COARSE` is read from the vDSO without touching a hardware
//! counter, several times cheaper than `Instant::now()`, with a resolution of one kernel tick
//! (1–10 ms, typically 4 ms). A breaker keeps timestamps in whole milliseconds and recovery
//! timeouts are seconds, so a few milliseconds of resolution cost nothing that matters: a probe is
//! admitted at most one tick late. That is why [`CoarseClock`] is the default clock of every
//! breaker in this crate: the clock is read on every rejection, and rejections are what a breaker
//! does most while its dependency is down. Choose [`MonotonicClock`] when recovery timeouts are
//! so short (tens of milliseconds) that a tick matters. Outside Linux and Android,
//! [`CoarseClock`] falls back to `Instant` and costs what [`MonotonicClock`] costs.

use std::time::Instant;

use breaker_core::{Clock, Timestamp};

/// A monotonic clock over [`std::time::Instant`]: milliseconds since the clock was created.
/// Precise to the millisecond; a reading costs an `Instant::now()` (see the crate docs' table).
///
/// Cheap to copy (it is one `Instant`); copies share the same epoch.
///
/// # Examples
///
/// ```
/// use breaker_std::Clock;
/// use breaker_std::MonotonicClock;
///
/// let clock = MonotonicClock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
///
/// // A breaker with a 50 ms recovery timeout, where a 4 ms tick would matter.
/// let fast = breaker_std::Breaker::builder("cache")
///     .recovery_timeout(std::time::Duration::from_millis(50))
///     .clock(MonotonicClock::new())
///     .build()
///     .unwrap();
/// # let _ = fast;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    start: Instant,
}

impl MonotonicClock {
    /// A clock whose epoch is now.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Clock;
    /// use breaker_std::MonotonicClock;
    ///
    /// assert!(MonotonicClock::new().now().as_millis() < 1_000);
    /// ```
    pub fn new() -> Self {
        MonotonicClock { start: Instant::now() }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Timestamp {
        // Seconds and sub-second millis rather than `as_millis`, whose u128 division costs more
        // than the rest of the reading. u64 milliseconds last 585 million years.
        let e = self.start.elapsed();
        Timestamp::from_millis(e.as_secs().wrapping_mul(1_000).wrapping_add(u64::from(e.subsec_millis())))
    }
}

/// A cheaper clock with tick resolution: `CLOCK_MONOTONIC_COARSE` on Linux and Android, `Instant`
/// elsewhere. Milliseconds since the clock was created.
///
/// Use it for breakers that reject a lot (a dependency that is down for long stretches under
/// heavy traffic): every rejection reads the clock once. Its resolution is the kernel tick
/// (typically 4 ms), so a probe may be admitted up to one tick after the recovery timeout.
///
/// # Examples
///
/// ```
/// use breaker_std::Clock;
/// use breaker_std::{Breaker, CoarseClock};
///
/// let clock = CoarseClock::new();
/// let t = clock.now();
/// assert!(clock.now() >= t);
///
/// let api = Breaker::builder("api").build().unwrap(); // the default clock
/// # let _: &Breaker<CoarseClock> = &api;
/// assert!(api.call(|| Ok::<_, ()>(1)).is_ok());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CoarseClock {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    start_ms: u64,
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    start: Instant,
}

impl CoarseClock {
    /// A clock whose epoch is now.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_std::Clock;
    /// use breaker_std::CoarseClock;
    ///
    /// assert!(CoarseClock::new().now().as_millis() < 1_000);
    /// ```
    pub fn new() -> Self {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            CoarseClock { start_ms: coarse_ms() }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            CoarseClock { start: Instant::now() }
        }
    }
}

impl Default for CoarseClock {
    fn default() -> Self {
        CoarseClock::new()
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn coarse_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    // Both fields are non-negative for CLOCK_MONOTONIC_COARSE (time since boot).
    (t.tv_sec as u64).wrapping_mul(1_000).wrapping_add(t.tv_nsec as u64 / 1_000_000)
}

impl Clock for CoarseClock {
    #[inline]
    fn now(&self) -> Timestamp {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // The kernel's coarse clock is monotonic, so this never underflows; saturate anyway.
            Timestamp::from_millis(coarse_ms().saturating_sub(self.start_ms))
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let e = self.start.elapsed();
            Timestamp::from_millis(e.as_secs().wrapping_mul(1_000).wrapping_add(u64::from(e.subsec_millis())))
        }
    }
}
