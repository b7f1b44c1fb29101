//! The Redis side: key names (one hash tag, so a Redis Cluster keeps them in one slot), the
//! three Lua scripts, and the calls, each bounded by a timeout. No decision is made here.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Script, Value};

/// The keys and channel of one fleet.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Keys {
        Keys { prefix: format!("{{{prefix}}}") }
    }
    pub(crate) fn record(&self, name: &str) -> String {
        format!("{}:rec:{name}", self.prefix)
    }
    pub(crate) fn votes(&self, name: &str) -> String {
        format!("{}:votes:{name}", self.prefix)
    }
    pub(crate) fn live(&self) -> String {
        format!("{}:live", self.prefix)
    }
    pub(crate) fn marker(&self) -> String {
        format!("{}:store", self.prefix)
    }
    pub(crate) fn lease(&self, name: &str, slot: u32) -> String {
        format!("{}:lease:{name}:{slot}", self.prefix)
    }
    pub(crate) fn counts(&self, name: &str, epoch: u64) -> String {
        format!("{}:cnt:{name}:{epoch}", self.prefix)
    }
    pub(crate) fn channel(&self) -> String {
        format!("{}:events", self.prefix)
    }
}

/// What a read does to this replica's vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Vote {
    Keep = 0,
    Add = 1,
    /// Its breaker recovered: its earlier trip no longer counts towards a quorum.
    Withdraw = 2,
}

/// Redis' clock and what was read with it.
#[derive(Debug)]
pub(crate) struct Observation {
    pub(crate) now_ms: u64,
    pub(crate) now_us: u64,
    pub(crate) voters: Vec<String>,
    pub(crate) live: u32,
    /// The record's raw value ("" when absent).
    pub(crate) record: Vec<u8>,
}

/// Heartbeat, wipe check and every record, in one round trip.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) now_ms: u64,
    /// The store marker before this call ("" when it was absent, and this call set it).
    pub(crate) marker: String,
    pub(crate) records: Vec<Vec<u8>>,
}

// TIME, then (optionally) this replica's vote added or withdrawn, votes pruned to the window, the heartbeat, the
// live replicas pruned to their TTL, and the record.
const OBSERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '1' then redis.call('ZADD', KEYS[1], now, ARGV[1]) end
if ARGV[2] == '2' then redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + 1000)
local voters = redis.call('ZRANGE', KEYS[1], 0, -1)
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[4])))
local live = redis.call('ZCARD', KEYS[2])
local rec = redis.call('GET', KEYS[3]) or ''
return {t[1], t[2], voters, live, rec}
";

// Writes the record only if it is still the one the decision was made on; then clears the votes
// and publishes it. 1 if written.
const CAS: &str = r"
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
";

// A probe lease: renews the one this replica holds, or takes a free one (they expire by
// themselves). Its number, or 0 when all are taken.
const LEASE: &str = r"
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('PEXPIRE', KEYS[i], ARGV[2]); return i end
end
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then return i end
end
return 0
";

// Gives back this replica's leases.
const RELEASE: &str = r"
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]); n = n + 1 end
end
return n
";

// Shared counts: adds this replica's failures to the current bucket (Redis' clock) of the
// current fleet epoch, and sums the window's buckets. Bucket keys are derived from KEYS[1]
// (same hash tag, so the same cluster slot). Returns {total, contributor, ...}.
const COUNT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local width = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local idx = math.floor(now / width)
local key = KEYS[1] .. ':' .. string.format('%d', idx)
redis.call('HINCRBY', key, ARGV[1], ARGV[2])
redis.call('PEXPIRE', key, width * (n + 1))
local total, seen, who = 0, {}, {}
for i = idx - n + 1, idx do
  local kv = redis.call('HGETALL', KEYS[1] .. ':' .. string.format('%d', i))
  for j = 1, #kv, 2 do
    total = total + tonumber(kv[j + 1])
    if not seen[kv[j]] then seen[kv[j]] = true; who[#who + 1] = kv[j] end
  end
end
local out = {total}
for _, w in ipairs(who) do out[#out + 1] = w end
return out
";

// TIME, the store marker (set if absent), the heartbeat, every record.
const SNAPSHOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local m = redis.call('GET', KEYS[2])
if not m then redis.call('SET', KEYS[2], ARGV[3]); m = '' end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])))
local out = {t[1], t[2], m}
for i = 3, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) or '' end
return out
";

