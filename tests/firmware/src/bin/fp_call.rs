//! Footprint image: consecutive-failure mode through `Breaker::call` only (closed, trip, fast
//! rejection, half-open probe and recovery all live behind it). See `ci/footprint.sh`.
#![no_std]
#![no_main]

#[path = "../footprint_common.rs"]
mod common;

use common::{input, output, BREAKER, TICKS};
use core::sync::atomic::Ordering;
use cortex_m_rt::entry;

/// The breaker's API as this application uses it; `ci/footprint.sh` counts these functions.
mod api {
    use super::BREAKER;
    use breaker_core::CallError;

    /// One protected call: 0 = ok, 1 = failed, 2 = rejected.
    #[inline(never)]
    pub fn call(ok: bool) -> u32 {
        match BREAKER.call(|| if ok { Ok(()) } else { Err(()) }) {
            Ok(()) => 0,
            Err(CallError::Inner(())) => 1,
            Err(CallError::Open(_)) => 2,
        }
    }
}

#[entry]
fn main() -> ! {
    loop {
        let x = input();
        TICKS.store(x >> 8, Ordering::Relaxed);
        output(api::call(x & 1 != 0));
    }
}
