//! The tower middleware on paused time: rejection in `call` (not `poll_ready`), the `BoxError`
//! and its downcastable rejection, classifiers, cancellation of response futures, panics, the
//! tower accessors, both breaker handles. HTTP and axum specifics are in `http.rs` and
//! `axum.rs`.

use std::convert::Infallible;
use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use breaker_tokio::layer::{CircuitBreaker, CircuitBreakerLayer, Open};
use breaker_tokio::{Breaker, State, Verdict};
use tokio::time::{advance, sleep};
use tower::{service_fn, BoxError, Layer, Service, ServiceBuilder, ServiceExt};

const SECOND: Duration = Duration::from_secs(1);

/// A breaker that lives for the test process, as the registry's do.
fn breaker(threshold: u32, recovery: Duration) -> &'static Breaker {
    Box::leak(Box::new(
        breaker_tokio::builder("upstream")
            .failure_threshold(threshold)
            .recovery_timeout(recovery)
            .build()
            .unwrap(),
    ))
}

/// A service that counts its calls and fails when asked to.
#[derive(Clone, Default)]
struct Upstream {
    calls: Arc<AtomicU32>,
    readies: Arc<AtomicU32>,
}

impl Service<bool> for Upstream {
    type Response = &'static str;
    type Error = &'static str;
    type Future = Pin<Box<dyn Future<Output = Result<&'static str, &'static str>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.readies.fetch_add(1, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, fail: bool) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            if fail {
                Err("502")
            } else {
                Ok("ok")
            }
        })
    }
}

/// The rejection inside a layer error, if it is one.
fn open(e: &BoxError) -> Option<&Open> {
    e.downcast_ref::<Open>()
}

