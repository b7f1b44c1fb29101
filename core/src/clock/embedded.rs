//! [`Clock`] for any `embedded_time::Clock`.

use portable_atomic::{AtomicUsize, Ordering};

use crate::{Clock, Timestamp};

/// Adapts an `embedded_time::Clock` (a hardware timer) to this crate's [`Clock`].
///
/// Readings are converted to milliseconds since the clock's epoch. `embedded_time` clocks can
/// fail (`try_now`); this adapter never does: on an error it returns the last good reading (the
/// breaker then sees time standing still, which delays a recovery rather than admitting probes
/// early). The last reading is kept in a pointer-sized atomic, so on 32-bit targets it holds the
/// low 32 bits of milliseconds (49.7 days), more than the 32-bit word layout keeps anyway.
///
/// # Examples
///
/// ```
/// use breaker_core::{Clock, EmbeddedTimeClock};
/// use embedded_time::{clock, fraction::Fraction, Instant};
///
/// /// A 1 kHz tick counter (in firmware: incremented by the SysTick interrupt).
/// struct Ticks(core::sync::atomic::AtomicU32);
/// impl embedded_time::Clock for Ticks {
///     type T = u32;
///     const SCALING_FACTOR: Fraction = Fraction::new(1, 1_000);
///     fn try_now(&self) -> Result<Instant<Self>, clock::Error> {
///         Ok(Instant::new(self.0.load(core::sync::atomic::Ordering::Relaxed)))
///     }
/// }
///
/// let clock = EmbeddedTimeClock::new(Ticks(core::sync::atomic::AtomicU32::new(2_500)));
/// assert_eq!(clock.now().as_millis(), 2_500);
/// ```
#[derive(Debug)]
pub struct EmbeddedTimeClock<C> {
    inner: C,
    last_ms: AtomicUsize,
}

impl<C: embedded_time::Clock> EmbeddedTimeClock<C>
where
    C::T: Into<u64>,
{
    /// Wraps `clock` (any clock whose tick integer is `u32` or `u64`). `const`, so the adapter can live in a `static`.
    pub const fn new(clock: C) -> Self {
        EmbeddedTimeClock { inner: clock, last_ms: AtomicUsize::new(0) }
    }

    /// The wrapped clock.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    fn read_ms(&self) -> Option<u64> {
        let ticks: u64 = self.inner.try_now().ok()?.duration_since_epoch().integer().into();
        // ticks × (numerator / denominator) seconds, in ms; u128 cannot overflow here.
        let scale = C::SCALING_FACTOR;
        let ms =
            u128::from(ticks) * u128::from(*scale.numerator()) * 1_000 / u128::from(*scale.denominator());
        u64::try_from(ms).ok()
    }
}

impl<C: embedded_time::Clock> Clock for EmbeddedTimeClock<C>
where
    C::T: Into<u64>,
{
    fn now(&self) -> Timestamp {
        match self.read_ms() {
            Some(ms) => {
                self.last_ms.store(ms as usize, Ordering::Relaxed);
                Timestamp::from_millis(ms)
            }
            None => Timestamp::from_millis(self.last_ms.load(Ordering::Relaxed) as u64),
        }
    }
}
