//! Fuzz target: decode the input into a config, a starting clock reading and a sequence of ops
//! (acquire, settle any held permit any way, clock jumps forwards and backwards, manual
//! control), run it against a real `breaker_core::Breaker` and the reference model
//! `breaker_tests::Model`, and fail on the first observable difference.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scenario = breaker_tests::Scenario::from_bytes(data);
    if let Err(divergence) = breaker_tests::check(&scenario) {
        panic!("breaker and model disagree: {divergence}\n{scenario:?}");
    }
});
