//! What the three footprint images share: a `static` breaker (const construction, default
//! consecutive-failure config) on an `embedded_time` clock through the core's adapter, inputs the
//! optimiser cannot see through, and a panic handler without formatting.
//!
//! No semihosting, no interrupts, no critical-section user: whatever LDREX/STREX or interrupt
//! masking `ci/footprint.sh` finds in these images comes from the breaker (or, on thumbv6m, from
//! the application's critical-section implementation it needs).

use breaker_core::{Breaker, Config, EmbeddedTimeClock, ValidConfig};
use core::sync::atomic::AtomicU32;
use embedded_time::{clock, fraction::Fraction, Instant};

/// A millisecond counter (a timer interrupt would bump it; here the main loop stores it).
/// Load/store only, which every target has without a critical section.
pub static TICKS: AtomicU32 = AtomicU32::new(0);

/// A 1 kHz hardware-style `embedded_time::Clock`.
#[derive(Debug)]
pub struct TickClock;

impl embedded_time::Clock for TickClock {
    type T = u32;
    const SCALING_FACTOR: Fraction = Fraction::new(1, 1_000);

    fn try_now(&self) -> Result<Instant<Self>, clock::Error> {
        Ok(Instant::new(TICKS.load(core::sync::atomic::Ordering::Relaxed)))
    }
}

/// The seed's defaults: 5 consecutive failures, 60 s recovery timeout, 1 probe.
pub const CONFIG: ValidConfig = match Config::new().validate() {
    Ok(c) => c,
    Err(_) => panic!("invalid config"),
};

/// The breaker whose code is measured (its RAM is this symbol's size).
pub static BREAKER: Breaker<EmbeddedTimeClock<TickClock>> =
    Breaker::new("footprint", CONFIG, EmbeddedTimeClock::new(TickClock));

/// An input the optimiser cannot predict: a volatile read of the SysTick current-value register.
/// (A never-written `static` would not do: with LTO it is folded to its initial value.)
pub fn input() -> u32 {
    cortex_m::peripheral::SYST::get_current()
}

/// Consumes a result so that nothing computing it is optimised away.
pub fn output(x: u32) {
    core::hint::black_box(x);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        cortex_m::asm::nop();
    }
}
