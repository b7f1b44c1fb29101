//! [`TokioClock`]: the breaker's clock on `tokio::time::Instant`.
//!
//! Keeps the core's clock contract (milliseconds since the clock's creation, monotonic, never
//! wrapping within a `u64`, infallible) and follows tokio's clock, so a test that calls
//! `tokio::time::pause()` and `advance()` (tokio's `test-util` feature) drives every breaker on
//! this clock: recovery timeouts, retry-after values and slow-call timing included, with no real
//! waiting. Outside a runtime, or without paused time, it reads the system's monotonic clock.

use breaker_core::{Clock, Timestamp};
use tokio::time::Instant;

/// A monotonic clock over [`tokio::time::Instant`]: milliseconds since the clock was created.
///
/// Copies share the same epoch. With tokio's time paused, it moves only when tokio's clock
/// does (`tokio::time::advance`, or auto-advance while the runtime is idle).
///
/// # Examples
///
/// ```
/// use breaker_tokio::Clock;
/// use breaker_tokio::TokioClock;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // In a test: `#[tokio::test(start_paused = true)]`.
/// let clock = TokioClock::new();
/// tokio::time::advance(Duration::from_secs(30)).await;
/// assert_eq!(clock.now().as_millis(), 30_000);
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    start: Instant,
}

impl TokioClock {
    /// A clock whose epoch is now (tokio's now: the paused clock, when time is paused).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::Clock;
    /// use breaker_tokio::TokioClock;
    ///
    /// assert!(TokioClock::new().now().as_millis() < 1_000);
    /// ```
    pub fn new() -> Self {
        TokioClock { start: Instant::now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Timestamp {
        // Seconds and sub-second millis rather than `as_millis` (a u128 division). `elapsed`
        // saturates at zero, so the reading never goes below the epoch.
        let e = self.start.elapsed();
        Timestamp::from_millis(e.as_secs().wrapping_mul(1_000).wrapping_add(u64::from(e.subsec_millis())))
    }
}
