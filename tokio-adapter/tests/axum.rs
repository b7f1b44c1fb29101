//! axum (feature `axum`): the rejection as `503 Service Unavailable` with `Retry-After` through
//! `HandleErrorLayer`, on paused time; per-route breakers keyed by the route template.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::routing::get;
use axum::Router;
use breaker_core::{Config, State};
use breaker_tokio::layer::CircuitBreakerLayer;
use breaker_tokio::per_endpoint::PerEndpointLayer;
use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};
use tokio::time::advance;
use tower::{ServiceBuilder, ServiceExt};

const SECOND: Duration = Duration::from_secs(1);

fn breaker(threshold: u32, recovery: Duration) -> Arc<breaker_tokio::Breaker> {
    Arc::new(
        breaker_tokio::builder("upstream")
            .failure_threshold(threshold)
            .recovery_timeout(recovery)
            .build()
            .unwrap(),
    )
}

fn registry() -> breaker_tokio::Registry {
    breaker_tokio::registry()
        .default_config(Config::new().failure_threshold(2).recovery_timeout(Duration::from_secs(10)))
        .build()
        .unwrap()
}

fn app(b: Arc<breaker_tokio::Breaker>) -> Router {
    Router::new()
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/ok", get(|| async { "ok" }))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
                .layer(CircuitBreakerLayer::http(b)),
        )
}

async fn get_path(app: &Router, path: &str) -> Response<Body> {
    let req = Request::get(path).body(Body::empty()).unwrap();
    app.clone().oneshot(req).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn axum_gets_503_with_retry_after() {
    let b = breaker(3, 30 * SECOND);
    let app = app(Arc::clone(&b));
    for _ in 0..3 {
        assert_eq!(get_path(&app, "/fail").await.status(), 500);
    }
    assert_eq!(b.state(), State::Open);

    let r = get_path(&app, "/ok").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()[RETRY_AFTER], "30");
    let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
    assert_eq!(body, "circuit breaker 'upstream' is open; retry in 30s");

    advance(Duration::from_millis(12_500)).await;
    let r = get_path(&app, "/ok").await;
    assert_eq!(r.headers()[RETRY_AFTER], "18"); // 17.5 s, rounded up

    b.force_open();
    let r = get_path(&app, "/ok").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get(RETRY_AFTER).is_none(), "forced open: no time is known");

    b.reset();
    assert_eq!(get_path(&app, "/ok").await.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn axum_routes_are_keyed_by_their_template() {
    let registry = registry();
    let routes = registry.keyed_default::<String>("routes").unwrap();
    let app: Router = Router::new()
        .route("/users/{id}", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route("/health", get(|| async { "ok" }))
        .route_layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
                .layer(PerEndpointLayer::by_path(Arc::clone(&routes))),
        );
    let send = |path: String| app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap());
    for id in 0..2 {
        assert_eq!(send(format!("/users/{id}")).await.unwrap().status(), 503);
    }
    // Two different paths, one route: one breaker, now open.
    assert_eq!(routes.len(), 1);
    let r = send("/users/99".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "10");
    assert_eq!(send("/health".into()).await.unwrap().status(), 200);
    assert_eq!(routes.len(), 2);
}
