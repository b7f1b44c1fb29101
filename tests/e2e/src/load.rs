//! Load: clients on keep-alive connections, each request recorded as a [`Sample`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::time::{sleep, timeout};

use crate::http::Conn;

/// What a client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `GET /items/{id}`.
    Read,
    /// `POST /events`.
    Publish,
}

/// How a request ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// A response came.
    Answered {
        /// Its status.
        status: u16,
        /// `source` of a read (`database`, `cache`, `none`); `delivery` of a publish.
        what: String,
        /// It had a `Retry-After`.
        retry_after: bool,
    },
    /// No response within the client's timeout.
    TimedOut,
    /// The connection failed.
    Failed(String),
}

/// One request.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Read or publish.
    pub kind: Kind,
    /// Which client sent it (its `n`).
    pub client: usize,
    /// When it was sent.
    pub start: Instant,
    /// How long the answer took.
    pub latency: Duration,
    /// The event's id (publishes).
    pub event_id: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
}

/// The state the clients of a load share.
#[derive(Default)]
pub struct Load {
    /// Set: every client stops after its current request.
    pub stop: AtomicBool,
    /// Publishes in flight.
    pub publishing: AtomicUsize,
    /// Every request of every client that stopped.
    pub samples: Mutex<Vec<Sample>>,
}

/// What one client does: its ids, how many requests at most, how long it waits for each,
/// and its pause between them.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Reads ask for ids `1..=items + unknown_items`; the last `unknown_items` do not exist.
    pub items: i64,
    /// Ids past `items`.
    pub unknown_items: i64,
    /// Requests at most.
    pub max_requests: usize,
    /// A request not answered within this is a hang.
    pub timeout: Duration,
    /// Pause after each request.
    pub pause: Duration,
}

/// A client on one keep-alive connection (a fresh one after a hang or an error), until `stop`
/// or `shape.max_requests`; its samples go to `load.samples` at the end.
pub async fn client(load: Arc<Load>, port: u16, kind: Kind, n: usize, shape: Shape) {
    let mut conn = Conn::open(port).await.expect("client connection");
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (n as u64 + 1);
    let mut samples = Vec::new();
    for i in 0..shape.max_requests {
        if load.stop.load(Ordering::SeqCst) {
            break;
        }
        let (method, path, body, event_id) = match kind {
            Kind::Read => {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let id = (seed % (shape.items + shape.unknown_items) as u64) as i64 + 1;
                ("GET", format!("/items/{id}"), None, None)
            }
            Kind::Publish => {
                load.publishing.fetch_add(1, Ordering::SeqCst);
                let id = format!("p{n}-{i}");
                let body = json!({"id": id, "type": "e2e"});
                ("POST", "/events".to_owned(), Some(body), Some(id))
            }
        };
        let start = Instant::now();
        let result = timeout(shape.timeout, conn.send(method, &path, body, None)).await;
        let latency = start.elapsed();
        if kind == Kind::Publish {
            load.publishing.fetch_sub(1, Ordering::SeqCst);
        }
        let outcome = match result {
            Ok(Ok(reply)) => {
                let field = if kind == Kind::Read { "source" } else { "delivery" };
                Outcome::Answered {
                    status: reply.status,
                    what: reply.body[field].as_str().unwrap_or("").to_owned(),
                    retry_after: reply.retry_after.is_some(),
                }
            }
            Ok(Err(e)) => Outcome::Failed(e),
            Err(_) => Outcome::TimedOut,
        };
        let broken = !matches!(outcome, Outcome::Answered { .. });
        samples.push(Sample { kind, client: n, start, latency, event_id, outcome });
        if broken {
            // The connection's state is unknown after a hang or an error: start afresh.
            conn = Conn::open(port).await.expect("client reconnection");
        }
        sleep(shape.pause).await;
    }
    load.samples.lock().unwrap().extend(samples);
}
