//! `call_async` on paused time: counting, opening, recovery, retry-after, laziness,
//! cancellation, timeouts (as failures and as slow calls) and panics.

use std::future::pending;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_tokio::{BreakerExt, CallError, RateConfig, Source, State, TimedCallError, Window};
use tokio::time::{advance, sleep, timeout, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn breaker(threshold: u32, recovery: Duration) -> Arc<breaker_tokio::Breaker> {
    Arc::new(
        breaker_tokio::builder("dep")
            .failure_threshold(threshold)
            .recovery_timeout(recovery)
            .build()
            .unwrap(),
    )
}

async fn fail(b: &breaker_tokio::Breaker) {
    let r = b.call_async(async { Err::<(), _>("down") }).await;
    assert_eq!(r, Err(CallError::Inner("down")));
}

#[tokio::test(start_paused = true)]
async fn opens_after_threshold_and_rejects_without_polling() {
    let b = breaker(3, 30 * SECOND);
    for _ in 0..2 {
        fail(&b).await;
    }
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 2));
    fail(&b).await;
    assert_eq!(b.state(), State::Open);

    let polled = AtomicU32::new(0);
    let r = b
        .call_async(async {
            polled.fetch_add(1, Ordering::Relaxed);
            Ok::<_, &str>(())
        })
        .await;
    let open = match r {
        Err(CallError::Open(open)) => open,
        other => panic!("{other:?}"),
    };
    assert_eq!(polled.load(Ordering::Relaxed), 0, "an open breaker must not poll the call");
    assert_eq!(open.retry_after(), Some(30 * SECOND));
}

#[tokio::test(start_paused = true)]
async fn retry_after_follows_paused_time_and_recovery_closes() {
    let b = breaker(1, 30 * SECOND);
    fail(&b).await;
    advance(10 * SECOND).await;
    let open = b.call_async(async { Ok::<_, &str>(()) }).await.unwrap_err();
    assert_eq!(open.into_open().retry_after(), Some(20 * SECOND));
    assert_eq!(b.snapshot().retry_after, Some(20 * SECOND));
    advance(20 * SECOND).await;
    // The first call after the timeout is the probe; its success closes the circuit.
    assert_eq!(b.call_async(async { Ok::<_, &str>(7) }).await, Ok(7));
    assert_eq!(b.state(), State::Closed);
}

