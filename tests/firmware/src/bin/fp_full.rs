//! Footprint image: the whole consecutive-failure API (call, permits with every verdict, manual
//! control, health views). See `ci/footprint.sh`.
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
    use breaker_core::{CallError, Verdict};

    /// One protected call: 0 = ok, 1 = failed, 2 = rejected.
    #[inline(never)]
    pub fn call(ok: bool) -> u32 {
        match BREAKER.call(|| if ok { Ok(()) } else { Err(()) }) {
            Ok(()) => 0,
            Err(CallError::Inner(())) => 1,
            Err(CallError::Open(_)) => 2,
        }
    }

    /// The two-step API: acquire, then report `verdict`. 2 = rejected.
    #[inline(never)]
    pub fn acquire_and_record(verdict: Verdict) -> u32 {
        match BREAKER.try_acquire() {
            Ok(permit) => {
                let probe = u32::from(permit.is_probe());
                permit.record(verdict);
                probe
            }
            Err(open) => 2 + open.retry_after().map_or(0, |d| d.as_millis() as u32),
        }
    }

    #[inline(never)]
    pub fn force_open() {
        BREAKER.force_open();
    }

    #[inline(never)]
    pub fn force_closed() {
        BREAKER.force_closed();
    }

    #[inline(never)]
    pub fn reset() {
        BREAKER.reset();
    }

    #[inline(never)]
    pub fn state() -> u32 {
        BREAKER.state() as u32
    }

    #[inline(never)]
    pub fn failure_count() -> u32 {
        BREAKER.failure_count()
    }

    #[inline(never)]
    pub fn snapshot() -> u32 {
        let s = BREAKER.snapshot();
        s.failure_count
            ^ s.probes_in_flight
            ^ s.probe_successes
            ^ s.generation
            ^ s.retry_after.map_or(0, |d| d.as_millis() as u32)
    }
}

#[entry]
fn main() -> ! {
    loop {
        let x = input();
        TICKS.store(x >> 8, Ordering::Relaxed);
        let out = match x & 0xf {
            0 => api::call(x & 0x10 != 0),
            1 => api::acquire_and_record(breaker_core::Verdict::Success),
            2 => api::acquire_and_record(breaker_core::Verdict::Failure),
            3 => api::acquire_and_record(breaker_core::Verdict::Ignore),
            4 => {
                api::force_open();
                0
            }
            5 => {
                api::force_closed();
                0
            }
            6 => {
                api::reset();
                0
            }
            7 => api::state(),
            8 => api::failure_count(),
            _ => api::snapshot(),
        };
        output(out);
    }
}
