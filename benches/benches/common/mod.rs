//! Harness pieces shared by the bench targets (`mod common;` in each; each uses a subset).
#![allow(dead_code)]

use core::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Keeps `value` alive without reloading it: `black_box(&value)` makes the optimizer assume the
/// value is read, so it is fully computed and stored, but (unlike `black_box(value)` on a
/// multi-word value) nothing is loaded back, which would add store-forwarding stalls of the
/// harness's own making to nanosecond-scale figures.
#[inline(always)]
pub(crate) fn consume<T>(value: T) {
    black_box(&value);
}

/// Runs `op` `iters` times on each of two threads started together; returns the slower
/// thread's elapsed time (so `elapsed / iters` is the time per call per thread).
pub(crate) fn two_threads<F>(iters: u64, op: F) -> Duration
where
    F: Fn() + Sync,
{
    two_threads_indexed(iters, |_| op())
}

/// [`two_threads`], telling `op` which thread (0 or 1) runs it.
pub(crate) fn two_threads_indexed<F>(iters: u64, op: F) -> Duration
where
    F: Fn(usize) + Sync,
{
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let (barrier, op) = (&barrier, &op);
        let workers = [0, 1].map(|i| {
            s.spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters {
                    op(i);
                }
                start.elapsed()
            })
        });
        workers.map(|w| w.join().expect("worker panicked")).into_iter().max().unwrap_or_default()
    })
}