/// The connection and the scripts.
pub(crate) struct Store {
    client: Client,
    conn: Option<MultiplexedConnection>,
    timeout: Duration,
    observe: Script,
    cas: Script,
    snapshot: Script,
    lease: Script,
    release: Script,
    count: Script,
}

/// A store call that failed or timed out.
#[derive(Debug)]
pub(crate) enum StoreError {
    Timeout,
    Redis(redis::RedisError),
    Reply(&'static str),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Timeout => f.write_str("timed out"),
            StoreError::Redis(e) => write!(f, "{e}"),
            StoreError::Reply(what) => write!(f, "unexpected reply: {what}"),
        }
    }
}

async fn bounded<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, f).await {
        Err(_) => Err(StoreError::Timeout),
        Ok(Err(e)) => Err(StoreError::Redis(e)),
        Ok(Ok(v)) => Ok(v),
    }
}

fn ms_us(secs: &[u8], micros: &[u8]) -> Result<(u64, u64), StoreError> {
    let parse = |b: &[u8]| std::str::from_utf8(b).ok().and_then(|s| s.parse::<u64>().ok());
    let (s, us) = parse(secs).zip(parse(micros)).ok_or(StoreError::Reply("TIME"))?;
    let now_us = s.saturating_mul(1_000_000).saturating_add(us);
    Ok((now_us / 1000, now_us))
}

fn bytes(v: &Value) -> Result<Vec<u8>, StoreError> {
    match v {
        Value::BulkString(b) => Ok(b.clone()),
        Value::SimpleString(s) => Ok(s.clone().into_bytes()),
        Value::Nil => Ok(Vec::new()),
        _ => Err(StoreError::Reply("string")),
    }
}

