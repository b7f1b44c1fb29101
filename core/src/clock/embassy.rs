//! [`Clock`] over embassy-time: [`EmbassyClock`].

use super::scale::MsScale;
use crate::{Clock, Timestamp};

/// The breaker's [`Clock`] on embassy's time driver: [`embassy_time::Instant::now`], in
/// milliseconds since the driver's epoch (usually boot).
///
/// Zero-sized and `const`, so a `static` breaker on it costs no RAM for its clock.
///
/// - **Tick rate:** embassy-time's [`TICK_HZ`](embassy_time::TICK_HZ), fixed at build time by a
///   `tick-hz-*` feature of `embassy-time` (or of the HAL's time driver; 1 MHz by default, and
///   with the `std` and `mock-driver` drivers). Readings are truncated to whole milliseconds;
///   the breaker needs no more.
/// - **Horizon:** embassy's 64-bit tick counter, `2^64 / TICK_HZ` seconds (584 942 years at
///   1 MHz, 17.8 million years at 32.768 kHz), and every reading fits the breaker's millisecond
///   [`Timestamp`] when `TICK_HZ ≥ 1000`. Below 1 kHz a `Timestamp` runs out first (after
///   `2^64 / 1000` ticks: 585 million years at 1 Hz); a reading past that saturates at
///   `u64::MAX` ms, which no running device reaches.
/// - **Cost per reading:** the driver's `now()` plus the tick-to-millisecond conversion, which
///   has no division: its scale is computed at compile time from `TICK_HZ`, and a reading is a
///   64×64-bit multiply (its high half), two wrapping multiplies and a compare (a plain
///   multiply at 1 kHz), exact for every tick count. The breaker reads its clock only when it
///   needs time (a rejection, a trip, a failed probe), never on a closed-state success.
///
/// Needs embassy-time 0.5 and a Rust toolchain that builds it (1.85 or later; the rest of this
/// crate builds on 1.81).
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Clock, Config, EmbassyClock, State};
/// use core::time::Duration;
///
/// // On a device the HAL's time driver drives embassy-time; this example uses its mock driver.
/// let driver = embassy_time::MockDriver::get();
/// let config = Config::new().failure_threshold(1).recovery_timeout(Duration::from_secs(5));
/// let modem = Breaker::try_new("modem", config, EmbassyClock).unwrap();
///
/// let _ = modem.call(|| Err::<(), _>("no carrier"));
/// assert_eq!(modem.state(), State::Open);
/// driver.advance(embassy_time::Duration::from_secs(5));
/// assert!(modem.try_acquire().is_ok()); // the half-open probe
/// # let _ = EmbassyClock.now();
/// ```
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EmbassyClock;

/// Ticks of `TICK_HZ` to milliseconds, built at compile time.
const SCALE: MsScale = MsScale::per_second(embassy_time::TICK_HZ);

impl EmbassyClock {
    /// `instant` as the breaker's [`Timestamp`]: whole milliseconds since the driver's epoch
    /// (saturating at `u64::MAX` ms; see the horizon above).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::EmbassyClock;
    ///
    /// let t = EmbassyClock::timestamp(embassy_time::Instant::from_millis(1_500));
    /// assert_eq!(t.as_millis(), 1_500);
    /// ```
    #[inline]
    pub const fn timestamp(instant: embassy_time::Instant) -> Timestamp {
        match SCALE.ms(instant.as_ticks()) {
            Some(ms) => Timestamp::from_millis(ms),
            None => Timestamp::from_millis(u64::MAX),
        }
    }
}

impl Clock for EmbassyClock {
    #[inline]
    fn now(&self) -> Timestamp {
        EmbassyClock::timestamp(embassy_time::Instant::now())
    }
}
