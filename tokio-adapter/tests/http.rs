//! HTTP (feature `http`): the HTTP classifier, and per-endpoint breakers with `ByKey`: by path,
//! by host, the key in the rejection, and requests without a key going through unguarded.
//! `ByKey::by_route` needs axum's router: it is tested in `axum.rs`.

use std::convert::Infallible;
use std::time::Duration;

use breaker_tokio::layer::{ByKey, CircuitBreakerLayer, Open, Pick};
use breaker_tokio::{Breaker, Config, HttpClassifier, State};
use http::{Request, Response};
use tokio::time::advance;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

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

fn status(code: u16) -> Response<()> {
    Response::builder().status(code).body(()).unwrap()
}

fn open(e: &BoxError) -> Option<&Open> {
    e.downcast_ref::<Open>()
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
    let mut svc = CircuitBreakerLayer::http(b).layer(upstream);
    let mut send = |path: &'static str| svc.call(Request::get(path).body(()).unwrap());

    for _ in 0..5 {
        assert_eq!(send("/missing").await.unwrap().status(), 404);
    }
    assert_eq!(b.failure_count(), 0, "4xx is the client's mistake");
    assert_eq!(send("/broken").await.unwrap().status(), 500);
    assert_eq!(b.failure_count(), 1);
    let e = send("/unreachable").await.unwrap_err();
    assert_eq!(
        e.downcast_ref::<std::io::Error>().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn http_and_new_classify_are_the_same_layer() {
    let b = breaker(1, 5 * SECOND);
    let upstream = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(status(503)) });
    let mut svc = CircuitBreakerLayer::new(b).classify(HttpClassifier).layer(upstream);
    assert_eq!(svc.ready().await.unwrap().call(Request::new(())).await.unwrap().status(), 503);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn one_breaker_per_path_and_the_rejection_names_it() {
    let registry = registry();
    let routes = registry.keyed::<String>("api").unwrap();
    let upstream = service_fn(|req: Request<()>| async move {
        Ok::<_, Infallible>(status(if req.uri().path() == "/orders" { 502 } else { 200 }))
    });
    let svc = CircuitBreakerLayer::http(ByKey::by_path(routes.clone())).layer(upstream);
    let send = |path: &str| svc.clone().oneshot(Request::get(path).body(()).unwrap());

    for _ in 0..2 {
        assert_eq!(send("/orders?page=1").await.unwrap().status(), 502);
    }
    let e = send("/orders").await.unwrap_err();
    let rejected = open(&e).expect("an Open");
    assert_eq!((rejected.name(), rejected.key()), ("api", Some("/orders")));
    assert_eq!(rejected.retry_after_secs(), Some(10));
    assert_eq!(e.to_string(), "circuit breaker 'api' for '/orders' is open; retry in 10s");
    assert_eq!(send("/users").await.unwrap().status(), 200);
    assert_eq!(routes.get("/orders").unwrap().state(), State::Open);
    assert_eq!(routes.get("/users").unwrap().state(), State::Closed);
    assert_eq!(routes.len(), 2, "the query is not part of the key");

    advance(Duration::from_secs(10)).await;
    // Probe of "/orders" fails again (the upstream is still broken): reopened.
    assert_eq!(send("/orders").await.unwrap().status(), 502);
    assert_eq!(routes.get("/orders").unwrap().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn one_breaker_per_host() {
    let registry = registry();
    let hosts = registry.keyed::<String>("upstream").unwrap();
    let client = service_fn(|req: Request<()>| async move {
        let host = req.headers().get("host").map(|h| h.to_str().unwrap().to_owned());
        if req.uri().host() == Some("down.internal") || host.as_deref() == Some("down.internal") {
            Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
        } else {
            Ok(status(200))
        }
    });
    let svc = CircuitBreakerLayer::http(ByKey::by_host(hosts.clone())).layer(client);
    let send = |uri: &str| svc.clone().oneshot(Request::get(uri).body(()).unwrap());
    for _ in 0..2 {
        let e = send("http://down.internal/x").await.unwrap_err();
        assert!(open(&e).is_none());
    }
    let e = send("http://down.internal/y").await.unwrap_err();
    let rejected = open(&e).expect("an Open");
    assert_eq!(
        (rejected.key(), rejected.retry_after()),
        (Some("down.internal"), Some(Duration::from_secs(10)))
    );
    assert_eq!(send("http://up.internal:8080/x").await.unwrap().status(), 200);
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts.get("up.internal:8080").unwrap().state(), State::Closed, "the port is part of the key");
    // The Host header wins over the URI.
    let req = Request::get("http://up.internal/z").header("host", "down.internal").body(()).unwrap();
    assert!(svc.clone().oneshot(req).await.unwrap_err().is::<Open>());
    // No host at all: unguarded, and no breaker is created.
    for _ in 0..3 {
        assert_eq!(send("/relative").await.unwrap().status(), 200);
    }
    assert_eq!(hosts.len(), 2);
}

#[test]
fn by_key_picks_by_the_part_of_the_request_it_was_built_for() {
    let registry = registry();
    let family = registry.keyed::<String>("keys").unwrap();
    let req = Request::get("https://billing.internal:8443/invoices/7?full=1").body(()).unwrap();
    let key = |pick: &ByKey<_>| pick.pick(&req).map(|b| b.key().map(str::to_owned));
    assert_eq!(key(&ByKey::by_path(family.clone())), Some(Some("/invoices/7".into())));
    assert_eq!(key(&ByKey::by_host(family.clone())), Some(Some("billing.internal:8443".into())));
    assert_eq!(ByKey::by_path(family.clone()).family().name(), "keys");
    assert!(format!("{:?}", ByKey::by_host(family)).contains("Host"));
}

#[tokio::test(start_paused = true)]
async fn a_closure_picks_named_breakers_from_the_registry() {
    let registry = registry();
    let pick = |name: &&'static str| (*name != "none").then(|| registry.breaker(name).unwrap());
    let svc =
        CircuitBreakerLayer::new(pick).layer(service_fn(|_: &'static str| async { Err::<(), _>("down") }));
    for _ in 0..5 {
        let e = svc.clone().oneshot("none").await.unwrap_err();
        assert_eq!(e.to_string(), "down");
    }
    assert!(registry.get("none").is_err());
    for _ in 0..2 {
        let _ = svc.clone().oneshot("search").await;
    }
    assert_eq!(registry.get("search").unwrap().state(), State::Open);
    let e = svc.clone().oneshot("search").await.unwrap_err();
    assert_eq!(open(&e).map(|o| (o.name(), o.key())), Some(("search", None)));
}

#[tokio::test(start_paused = true)]
async fn a_key_the_family_cannot_hold_shares_the_overflow_breaker() {
    let registry = breaker_tokio::registry()
        .default_config(Config::new().failure_threshold(1))
        .bounds("tiny", 1, Duration::from_secs(600))
        .build()
        .unwrap();
    let family = registry.keyed::<String>("tiny").unwrap();
    let upstream = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(status(502)) });
    let svc = CircuitBreakerLayer::http(ByKey::by_path(family.clone())).layer(upstream);
    let send = |path: &str| svc.clone().oneshot(Request::get(path).body(()).unwrap());
    assert_eq!(send("/a").await.unwrap().status(), 502);
    assert_eq!(family.get("/a").unwrap().state(), State::Open);
    // "/a" is open (it protects): the family keeps it, and has no room for "/b", "/c", ...:
    // they share the overflow breaker, which opens on their failure and then rejects them all.
    assert_eq!(send("/b").await.unwrap().status(), 502, "through the overflow breaker");
    for path in ["/b", "/c", "/random/7"] {
        let e = send(path).await.unwrap_err();
        assert_eq!(open(&e).and_then(|o| o.key()), Some(breaker_tokio::keyed::OVERFLOW_KEY), "{path}");
    }
    assert_eq!(family.len(), 1);
    assert_eq!(family.health().breakers.len(), 2, "the overflow breaker is visible in health");
    assert!(send("/a").await.unwrap_err().is::<Open>());
}
