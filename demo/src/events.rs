//! Event publishing behind the "kafka" breaker, with a bounded outbox.
//!
//! - An event is published at once when the outbox is empty and the breaker admits the call.
//! - Otherwise (the breaker is open, or the publish failed or timed out) it goes to the outbox,
//!   which one task delivers in order, through the same breaker, as soon as it admits calls
//!   again: after recovery the outbox drains.
//! - The outbox is bounded. An event that finds it full is **not accepted**: it is logged at
//!   ERROR (one line per second at most, with the count of refusals), counted (`outbox_events_overflowed_total`), and the client is told
//!   (`503`, `"delivery": "overflow"`). Events are never dropped silently; at shutdown the
//!   outbox is flushed for a few seconds and whatever remains is logged with its ids.
//!
//! Delivery is at least once; it is exactly once unless a publish times out after the broker
//! stored it (then the outbox sends it again).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use breaker_tokio::{BreakerExt, TimedCallError};
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use rskafka::record::Record;
use rskafka::BackoffConfig;

/// Events delivered from the outbox per publish.
const BATCH: usize = 100;

/// One event: an id (the record key) and a JSON body (the record value).
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) body: Vec<u8>,
}

/// What happened to an event handed to [`Events::publish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Acknowledged by the broker.
    Published,
    /// In the outbox, to be delivered after recovery.
    Queued,
    /// The outbox was full: not accepted (logged and counted).
    Overflow,
}

impl Delivery {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Delivery::Published => "published",
            Delivery::Queued => "queued",
            Delivery::Overflow => "overflow",
        }
    }
}

/// The producer side: the broker connection, the breaker, the outbox.
pub(crate) struct Events {
    brokers: Vec<String>,
    topic: String,
    breaker: &'static breaker_tokio::Breaker,
    timeout: Duration,
    /// The connected producer, if any. A std mutex, held only to read or swap the handle (never
    /// across an await), so a dropped publish can forget a connection from its drop guard.
    producer: Mutex<Option<Arc<PartitionClient>>>,
    /// Serializes connecting, so concurrent publishes make one connection.
    connecting: tokio::sync::Mutex<()>,
    outbox: Mutex<VecDeque<Event>>,
    capacity: usize,
    wake: tokio::sync::Notify,
    overflow_log: crate::logs::Aggregated,
}

/// Forgets the producer's connection when dropped before a publish succeeded (an error, or a
/// timeout dropping the publish).
struct ForgetUnlessDone<'a> {
    events: &'a Events,
    done: bool,
}

impl Drop for ForgetUnlessDone<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.events.forget_connection();
        }
    }
}

/// Outbox figures, for `/health/detailed`.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub(crate) struct OutboxStats {
    pub(crate) queued: usize,
    pub(crate) capacity: usize,
}

impl Events {
    pub(crate) fn new(
        brokers: Vec<String>,
        topic: String,
        breaker: &'static breaker_tokio::Breaker,
        timeout: Duration,
        capacity: usize,
    ) -> Self {
        metrics::describe_counter!(
            "events_published_total",
            "Events acknowledged by the broker, directly or from the outbox."
        );
        metrics::describe_counter!(
            "outbox_events_queued_total",
            "Events put in the outbox while Kafka was unavailable."
        );
        metrics::describe_counter!("outbox_events_delivered_total", "Events delivered from the outbox.");
        metrics::describe_counter!(
            "outbox_events_overflowed_total",
            "Events refused because the outbox was full."
        );
        metrics::describe_gauge!("outbox_events", "Events waiting in the outbox.");
        Events {
            brokers,
            topic,
            breaker,
            timeout,
            producer: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            outbox: Mutex::new(VecDeque::new()),
            capacity,
            wake: tokio::sync::Notify::new(),
            overflow_log: crate::logs::Aggregated::new(Duration::from_secs(1)),
        }
    }

