//! HTTP (feature `http`): the HTTP classifier, and per-endpoint breakers: by route, by host,
//! by a closure over the registry, and unguarded requests.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use breaker_core::{Config, State};
use breaker_tokio::layer::{CircuitBreakerLayer, Error};
use breaker_tokio::per_endpoint::{PerEndpoint, PerEndpointLayer};
use http::{Request, Response};
use tokio::time::advance;
use tower::{service_fn, Layer, Service, ServiceExt};

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

#[tokio::test(start_paused = true)]
async fn the_http_classifier_fails_5xx_and_errors_not_4xx() {
    let b = breaker(2, 5 * SECOND);
    let upstream = service_fn(|req: Request<()>| async move {
        match req.uri().path() {
            "/missing" => Ok(status(404)),
            "/broken" => Ok(status(500)),
            "/unreachable" => Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            _ => Ok(status(200)),
        }
    });
    let mut svc = CircuitBreakerLayer::http(Arc::clone(&b)).layer(upstream);
    let mut send = |path: &'static str| svc.call(Request::get(path).body(()).unwrap());

    for _ in 0..5 {
        assert_eq!(send("/missing").await.unwrap().status(), 404);
    }
    assert_eq!(b.failure_count(), 0, "4xx is the client's mistake");
    assert_eq!(send("/broken").await.unwrap().status(), 500);
    assert_eq!(b.failure_count(), 1);
    assert!(matches!(send("/unreachable").await, Err(Error::Inner(_))));
    assert_eq!(b.state(), State::Open);
}

fn status(code: u16) -> Response<()> {
    Response::builder().status(code).body(()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn one_breaker_per_path() {
    let registry = registry();
    let routes = registry.keyed_default::<String>("api").unwrap();
    let upstream = service_fn(|req: Request<()>| async move {
        Ok::<_, Infallible>(status(if req.uri().path() == "/orders" { 502 } else { 200 }))
    });
    let svc = PerEndpointLayer::by_path(Arc::clone(&routes)).layer(upstream);
    let send = |path: &str| svc.clone().oneshot(Request::get(path).body(()).unwrap());

    for _ in 0..2 {
        assert_eq!(send("/orders").await.unwrap().status(), 502);
    }
    assert!(matches!(send("/orders").await, Err(Error::Rejected(_))));
    assert_eq!(send("/users").await.unwrap().status(), 200);
    assert_eq!(routes.get("/orders").unwrap().state(), State::Open);
    assert_eq!(routes.get("/users").unwrap().state(), State::Closed);
    // The registry's health shows the family with both keys.
    let health = registry.health();
    assert_eq!(health.families[0].breakers.len(), 2);

    advance(Duration::from_secs(10)).await;
    // Probe of "/orders" fails again (the upstream is still broken): reopened.
    assert_eq!(send("/orders").await.unwrap().status(), 502);
    assert_eq!(routes.get("/orders").unwrap().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn one_breaker_per_host() {
    let registry = registry();
    let hosts = registry.keyed_default::<String>("upstream").unwrap();
    let client = service_fn(|req: Request<()>| async move {
        if req.uri().host() == Some("down.internal") {
            Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
        } else {
            Ok(status(200))
        }
    });
    let svc = PerEndpointLayer::by_host(Arc::clone(&hosts)).layer(client);
    let send = |uri: &str| svc.clone().oneshot(Request::get(uri).body(()).unwrap());
    for _ in 0..2 {
        assert!(matches!(send("http://down.internal/x").await, Err(Error::Inner(_))));
    }
    match send("http://down.internal/y").await {
        Err(Error::Rejected(r)) => assert_eq!(r.retry_after(), Some(Duration::from_secs(10))),
        other => panic!("{other:?}"),
    }
    assert_eq!(send("http://up.internal/x").await.unwrap().status(), 200);
    assert_eq!(hosts.len(), 2);
    // The Host header wins over the URI.
    let req = Request::get("/z").header("host", "down.internal").body(()).unwrap();
    assert!(matches!(svc.clone().oneshot(req).await, Err(Error::Rejected(_))));
}

#[tokio::test(start_paused = true)]
async fn a_closure_picks_from_the_registry_and_none_is_unguarded() {
    let registry = Arc::new(registry());
    let reg = Arc::clone(&registry);
    let pick = move |name: &&'static str| (*name != "none").then(|| reg.breaker(name));
    let svc = PerEndpoint::new(service_fn(|_: &'static str| async { Err::<(), _>("down") }), pick);
    for _ in 0..5 {
        let r = svc.clone().oneshot("none").await;
        assert!(matches!(r, Err(Error::Inner("down"))));
    }
    assert!(registry.get("none").is_none());
    for _ in 0..2 {
        let _ = svc.clone().oneshot("search").await;
    }
    assert_eq!(registry.get("search").unwrap().state(), State::Open);
}
