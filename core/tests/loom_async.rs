//! Loom model of the core's `call_async`: a half-open probe whose future is dropped while a
//! second caller races it for the probe slot. Run with `ci/loom.sh` (both word layouts), or:
//!
//! ```text
//! RUSTFLAGS="--cfg breaker_loom" cargo test -p breaker-core --test loom_async --release
//! ```
//!
//! The file is empty unless built with `--cfg breaker_loom`.
#![cfg(breaker_loom)]

use core::future::Future;
use core::time::Duration;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use breaker_core::{call_async, Breaker, CallError, Config, ManualClock, State};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

const RECOVERY: Duration = Duration::from_millis(1_000);

struct Noop;
impl Wake for Noop {
    fn wake(self: StdArc<Self>) {}
}

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Thread A polls a probe through `call_async` once (it stays pending) and drops it; thread B
/// asks for the probe slot with a permit and reports a success if it gets one. In every
/// interleaving: at most one probe runs at a time, at least one caller gets the slot, and the
/// dropped probe counts as nothing, so either B's success closed the breaker or the slot is
/// free again (a dropped async probe never leaves the breaker stuck in HALF_OPEN).
#[test]
fn a_dropped_async_probe_gives_its_slot_back() {
    model(|| {
        let config = Config::new().failure_threshold(1).recovery_timeout(RECOVERY);
        let b = Arc::new(Breaker::try_new("loom", config, ManualClock::new()).unwrap());
        let _ = b.call(|| Err::<(), _>("down"));
        b.clock().advance(RECOVERY);
        let running = Arc::new(AtomicUsize::new(0));
        let (a_probe, b_probe) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));

        let a = {
            let (b, running, a_probe) = (b.clone(), running.clone(), a_probe.clone());
            thread::spawn(move || {
                let waker = Waker::from(StdArc::new(Noop));
                let mut call = Box::pin(call_async(&*b, core::future::pending::<Result<(), ()>>()));
                match call.as_mut().poll(&mut Context::from_waker(&waker)) {
                    Poll::Pending => {
                        assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "two probes at once");
                        a_probe.store(true, Ordering::SeqCst);
                        running.fetch_sub(1, Ordering::SeqCst);
                        drop(call); // cancelled: neither success nor failure
                    }
                    Poll::Ready(r) => assert!(matches!(r, Err(CallError::Open(_))), "{r:?}"),
                }
            })
        };
        let t = {
            let (b, running, b_probe) = (b.clone(), running.clone(), b_probe.clone());
            thread::spawn(move || {
                if let Ok(permit) = b.try_acquire() {
                    assert!(permit.is_probe());
                    assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "two probes at once");
                    b_probe.store(true, Ordering::SeqCst);
                    running.fetch_sub(1, Ordering::SeqCst);
                    permit.success();
                }
            })
        };
        a.join().unwrap();
        t.join().unwrap();

        let (a_probe, b_probe) = (a_probe.load(Ordering::SeqCst), b_probe.load(Ordering::SeqCst));
        assert!(a_probe || b_probe, "the free slot went to nobody");
        if b_probe {
            assert_eq!(b.state(), State::Closed, "B's probe succeeded");
        } else {
            assert_eq!(b.state(), State::HalfOpen, "A's dropped probe decided nothing");
            let probe = b.try_acquire().expect("the dropped probe's slot is free again");
            assert!(probe.is_probe());
            probe.success();
            assert_eq!(b.state(), State::Closed);
        }
    });
}