    pub(crate) fn breaker(&self) -> &'static breaker_tokio::Breaker {
        self.breaker
    }

    pub(crate) fn stats(&self) -> OutboxStats {
        OutboxStats { queued: self.outbox().len(), capacity: self.capacity }
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, VecDeque<Event>> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes `event` now if possible, else keeps it in the outbox (or refuses it, if full).
    pub(crate) async fn publish(&self, event: Event) -> Delivery {
        // Behind a non-empty outbox, an event waits its turn: order is kept, and a recovering
        // broker gets one stream of batches rather than every request at once.
        if self.outbox().is_empty() {
            let batch = std::slice::from_ref(&event);
            match self.breaker.call_async(self.produce(batch)).timeout(self.timeout).await {
                Ok(()) => {
                    metrics::counter!("events_published_total").increment(1);
                    return Delivery::Published;
                }
                Err(TimedCallError::Open(_)) => {}
                Err(e) => {
                    tracing::warn!(event_id = %event.id, error = %e, "publish failed; event goes to the outbox")
                }
            }
        }
        self.enqueue(event)
    }

    fn enqueue(&self, event: Event) -> Delivery {
        let mut outbox = self.outbox();
        if outbox.len() >= self.capacity {
            let queued = outbox.len();
            drop(outbox);
            metrics::counter!("outbox_events_overflowed_total").increment(1);
            // One line per second at most, with the count: a flood of refusals is not a flood
            // of log lines. Every refused event is counted in the metric and told to its client.
            if let Some(refused) = self.overflow_log.event(std::time::Instant::now()) {
                tracing::error!(
                    refused,
                    last_event_id = %crate::logs::untrusted(&event.id),
                    outbox = queued,
                    capacity = self.capacity,
                    "outbox full: events refused"
                );
            }
            return Delivery::Overflow;
        }
        outbox.push_back(event);
        metrics::gauge!("outbox_events").set(outbox.len() as f64);
        drop(outbox);
        metrics::counter!("outbox_events_queued_total").increment(1);
        self.wake.notify_one();
        Delivery::Queued
    }

    fn cached(&self) -> Option<Arc<PartitionClient>> {
        self.producer.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn forget_connection(&self) {
        *self.producer.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The partition client, connecting (and creating the topic) if there is none.
    async fn partition(&self) -> Result<Arc<PartitionClient>, KafkaError> {
        if let Some(p) = self.cached() {
            return Ok(p);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(p) = self.cached() {
            return Ok(p);
        }
        // Retries inside the client stay within one call's timeout; the breaker does the rest.
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            base: 2.0,
            deadline: Some(self.timeout),
        };
        let client = ClientBuilder::new(self.brokers.clone())
            .client_id("breaker-demo")
            .backoff_config(backoff)
            .build()
            .await?;
        match client.controller_client()?.create_topic(self.topic.clone(), 1, 1, 5_000).await {
            Ok(()) => tracing::info!(topic = %self.topic, "topic created"),
            Err(KafkaError::ServerError { protocol_error: ProtocolError::TopicAlreadyExists, .. }) => {}
            Err(e) => return Err(e),
        }
        let partition =
            Arc::new(client.partition_client(self.topic.clone(), 0, UnknownTopicHandling::Error).await?);
        tracing::info!(brokers = ?self.brokers, "kafka producer connected");
        *self.producer.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&partition));
        Ok(partition)
    }

    /// One produce request for `events`. A publish that fails, or is dropped (timed out),
    /// forgets the connection, so the next attempt (a probe, after the breaker's timeout)
    /// reconnects. A broker that answers "unknown topic" (it restarted empty) gets the topic
    /// re-created and the request once more: it stored nothing, so this cannot duplicate.
    async fn produce(&self, events: &[Event]) -> Result<(), KafkaError> {
        let since_epoch =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let millis = i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX);
        let now = rskafka::chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default();
        let records: Vec<Record> = events
            .iter()
            .map(|e| Record {
                key: Some(e.id.clone().into_bytes()),
                value: Some(e.body.clone()),
                headers: Default::default(),
                timestamp: now,
            })
            .collect();
        let mut recreated = false;
        loop {
            let partition = self.partition().await?;
            let guard = ForgetUnlessDone { events: self, done: false };
            match partition.produce(records.clone(), Compression::NoCompression).await {
                Ok(_) => {
                    let mut guard = guard;
                    guard.done = true;
                    return Ok(());
                }
                Err(KafkaError::ServerError {
                    protocol_error: ProtocolError::UnknownTopicOrPartition,
                    ..
                }) if !recreated => {
                    recreated = true;
                    drop(guard);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Delivers the outbox, in order, whenever the breaker admits calls, until `stop` turns
    /// true; then flushes for up to `grace` and logs what is left.
    pub(crate) async fn run_outbox(
        self: Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
        grace: Duration,
    ) {
        let stopped = stop.clone();
        let idle = move |d: Duration| {
            let mut stop = stopped.clone();
            async move {
                tokio::select! {
                    () = tokio::time::sleep(d) => {}
                    _ = stop.changed() => {}
                }
            }
        };
        while !*stop.borrow_and_update() {
            let batch: Vec<Event> = self.outbox().iter().take(BATCH).cloned().collect();
            if batch.is_empty() {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = idle(Duration::from_secs(1)) => {}
                }
                continue;
            }
            match self.deliver(&batch).await {
                Ok(()) => {}
                Err(TimedCallError::Open(open)) => {
                    // Wait for the breaker's own schedule rather than polling it.
                    let wait = open.retry_after().unwrap_or(Duration::from_millis(50));
                    idle(wait.clamp(Duration::from_millis(10), Duration::from_secs(1))).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, events = batch.len(), "outbox delivery failed");
                    idle(Duration::from_millis(100)).await;
                }
            }
        }
        self.flush(grace).await;
    }

    async fn deliver(&self, batch: &[Event]) -> Result<(), TimedCallError<KafkaError>> {
        self.breaker.call_async(self.produce(batch)).timeout(self.timeout).await?;
        // Only this task removes events, so the front is still `batch`.
        let remaining = {
            let mut outbox = self.outbox();
            outbox.drain(..batch.len());
            metrics::gauge!("outbox_events").set(outbox.len() as f64);
            outbox.len()
        };
        metrics::counter!("outbox_events_delivered_total").increment(batch.len() as u64);
        metrics::counter!("events_published_total").increment(batch.len() as u64);
        tracing::info!(delivered = batch.len(), remaining, "outbox: events delivered after recovery");
        Ok(())
    }

    /// At shutdown: tries to empty the outbox for up to `grace`, then logs what is left.
    async fn flush(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            let batch: Vec<Event> = self.outbox().iter().take(BATCH).cloned().collect();
            if batch.is_empty() {
                return;
            }
            if self.deliver(&batch).await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let left: Vec<String> = self.outbox().iter().map(|e| e.id.clone()).collect();
        if !left.is_empty() {
            tracing::error!(
                events = left.len(),
                ids = ?left,
                "shutdown: events not delivered (outbox not empty)"
            );
        }
    }
}
