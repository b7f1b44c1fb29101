//! The tower middleware: [`CircuitBreaker`] (the `Service`, `service.rs`),
//! [`CircuitBreakerLayer`] (the `Layer`, `layer.rs`), [`ResponseFuture`] (`future.rs`), the
//! rejection [`Open`] (`error.rs`), and [`Pick`] / [`ByKey`] (`pick.rs`), which choose the
//! breaker of each request.
//!
//! One service serves one breaker and per-endpoint breakers alike: it asks its [`Pick`] for
//! each request's breaker. A breaker handle (`&'static Breaker`, what the registry hands out,
//! or an `Arc<Breaker>`) always picks itself; [`ByKey::by_path`], [`ByKey::by_host`] and
//! `ByKey::by_route` (feature `axum`) pick from a keyed family; a closure picks however it
//! likes, and a request it picks no breaker for goes through unguarded.
//!
//! # Parameters and defaults
//!
//! Every type here takes its parameters in one order, *what is wrapped, then the breaker, then
//! the classifier*: [`CircuitBreaker<S, P, K>`](CircuitBreaker) (service, pick, classifier),
//! [`CircuitBreakerLayer<P, K>`](CircuitBreakerLayer), [`ResponseFuture<F, G, K>`](ResponseFuture)
//! (inner future, permit, classifier). The classifier defaults to
//! [`classify::Errors`](crate::classify::Errors) everywhere (every `Err` a failure, every `Ok` a
//! success), the default of `call` and `call_async` too, because it is the one classifier that
//! fits every service. For HTTP services say so: [`CircuitBreakerLayer::http`] (or
//! `.classify(HttpClassifier)`) makes 5xx responses failures and 4xx not.
//!
//! # Semantics
//!
//! - **Rejection happens in `call`**, never in `poll_ready`: `poll_ready` only asks the inner
//!   service, so no admission is reserved that a request never sent would leak. A rejected
//!   request gets a response future that is ready at once with an [`Open`], and the inner
//!   service is not called.
//! - **One verdict per admitted request**, from the classifier (a [`Classify`](crate::Classify)),
//!   when the response future finishes. A response future dropped before it finishes (the
//!   client went away, a timeout layer above gave up) counts as **neither** success nor failure
//!   and gives a half-open probe slot back. A panic in the inner service (its `call` or its
//!   future) is a **failure**, and keeps unwinding. The settle (recording the verdict) unwinds
//!   like any other call: the core's decision does not panic and breaker-std catches a
//!   listener's panic, so only a `tracing` subscriber or `metrics` recorder that panics inside
//!   it can, and that panic comes out of the response future's `poll` after the permit was
//!   consumed (nothing is settled twice; the future is finished). A panic in the settle while a
//!   panic of the inner service is already unwinding aborts the process, as any panic during
//!   unwinding does (the `tower` bench tells why the settle is not made to abort instead).
//! - **Errors compose with tower**: the service's error is a `tower::BoxError`, as tower's own
//!   middleware's are. A rejection is an [`Open`] in it (`error.downcast_ref::<Open>()`, with
//!   the breaker's name, retry-after and, for a keyed breaker, its key); anything else is the
//!   inner service's error, not wrapped (a `tower::timeout` below the breaker still downcasts to
//!   `tower::timeout::error::Elapsed`). Errors from the inner `poll_ready` pass through and are
//!   not counted: they belong to no request.
//! - **Costs** on a CLOSED success: the core's one atomic load, the classifier, the breaker-std
//!   hooks (an emptiness check without listeners or metrics), **no allocation**
//!   (`tests/alloc.rs`), and the handle's copy: nothing for a `&'static Breaker`, two atomic
//!   read-modify-writes for an `Arc` (clone and drop). `call` and `poll` are
//!   `#[inline(always)]` and everything off that path is out of line, so the cost does not
//!   depend on where the caller's code happens to sit. The `tower` bench measures it the way
//!   tower drives a layer (instructions per request under callgrind, and nanoseconds); a
//!   rejection costs one allocation (its `BoxError`, as every boxed tower error does).
//!
//! A timeout for the calls belongs below the breaker (`tower::timeout::TimeoutLayer` inside
//! `CircuitBreakerLayer`), so a timed-out call reaches the classifier as an `Err`: a failure.
//!
//! # Examples
//!
//! One breaker in front of a flaky service; the rejection downcasts from the error:
//!
//! ```
//! use breaker_tokio::layer::{CircuitBreakerLayer, Open};
//! use breaker_tokio::State;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry = breaker_tokio::registry().build().unwrap();
//! let breaker = registry.breaker("upstream").unwrap(); // 5 failures, 60 s
//! let upstream = service_fn(|fail: bool| async move { if fail { Err("502") } else { Ok("ok") } });
//! let mut svc = CircuitBreakerLayer::new(breaker).layer(upstream);
//!
//! for _ in 0..5 {
//!     let e = svc.ready().await.unwrap().call(true).await.unwrap_err();
//!     assert_eq!(e.to_string(), "502"); // the inner error, as it is
//! }
//! assert_eq!(breaker.state(), State::Open);
//! let e = svc.ready().await.unwrap().call(false).await.unwrap_err();
//! let open = e.downcast_ref::<Open>().expect("rejected");
//! assert_eq!((open.name(), open.retry_after_secs()), ("upstream", Some(60)));
//! # }
//! ```
//!
//! The whole stack for an axum service (feature `axum`): `tower::timeout` under the breaker,
//! `HandleErrorLayer` with `breaker_tokio::axum::handle_error` above it, one breaker
//! per route; a hanging dependency answers `504` until the route's breaker opens, then `503`
//! with `Retry-After`:
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use axum::{body::Body, error_handling::HandleErrorLayer, routing::get, Router};
//! use breaker_tokio::layer::{ByKey, CircuitBreakerLayer};
//! use breaker_tokio::Config;
//! use http::{header::RETRY_AFTER, Request, StatusCode};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let registry = breaker_tokio::registry()
//!     .configure("routes", Config::new().failure_threshold(2).recovery_timeout(Duration::from_secs(30)))
//!     .build()
//!     .unwrap();
//! let routes = registry.keyed::<String>("routes").unwrap();
//! let app: Router = Router::new()
//!     .route(
//!         "/search/{term}",
//!         get(|| async {
//!             tokio::time::sleep(Duration::from_secs(10)).await; // the dependency hangs
//!             "results"
//!         }),
//!     )
//!     .route_layer(
//!         ServiceBuilder::new()
//!             .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error)) // 503 / 504 / 500
//!             .layer(CircuitBreakerLayer::http(ByKey::by_route(routes.clone())))
//!             .timeout(Duration::from_secs(2)), // below the breaker: a timeout is a failure
//!     );
//! let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
//!
//! for term in ["a", "b"] {
//!     let response = app.clone().oneshot(get(&format!("/search/{term}"))).await.unwrap();
//!     assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
//! }
//! let response = app.clone().oneshot(get("/search/c")).await.unwrap();
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.headers()[RETRY_AFTER], "30");
//! let body = axum::body::to_bytes(response.into_body(), 1 << 10).await.unwrap();
//! assert_eq!(body, "circuit breaker 'routes' for '/search/{term}' is open; retry in 30s");
//! # }
//! # #[cfg(not(feature = "axum"))]
//! # fn main() {}
//! ```

mod error;
mod future;
#[allow(clippy::module_inception)] // the tower layout: `layer.rs` holds the `Layer`
mod layer;
mod pick;
mod service;

pub use error::Open;
pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
#[cfg(feature = "http")]
pub use pick::ByKey;
pub use pick::Pick;
pub use service::CircuitBreaker;