#[tokio::test(start_paused = true)]
async fn rejects_in_call_without_calling_the_inner_service() {
    let b = breaker(2, 30 * SECOND);
    let upstream = Upstream::default();
    let mut svc = CircuitBreakerLayer::new(b).layer(upstream.clone());

    assert_eq!(svc.ready().await.unwrap().call(false).await.unwrap(), "ok");
    for _ in 0..2 {
        let e = svc.ready().await.unwrap().call(true).await.unwrap_err();
        assert!(open(&e).is_none());
        assert_eq!(e.to_string(), "502");
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(upstream.calls.load(Ordering::Relaxed), 3);

    advance(10 * SECOND).await;
    let e = svc.ready().await.unwrap().call(false).await.unwrap_err();
    let rejected = open(&e).expect("an Open");
    assert_eq!((rejected.name(), rejected.key(), rejected.state()), ("upstream", None, State::Open));
    assert_eq!(rejected.retry_after(), Some(20 * SECOND));
    assert_eq!(e.to_string(), "circuit breaker 'upstream' is open; retry in 20s");
    assert_eq!(upstream.calls.load(Ordering::Relaxed), 3, "rejected: not called");

    advance(20 * SECOND).await;
    assert_eq!(svc.ready().await.unwrap().call(false).await.unwrap(), "ok");
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_reserves_nothing() {
    let b = breaker(1, 5 * SECOND);
    let upstream = Upstream::default();
    let mut svc = CircuitBreaker::new(upstream.clone(), b);
    let _ = svc.ready().await.unwrap().call(true).await;
    advance(5 * SECOND).await;
    // Half-open is due (the breaker shows as ready to probe); readiness checks without calls
    // must not take the probe slot, which would move the generation.
    let ready = b.snapshot();
    assert_eq!((ready.state, ready.probes_in_flight), (State::HalfOpen, 0));
    for _ in 0..10 {
        svc.ready().await.unwrap();
    }
    assert_eq!(b.snapshot(), ready);
    assert_eq!(upstream.readies.load(Ordering::Relaxed), 11);
    assert_eq!(svc.ready().await.unwrap().call(false).await.unwrap(), "ok");
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_gives_the_probe_slot_back() {
    let b = breaker(1, 5 * SECOND);
    let hang = service_fn(|hang: bool| async move {
        if hang {
            pending::<()>().await;
        }
        Ok::<_, Infallible>(())
    });
    let mut svc = CircuitBreaker::new(hang, b);
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
    advance(5 * SECOND).await;

    let probe = svc.ready().await.unwrap().call(true);
    assert_eq!(b.snapshot().probes_in_flight, 1);
    // The slot is taken: another request is rejected at once.
    let busy = svc.ready().await.unwrap().call(false).await.unwrap_err();
    assert_eq!(open(&busy).map(Open::state), Some(State::HalfOpen));
    assert_eq!(open(&busy).and_then(Open::retry_after_secs), Some(1));
    // A client timeout above the breaker gives up: the response future is dropped.
    assert!(tokio::time::timeout(SECOND, probe).await.is_err());
    assert_eq!(b.snapshot().probes_in_flight, 0);
    assert_eq!(b.state(), State::HalfOpen);
    svc.ready().await.unwrap().call(false).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_counts_as_neither() {
    let outcomes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&outcomes);
    let b: &'static Breaker = Box::leak(Box::new(
        breaker_tokio::builder("upstream")
            .failure_threshold(1)
            .on_success({
                let seen = Arc::clone(&seen);
                move |_| seen.lock().unwrap().push(Verdict::Success)
            })
            .on_failure({
                let seen = Arc::clone(&seen);
                move |_| seen.lock().unwrap().push(Verdict::Failure)
            })
            .on_ignored(move |_| seen.lock().unwrap().push(Verdict::Ignore))
            .build()
            .unwrap(),
    ));
    let hang = service_fn(|_: ()| async {
        pending::<()>().await;
        Ok::<_, Infallible>(())
    });
    let mut svc = CircuitBreaker::new(hang, b);
    for _ in 0..3 {
        let future = svc.ready().await.unwrap().call(());
        assert!(tokio::time::timeout(SECOND, future).await.is_err());
    }
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
    assert_eq!(*outcomes.lock().unwrap(), [Verdict::Ignore; 3]);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_below_the_breaker_is_a_failure_and_keeps_its_type() {
    let b = breaker(1, 5 * SECOND);
    let slow = service_fn(|_: ()| async {
        sleep(10 * SECOND).await;
        Ok::<_, Infallible>(())
    });
    let mut svc = ServiceBuilder::new().layer(CircuitBreakerLayer::new(b)).timeout(2 * SECOND).service(slow);
    let e = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(e.is::<tower::timeout::error::Elapsed>(), "{e}");
    assert_eq!(b.state(), State::Open);
    let e = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(e.is::<Open>());
}

#[tokio::test(start_paused = true)]
async fn a_timeout_above_the_breaker_is_neither() {
    let b = breaker(1, 5 * SECOND);
    let slow = service_fn(|_: ()| async {
        sleep(10 * SECOND).await;
        Ok::<_, Infallible>(())
    });
    let mut svc = ServiceBuilder::new().timeout(2 * SECOND).layer(CircuitBreakerLayer::new(b)).service(slow);
    let e = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(e.is::<tower::timeout::error::Elapsed>());
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0), "the response future was dropped");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_response_future_is_a_failure() {
    let b = breaker(1, 5 * SECOND);
    let boom = service_fn(|_: ()| async {
        panic!("boom");
        #[allow(unreachable_code)]
        Ok::<(), Infallible>(())
    });
    let svc = CircuitBreaker::new(boom, b);
    let task = tokio::spawn(svc.oneshot(()));
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_inner_call_is_a_failure() {
    struct Boom;
    impl Service<()> for Boom {
        type Response = ();
        type Error = Infallible;
        type Future = std::future::Ready<Result<(), Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: ()) -> Self::Future {
            panic!("boom in call")
        }
    }
    let b = breaker(1, 5 * SECOND);
    let task = tokio::spawn(CircuitBreaker::new(Boom, b).oneshot(()));
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_pending_response_future_that_then_panics_is_a_failure() {
    let b = breaker(1, 5 * SECOND);
    let later = service_fn(|_: ()| async {
        sleep(SECOND).await;
        panic!("boom after a while");
        #[allow(unreachable_code)]
        Ok::<(), Infallible>(())
    });
    let svc = CircuitBreaker::new(later, b);
    let task = tokio::spawn(svc.oneshot(()));
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_errors_pass_through_uncounted() {
    #[derive(Debug)]
    struct NotReady;
    impl Service<()> for NotReady {
        type Response = ();
        type Error = &'static str;
        type Future = std::future::Ready<Result<(), &'static str>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
            Poll::Ready(Err("pool closed"))
        }
        fn call(&mut self, _: ()) -> Self::Future {
            std::future::ready(Ok(()))
        }
    }
    let b = breaker(1, 5 * SECOND);
    let mut svc = CircuitBreaker::new(NotReady, b);
    let e = svc.ready().await.unwrap_err();
    assert_eq!(e.to_string(), "pool closed");
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
}

#[tokio::test(start_paused = true)]
async fn a_custom_classifier() {
    let b = breaker(1, 5 * SECOND);
    let only_timeouts = |r: &Result<&'static str, &'static str>| match r {
        Err("timeout") => Verdict::Failure,
        Err(_) => Verdict::Ignore,
        Ok(_) => Verdict::Success,
    };
    let svc = service_fn(|e: &'static str| async move { Err::<&str, _>(e) });
    let mut svc = CircuitBreakerLayer::new(b).classify(only_timeouts).layer(svc);
    let _ = svc.ready().await.unwrap().call("bad request").await;
    assert_eq!(b.state(), State::Closed);
    let _ = svc.ready().await.unwrap().call("timeout").await;
    assert_eq!(b.state(), State::Open);
}

/// An error with a source, as real client errors have.
#[derive(Debug)]
struct Upstream503 {
    source: std::io::Error,
}

impl std::fmt::Display for Upstream503 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("upstream answered 503")
    }
}

impl std::error::Error for Upstream503 {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Every message in the chain of `e`, outermost first.
fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(e), |e| (*e).source()).map(ToString::to_string).collect()
}