impl Store {
    pub(crate) fn new(client: Client, timeout: Duration) -> Store {
        Store {
            client,
            conn: None,
            timeout,
            observe: Script::new(OBSERVE),
            cas: Script::new(CAS),
            snapshot: Script::new(SNAPSHOT),
            lease: Script::new(LEASE),
            release: Script::new(RELEASE),
            count: Script::new(COUNT),
        }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Drops the connection (after an error): the next call reconnects.
    pub(crate) fn disconnect(&mut self) {
        self.conn = None;
    }

    /// Connects (if not connected) and pings.
    pub(crate) async fn connect(&mut self) -> Result<(), StoreError> {
        self.conn().await.map(|_| ())
    }

    async fn conn(&mut self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let mut c =
            bounded(self.timeout, self.client.get_multiplexed_async_connection_with_config(&config)).await?;
        // A round trip, so a hung server is found here and not at the first real call.
        let _: String = bounded(self.timeout, redis::cmd("PING").query_async(&mut c)).await?;
        self.conn = Some(c.clone());
        Ok(c)
    }

    /// Runs `script`; on failure drops the connection.
    async fn run(&mut self, which: Which, keys: &[String], args: &[String]) -> Result<Value, StoreError> {
        let mut c = self.conn().await?;
        let script = match which {
            Which::Observe => &self.observe,
            Which::Cas => &self.cas,
            Which::Snapshot => &self.snapshot,
            Which::Lease => &self.lease,
            Which::Release => &self.release,
            Which::Count => &self.count,
        };
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(k);
        }
        for a in args {
            inv.arg(a);
        }
        let r = bounded(self.timeout, inv.invoke_async::<Value>(&mut c)).await;
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    pub(crate) async fn observe(
        &mut self,
        keys: &Keys,
        name: &str,
        me: &str,
        vote: Vote,
        window: Duration,
        live_ttl: Duration,
    ) -> Result<Observation, StoreError> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let ttl_ms = u64::try_from(live_ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let v = self
            .run(
                Which::Observe,
                &[keys.votes(name), keys.live(), keys.record(name)],
                &[me.to_owned(), (vote as u8).to_string(), window_ms.to_string(), ttl_ms.to_string()],
            )
            .await?;
        let Value::Array(items) = v else { return Err(StoreError::Reply("observe")) };
        let [s, us, voters, live, record] = items.as_slice() else {
            return Err(StoreError::Reply("observe"));
        };
        let (now_ms, now_us) = ms_us(&bytes(s)?, &bytes(us)?)?;
        let Value::Array(voters) = voters else { return Err(StoreError::Reply("voters")) };
        let voters = voters
            .iter()
            .map(|v| bytes(v).map(|b| String::from_utf8_lossy(&b).into_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        let Value::Int(live) = live else { return Err(StoreError::Reply("live")) };
        Ok(Observation {
            now_ms,
            now_us,
            voters,
            live: u32::try_from(*live).unwrap_or(u32::MAX),
            record: bytes(record)?,
        })
    }

    /// Writes `new` if the record is still `expected`; `true` if written (and published).
    pub(crate) async fn cas(
        &mut self,
        keys: &Keys,
        name: &str,
        expected: &[u8],
        new: &str,
    ) -> Result<bool, StoreError> {
        let v = self
            .run(
                Which::Cas,
                &[keys.record(name), keys.votes(name)],
                &[String::from_utf8_lossy(expected).into_owned(), new.to_owned(), keys.channel()],
            )
            .await?;
        match v {
            Value::Int(n) => Ok(n == 1),
            _ => Err(StoreError::Reply("cas")),
        }
    }

    /// Takes or renews one of `max` probe leases for `lease`; `true` if this replica holds one.
    pub(crate) async fn lease(
        &mut self,
        keys: &Keys,
        name: &str,
        me: &str,
        max: u32,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
        let k: Vec<String> = (1..=max).map(|i| keys.lease(name, i)).collect();
        match self.run(Which::Lease, &k, &[me.to_owned(), ms.to_string()]).await? {
            Value::Int(n) => Ok(n > 0),
            _ => Err(StoreError::Reply("lease")),
        }
    }

    /// Adds `delta` failures of `name` (counted under the fleet epoch `epoch`) and sums the
    /// window: the total and the replicas that contributed.
    pub(crate) async fn count(
        &mut self,
        keys: &Keys,
        name: &str,
        epoch: u64,
        me: &str,
        delta: u64,
        window: Duration,
    ) -> Result<(u64, Vec<String>), StoreError> {
        const BUCKETS: u64 = 10;
        let width = (u64::try_from(window.as_millis()).unwrap_or(u64::MAX) / BUCKETS).max(1);
        let v = self
            .run(
                Which::Count,
                &[keys.counts(name, epoch)],
                &[me.to_owned(), delta.to_string(), width.to_string(), BUCKETS.to_string()],
            )
            .await?;
        let Value::Array(items) = v else { return Err(StoreError::Reply("count")) };
        let Some((Value::Int(total), who)) = items.split_first() else {
            return Err(StoreError::Reply("count"));
        };
        let who = who
            .iter()
            .map(|v| bytes(v).map(|b| String::from_utf8_lossy(&b).into_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((u64::try_from(*total).unwrap_or(0), who))
    }

    /// Gives back this replica's probe leases for `name`.
    pub(crate) async fn release(
        &mut self,
        keys: &Keys,
        name: &str,
        me: &str,
        max: u32,
    ) -> Result<(), StoreError> {
        let k: Vec<String> = (1..=max).map(|i| keys.lease(name, i)).collect();
        match self.run(Which::Release, &k, &[me.to_owned()]).await? {
            Value::Int(_) => Ok(()),
            _ => Err(StoreError::Reply("release")),
        }
    }

    pub(crate) async fn snapshot(
        &mut self,
        keys: &Keys,
        names: &[&str],
        me: &str,
        live_ttl: Duration,
        new_marker: &str,
    ) -> Result<Snapshot, StoreError> {
        let ttl_ms = u64::try_from(live_ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut k = vec![keys.live(), keys.marker()];
        k.extend(names.iter().map(|n| keys.record(n)));
        let v = self
            .run(Which::Snapshot, &k, &[me.to_owned(), ttl_ms.to_string(), new_marker.to_owned()])
            .await?;
        let Value::Array(items) = v else { return Err(StoreError::Reply("snapshot")) };
        if items.len() != 3 + names.len() {
            return Err(StoreError::Reply("snapshot"));
        }
        let (now_ms, _) = ms_us(&bytes(&items[0])?, &bytes(&items[1])?)?;
        let marker = String::from_utf8_lossy(&bytes(&items[2])?).into_owned();
        let records = items[3..].iter().map(bytes).collect::<Result<Vec<_>, _>>()?;
        Ok(Snapshot { now_ms, marker, records })
    }
}

#[derive(Clone, Copy)]
enum Which {
    Observe,
    Cas,
    Snapshot,
    Lease,
    Release,
    Count,
}
