//! HTTP to the service under test: keep-alive connections, control requests, `/metrics`,
//! health polling.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::sleep;

/// A response: its status, its `Retry-After`, its JSON body (`Null` if not JSON).
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
    /// The body as JSON.
    pub body: Value,
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects to the service on `port`.
    pub async fn open(port: u16) -> Result<Conn, String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(Conn { sender })
    }

    /// Sends one request (`body` as JSON, `bearer` as the `Authorization`) and reads the whole
    /// response.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> Result<Reply, String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let mut req =
            http::Request::builder().method(method).uri(path).header(http::header::HOST, "127.0.0.1");
        if let Some(token) = bearer {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let bytes = match body {
            Some(v) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(bytes)).map_err(|e| e.to_string())?;
        let resp = self.sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(Reply { status, retry_after, body })
    }
}

/// A fresh connection per control request (health polls, admin, metrics).
pub async fn control(port: u16, method: &str, path: &str, bearer: Option<&str>) -> Reply {
    let mut conn = Conn::open(port).await.expect("connect to the service");
    conn.send(method, path, None, bearer).await.expect("control request")
}

/// The `/metrics` page.
pub async fn metrics_text(port: u16) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let req = http::Request::get("/metrics")
        .header(http::header::HOST, "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = sender.send_request(req).await.expect("metrics");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

/// A breaker's state and the outbox's queued events, from `/health/detailed`.
pub async fn breaker_state(port: u16, name: &str) -> (String, usize) {
    let h = control(port, "GET", "/health/detailed", None).await.body;
    let state = h[name]["circuit_breaker"].as_str().unwrap_or("?").to_owned();
    let queued = h["outbox"]["queued"].as_u64().unwrap_or(u64::MAX) as usize;
    (state, queued)
}

/// Polls until `done(state, outbox)`, returning when it became true.
pub async fn wait_until(
    port: u16,
    name: &str,
    within: Duration,
    what: &str,
    done: impl Fn(&str, usize) -> bool,
) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let (state, queued) = breaker_state(port, name).await;
        if done(&state, queued) {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{what}: still {name}={state}, outbox={queued} after {within:?}");
        sleep(Duration::from_millis(20)).await;
    }
}
