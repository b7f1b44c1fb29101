//! The database behind the "database" breaker: session creation (connecting) and queries go
//! through it, so while PostgreSQL is down the service stops connecting and answers from its
//! fallback at once, instead of every request waiting on a connection timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use breaker_tokio::{BreakerExt, TimedCallError, Verdict};
use tokio_postgres::{Client, NoTls};

/// PostgreSQL, one shared connection, re-established on demand through the breaker.
pub(crate) struct Database {
    config: tokio_postgres::Config,
    breaker: &'static breaker_tokio::Breaker,
    timeout: Duration,
    client: RwLock<Option<Arc<Client>>>,
    connecting: tokio::sync::Mutex<()>,
}

/// A database call's error, as the breaker reports it.
pub(crate) type DbError = TimedCallError<tokio_postgres::Error>;

/// Errors about the caller's data (SQLSTATE classes 22 and 23: data exception, integrity
/// constraint violation) are not the database's fault: they count as neither success nor
/// failure. Everything else (connection refused or lost, timeouts, server errors) is a failure.
fn classify<T>(result: &Result<T, tokio_postgres::Error>) -> Verdict {
    match result {
        Ok(_) => Verdict::Success,
        Err(e) => match e.code().map(|c| &c.code()[..2]) {
            Some("22" | "23") => Verdict::Ignore,
            _ => Verdict::Failure,
        },
    }
}

impl Database {
    pub(crate) fn new(
        url: &str,
        breaker: &'static breaker_tokio::Breaker,
        timeout: Duration,
    ) -> Result<Self, tokio_postgres::Error> {
        let mut config: tokio_postgres::Config = url.parse()?;
        config.connect_timeout(timeout);
        Ok(Database {
            config,
            breaker,
            timeout,
            client: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    fn current(&self) -> Option<Arc<Client>> {
        let client = self.client.read().unwrap_or_else(PoisonError::into_inner);
        client.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// The session: the live connection, or a new one (the schema is ensured on each).
    async fn session(&self) -> Result<Arc<Client>, tokio_postgres::Error> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "database connection lost");
            }
        });
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS items (id BIGINT PRIMARY KEY, value TEXT NOT NULL)")
            .await?;
        tracing::info!("database session established");
        let client = Arc::new(client);
        *self.client.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&client));
        Ok(client)
    }

    /// Reads item `id` through the database breaker.
    pub(crate) async fn get(&self, id: i64) -> Result<Option<String>, DbError> {
        self.get_through(self.breaker, id).await
    }

    /// Reads item `id` through `breaker` (a tenant's, from the `tenant` family), with the same
    /// timeout and classification as the database breaker's reads.
    pub(crate) async fn get_through(
        &self,
        breaker: &breaker_tokio::Breaker,
        id: i64,
    ) -> Result<Option<String>, DbError> {
        let query = async {
            let client = self.session().await?;
            let row = client.query_opt("SELECT value FROM items WHERE id = $1", &[&id]).await?;
            Ok(row.map(|r| r.get::<_, String>(0)))
        };
        breaker.call_async(query).timeout(self.timeout).classify(classify).await
    }

    /// Writes item `id`.
    pub(crate) async fn put(&self, id: i64, value: &str) -> Result<(), DbError> {
        let query = async {
            let client = self.session().await?;
            client
                .execute(
                    "INSERT INTO items (id, value) VALUES ($1, $2) \
                     ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
                    &[&id, &value],
                )
                .await?;
            Ok(())
        };
        self.breaker.call_async(query).timeout(self.timeout).classify(classify).await
    }

    pub(crate) fn breaker(&self) -> &'static breaker_tokio::Breaker {
        self.breaker
    }
}

/// The last good value of each item, for reads while the database is unavailable. Bounded in
/// bytes (keys and values): when a value does not fit, the item is not cached (known items are
/// still refreshed if the new value fits), so a client writing large values cannot grow memory
/// past the bound.
pub(crate) struct LastGood {
    values: Mutex<(HashMap<i64, String>, usize)>,
    max_bytes: usize,
}

/// What one cached item costs: its key, its value, and the map's own share.
fn cost(value: &str) -> usize {
    value.len() + core::mem::size_of::<i64>() + core::mem::size_of::<String>()
}

impl LastGood {
    pub(crate) fn new(max_bytes: usize) -> Self {
        LastGood { values: Mutex::new((HashMap::new(), 0)), max_bytes }
    }

    pub(crate) fn put(&self, id: i64, value: &str) {
        let mut guard = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        let (values, bytes) = &mut *guard;
        let old = values.get(&id).map_or(0, |v| cost(v));
        if values.get(&id).is_some_and(|v| v == value) {
            return;
        }
        let new_total = *bytes - old + cost(value);
        if new_total > self.max_bytes {
            // Does not fit: a stale value is worse than none, so a known item is dropped.
            if values.remove(&id).is_some() {
                *bytes -= old;
            }
            return;
        }
        values.insert(id, value.to_owned());
        *bytes = new_total;
    }

    pub(crate) fn get(&self, id: i64) -> Option<String> {
        let guard = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.get(&id).cloned()
    }

    /// The bound, in bytes.
    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.values.lock().unwrap_or_else(PoisonError::into_inner).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_in_bytes_not_items() {
        let cache = LastGood::new(10_000);
        let big = "x".repeat(1_900);
        for id in 0..300 {
            cache.put(id, &big);
        }
        assert!(cache.bytes() <= 10_000, "{}", cache.bytes());
        assert_eq!((0..300).filter(|&id| cache.get(id).is_some()).count(), 10_000 / cost(&big));
        // A refresh that no longer fits drops the stale value instead of serving it.
        cache.put(0, &"y".repeat(20_000));
        assert_eq!(cache.get(0), None);
        // Small values still fit in what is left.
        cache.put(1_000, "small");
        assert_eq!(cache.get(1_000).as_deref(), Some("small"));
        let held: usize = (0..=1_000).filter_map(|id| cache.get(id)).map(|v| cost(&v)).sum();
        assert_eq!(held, cache.bytes());
    }
}