#[tokio::test(start_paused = true)]
async fn errors_print_each_message_once() {
    let b = breaker(1, 5 * SECOND);
    let failing = service_fn(|_: ()| async {
        Err::<(), _>(Upstream503 { source: std::io::Error::other("connection reset") })
    });
    let mut svc = CircuitBreaker::new(failing, b);
    // The inner error is not wrapped: its own type, its own chain.
    let e = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(e.is::<Upstream503>());
    assert_eq!(chain(&*e), ["upstream answered 503", "connection reset"]);
    // The rejection has no source: nothing below it failed.
    let e = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(e.source().is_none());
    assert_eq!(chain(&*e), ["circuit breaker 'upstream' is open; retry in 5s"]);
}

#[test]
fn accessors() {
    let b = breaker(1, SECOND);
    let mut svc = CircuitBreaker::new(String::from("inner"), b);
    assert_eq!(svc.get_ref(), "inner");
    svc.get_mut().push('!');
    assert!(std::ptr::eq(*svc.pick(), b));
    assert_eq!(svc.clone().into_inner(), "inner!");
    assert!(format!("{svc:?}").contains("upstream"));
    let layer = CircuitBreakerLayer::new(b).classify(breaker_tokio::classify::Errors);
    assert!(std::ptr::eq(*layer.pick(), b));
    assert!(format!("{layer:?}").contains("upstream"));
}

#[test]
fn the_service_and_its_future_are_send_and_static() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let mut svc =
        CircuitBreaker::new(service_fn(|_: ()| async { Ok::<_, Infallible>(()) }), breaker(1, SECOND));
    assert_send_static(&svc);
    let fut = svc.call(());
    assert_send_static(&fut);
    let arc = Arc::new(breaker_tokio::builder("arc").build().unwrap());
    let mut svc = CircuitBreaker::new(service_fn(|_: ()| async { Ok::<_, Infallible>(()) }), arc);
    let fut = svc.call(());
    assert_send_static(&fut);
}

