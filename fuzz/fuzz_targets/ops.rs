//! Fuzz target: decode the input into a config (every policy: consecutive failures, count- and
//! time-based rate windows with slow calls and adaptive thresholds; backoff, jitter, probe
//! timeout, gradual recovery), a starting clock reading and a sequence of ops (acquire, settle
//! any held permit any way, bursts of calls, timed calls, clock jumps forwards and backwards,
//! manual control, restarts restored from the saved state, restores on the live breaker from
//! its own and from damaged bytes, valid and invalid reconfigurations), run it against a real `breaker_core::Breaker` built with that policy and
//! the reference model `breaker_tests::Model`, and fail on the first observable difference.
//!
//! The model reproduces the core's known deviations from its documentation
//! (`breaker_tests::KnownBugs`); set `BREAKER_MODEL_STRICT=1` to fuzz against the documented
//! semantics instead.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scenario = breaker_tests::Scenario::from_bytes(data);
    if let Err(divergence) = breaker_tests::check(&scenario) {
        panic!("breaker and model disagree: {divergence}\n{scenario:?}");
    }
});
