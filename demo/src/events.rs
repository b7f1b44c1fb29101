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
//! - The outbox is kept in a SQLite file (`OUTBOX_PATH`, see `outbox.rs`): an event answered
//!   `"queued"` is on disk, and survives a restart, a SIGTERM while the broker is down, or a
//!   `kill -9`; the next run delivers it.
//! - The outbox is bounded in events and in bytes (`OUTBOX_CAPACITY`, `OUTBOX_BYTES`), and its
//!   batches in events and bytes (`BATCH_BYTES`): large events cannot grow memory past the
//!   bound, and a batch is never larger than the broker takes.
//! - A batch that fails because of its events (the broker refuses a record as too large or
//!   invalid), or that times out, is halved; a single event the broker refuses is moved aside
//!   (*parked*: counted in `outbox_events_parked_total`, its id in `/health/detailed`), so one
//!   bad event never blocks the events behind it. Such refusals are the event's fault, not the
//!   broker's: the breaker counts them as neither.
//!
//! Delivery is at least once; it is exactly once unless a publish times out after the broker
//! stored it (then the outbox sends it again).

use std::collections::VecDeque;

use crate::outbox::Queue;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use breaker_tokio::{BreakerExt, TimedCallError};
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use rskafka::record::Record;
use rskafka::BackoffConfig;

/// Events delivered from the outbox per publish, at most.
const BATCH: usize = 100;
/// Ids of parked events kept for `/health/detailed` (all are counted).
const PARKED_IDS: usize = 100;

/// The outbox's bounds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutboxLimits {
    /// Events kept at most.
    pub(crate) max_events: usize,
    /// Bytes of event ids and bodies kept at most.
    pub(crate) max_bytes: usize,
    /// Bytes per delivered batch at most (one event at least).
    pub(crate) batch_bytes: usize,
}

impl Event {
    /// What the event costs in the outbox.
    pub(crate) fn size(&self) -> usize {
        self.id.len() + self.body.len()
    }
}

/// How many events from the front of the outbox form the next batch: at most `max_events`
/// and `max_bytes`, and at least one (an event larger than `max_bytes` goes alone).
fn batch_len(sizes: impl IntoIterator<Item = usize>, max_events: usize, max_bytes: usize) -> usize {
    let mut bytes = 0;
    let mut n = 0;
    for size in sizes.into_iter().take(max_events) {
        if n > 0 && bytes + size > max_bytes {
            break;
        }
        bytes += size;
        n += 1;
    }
    n
}

/// The broker refused the records themselves: retrying them unchanged can never succeed.
fn refused_records(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::ServerError {
            protocol_error: ProtocolError::MessageTooLarge
                | ProtocolError::RecordListTooLarge
                | ProtocolError::InvalidRecord
                | ProtocolError::CorruptMessage,
            ..
        }
    )
}

/// A publish's outcome for the breaker: records the broker refused count as neither.
fn classify(result: &Result<(), KafkaError>) -> breaker_tokio::Verdict {
    match result {
        Ok(()) => breaker_tokio::Verdict::Success,
        Err(e) if refused_records(e) => breaker_tokio::Verdict::Ignore,
        Err(_) => breaker_tokio::Verdict::Failure,
    }
}

/// What the outbox does after a batch of `len` events failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterFailure {
    /// Try the same batch again later (the broker is down, or the breaker open).
    Retry,
    /// Try the first `n` events alone: the batch was too much (refused, or too slow).
    Shrink(usize),
    /// Move the one event aside: the broker refuses it.
    Park,
}

fn after_failure(error: &TimedCallError<KafkaError>, len: usize) -> AfterFailure {
    let too_much = match error {
        TimedCallError::Inner(e) => refused_records(e),
        TimedCallError::TimedOut(_) => true,
        _ => false,
    };
    match (too_much, len) {
        (false, _) => AfterFailure::Retry,
        (true, 0 | 1) if matches!(error, TimedCallError::Inner(_)) => AfterFailure::Park,
        (true, 0 | 1) => AfterFailure::Retry,
        (true, n) => AfterFailure::Shrink(n / 2),
    }
}

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
    /// The queue, in its file (see `outbox.rs`).
    outbox: Mutex<Queue>,
    limits: OutboxLimits,
    /// Events the broker refused, moved aside: the newest ids, and the count.
    parked: Mutex<(VecDeque<String>, u64)>,
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
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct OutboxStats {
    pub(crate) queued: usize,
    pub(crate) capacity: usize,
    pub(crate) bytes: usize,
    pub(crate) max_bytes: usize,
    /// Events the broker refused, moved aside (count since start).
    pub(crate) parked: u64,
    /// The newest parked events' ids.
    pub(crate) parked_ids: Vec<String>,
}

