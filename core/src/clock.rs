//! Time: the [`Clock`] trait (its contract is on the trait), its [`Timestamp`], and the
//! [`ManualClock`] for deterministic tests.

use core::time::Duration;

/// A clock reading in milliseconds since the clock's epoch.
///
/// Plain ticks with checked and saturating arithmetic, constructible in `const` contexts.
///
/// # Examples
///
/// ```
/// use breaker_core::Timestamp;
/// use core::time::Duration;
///
/// let t = Timestamp::from_millis(1_500);
/// assert_eq!(t.as_millis(), 1_500);
/// assert_eq!(t.checked_add(Duration::from_millis(500)), Some(Timestamp::from_millis(2_000)));
/// assert_eq!(Timestamp::from_millis(100).saturating_duration_since(t), Duration::ZERO);
/// ```
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The clock's epoch.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A reading of `ms` milliseconds since the epoch.
    #[inline]
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    #[inline]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, or `None` on overflow. Sub-millisecond parts of `d` are truncated.
    #[inline]
    pub const fn checked_add(self, d: Duration) -> Option<Self> {
        let ms = d.as_millis();
        if ms > u64::MAX as u128 {
            return None;
        }
        match self.0.checked_add(ms as u64) {
            Some(v) => Some(Timestamp(v)),
            None => None,
        }
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    #[inline]
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// A source of [`Timestamp`]s: the milliseconds elapsed since an epoch of the clock's own
/// choosing.
///
/// # Contract
///
/// - **Unit:** one millisecond. Adapters convert from their native tick.
/// - **Monotonic:** a reading is never smaller than an earlier reading of the same clock.
/// - **Horizon:** readings fit a `u64` (585 million years of milliseconds); a clock never wraps
///   within that horizon.
/// - **Infallible and cheap:** `now` never fails and never blocks; it is read only when the
///   breaker needs time (a rejection, a trip, a probe failing), never on a closed-state success.
///
/// # A clock that breaks the contract
///
/// The breaker tolerates it, with bounded effect, and never panics because of one:
///
/// - a reading that goes backwards while the breaker is open looks like a very long elapsed
///   time, so the breaker admits a probe early (one probe; a failure reopens it);
/// - the state word keeps the open timestamp modulo [`MAX_OPEN_MS`](crate::limits::MAX_OPEN_MS) + 1
///   (per word layout: the [`limits`](crate::limits) table), so a breaker left open and untouched
///   for longer than that may wait up to one more recovery timeout.
///
/// # Examples
///
/// A clock over a hardware millisecond counter:
///
/// ```
/// use breaker_core::{Clock, Timestamp};
/// use core::sync::atomic::{AtomicU32, Ordering};
///
/// static TICKS_MS: AtomicU32 = AtomicU32::new(0); // incremented by a timer interrupt
///
/// struct SysTickClock;
/// impl Clock for SysTickClock {
///     fn now(&self) -> Timestamp {
///         Timestamp::from_millis(u64::from(TICKS_MS.load(Ordering::Relaxed)))
///     }
/// }
///
/// TICKS_MS.store(42, Ordering::Relaxed);
/// assert_eq!(SysTickClock.now().as_millis(), 42);
/// ```
pub trait Clock {
    /// The current reading.
    fn now(&self) -> Timestamp;
}

impl<C: Clock + ?Sized> Clock for &C {
    #[inline]
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// A clock that moves only when told to: for deterministic tests of code that uses a breaker.
///
/// It is `Sync`, so one clock can be shared by reference between a breaker and the test driving
/// it (`&ManualClock` is a [`Clock`] too).
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Clock, Config, ManualClock, State};
/// use core::time::Duration;
///
/// let clock = ManualClock::new();
/// let config = Config::new().failure_threshold(1).recovery_timeout(Duration::from_secs(30));
/// let breaker = Breaker::try_new("db", config, &clock).unwrap();
///
/// let _ = breaker.call(|| Err::<(), _>("down"));
/// assert_eq!(breaker.state(), State::Open);
/// clock.advance(Duration::from_secs(30));
/// assert!(breaker.try_acquire().is_ok()); // the half-open probe
/// assert_eq!(clock.now().as_millis(), 30_000);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: ClockCell,
}

#[cfg(target_has_atomic = "64")]
type ClockCell = portable_atomic::AtomicU64;
#[cfg(target_has_atomic = "64")]
type ClockInt = u64;
// Without 64-bit atomics the manual clock keeps 32 bits of milliseconds (49.7 days), rather than
// asking for portable-atomic's lock-based fallback.
#[cfg(not(target_has_atomic = "64"))]
type ClockCell = portable_atomic::AtomicU32;
#[cfg(not(target_has_atomic = "64"))]
type ClockInt = u32;

impl ManualClock {
    /// A clock reading zero.
    pub const fn new() -> Self {
        ManualClock { ms: ClockCell::new(0) }
    }

    /// A clock reading `start`.
    pub const fn starting_at(start: Timestamp) -> Self {
        ManualClock { ms: ClockCell::new(start.0 as ClockInt) }
    }

    /// Moves the clock forward by `d` (whole milliseconds; wraps at the cell's width).
    pub fn advance(&self, d: Duration) {
        let ms = d.as_millis() as ClockInt;
        self.ms.fetch_add(ms, portable_atomic::Ordering::SeqCst);
    }

    /// Sets the reading, forwards or backwards (a backwards step breaks the clock contract on
    /// purpose, to test how code copes with it).
    pub fn set(&self, t: Timestamp) {
        self.ms.store(t.0 as ClockInt, portable_atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Timestamp {
        #[allow(clippy::unnecessary_cast)] // u32 on targets without 64-bit atomics
        Timestamp(self.ms.load(portable_atomic::Ordering::SeqCst) as u64)
    }
}

#[cfg(feature = "embassy-time")]
mod embassy;
#[cfg(feature = "embedded-time")]
mod embedded;
#[cfg(any(feature = "embedded-time", feature = "embassy-time", test))]
#[cfg_attr(not(any(feature = "embedded-time", feature = "embassy-time")), allow(dead_code))]
mod scale;
#[cfg(feature = "embassy-time")]
pub use embassy::EmbassyClock;
#[cfg(feature = "embedded-time")]
pub use embedded::EmbeddedTimeClock;
