//! The OPEN rejection fast path (`Breaker::reject_while_open`: the config cell's shortcut word,
//! `transition::retry_after_open`, everything else out of line) answers what the transition
//! function's OPEN rule answers, shown by `snapshot()` (the whole config, `open_retry_ms`): a
//! call is rejected exactly while the snapshot has a retry-after, with that retry-after, for
//! every recovery policy the shortcut does and does not hold (jitter, backoff levels above 0,
//! coarser open-time resolutions, a replaced config). Runs on both layouts (`ci/test.sh` builds
//! the host tests with `--cfg breaker_word32` too). A recovery policy: the `policies` feature.
#![cfg(feature = "policies")]

use std::time::Duration;

use breaker_core::{Breaker, CallError, Config, ManualClock, State};
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn policy(recovery: u64, jitter: u64, backoff: Option<u64>, resolution: u64) -> Config {
    let mut c = Config::new()
        .failure_threshold(1)
        .recovery_timeout(ms(recovery))
        .open_time_resolution(ms(resolution));
    if jitter > 0 {
        c = c.jitter(ms(jitter), 0x5eed);
    }
    if let Some(extra) = backoff {
        c = c.backoff(ms(recovery + extra));
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_rejection_is_the_open_rule(
        recovery in 1u64..4_000,
        jitter in prop_oneof![Just(0u64), 1u64..500],
        backoff in proptest::option::of(0u64..20_000),
        resolution in prop_oneof![Just(1u64), Just(2), Just(4), Just(16)],
        failed_probes in 0u32..4,
        replace in proptest::option::of((prop_oneof![Just(0u64), 1u64..500], 1u64..4_000)),
        start in 0u64..1 << 32,
        waits in proptest::collection::vec(0u64..3_000, 1..12),
    ) {
        let clock = ManualClock::new();
        clock.advance(ms(start));
        let Ok(breaker) = Breaker::try_new("p", policy(recovery, jitter, backoff, resolution), &clock) else {
            return Ok(()); // a config the layout refuses (too long an open period at this resolution)
        };
        let _ = breaker.call(|| Err::<(), _>("down"));
        prop_assert_eq!(breaker.state(), State::Open);
        // Backoff levels above 0: failed probes reopen for longer.
        for _ in 0..failed_probes {
            let left = breaker.snapshot().retry_after.unwrap_or_default();
            clock.advance(left);
            let _ = breaker.call(|| Err::<(), _>("still down"));
            prop_assert_eq!(breaker.state(), State::Open);
        }
        #[cfg(feature = "reconfigure")]
        if let Some((jitter, recovery)) = replace {
            // The same resolution (a breaker keeps its own): only the timing changes.
            if breaker.reconfigure(policy(recovery, jitter, backoff, resolution)).is_err() {
                return Ok(());
            }
        }
        #[cfg(not(feature = "reconfigure"))]
        let _ = replace;
        for wait in waits {
            clock.advance(ms(wait));
            let shown = breaker.snapshot();
            match breaker.call(|| Ok::<_, ()>(())) {
                Err(CallError::Open(open)) => {
                    prop_assert_eq!(open.state(), State::Open);
                    prop_assert_eq!(open.retry_after(), shown.retry_after, "rejected with another retry-after");
                }
                Ok(()) => {
                    prop_assert_eq!(shown.retry_after, None, "admitted while the rule still rejects");
                    break; // the probe succeeded: CLOSED from here on
                }
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }
    }
}