impl Events {
    pub(crate) fn new(
        brokers: Vec<String>,
        topic: String,
        breaker: &'static breaker_tokio::Breaker,
        timeout: Duration,
        limits: OutboxLimits,
        queue: Queue,
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
        metrics::describe_counter!(
            "outbox_events_parked_total",
            "Events the broker refused (too large, invalid), moved aside so they do not block the outbox."
        );
        metrics::describe_gauge!("outbox_events", "Events waiting in the outbox.");
        metrics::describe_gauge!("outbox_bytes", "Bytes of events waiting in the outbox.");
        Events {
            brokers,
            topic,
            breaker,
            timeout,
            producer: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            outbox: Mutex::new(queue),
            limits,
            parked: Mutex::new((VecDeque::new(), 0)),
            wake: tokio::sync::Notify::new(),
            overflow_log: crate::logs::Aggregated::new(Duration::from_secs(1)),
        }
    }

    pub(crate) fn breaker(&self) -> &'static breaker_tokio::Breaker {
        self.breaker
    }

    pub(crate) fn stats(&self) -> OutboxStats {
        let (queued, bytes) = {
            let outbox = self.outbox();
            (outbox.len(), outbox.bytes())
        };
        let parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        OutboxStats {
            queued,
            capacity: self.limits.max_events,
            bytes,
            max_bytes: self.limits.max_bytes,
            parked: parked.1,
            parked_ids: parked.0.iter().cloned().collect(),
        }
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next batch from the front of the outbox, at most `max_events` long.
    fn next_batch(&self, max_events: usize) -> Vec<Event> {
        let outbox = self.outbox();
        let n = batch_len(outbox.iter().map(Event::size), max_events, self.limits.batch_bytes);
        outbox.iter().take(n).cloned().collect()
    }

    /// Removes the first `n` events (only the outbox task removes events, so they are the
    /// batch it sent); returns how many remain.
    fn remove_front(&self, n: usize) -> usize {
        let mut outbox = self.outbox();
        if let Err(e) = outbox.remove_front(n) {
            tracing::error!(error = %e, events = n, "outbox file: delivered events not deleted; a restart delivers them again");
        }
        metrics::gauge!("outbox_events").set(outbox.len() as f64);
        metrics::gauge!("outbox_bytes").set(outbox.bytes() as f64);
        outbox.len()
    }

    /// Moves the event at the front aside: the broker refuses it.
    fn park_front(&self, error: &TimedCallError<KafkaError>) {
        let Some(event) = self.outbox().front().cloned() else { return };
        self.remove_front(1);
        metrics::counter!("outbox_events_parked_total").increment(1);
        let total = {
            let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
            if parked.0.len() == PARKED_IDS {
                parked.0.pop_front();
            }
            parked.0.push_back(event.id.clone());
            parked.1 += 1;
            parked.1
        };
        tracing::error!(
            event_id = %crate::logs::untrusted(&event.id),
            bytes = event.size(),
            parked = total,
            error = %error,
            "outbox: the broker refuses this event; moved aside"
        );
    }

    /// Publishes `event` now if possible, else keeps it in the outbox (or refuses it, if full).
    pub(crate) async fn publish(&self, event: Event) -> Delivery {
        // Behind a non-empty outbox, an event waits its turn: order is kept, and a recovering
        // broker gets one stream of batches rather than every request at once.
        if self.outbox().is_empty() {
            let batch = std::slice::from_ref(&event);
            match self.breaker.call_async(self.produce(batch)).timeout(self.timeout).classify(classify).await
            {
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
        let full =
            outbox.len() >= self.limits.max_events || outbox.bytes() + event.size() > self.limits.max_bytes;
        let stored = if full { None } else { Some(outbox.push(event.clone())) };
        if let Some(Err(e)) = &stored {
            tracing::error!(error = %e, "outbox file: cannot store the event; refused");
        }
        if !matches!(stored, Some(Ok(()))) {
            let queued = outbox.len();
            let outbox_bytes = outbox.bytes();
            drop(outbox);
            metrics::counter!("outbox_events_overflowed_total").increment(1);
            // One line per second at most, with the count: a flood of refusals is not a flood
            // of log lines. Every refused event is counted in the metric and told to its client.
            if let Some(refused) = self.overflow_log.event(std::time::Instant::now()) {
                tracing::error!(
                    refused,
                    last_event_id = %crate::logs::untrusted(&event.id),
                    outbox = queued,
                    outbox_bytes = outbox_bytes,
                    capacity = self.limits.max_events,
                    max_bytes = self.limits.max_bytes,
                    "outbox full: events refused"
                );
            }
            return Delivery::Overflow;
        }
        metrics::gauge!("outbox_events").set(outbox.len() as f64);
        metrics::gauge!("outbox_bytes").set(outbox.bytes() as f64);
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
        // Halved after a batch that was too much, doubled back after each delivery.
        let mut max_events = BATCH;
        while !*stop.borrow_and_update() {
            let batch = self.next_batch(max_events);
            if batch.is_empty() {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = idle(Duration::from_secs(1)) => {}
                }
                continue;
            }
            match self.deliver(&batch).await {
                Ok(()) => max_events = (max_events * 2).min(BATCH),
                Err(e) if after_failure(&e, batch.len()) != AfterFailure::Retry => {
                    match after_failure(&e, batch.len()) {
                        AfterFailure::Shrink(n) => {
                            tracing::warn!(error = %e, events = batch.len(), next = n, "outbox batch failed; trying a smaller one");
                            max_events = n;
                        }
                        _ => self.park_front(&e),
                    }
                }
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
        self.breaker.call_async(self.produce(batch)).timeout(self.timeout).classify(classify).await?;
        // Only this task removes events, so the front is still `batch`.
        let remaining = self.remove_front(batch.len());
        metrics::counter!("outbox_events_delivered_total").increment(batch.len() as u64);
        metrics::counter!("events_published_total").increment(batch.len() as u64);
        tracing::info!(delivered = batch.len(), remaining, "outbox: events delivered after recovery");
        Ok(())
    }

    /// At shutdown: tries to empty the outbox for up to `grace`, then logs what is left.
    async fn flush(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let mut max_events = BATCH;
        while tokio::time::Instant::now() < deadline {
            let batch = self.next_batch(max_events);
            if batch.is_empty() {
                return;
            }
            match self.deliver(&batch).await {
                Ok(()) => max_events = (max_events * 2).min(BATCH),
                Err(e) => match after_failure(&e, batch.len()) {
                    AfterFailure::Shrink(n) => max_events = n,
                    AfterFailure::Park => self.park_front(&e),
                    AfterFailure::Retry => tokio::time::sleep(Duration::from_millis(100)).await,
                },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_in_events_and_bytes_and_never_empty() {
        assert_eq!(batch_len([10; 500], 100, 1_000_000), 100);
        assert_eq!(batch_len([400_000; 10], 100, 1_000_000), 2);
        // An event over the byte bound goes alone, rather than never.
        assert_eq!(batch_len([5_000_000, 10], 100, 1_000_000), 1);
        assert_eq!(batch_len([10, 5_000_000], 100, 1_000_000), 1);
        assert_eq!(batch_len([], 100, 1_000_000), 0);
        assert_eq!(batch_len([10; 5], 1, 1_000_000), 1);
    }

    fn server_error(e: ProtocolError) -> TimedCallError<KafkaError> {
        TimedCallError::Inner(KafkaError::ServerError {
            protocol_error: e,
            error_message: None,
            request: rskafka::client::error::RequestContext::Topic("events".into()),
            response: None,
            is_virtual: false,
        })
    }

    #[test]
    fn a_refused_batch_is_halved_down_to_the_one_event_that_is_parked() {
        let too_large = server_error(ProtocolError::MessageTooLarge);
        assert_eq!(after_failure(&too_large, 100), AfterFailure::Shrink(50));
        assert_eq!(after_failure(&too_large, 2), AfterFailure::Shrink(1));
        assert_eq!(after_failure(&too_large, 1), AfterFailure::Park);
        // The broker being down is not the events' fault: same batch, later.
        let down = server_error(ProtocolError::NotLeaderOrFollower);
        assert_eq!(after_failure(&down, 100), AfterFailure::Retry);
        assert_eq!(after_failure(&down, 1), AfterFailure::Retry);
        let open =
            TimedCallError::Open(breaker_tokio::CircuitOpen::new("kafka", breaker_tokio::State::Open, None));
        assert_eq!(after_failure(&open, 100), AfterFailure::Retry);
    }

    #[test]
    fn refused_records_do_not_count_against_the_broker() {
        let TimedCallError::Inner(e) = server_error(ProtocolError::RecordListTooLarge) else {
            unreachable!()
        };
        assert_eq!(classify(&Err(e)), breaker_tokio::Verdict::Ignore);
        let TimedCallError::Inner(e) = server_error(ProtocolError::LeaderNotAvailable) else {
            unreachable!()
        };
        assert_eq!(classify(&Err(e)), breaker_tokio::Verdict::Failure);
    }

    #[tokio::test]
    async fn the_outbox_is_bounded_in_bytes() {
        let registry = breaker_tokio::registry().build().unwrap();
        let breaker = registry.breaker("kafka").unwrap();
        breaker.force_open();
        let limits = OutboxLimits { max_events: 1_000, max_bytes: 10_000, batch_bytes: 1_000 };
        let events = Events::new(
            vec!["127.0.0.1:1".into()],
            "events".into(),
            breaker,
            Duration::from_millis(100),
            limits,
            Queue::memory(),
        );
        let mut outcomes = Vec::new();
        for n in 0..10 {
            let body = vec![b'x'; 1_900];
            outcomes.push(events.publish(Event { id: format!("e{n}"), body }).await);
        }
        let queued = outcomes.iter().filter(|d| **d == Delivery::Queued).count();
        assert_eq!(queued, 10_000 / 1_902);
        assert!(outcomes[queued..].iter().all(|d| *d == Delivery::Overflow));
        let stats = events.stats();
        assert_eq!((stats.queued, stats.bytes), (queued, queued * 1_902));
        // Batches respect the byte bound.
        assert_eq!(events.next_batch(BATCH).len(), 1);
        // A small event still fits in what is left.
        assert_eq!(events.publish(Event { id: "s".into(), body: b"{}".to_vec() }).await, Delivery::Queued);
    }
}
