//! axum (feature `axum`): the rejection as `503 Service Unavailable` with `Retry-After` through
//! `HandleErrorLayer`, on paused time; `handle_error`'s statuses (503, 504, 500) for every breaker error; a
//! handler returning `call_async`'s `CallError` as it is; per-route
//! breakers keyed by the route template, with the route in the 503.

use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::routing::get;
use axum::Router;
use breaker_tokio::layer::{ByKey, CircuitBreakerLayer};
use breaker_tokio::{Breaker, Config, State};
use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};
use tokio::time::advance;
use tower::{ServiceBuilder, ServiceExt};

const SECOND: Duration = Duration::from_secs(1);

fn breaker(threshold: u32, recovery: Duration) -> &'static Breaker {
    Box::leak(Box::new(
        breaker_tokio::builder("upstream")
            .failure_threshold(threshold)
            .recovery_timeout(recovery)
            .build()
            .unwrap(),
    ))
}

fn registry() -> breaker_tokio::Registry {
    breaker_tokio::registry()
        .default_config(Config::new().failure_threshold(2).recovery_timeout(Duration::from_secs(10)))
        .build()
        .unwrap()
}

fn app(b: &'static Breaker) -> Router {
    Router::new()
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(10 * SECOND).await;
                "late"
            }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
                .layer(CircuitBreakerLayer::http(b))
                .timeout(2 * SECOND),
        )
}

async fn get_path(app: &Router, path: &str) -> Response<Body> {
    let req = Request::get(path).body(Body::empty()).unwrap();
    app.clone().oneshot(req).await.unwrap()
}

