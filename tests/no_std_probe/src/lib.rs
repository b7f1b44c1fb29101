//! Instantiates a `static` breaker with a hardware-style clock and exports entry points, so the
//! optimiser keeps the breaker's code and it can be disassembled.
#![no_std]

use breaker_core::{Breaker, Clock, Config, Timestamp, ValidConfig};
use core::sync::atomic::{AtomicU32, Ordering};

/// Milliseconds, bumped by a timer interrupt in real firmware. Plain load/store only, which
/// every target has.
static TICKS_MS: AtomicU32 = AtomicU32::new(0);

struct TickClock;

impl Clock for TickClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(u64::from(TICKS_MS.load(Ordering::Relaxed)))
    }
}

const CONFIG: ValidConfig = match Config::new().failure_threshold(3).validate() {
    Ok(c) => c,
    Err(_) => panic!("invalid config"),
};

static BREAKER: Breaker<TickClock> = Breaker::new("probe", CONFIG, TickClock);

/// One protected call; `ok` decides its outcome. Returns 0 = success, 1 = failed, 2 = rejected.
#[no_mangle]
pub extern "C" fn breaker_probe_call(ok: bool) -> u32 {
    match BREAKER.call(|| if ok { Ok(()) } else { Err(()) }) {
        Ok(()) => 0,
        Err(breaker_core::CallError::Inner(())) => 1,
        Err(breaker_core::CallError::Open(_)) => 2,
    }
}

/// Manual control entry points.
#[no_mangle]
pub extern "C" fn breaker_probe_force_open() {
    BREAKER.force_open();
}

/// Resets the breaker.
#[no_mangle]
pub extern "C" fn breaker_probe_reset() {
    BREAKER.reset();
}

/// Advances the fake tick counter.
#[no_mangle]
pub extern "C" fn breaker_probe_tick(ms: u32) {
    TICKS_MS.store(TICKS_MS.load(Ordering::Relaxed).wrapping_add(ms), Ordering::Relaxed);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
