//! Loom models of the abandoned-call rule (`Config::count_abandoned_after`): a permit dropped
//! late counts as a failure, racing other callers. Run with `ci/loom.sh` (both word layouts), or:
//!
//! ```text
//! RUSTFLAGS="--cfg breaker_loom" cargo test -p breaker-core --test loom_abandoned --release
//! ```
//!
//! The file is empty unless built with `--cfg breaker_loom`.
#![cfg(all(breaker_loom, feature = "policies"))]

use core::time::Duration;

use breaker_core::{Breaker, Config, ManualClock, Permit, State};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

const RECOVERY: Duration = Duration::from_millis(1_000);
const ABANDON: Duration = Duration::from_millis(2_000);

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

fn config(threshold: u32) -> Config {
    Config::new().failure_threshold(threshold).recovery_timeout(RECOVERY).count_abandoned_after(ABANDON)
}

/// Thread A takes the half-open probe, the dependency hangs past the rule's limit, and A gives
/// up (drops the permit); thread B asks for a probe meanwhile. In every interleaving B never
/// runs a probe while A's is out, and A's abandoned probe counts as a failed one: the breaker
/// ends OPEN (the reopened breaker waits a recovery timeout nobody advances, so B cannot probe
/// after it either).
#[test]
fn an_abandoned_probe_fails_and_no_second_probe_runs_while_it_is_out() {
    model(|| {
        let b = Arc::new(Breaker::try_new("loom", config(1), ManualClock::new()).unwrap());
        let _ = b.call(|| Err::<(), _>("down"));
        b.clock().advance(RECOVERY);
        let probe = Permit::acquire(b.clone()).expect("the probe slot is free");
        assert!(probe.is_probe());
        let out = Arc::new(AtomicBool::new(true));

        let a = {
            let (b, out) = (b.clone(), out.clone());
            thread::spawn(move || {
                b.clock().advance(ABANDON); // hung for the rule's limit
                out.store(false, Ordering::SeqCst);
                drop(probe); // the caller gave up
            })
        };
        let t = {
            let (b, out) = (b.clone(), out.clone());
            thread::spawn(move || {
                if let Ok(p) = b.try_acquire() {
                    assert!(!out.load(Ordering::SeqCst), "a second probe while the first was out");
                    p.success();
                }
            })
        };
        a.join().unwrap();
        t.join().unwrap();
        assert_eq!(b.state(), State::Open, "the abandoned probe failed");
        assert!(b.try_acquire().is_err());
    });
}

/// Two callers in CLOSED give up on a hung call after the rule's limit (both admitted before
/// the clock moved) while a third caller makes a quick call. Threshold 2: in every interleaving
/// both late drops count. The breaker ends OPEN, unless the third call was admitted after the
/// first drop and succeeded before the second (a success clears the consecutive count): then
/// CLOSED with exactly one failure, never zero. A drop before the limit never counts.
#[test]
fn late_drops_count_and_an_early_drop_does_not() {
    model(|| {
        let b = Arc::new(Breaker::try_new("loom", config(2), ManualClock::new()).unwrap());
        let (p1, p2) = (Permit::acquire(b.clone()).unwrap(), Permit::acquire(b.clone()).unwrap());
        b.clock().advance(ABANDON);
        let succeeded = Arc::new(AtomicBool::new(false));

        let a = thread::spawn(move || {
            drop(p1);
            drop(p2);
        });
        let t = {
            let (b, succeeded) = (b.clone(), succeeded.clone());
            thread::spawn(move || {
                if let Ok(p) = b.try_acquire() {
                    p.success();
                    succeeded.store(true, Ordering::SeqCst);
                }
            })
        };
        a.join().unwrap();
        t.join().unwrap();
        match b.state() {
            State::Open => {}
            State::Closed => {
                assert!(succeeded.load(Ordering::SeqCst), "CLOSED without a success: a late drop was lost");
                assert_eq!(b.failure_count(), 1, "the second late drop was lost");
                let p = b.try_acquire().unwrap();
                drop(p); // dropped at once: neither
                assert_eq!(b.failure_count(), 1);
            }
            s => panic!("unexpected {s:?}"),
        }
    });
}