async fn body(r: Response<Body>) -> String {
    String::from_utf8(axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap().to_vec()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn axum_gets_503_with_retry_after() {
    let b = breaker(3, 30 * SECOND);
    let app = app(b);
    for _ in 0..3 {
        assert_eq!(get_path(&app, "/fail").await.status(), 500);
    }
    assert_eq!(b.state(), State::Open);

    let r = get_path(&app, "/ok").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()[RETRY_AFTER], "30");
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body(r).await, "circuit breaker 'upstream' is open; retry in 30s");

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
async fn a_timeout_below_the_breaker_is_a_504_and_a_failure() {
    let b = breaker(2, 30 * SECOND);
    let app = app(b);
    for _ in 0..2 {
        let r = get_path(&app, "/slow").await;
        assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(r.headers().get(RETRY_AFTER).is_none());
        assert_eq!(body(r).await, "request timed out");
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(get_path(&app, "/slow").await.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn handle_error_answers_500_for_anything_else_without_its_text() {
    let r = breaker_tokio::axum::handle_error("secret connection string in the message".into()).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.headers().get(RETRY_AFTER).is_none());
    assert_eq!(body(r).await, "internal server error");
}

#[tokio::test(start_paused = true)]
async fn axum_routes_are_keyed_by_their_template() {
    let registry = registry();
    let routes = registry.keyed::<String>("routes").unwrap();
    let app: Router = Router::new()
        .route("/users/{id}", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route("/health", get(|| async { "ok" }))
        .route_layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
                .layer(CircuitBreakerLayer::http(ByKey::by_route(routes.clone()))),
        );
    let send = |path: String| app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap());
    for id in 0..2 {
        assert_eq!(send(format!("/users/{id}")).await.unwrap().status(), 503);
    }
    // Two different paths, one route: one breaker, now open.
    assert_eq!(routes.len(), 1);
    let r = send("/users/99".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()[RETRY_AFTER], "10");
    assert_eq!(body(r).await, "circuit breaker 'routes' for '/users/{id}' is open; retry in 10s");
    assert_eq!(send("/health".into()).await.unwrap().status(), 200);
    assert_eq!(routes.len(), 2);
    // No route matched: the fallback's 404 is not guarded and creates no breaker.
    for _ in 0..3 {
        assert_eq!(send("/nowhere".into()).await.unwrap().status(), 404);
    }
    assert_eq!(routes.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn by_route_under_router_layer_too() {
    let registry = registry();
    let routes = registry.keyed::<String>("routes").unwrap();
    let app: Router = Router::new().route("/items/{id}", get(|| async { StatusCode::BAD_GATEWAY })).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
            .layer(CircuitBreakerLayer::http(ByKey::by_route(routes.clone()))),
    );
    for id in 0..2 {
        let req = Request::get(format!("/items/{id}")).body(Body::empty()).unwrap();
        assert_eq!(app.clone().oneshot(req).await.unwrap().status(), 502);
    }
    assert_eq!(routes.get("/items/{id}").map(|b| b.state()), Some(State::Open));
}

#[tokio::test(start_paused = true)]
async fn by_path_is_the_uri_path_even_with_axum() {
    let registry = registry();
    let paths = registry.keyed::<String>("paths").unwrap();
    let app: Router =
        Router::new().route("/users/{id}", get(|| async { StatusCode::BAD_GATEWAY })).route_layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
                .layer(CircuitBreakerLayer::http(ByKey::by_path(paths.clone()))),
        );
    for id in 0..3 {
        let req = Request::get(format!("/users/{id}")).body(Body::empty()).unwrap();
        assert_eq!(app.clone().oneshot(req).await.unwrap().status(), 502);
    }
    assert_eq!(paths.len(), 3, "one breaker per path, not per route");
    assert_eq!(paths.get("/users/0").unwrap().failure_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_timed_call_error_is_a_response() {
    use axum::response::IntoResponse;
    use breaker_tokio::BreakerExt;

    let db = breaker(1, 30 * SECOND);
    let hanging = async {
        tokio::time::sleep(60 * SECOND).await;
        Ok::<_, StatusCode>("row")
    };
    let e = db.call_async(hanging).timeout(SECOND).await.unwrap_err();
    assert_eq!(e.into_response().status(), StatusCode::GATEWAY_TIMEOUT);
    let e = db.call_async(async { Ok::<_, StatusCode>("row") }).timeout(SECOND).await.unwrap_err();
    let r = e.into_response();
    assert_eq!(
        (r.status(), r.headers()[RETRY_AFTER].to_str().unwrap()),
        (StatusCode::SERVICE_UNAVAILABLE, "30")
    );
    let e = breaker(1, SECOND).call_async(async { Err::<(), _>(StatusCode::CONFLICT) }).timeout(SECOND).await;
    assert_eq!(e.unwrap_err().into_response().status(), StatusCode::CONFLICT);
}

#[tokio::test(start_paused = true)]
async fn a_handler_returns_the_call_error_itself() {
    use breaker_tokio::{BreakerExt, CallError};

    let db = breaker(1, 30 * SECOND);
    // What `call_async` returns, as the handler's own error type: no mapping in the handler.
    let handler = move || async move {
        let row: Result<&'static str, CallError<StatusCode>> =
            db.call_async(async { Err::<&'static str, _>(StatusCode::BAD_GATEWAY) }).await;
        row
    };
    let app = Router::new().route("/row", get(handler));
    let r = get_path(&app, "/row").await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "the call's own error is its own response");
    let r = get_path(&app, "/row").await;
    assert_eq!(
        (r.status(), r.headers()[RETRY_AFTER].to_str().unwrap()),
        (StatusCode::SERVICE_UNAVAILABLE, "30")
    );
    assert!(body(r).await.contains("upstream"), "the 503 names the breaker");
}

#[tokio::test]
async fn handle_error_knows_every_breaker_error() {
    use breaker_tokio::{CircuitOpen, Elapsed};

    let open = CircuitOpen::new("db", State::Open, Some(Duration::from_millis(1_200)));
    let r = breaker_tokio::axum::handle_error(Box::new(open)).await;
    assert_eq!(
        (r.status(), r.headers()[RETRY_AFTER].to_str().unwrap()),
        (StatusCode::SERVICE_UNAVAILABLE, "2")
    );
    assert_eq!(body(r).await, open.to_string());

    let elapsed = Elapsed::new("db", SECOND);
    let r = breaker_tokio::axum::handle_error(Box::new(elapsed)).await;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body(r).await, elapsed.to_string());
}