trait IntoOpen {
    fn into_open(self) -> breaker_tokio::CircuitOpen;
}
impl<E: std::fmt::Debug> IntoOpen for CallError<E> {
    fn into_open(self) -> breaker_tokio::CircuitOpen {
        match self {
            CallError::Open(o) => o,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn failed_probe_reopens() {
    let b = breaker(1, 5 * SECOND);
    fail(&b).await;
    advance(5 * SECOND).await;
    fail(&b).await; // the probe
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.snapshot().retry_after, Some(5 * SECOND));
}

#[tokio::test(start_paused = true)]
async fn admission_happens_on_first_poll() {
    let b = breaker(1, 5 * SECOND);
    fail(&b).await;
    advance(5 * SECOND).await;
    // Ready to probe: shown as half-open, nothing in flight, still the open cycle's generation.
    let ready = b.snapshot();
    assert_eq!((ready.state, ready.probes_in_flight), (State::HalfOpen, 0));
    // Created, not polled: no probe slot is taken (admitting one would move the generation).
    let call = b.call_async(async { Ok::<_, &str>(()) });
    assert_eq!(b.snapshot(), ready);
    drop(call);
    assert_eq!(b.snapshot(), ready);
    assert!(b.call_async(async { Ok::<_, &str>(()) }).await.is_ok());
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_gives_its_slot_back_and_counts_as_neither() {
    let ignored = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&ignored);
    let b = Arc::new(
        breaker_tokio::builder("dep")
            .failure_threshold(1)
            .recovery_timeout(5 * SECOND)
            .on_ignored(move |_: &Source<'_>| {
                seen.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap(),
    );
    fail(&b).await;
    advance(5 * SECOND).await;

    // The probe hangs; the caller gives up after 1 s (tokio's timeout drops the call future).
    let start = Instant::now();
    // Boxed so that `drop` below really drops the future (`tokio::pin!` would only shadow it).
    let mut probe = Box::pin(b.call_async(pending::<Result<(), &str>>()));
    tokio::select! {
        _ = &mut probe => unreachable!(),
        _ = sleep(SECOND) => {}
    }
    // While the probe runs, its slot is taken: others are rejected fast.
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot().probes_in_flight, 1);
    let busy = b.call_async(async { Ok::<_, &str>(()) }).await.unwrap_err();
    assert_eq!(busy.into_open().state(), State::HalfOpen);
    assert_eq!(Instant::now() - start, SECOND);

    // Cancelled: neither success nor failure, and the slot is free again.
    drop(probe);
    assert_eq!(ignored.load(Ordering::Relaxed), 1);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot().probes_in_flight, 0);
    assert_eq!(b.call_async(async { Ok::<_, &str>(1) }).await, Ok(1));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_closed_call_does_not_count() {
    let b = breaker(1, 5 * SECOND);
    let r = timeout(SECOND, b.call_async(pending::<Result<(), &str>>())).await;
    assert!(r.is_err());
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
}

#[tokio::test(start_paused = true)]
async fn a_spawned_call_aborted_counts_as_neither() {
    let b = breaker(1, 5 * SECOND);
    fail(&b).await;
    advance(5 * SECOND).await;
    let task = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { b.call_async(pending::<Result<(), &str>>()).await })
    };
    tokio::task::yield_now().await; // let the task take the probe slot
    assert_eq!(b.snapshot().probes_in_flight, 1);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(b.snapshot().probes_in_flight, 0);
    assert_eq!(b.state(), State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_a_failure_at_exactly_the_timeout() {
    let b = breaker(2, 30 * SECOND);
    for n in 1..=2 {
        let start = Instant::now();
        let r = b.call_async(pending::<Result<(), &str>>()).timeout(2 * SECOND).await;
        match r {
            Err(TimedCallError::TimedOut(e)) => {
                assert_eq!((e.name(), e.timeout()), ("dep", 2 * SECOND));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(Instant::now() - start, 2 * SECOND);
        if n == 1 {
            assert_eq!(b.failure_count(), 1);
        }
    }
    assert_eq!(b.state(), State::Open);
    // A call that beats its timeout is a normal outcome.
    let b = breaker(2, 30 * SECOND);
    let quick = async {
        sleep(SECOND).await;
        Ok::<_, &str>(5)
    };
    assert_eq!(b.call_async(quick).timeout(2 * SECOND).await, Ok(5));
    assert_eq!(b.failure_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_probe_reopens() {
    let b = breaker(1, 5 * SECOND);
    fail(&b).await;
    advance(5 * SECOND).await;
    let r = b.call_async(pending::<Result<(), &str>>()).timeout(SECOND).await;
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(b.state(), State::Open);
}

fn slow_breaker(as_failure: bool) -> breaker_tokio::Breaker<breaker_tokio::TokioClock, Window<4>> {
    // Trips at 50 % failures or 50 % slow calls (≥ 500 ms), once 10 calls are in.
    let rule =
        RateConfig::new(500, 10).slow_calls(Duration::from_millis(500), 500, as_failure).validate().unwrap();
    breaker_tokio::builder("slow").policy(Window::<4>::count(25, rule).unwrap()).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn with_a_slow_call_policy_a_timeout_is_a_slow_call() {
    let b = slow_breaker(false);
    let r = b.call_async(pending::<Result<(), &str>>()).timeout(SECOND).await;
    assert!(r.unwrap_err().is_timeout());
    let w = b.snapshot().window.unwrap();
    assert_eq!((w.calls, w.slow, w.failures), (1, 1, 0));

    // ... and a failure too when the policy counts slow calls as failures.
    let b = slow_breaker(true);
    let r = b.call_async(pending::<Result<(), &str>>()).timeout(SECOND).await;
    assert!(r.unwrap_err().is_timeout());
    let w = b.snapshot().window.unwrap();
    assert_eq!((w.calls, w.slow, w.failures), (1, 1, 1));

    // A timeout shorter than the slow-call threshold cannot be a slow call: a failure.
    let b = slow_breaker(false);
    let r = b.call_async(pending::<Result<(), &str>>()).timeout(Duration::from_millis(100)).await;
    assert!(r.unwrap_err().is_timeout());
    let w = b.snapshot().window.unwrap();
    assert_eq!((w.calls, w.slow, w.failures), (1, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn slow_calls_are_timed_on_paused_time() {
    let b = slow_breaker(false);
    let slow = async {
        sleep(Duration::from_millis(600)).await;
        Ok::<_, &str>(())
    };
    b.call_async(slow).await.unwrap();
    let w = b.snapshot().window.unwrap();
    assert_eq!((w.calls, w.slow, w.failures), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_call_is_a_failure_and_keeps_unwinding() {
    let b = breaker(1, 5 * SECOND);
    let task = {
        let b = Arc::clone(&b);
        tokio::spawn(async move {
            b.call_async(async {
                sleep(SECOND).await;
                panic!("boom");
                #[allow(unreachable_code)]
                Ok::<(), &str>(())
            })
            .await
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn the_classifier_decides() {
    let b = breaker(1, 5 * SECOND);
    let not_found = |r: &Result<u32, &str>| match r {
        Err(e) if *e == "not found" => breaker_tokio::Verdict::Ignore,
        Err(_) => breaker_tokio::Verdict::Failure,
        Ok(_) => breaker_tokio::Verdict::Success,
    };
    let r = b.call_async(async { Err("not found") }).classify(not_found).await;
    assert_eq!(r, Err(CallError::Inner("not found")));
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
    let r = b.call_async(async { Err("reset") }).timeout(SECOND).classify(not_found).await;
    assert_eq!(r, Err(TimedCallError::Inner("reset")));
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn the_registry_breakers_run_on_paused_time() {
    let registry = breaker_tokio::registry()
        .configure("kafka", breaker_tokio::Config::new().failure_threshold(3).recovery_timeout(30 * SECOND))
        .build()
        .unwrap();
    let kafka = registry.breaker("kafka").unwrap();
    for _ in 0..3 {
        let _ = kafka.call_async(async { Err::<(), _>("broker down") }).await;
    }
    assert_eq!(kafka.state(), State::Open);
    advance(29 * SECOND).await;
    assert_eq!(registry.health().breakers[0].retry_after, Some(SECOND));
    advance(SECOND).await;
    kafka.call_async(async { Ok::<_, &str>(()) }).await.unwrap();
    assert_eq!(kafka.state(), State::Closed);
}

#[test]
fn call_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let b = breaker(1, SECOND);
    let f = async move {
        b.call_async(async { Ok::<_, ()>(1) }).await.unwrap();
        b.call_async(async { Ok::<_, ()>(1) }).timeout(SECOND).await.unwrap();
    };
    assert_send(&f);
}

/// With `count_abandoned_after`, a call future dropped after that long is a failure: clients
/// that give up on a hung dependency open the breaker (issue 13, item 1); sooner, neither.
#[tokio::test(start_paused = true)]
async fn a_call_abandoned_after_the_limit_counts_as_a_failure() {
    let b = Arc::new(
        breaker_tokio::builder("dep").failure_threshold(2).count_abandoned_after(2 * SECOND).build().unwrap(),
    );
    // A client that gives up after 1 s: neither.
    assert!(timeout(SECOND, b.call_async(pending::<Result<(), &str>>())).await.is_err());
    assert_eq!(b.failure_count(), 0);
    // Two clients that give up after 3 s on a hung dependency: two failures, the breaker opens.
    for _ in 0..2 {
        assert!(timeout(3 * SECOND, b.call_async(pending::<Result<(), &str>>())).await.is_err());
    }
    assert_eq!(b.state(), State::Open);
    let rejected = b.call_async(async { Ok::<_, &str>(()) }).await.unwrap_err();
    assert!(rejected.into_open().retry_after().is_some());
}
