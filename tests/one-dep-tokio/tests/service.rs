//! A representative axum service on `breaker-tokio` only: one breaker per route with a rate
//! window, `tower::timeout` under the breaker and `HandleErrorLayer` above it (504 while the
//! dependency hangs, 503 with `Retry-After` once the route's breaker is open), a database call
//! through `call_async` with a timeout, `/health` as JSON and the Prometheus metrics.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::routing::get;
use axum::Router;
use breaker_tokio::layer::{ByKey, CircuitBreakerLayer};
use breaker_tokio::prelude::*;
use breaker_tokio::{RateConfig, Window};
use http::header::RETRY_AFTER;
use http::{Request, StatusCode};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::{ServiceBuilder, ServiceExt};

/// The process's Prometheus recorder, installed before any breaker exists.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

async fn query_database(ok: bool) -> Result<u32, std::io::Error> {
    if ok {
        Ok(42)
    } else {
        tokio::time::sleep(Duration::from_secs(3600)).await; // a hung connection
        Ok(0)
    }
}

#[tokio::test(start_paused = true)]
async fn a_tokio_service_needs_breaker_tokio_only() {
    let metrics = prometheus();
    let rule = RateConfig::new(500, 2).validate().unwrap(); // 50 % of at least 2 calls
    let registry = breaker_tokio::registry()
        .configure("database", Config::new().failure_threshold(2).recovery_timeout(Duration::from_secs(30)))
        .configure("routes", Config::new().recovery_timeout(Duration::from_secs(30)))
        .policy("routes", move || Window::<4>::count(4, rule))
        .build()
        .unwrap();

    // A database call with a deadline: a hung query times out and counts as a failure.
    let db = registry.breaker("database").unwrap();
    assert_eq!(db.call_async(query_database(true)).timeout(Duration::from_secs(2)).await.unwrap(), 42);
    for _ in 0..2 {
        let r = db.call_async(query_database(false)).timeout(Duration::from_secs(2)).await;
        assert!(matches!(r, Err(TimedCallError::TimedOut(_))));
    }
    assert_eq!(db.state(), State::Open);
    let r = db.call_async(query_database(true)).timeout(Duration::from_secs(2)).await;
    assert!(r.unwrap_err().is_open());

    // One breaker per route, with a rate window; the timeout below the breaker is a failure.
    let routes = registry.keyed_with_policy::<String, Window<4>>("routes").unwrap();
    let app: Router = Router::new()
        .route(
            "/search/{term}",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await; // the dependency hangs
                "results"
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .route_layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
                .layer(CircuitBreakerLayer::http(ByKey::by_route(routes.clone())))
                .timeout(Duration::from_secs(2)),
        );
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    for term in ["a", "b"] {
        let response = app.clone().oneshot(get(&format!("/search/{term}"))).await.unwrap();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    }
    let response = app.clone().oneshot(get("/search/c")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "30");
    // Another route has its own breaker and window.
    let response = app.clone().oneshot(get("/ok")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // `/health`: the registry's health as JSON, in the Python original's shape.
    let health = serde_json::to_value(registry.health()).unwrap();
    assert_eq!(health["database"]["circuit_breaker"], "open");
    assert_eq!(health["routes"]["/search/{term}"]["circuit_breaker"], "open");
    assert_eq!(health["routes"]["/ok"]["circuit_breaker"], "closed");

    // `/metrics`: the breakers' series, rendered by the exporter.
    registry.refresh_metrics();
    let text = metrics.render();
    assert!(text.contains(r#"circuit_breaker_state{breaker="database",state="open"} 1"#), "{text}");
    assert!(text.contains("circuit_breaker_transitions_total"), "{text}");
}

/// The names a tokio service reaches for beside the breaker — the keyed families' constants,
/// the metric names, the limits, the core's serde impls (`SavedState`, `Snapshot`) and the
/// policy trait's `Sample` — all come from breaker-tokio.
#[tokio::test(start_paused = true)]
async fn constants_limits_and_serde_come_from_breaker_tokio() {
    use breaker_tokio::keyed::{DEFAULT_MAX_KEYS, OVERFLOW_KEY};
    use breaker_tokio::limits::MAX_FAILURE_THRESHOLD;

    let tenants: breaker_tokio::Keyed<String> = breaker_tokio::keyed("tenant").build().unwrap();
    assert_eq!(tenants.max_keys(), DEFAULT_MAX_KEYS);
    assert_eq!(tenants.breaker_or_overflow(OVERFLOW_KEY).unwrap().key(), Some(OVERFLOW_KEY));
    assert!(Config::new().failure_threshold(MAX_FAILURE_THRESHOLD + 1).validate().is_err());
    assert_eq!(breaker_tokio::metrics::STATE, "circuit_breaker_state");

    let db: Breaker = breaker_tokio::builder("database").failure_threshold(1).build().unwrap();
    let _ = db.call_async(async { Err::<(), _>("refused") }).await;
    let saved: breaker_tokio::SavedState = db.save();
    let read: breaker_tokio::SavedState =
        serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
    assert_eq!(read, saved);
    let snapshot: breaker_tokio::Snapshot = db.snapshot();
    assert_eq!(serde_json::to_value(snapshot).unwrap()["state"], "open");
    let sample = breaker_tokio::Sample::new(true, false);
    assert!(sample.failed && !sample.slow);
}
