//! [`Clock`] for any `embedded_time::Clock`.

use portable_atomic::{AtomicUsize, Ordering};

use super::scale::MsScale;
use crate::{Clock, Timestamp};

/// Adapts an `embedded_time::Clock` (a hardware timer) to this crate's [`Clock`].
///
/// Readings are converted to milliseconds since the clock's epoch. `embedded_time` clocks can
/// fail (`try_now`); this adapter never does: on an error it returns the last good reading (the
/// breaker then sees time standing still, which delays a recovery rather than admitting probes
/// early). The last reading is kept in a pointer-sized atomic, so on 32-bit targets it holds the
/// low 32 bits of milliseconds (49.7 days), more than the 32-bit word layout keeps anyway.
///
/// The conversion from ticks costs no division: the ticks-per-millisecond scale is computed at
/// compile time from `SCALING_FACTOR`, and a reading is a multiply (its high half), two wrapping
/// multiplies and a compare (just a multiply when a tick is a whole number of milliseconds),
/// exact for every tick count. A `SCALING_FACTOR` with a zero denominator does not compile.
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

    /// Ticks to ms: a tick is `SCALING_FACTOR` seconds, `1000 · numerator / denominator` ms,
    /// converted without a division (the scale is computed at compile time; see `scale.rs`).
    const SCALE: MsScale =
        MsScale::new(1_000 * *C::SCALING_FACTOR.numerator() as u64, *C::SCALING_FACTOR.denominator() as u64);

    #[inline]
    fn read_ms(&self) -> Option<u64> {
        let ticks: u64 = self.inner.try_now().ok()?.duration_since_epoch().integer().into();
        Self::SCALE.ms(ticks)
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

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;
    use embedded_time::{clock, fraction::Fraction, Instant};
    use proptest::prelude::*;

    /// A clock whose tick is `N / D` seconds, reading whatever the test sets.
    struct Ticks<const N: u32, const D: u32>(Cell<Option<u64>>);

    impl<const N: u32, const D: u32> embedded_time::Clock for Ticks<N, D> {
        type T = u64;
        const SCALING_FACTOR: Fraction = Fraction::new(N, D);
        fn try_now(&self) -> Result<Instant<Self>, clock::Error> {
            self.0.get().map(Instant::new).ok_or(clock::Error::NotRunning)
        }
    }

    /// The conversion this adapter made before its scale was precomputed (a 128-bit multiply and
    /// divide per reading).
    fn by_division<const N: u32, const D: u32>(ticks: u64) -> Option<u64> {
        u64::try_from(u128::from(ticks) * u128::from(N) * 1_000 / u128::from(D)).ok()
    }

    fn reads_as_division<const N: u32, const D: u32>(ticks: u64) {
        let clock = EmbeddedTimeClock::new(Ticks::<N, D>(Cell::new(Some(ticks))));
        match by_division::<N, D>(ticks) {
            Some(ms) => assert_eq!(clock.now().as_millis(), ms, "{N}/{D} s per tick, {ticks} ticks"),
            // Past the horizon: the last good reading (none yet: the epoch).
            None => assert_eq!(clock.now(), Timestamp::ZERO),
        }
    }

    proptest! {
        #![proptest_config(if cfg!(miri) { ProptestConfig::default() } else { ProptestConfig::with_cases(5_000) })]

        #[test]
        fn readings_equal_the_division(ticks in any::<u64>()) {
            reads_as_division::<1, 1_000>(ticks); // 1 kHz
            reads_as_division::<1, 32_768>(ticks); // 32.768 kHz
            reads_as_division::<1, 12_500_000>(ticks); // the qemu board's core clock
            reads_as_division::<1, 1_000_000>(ticks); // 1 MHz
            reads_as_division::<3, 7>(ticks);
            reads_as_division::<1, 1>(ticks); // 1 Hz: past the horizon above 2^64 / 1000 ticks
            reads_as_division::<{ u32::MAX }, { u32::MAX - 1 }>(ticks);
        }
    }

    #[test]
    fn an_error_repeats_the_last_good_reading() {
        let clock = EmbeddedTimeClock::new(Ticks::<1, 1_000>(Cell::new(Some(1_234))));
        assert_eq!(clock.now().as_millis(), 1_234);
        clock.inner().0.set(None);
        assert_eq!(clock.now().as_millis(), 1_234);
        clock.inner().0.set(Some(u64::MAX));
        assert_eq!(clock.now().as_millis(), u64::MAX);
    }
}
