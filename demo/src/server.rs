//! The HTTP server, built to shed hostile clients: every limit is hyper's, hyper-util's or
//! tower-http's, none is a hand-rolled timer.
//!
//! | threat | limit | what the client sees |
//! |---|---|---|
//! | slowloris (headers sent byte by byte) | hyper's header read timeout | the connection is closed |
//! | idle kept-alive connections | the same timeout, restarted after each response | the connection is closed |
//! | a body that never arrives | tower-http's request body timeout | `400` (axum's answer to a body that failed to arrive), and the connection closed |
//! | a request that takes too long as a whole | tower-http's timeout: the server-side deadline | `408` |
//! | a large body | tower-http's body limit, on the declared length before a byte is read | `413` |
//! | too many connections | a connection limit below the descriptor limit: accepting waits for a free slot | a queued connect, never a refused one for those already open |
//!
//! Shutdown is graceful with a deadline: at the signal the server stops accepting, tells open
//! connections to finish (hyper-util's `GracefulShutdown`), and gives them the grace period;
//! whatever is still open then is dropped, so one unfinished request cannot keep the process
//! (and the outbox flush after it) waiting.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

/// The server's limits (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_connections: usize,
    pub(crate) shutdown_grace: Duration,
}

/// Descriptors kept for everything but client connections: the database and broker
/// connections, the outbox, logs, the listener.
const RESERVED_DESCRIPTORS: u64 = 64;

/// The connection limit that fits `nofile` descriptors: `wanted`, or fewer when the descriptor
/// limit leaves less room (so accepting never fails with `EMFILE` and the server keeps serving).
pub(crate) fn connection_limit(wanted: usize, nofile: u64) -> usize {
    let room = nofile.saturating_sub(RESERVED_DESCRIPTORS).max(1);
    usize::try_from(room).map_or(wanted, |room| wanted.min(room))
}

/// Raises the soft descriptor limit to the hard one where allowed; returns the soft limit in
/// force afterwards (`None` when it cannot be read).
pub(crate) fn raise_descriptor_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    limit.current
}

/// The router with the request limits of the table: the body limit first (a declared length
/// over it is answered before anything else), then the deadline, which covers the body too.
pub(crate) fn limited(router: Router, limits: &Limits) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout))
            .layer(RequestBodyTimeoutLayer::new(limits.body_timeout)),
    )
}

/// Serves `router` on `listener` until `shutdown` resolves, then shuts down within the grace
/// period.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let router = limited(router, &limits);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // A free slot first, then accept: at the limit, new connections wait in the kernel's
        // backlog instead of taking descriptors.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors here are the client's (reset, timed out, malformed): nothing to do.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!(
        grace_ms = limits.shutdown_grace.as_millis() as u64,
        "stopped accepting; finishing open requests"
    );
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("grace period over: open connections dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(300),
            body_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_millis(600),
            max_body_bytes: 1024,
            max_connections: 4,
            shutdown_grace: Duration::from_millis(300),
        }
    }

    fn app() -> Router {
        Router::new()
            .route("/", get(|| async { "ok" }))
            .route("/echo", post(|body: String| async move { body }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            )
    }

    /// A server on a free loopback port; the sender stops it.
    async fn start(
        limits: Limits,
    ) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app(), limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop, server)
    }

    /// Reads until the peer closes (or 5 s pass); returns what was read and how long it took.
    async fn read_to_close(stream: &mut TcpStream) -> (String, Duration) {
        let start = Instant::now();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        (String::from_utf8_lossy(&buf).into_owned(), start.elapsed())
    }

    async fn request(addr: std::net::SocketAddr, raw: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        read_to_close(&mut s).await.0
    }

    #[tokio::test]
    async fn a_slowloris_client_is_cut_off_at_the_header_timeout() {
        let (addr, _stop, _server) = start(limits()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // never finished
        let (_, took) = read_to_close(&mut s).await;
        assert!(took < Duration::from_secs(2), "held {took:?}");
    }

    #[tokio::test]
    async fn an_idle_kept_alive_connection_is_closed() {
        let (addr, _stop, _server) = start(limits()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (answer, took) = read_to_close(&mut s).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(took < Duration::from_secs(2), "idle connection held {took:?}");
    }

    #[tokio::test]
    async fn a_body_that_never_arrives_is_cut_off_and_a_large_one_gets_413() {
        let (addr, _stop, _server) = start(limits()).await;
        let start = Instant::now();
        let stalled = request(addr, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc").await;
        assert!(
            stalled.starts_with("HTTP/1.1 400")
                && stalled.contains("not received within the designated timeout"),
            "{stalled}"
        );
        assert!(start.elapsed() < Duration::from_secs(2), "held {:?}", start.elapsed());
        let large = request(addr, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n").await;
        assert!(large.starts_with("HTTP/1.1 413"), "{large}");
        let fine = request(
            addr,
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        )
        .await;
        assert!(fine.starts_with("HTTP/1.1 200") && fine.ends_with("hi"), "{fine}");
    }

    #[tokio::test]
    async fn a_request_past_the_deadline_gets_408() {
        let (addr, _stop, _server) = start(limits()).await;
        let start = Instant::now();
        let slow = request(addr, "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn connections_over_the_limit_wait_and_are_served_once_a_slot_frees() {
        let (addr, _stop, _server) = start(limits()).await;
        // Fill every slot with idle connections.
        let mut idle = Vec::new();
        for _ in 0..limits().max_connections {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        // One more: the kernel accepts the TCP connection, the server does not read it until the
        // idle ones are shed by the header timeout; then it is served.
        let start = Instant::now();
        let answer = request(addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(2), "{waited:?}");
    }

    #[tokio::test]
    async fn shutdown_does_not_wait_for_an_unfinished_request_past_the_grace_period() {
        let mut limits = limits();
        limits.request_timeout = Duration::from_secs(60);
        let (addr, stop, server) = start(limits).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(3), server).await.expect("server stopped").unwrap();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn the_connection_limit_fits_the_descriptor_limit() {
        assert_eq!(connection_limit(1000, 1024), 960);
        assert_eq!(connection_limit(1000, 1_048_576), 1000);
        assert_eq!(connection_limit(1000, 10), 1);
    }

    #[test]
    fn the_descriptor_limit_is_raised_to_the_hard_limit() {
        let after = raise_descriptor_limit().expect("readable");
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        assert_eq!(Some(after), hard.or(Some(after)));
    }
}