#[tokio::test(start_paused = true)]
async fn a_static_breaker_handle() {
    static DB: std::sync::LazyLock<Breaker> = std::sync::LazyLock::new(|| {
        breaker_tokio::builder("static-db").failure_threshold(1).build().unwrap()
    });
    let db: &'static Breaker = &DB;
    let upstream = Upstream::default();
    let mut svc = CircuitBreakerLayer::new(db).layer(upstream.clone());
    let _ = svc.ready().await.unwrap().call(true).await;
    assert_eq!(db.state(), State::Open);
    let e = svc.ready().await.unwrap().call(false).await.unwrap_err();
    assert_eq!(open(&e).map(Open::name), Some("static-db"));
    assert_eq!(upstream.calls.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn an_arc_breaker_handle() {
    let db = Arc::new(breaker_tokio::builder("arc-db").failure_threshold(1).build().unwrap());
    let upstream = Upstream::default();
    let layer = CircuitBreakerLayer::new(Arc::clone(&db));
    let mut svc = layer.layer(upstream.clone());
    assert_eq!(svc.ready().await.unwrap().call(false).await.unwrap(), "ok");
    assert_eq!(Arc::strong_count(&db), 3, "the test, the layer, the service; none left by the request");
    let _ = svc.ready().await.unwrap().call(true).await;
    let e = svc.ready().await.unwrap().call(false).await.unwrap_err();
    assert_eq!(open(&e).map(Open::name), Some("arc-db"));
    assert_eq!(Arc::strong_count(&db), 3);
}

#[tokio::test(start_paused = true)]
async fn a_closure_picks_and_none_is_unguarded() {
    let b = breaker(1, 5 * SECOND);
    let pick = move |guarded: &bool| guarded.then_some(b);
    let failing = service_fn(|_: bool| async { Err::<(), _>("down") });
    let mut svc = CircuitBreaker::new(failing, pick);
    for _ in 0..3 {
        let e = svc.ready().await.unwrap().call(false).await.unwrap_err();
        assert_eq!(e.to_string(), "down");
    }
    assert_eq!((b.state(), b.failure_count()), (State::Closed, 0), "unguarded requests are not counted");
    let _ = svc.ready().await.unwrap().call(true).await;
    assert_eq!(b.state(), State::Open);
    let e = svc.ready().await.unwrap().call(true).await.unwrap_err();
    assert!(e.is::<Open>());
    let e = svc.ready().await.unwrap().call(false).await.unwrap_err();
    assert_eq!(e.to_string(), "down", "still unguarded");
}

#[tokio::test(start_paused = true)]
async fn a_response_future_polled_after_it_completed_panics() {
    let b = breaker(1, SECOND);
    for fail in [false, true] {
        if fail {
            b.force_open();
        }
        let mut svc = CircuitBreaker::new(service_fn(|_: ()| async { Ok::<_, Infallible>(()) }), b);
        let mut future = Box::pin(svc.call(()));
        let waker = futures_noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(future.as_mut().poll(&mut cx).is_ready());
        assert!(format!("{future:?}").contains("done"));
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
        assert!(again.is_err(), "polled again (open: {fail})");
    }
    assert_eq!(b.state(), State::ForcedOpen);
}

fn futures_noop_waker() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    std::task::Waker::from(Arc::new(Noop))
}

#[tokio::test(start_paused = true)]
async fn a_panicking_listener_does_not_disturb_the_request() {
    let b: &'static Breaker = Box::leak(Box::new(
        breaker_tokio::builder("upstream")
            .failure_threshold(1)
            .on_success(|_| panic!("listener bug"))
            .on_failure(|_| panic!("listener bug"))
            .build()
            .unwrap(),
    ));
    let upstream = Upstream::default();
    let mut svc = CircuitBreaker::new(upstream, b);
    // breaker-std catches the listener's panic; the settle goes on, and so does the request.
    assert_eq!(svc.ready().await.unwrap().call(false).await.unwrap(), "ok");
    assert_eq!(svc.ready().await.unwrap().call(true).await.unwrap_err().to_string(), "502");
    assert_eq!(b.state(), State::Open);
}
