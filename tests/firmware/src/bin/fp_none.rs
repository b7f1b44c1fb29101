//! Footprint baseline: `fp_call`'s program with the breaker taken out (same loop, same inputs and
//! outputs, a stand-in for the call). `.text(fp_call) - .text(fp_none)` is what the breaker adds
//! to an image, runtime helpers included. See `ci/footprint.sh`.
#![no_std]
#![no_main]

#[path = "../footprint_common.rs"]
#[allow(dead_code)]
mod common;

use common::{input, output, TICKS};
use core::sync::atomic::Ordering;
use cortex_m_rt::entry;

mod api {
    /// The stand-in: no breaker.
    #[inline(never)]
    pub fn call(ok: bool) -> u32 {
        u32::from(!ok)
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
