//! Configuration: environment variables, each overridable by a command-line flag of the same
//! name in lower case with dashes (`DB_RECOVERY_TIMEOUT_MS=3000` or
//! `--db-recovery-timeout-ms 3000`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Every setting, with its default and meaning.
pub(crate) const SETTINGS: &[(&str, &str, &str)] = &[
    ("LISTEN", "127.0.0.1:8080", "address the HTTP server listens on"),
    ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres", "PostgreSQL connection URL"),
    ("KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated"),
    ("KAFKA_TOPIC", "events", "topic events are published to"),
    ("ADMIN_TOKEN", "", "bearer token of the admin endpoints; empty: the endpoints are off (404)"),
    ("DB_FAILURE_THRESHOLD", "5", "database breaker: consecutive failures that open it"),
    ("DB_RECOVERY_TIMEOUT_MS", "60000", "database breaker: open time before a probe"),
    ("DB_TIMEOUT_MS", "2000", "timeout of one database call (connection included)"),
    ("KAFKA_FAILURE_THRESHOLD", "3", "kafka breaker: consecutive failures that open it"),
    ("KAFKA_RECOVERY_TIMEOUT_MS", "30000", "kafka breaker: open time before a probe"),
    ("KAFKA_TIMEOUT_MS", "2000", "timeout of one publish (connection included)"),
    ("TENANT_FAILURE_THRESHOLD", "5", "per-tenant breakers (`GET /tenants/{tenant}/items/{id}`): consecutive failures that open one"),
    ("TENANT_RECOVERY_TIMEOUT_MS", "30000", "per-tenant breakers: open time before a probe"),
    ("TENANT_MAX_KEYS", "1024", "per-tenant breakers kept at most; past it, tenants the family cannot hold share one overflow breaker"),
    ("TENANT_IDLE_MS", "300000", "a CLOSED per-tenant breaker unused this long may be evicted for a new tenant (an OPEN or HALF_OPEN one never is)"),
    ("METRICS_IDLE_MS", "300000", "a Prometheus series not updated this long is dropped (an evicted tenant's); live breakers' series are refreshed on every scrape"),
    ("OUTBOX_CAPACITY", "10000", "events kept for later delivery while Kafka is unavailable"),
    ("OUTBOX_PATH", "breaker-demo-outbox.sqlite3", "SQLite file the outbox is kept in, so queued events survive a restart or a crash; empty: in memory only"),
    ("OUTBOX_BYTES", "67108864", "bytes of events (ids and bodies) the outbox keeps at most"),
    ("BATCH_BYTES", "1000000", "bytes per outbox delivery at most (under the broker's message.max.bytes)"),
    ("CACHE_BYTES", "67108864", "bytes of last good values kept for reads while the database is down"),
    ("MAX_BODY_BYTES", "65536", "largest request body accepted (`413` above it)"),
    (
        "HEADER_READ_TIMEOUT_MS",
        "5000",
        "time a client has to send a request's headers, and to start the next one on a kept-alive connection",
    ),
    ("BODY_TIMEOUT_MS", "5000", "time a client has to send a request's body"),
    ("REQUEST_TIMEOUT_MS", "10000", "server-side deadline of a whole request (`408` past it)"),
    ("MAX_CONNECTIONS", "1000", "open client connections at most (lowered to fit the descriptor limit)"),
    ("SHUTDOWN_GRACE_MS", "5000", "at SIGTERM: time for open requests to finish and for the outbox to flush"),
    ("LOG_FORMAT", "text", "`text` or `json` (one JSON object per line)"),
    (
        "REDIS_URL",
        "",
        "`redis://` or `rediss://` URL: share both breakers with the other replicas through this Redis; empty: no sharing",
    ),
    ("REPLICA_ID", "", "this replica's id in the fleet (unique, stable across restarts: a pod name); required with REDIS_URL"),
    ("FLEET_MODE", "quorum:2", "when the fleet opens: `any`, `quorum:<replicas>`, `share:<percent>` or `counts:<failures>`"),
    ("FLEET_WINDOW_MS", "30000", "vote window of `quorum`, `share` and `counts` (at most a day)"),
    ("FLEET_PROBE_LEASES", "0", "probes per fleet cycle in the whole fleet (fleet-wide half-open); 0: off, each replica probes"),
    (
        "FLEET_LEASE_MS",
        "0",
        "expiry of a probe lease; 0: twice the longer call timeout (DB_TIMEOUT_MS, KAFKA_TIMEOUT_MS), so a lease outlives its probe",
    ),
    ("FLEET_POLL_MS", "", "how often the fleet's task looks at the local breakers; empty: breaker-redis' default (5 ms)"),
];

/// A URL that may carry a password (`DATABASE_URL`, `REDIS_URL`): its `Debug` is redacted
/// (`logs::redact_url`), so a `{config:?}` never prints the password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SecretUrl(String);

impl SecretUrl {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for SecretUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretUrl {
    fn from(url: &str) -> SecretUrl {
        SecretUrl(url.to_owned())
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::logs::redact_url(&self.0))
    }
}

/// The service's configuration.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) database_url: SecretUrl,
    pub(crate) kafka_brokers: Vec<String>,
    pub(crate) kafka_topic: String,
    pub(crate) admin_token: Option<String>,
    pub(crate) db_failure_threshold: u32,
    pub(crate) db_recovery_timeout: Duration,
    pub(crate) db_timeout: Duration,
    pub(crate) kafka_failure_threshold: u32,
    pub(crate) kafka_recovery_timeout: Duration,
    pub(crate) kafka_timeout: Duration,
    pub(crate) tenant_failure_threshold: u32,
    pub(crate) tenant_recovery_timeout: Duration,
    pub(crate) tenant_max_keys: usize,
    pub(crate) tenant_idle: Duration,
    pub(crate) metrics_idle: Duration,
    pub(crate) outbox_capacity: usize,
    pub(crate) outbox_path: Option<std::path::PathBuf>,
    pub(crate) outbox_bytes: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) cache_bytes: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) log_json: bool,
    /// Sharing through Redis: `None` without `REDIS_URL`.
    pub(crate) fleet: Option<FleetConfig>,
}

/// The breakers shared across replicas (`REDIS_URL` and the `FLEET_*` settings).
#[derive(Clone, Debug)]
pub(crate) struct FleetConfig {
    pub(crate) redis_url: SecretUrl,
    pub(crate) replica_id: String,
    /// The mode of both breakers.
    pub(crate) mode: breaker_redis::Mode,
    /// `FLEET_PROBE_LEASES` and the lease's expiry, when on.
    pub(crate) probe_leases: Option<(u32, Duration)>,
    /// `FLEET_POLL_MS`; `None`: the crate's default.
    pub(crate) poll_interval: Option<Duration>,
}

impl Config {
    /// Reads the environment, then `args` (flags override variables).
    pub(crate) fn load(
        env: impl Fn(&str) -> Option<String>,
        args: impl IntoIterator<Item = String>,
    ) -> Result<Config, String> {
        let mut values: HashMap<&'static str, String> = HashMap::new();
        for &(name, default, _) in SETTINGS {
            values.insert(name, env(name).unwrap_or_else(|| default.to_owned()));
        }
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Err(help());
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let name = flag
                .strip_prefix("--")
                .map(|f| f.replace('-', "_").to_uppercase())
                .and_then(|n| SETTINGS.iter().find(|s| s.0 == n).map(|s| s.0))
                .ok_or_else(|| format!("unknown argument `{arg}`\n\n{}", help()))?;
            let value = match inline {
                Some(v) => v,
                None => args.next().ok_or_else(|| format!("`{flag}` needs a value"))?,
            };
            values.insert(name, value);
        }
        let get = |name: &str| values[name].clone();
        let token = get("ADMIN_TOKEN");
        let kafka_brokers = brokers(&get("KAFKA_BROKERS"))?;
        let topic = get("KAFKA_TOPIC");
        if topic.trim().is_empty() {
            return Err("KAFKA_TOPIC: must not be empty".into());
        }
        let db_timeout = millis("DB_TIMEOUT_MS", &get("DB_TIMEOUT_MS"))?;
        let kafka_timeout = millis("KAFKA_TIMEOUT_MS", &get("KAFKA_TIMEOUT_MS"))?;
        let fleet = fleet(&get, db_timeout.max(kafka_timeout))?;
        Ok(Config {
            listen: get("LISTEN").parse().map_err(|e| format!("LISTEN: {e}"))?,
            database_url: SecretUrl(get("DATABASE_URL")),
            kafka_brokers,
            kafka_topic: topic,
            admin_token: (!token.is_empty()).then_some(token),
            db_failure_threshold: positive("DB_FAILURE_THRESHOLD", &get("DB_FAILURE_THRESHOLD"))?,
            db_recovery_timeout: millis("DB_RECOVERY_TIMEOUT_MS", &get("DB_RECOVERY_TIMEOUT_MS"))?,
            db_timeout,
            kafka_failure_threshold: positive("KAFKA_FAILURE_THRESHOLD", &get("KAFKA_FAILURE_THRESHOLD"))?,
            kafka_recovery_timeout: millis("KAFKA_RECOVERY_TIMEOUT_MS", &get("KAFKA_RECOVERY_TIMEOUT_MS"))?,
            kafka_timeout,
            tenant_failure_threshold: positive("TENANT_FAILURE_THRESHOLD", &get("TENANT_FAILURE_THRESHOLD"))?,
            tenant_recovery_timeout: millis(
                "TENANT_RECOVERY_TIMEOUT_MS",
                &get("TENANT_RECOVERY_TIMEOUT_MS"),
            )?,
            tenant_max_keys: positive("TENANT_MAX_KEYS", &get("TENANT_MAX_KEYS"))?,
            tenant_idle: millis("TENANT_IDLE_MS", &get("TENANT_IDLE_MS"))?,
            metrics_idle: millis("METRICS_IDLE_MS", &get("METRICS_IDLE_MS"))?,
            outbox_capacity: positive("OUTBOX_CAPACITY", &get("OUTBOX_CAPACITY"))?,
            outbox_path: Some(get("OUTBOX_PATH"))
                .filter(|p| !p.trim().is_empty())
                .map(std::path::PathBuf::from),
            outbox_bytes: positive("OUTBOX_BYTES", &get("OUTBOX_BYTES"))?,
            batch_bytes: positive("BATCH_BYTES", &get("BATCH_BYTES"))?,
            cache_bytes: positive("CACHE_BYTES", &get("CACHE_BYTES"))?,
            max_body_bytes: positive("MAX_BODY_BYTES", &get("MAX_BODY_BYTES"))?,
            header_read_timeout: millis("HEADER_READ_TIMEOUT_MS", &get("HEADER_READ_TIMEOUT_MS"))?,
            body_timeout: millis("BODY_TIMEOUT_MS", &get("BODY_TIMEOUT_MS"))?,
            request_timeout: millis("REQUEST_TIMEOUT_MS", &get("REQUEST_TIMEOUT_MS"))?,
            max_connections: positive("MAX_CONNECTIONS", &get("MAX_CONNECTIONS"))?,
            shutdown_grace: millis("SHUTDOWN_GRACE_MS", &get("SHUTDOWN_GRACE_MS"))?,
            log_json: match get("LOG_FORMAT").as_str() {
                "json" => true,
                "text" => false,
                other => {
                    return Err(format!(
                        "LOG_FORMAT: `{}` is neither `text` nor `json`",
                        other.escape_debug()
                    ))
                }
            },
            fleet,
        })
    }
}

/// The fleet settings. They are checked even without `REDIS_URL` (a typo is refused at once,
/// not when sharing is turned on); `None` without it.
fn fleet(get: &impl Fn(&str) -> String, longest_call: Duration) -> Result<Option<FleetConfig>, String> {
    let url = get("REDIS_URL");
    let replica_id = get("REPLICA_ID");
    if !replica_id.is_empty() && !breaker_redis::valid_id(&replica_id) {
        return Err(format!(
            "REPLICA_ID: `{}` is not 1 to 64 of A-Z a-z 0-9 - _ . :",
            replica_id.escape_debug()
        ));
    }
    let window = millis("FLEET_WINDOW_MS", &get("FLEET_WINDOW_MS"))?;
    if window > breaker_redis::MAX_WINDOW {
        return Err(format!("FLEET_WINDOW_MS: at most {} (a day)", breaker_redis::MAX_WINDOW.as_millis()));
    }
    let mode = mode(&get("FLEET_MODE"), window)?;
    let leases: u32 = whole("FLEET_PROBE_LEASES", &get("FLEET_PROBE_LEASES"))?;
    let lease_ms: u64 = whole("FLEET_LEASE_MS", &get("FLEET_LEASE_MS"))?;
    // A lease must outlive the probe it allows (a call, to its timeout), or a second replica
    // probes while the first one's call is still out.
    let lease = if lease_ms == 0 { longest_call.saturating_mul(2) } else { Duration::from_millis(lease_ms) };
    let poll = get("FLEET_POLL_MS");
    let poll_interval = if poll.trim().is_empty() { None } else { Some(millis("FLEET_POLL_MS", &poll)?) };
    if url.is_empty() {
        return Ok(None);
    }
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(format!(
            "REDIS_URL: `{}` is not a `redis://` or `rediss://` URL",
            crate::logs::redact_url(&url).escape_debug()
        ));
    }
    if replica_id.is_empty() {
        return Err(
            "REPLICA_ID: required when REDIS_URL is set (unique in the fleet, stable across restarts)".into(),
        );
    }
    Ok(Some(FleetConfig {
        redis_url: SecretUrl(url),
        replica_id,
        mode,
        probe_leases: (leases > 0).then_some((leases, lease)),
        poll_interval,
    }))
}

/// `FLEET_MODE`: `any`, `quorum:<replicas>`, `share:<percent>`, `counts:<failures>`, with the
/// vote window; checked by breaker-redis' own validation.
fn mode(value: &str, window: Duration) -> Result<breaker_redis::Mode, String> {
    use breaker_redis::Mode;
    let bad = || {
        format!(
            "FLEET_MODE: `{}` is not `any`, `quorum:<replicas>`, `share:<percent>` or `counts:<failures>`",
            value.escape_debug()
        )
    };
    let (kind, n) = match value.trim().split_once(':') {
        Some((kind, n)) => (kind.trim(), Some(n.trim().parse::<u32>().map_err(|_| bad())?)),
        None => (value.trim(), None),
    };
    let mode = match (kind, n) {
        ("any", None) => Mode::Any,
        ("quorum", Some(replicas)) => Mode::Quorum { replicas, window },
        ("share", Some(percent)) => Mode::Share { percent, window },
        ("counts", Some(failures)) => Mode::Counts { failures, window },
        _ => return Err(bad()),
    };
    mode.validate().map_err(|e| format!("FLEET_MODE: `{}`: {e}", value.escape_debug()))
}

/// A whole number of `T` from 1 up, or an error naming the setting.
fn positive<T: TryFrom<u64> + Copy>(name: &str, value: &str) -> Result<T, String> {
    let max = u64::MAX;
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{name}: `{}` is not a whole number from 1 to {max}", value.escape_debug()))?;
    if n == 0 {
        return Err(format!("{name}: must be at least 1"));
    }
    T::try_from(n).map_err(|_| format!("{name}: {n} is too large"))
}

/// A whole number of `T` from 0 up, or an error naming the setting.
fn whole<T: TryFrom<u64>>(name: &str, value: &str) -> Result<T, String> {
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{name}: `{}` is not a whole number from 0", value.escape_debug()))?;
    T::try_from(n).map_err(|_| format!("{name}: {n} is too large"))
}

/// A positive duration in milliseconds, or an error naming the setting: a zero timeout would
/// fail every call (or never recover), so it is refused rather than taken.
fn millis(name: &str, value: &str) -> Result<Duration, String> {
    positive::<u64>(name, value).map(Duration::from_millis)
}

/// `host:port` entries, comma-separated, at least one.
fn brokers(value: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> =
        value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if list.is_empty() {
        return Err("KAFKA_BROKERS: needs at least one `host:port`".into());
    }
    if let Some(bad) = list
        .iter()
        .find(|b| b.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()))
    {
        return Err(format!("KAFKA_BROKERS: `{}` is not `host:port`", bad.escape_debug()));
    }
    Ok(list)
}

/// The usage text.
pub(crate) fn help() -> String {
    let mut s = String::from(
        "breaker-tokio demo service: PostgreSQL and Kafka behind the seed's two circuit breakers\n\n\
         Settings (environment variable, or the flag in lower case with dashes):\n",
    );
    for (name, default, meaning) in SETTINGS {
        let flag = name.to_lowercase().replace('_', "-");
        s.push_str(&format!("  {name:<26} --{flag:<26} {meaning} [default: {default}]\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let c = Config::load(|_| None, Vec::new()).unwrap();
        assert_eq!((c.db_failure_threshold, c.db_recovery_timeout), (5, Duration::from_secs(60)));
        assert_eq!((c.kafka_failure_threshold, c.kafka_recovery_timeout), (3, Duration::from_secs(30)));
        assert!(c.admin_token.is_none());
    }

    #[test]
    fn flags_override_the_environment() {
        let env = |n: &str| (n == "DB_RECOVERY_TIMEOUT_MS").then(|| "1000".to_owned());
        let args = ["--db-recovery-timeout-ms", "3000", "--admin-token=s3cret"].map(String::from);
        let c = Config::load(env, args).unwrap();
        assert_eq!(c.db_recovery_timeout, Duration::from_secs(3));
        assert_eq!(c.admin_token.as_deref(), Some("s3cret"));
        assert!(Config::load(|_| None, ["--nope".to_owned()]).is_err());
    }

    fn error_for(name: &str, value: &str) -> String {
        let (name, value) = (name.to_owned(), value.to_owned());
        Config::load(move |n| (n == name).then(|| value.clone()), Vec::new()).unwrap_err()
    }

    #[test]
    fn settings_that_would_fail_forever_are_refused_and_named() {
        assert_eq!(error_for("DB_TIMEOUT_MS", "0"), "DB_TIMEOUT_MS: must be at least 1");
        assert_eq!(error_for("KAFKA_TIMEOUT_MS", "0"), "KAFKA_TIMEOUT_MS: must be at least 1");
        assert_eq!(error_for("KAFKA_BROKERS", ","), "KAFKA_BROKERS: needs at least one `host:port`");
        assert_eq!(error_for("KAFKA_BROKERS", "a:1,nope"), "KAFKA_BROKERS: `nope` is not `host:port`");
        assert_eq!(
            error_for("DB_FAILURE_THRESHOLD", "4294967296"),
            "DB_FAILURE_THRESHOLD: 4294967296 is too large"
        );
        assert_eq!(error_for("DB_FAILURE_THRESHOLD", "0"), "DB_FAILURE_THRESHOLD: must be at least 1");
        assert!(error_for("REQUEST_TIMEOUT_MS", "-1")
            .starts_with("REQUEST_TIMEOUT_MS: `-1` is not a whole number"));
        assert!(error_for("MAX_CONNECTIONS", "0").starts_with("MAX_CONNECTIONS:"));
        assert!(error_for("KAFKA_TOPIC", " ").starts_with("KAFKA_TOPIC:"));
        // Values are escaped in the message: a terminal never sees the raw bytes.
        assert_eq!(
            error_for("LOG_FORMAT", "x\u{1b}[31m"),
            "LOG_FORMAT: `x\\u{1b}[31m` is neither `text` nor `json`"
        );
    }

    fn load_with(settings: &[(&str, &str)]) -> Result<Config, String> {
        let settings: Vec<(String, String)> =
            settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::load(move |n| settings.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()), Vec::new())
    }

    fn fleet_with(settings: &[(&str, &str)]) -> Result<FleetConfig, String> {
        // The first of a name wins: `settings` override these.
        let mut all = settings.to_vec();
        all.extend([("REDIS_URL", "redis://127.0.0.1:6379/"), ("REPLICA_ID", "api-1")]);
        load_with(&all).map(|c| c.fleet.expect("sharing is on"))
    }

    #[test]
    fn without_a_redis_url_nothing_is_shared() {
        assert!(Config::load(|_| None, Vec::new()).unwrap().fleet.is_none());
        // The fleet settings are checked all the same, and a replica id alone is no sharing.
        assert!(load_with(&[("REPLICA_ID", "api-1"), ("FLEET_MODE", "any")]).unwrap().fleet.is_none());
        assert!(error_for("FLEET_MODE", "nope").starts_with("FLEET_MODE:"));
    }

    #[test]
    fn fleet_defaults() {
        let f = fleet_with(&[]).unwrap();
        assert_eq!(f.redis_url.as_str(), "redis://127.0.0.1:6379/");
        assert_eq!(f.replica_id, "api-1");
        assert_eq!(f.mode, breaker_redis::Mode::Quorum { replicas: 2, window: Duration::from_secs(30) });
        assert_eq!(f.mode, breaker_redis::Mode::default());
        assert_eq!(f.probe_leases, None);
        assert_eq!(f.poll_interval, None);
        let flags =
            ["--redis-url", "rediss://:pw@redis:6380/1", "--replica-id=pod-7.a:b_c"].map(String::from);
        let c = Config::load(|_| None, flags).unwrap().fleet.unwrap();
        assert_eq!(
            (c.redis_url.as_str(), c.replica_id.as_str()),
            ("rediss://:pw@redis:6380/1", "pod-7.a:b_c")
        );
    }

    #[test]
    fn fleet_modes_and_timings() {
        use breaker_redis::Mode;
        let w = |ms| Duration::from_millis(ms);
        let mode = |m: &str, window: &str| {
            fleet_with(&[("FLEET_MODE", m), ("FLEET_WINDOW_MS", window)]).unwrap().mode
        };
        assert_eq!(mode("any", "30000"), Mode::Any);
        assert_eq!(mode(" quorum:3 ", "1000"), Mode::Quorum { replicas: 3, window: w(1000) });
        assert_eq!(mode("share:50", "5000"), Mode::Share { percent: 50, window: w(5000) });
        assert_eq!(mode("share:100", "5000"), Mode::Share { percent: 100, window: w(5000) });
        assert_eq!(mode("counts:20", "10000"), Mode::Counts { failures: 20, window: w(10000) });
        assert_eq!(mode("quorum:1", "86400000"), Mode::Quorum { replicas: 1, window: w(86_400_000) });
        // Leases: off at 0; the lease is twice the longer call timeout unless given.
        let leases = |s: &[(&str, &str)]| fleet_with(s).unwrap().probe_leases;
        assert_eq!(leases(&[("FLEET_PROBE_LEASES", "0"), ("FLEET_LEASE_MS", "900")]), None);
        assert_eq!(leases(&[("FLEET_PROBE_LEASES", "1")]), Some((1, w(4000))));
        assert_eq!(
            leases(&[("FLEET_PROBE_LEASES", "2"), ("DB_TIMEOUT_MS", "500"), ("KAFKA_TIMEOUT_MS", "3000")]),
            Some((2, w(6000)))
        );
        assert_eq!(leases(&[("FLEET_PROBE_LEASES", "2"), ("FLEET_LEASE_MS", "1500")]), Some((2, w(1500))));
        assert_eq!(fleet_with(&[("FLEET_POLL_MS", "10")]).unwrap().poll_interval, Some(w(10)));
    }

    #[test]
    fn bad_fleet_settings_are_refused_and_named() {
        let err = |s: &[(&str, &str)]| fleet_with(s).unwrap_err();
        assert_eq!(
            load_with(&[("REDIS_URL", "redis://127.0.0.1/")]).unwrap_err(),
            "REPLICA_ID: required when REDIS_URL is set (unique in the fleet, stable across restarts)"
        );
        assert_eq!(
            err(&[("REPLICA_ID", "two words\u{1b}")]),
            "REPLICA_ID: `two words\\u{1b}` is not 1 to 64 of A-Z a-z 0-9 - _ . :"
        );
        assert!(err(&[("REPLICA_ID", &"x".repeat(65))]).starts_with("REPLICA_ID: "));
        // Not a Redis URL: refused, and the password is not in the message.
        let e = err(&[("REDIS_URL", "http://user:s3cret@host/")]);
        assert_eq!(e, "REDIS_URL: `http://user:***@host/` is not a `redis://` or `rediss://` URL");
        for bad in
            ["nope", "any:1", "quorum", "quorum:", "quorum:x", "quorum:-1", "share:", "counts", "Quorum:2"]
        {
            let e = err(&[("FLEET_MODE", bad)]);
            assert_eq!(
                e,
                format!(
                    "FLEET_MODE: `{bad}` is not `any`, `quorum:<replicas>`, `share:<percent>` or `counts:<failures>`"
                )
            );
        }
        assert_eq!(
            err(&[("FLEET_MODE", "quorum:0")]),
            "FLEET_MODE: `quorum:0`: a quorum needs at least one replica"
        );
        assert_eq!(
            err(&[("FLEET_MODE", "share:0")]),
            "FLEET_MODE: `share:0`: a share of 0 %: it must be 1 to 100"
        );
        assert_eq!(
            err(&[("FLEET_MODE", "share:101")]),
            "FLEET_MODE: `share:101`: a share of 101 %: it must be 1 to 100"
        );
        assert!(err(&[("FLEET_MODE", "counts:0")]).starts_with("FLEET_MODE: `counts:0`: "));
        assert_eq!(
            err(&[("FLEET_MODE", "x\u{1b}[31m")]),
            "FLEET_MODE: `x\\u{1b}[31m` is not `any`, `quorum:<replicas>`, `share:<percent>` or `counts:<failures>`"
        );
        assert_eq!(err(&[("FLEET_WINDOW_MS", "0")]), "FLEET_WINDOW_MS: must be at least 1");
        assert_eq!(err(&[("FLEET_WINDOW_MS", "86400001")]), "FLEET_WINDOW_MS: at most 86400000 (a day)");
        assert!(
            err(&[("FLEET_WINDOW_MS", "soon")]).starts_with("FLEET_WINDOW_MS: `soon` is not a whole number")
        );
        assert_eq!(
            err(&[("FLEET_PROBE_LEASES", "-1")]),
            "FLEET_PROBE_LEASES: `-1` is not a whole number from 0"
        );
        assert_eq!(
            err(&[("FLEET_PROBE_LEASES", "4294967296")]),
            "FLEET_PROBE_LEASES: 4294967296 is too large"
        );
        assert!(err(&[("FLEET_LEASE_MS", "1s")]).starts_with("FLEET_LEASE_MS: `1s` is not a whole number"));
        assert_eq!(err(&[("FLEET_POLL_MS", "0")]), "FLEET_POLL_MS: must be at least 1");
        assert!(err(&[("FLEET_POLL_MS", "fast")]).starts_with("FLEET_POLL_MS: "));
    }

    #[test]
    fn the_configuration_debug_output_has_no_password() {
        let env = |n: &str| match n {
            "DATABASE_URL" => Some("postgres://app:db-s3cret@db:5432/app".to_owned()),
            "REDIS_URL" => Some("redis://breaker:redis-s3cret@redis:6379/".to_owned()),
            "REPLICA_ID" => Some("api-1".to_owned()),
            _ => None,
        };
        let c = Config::load(env, Vec::new()).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db:5432") && shown.contains("redis:6379"), "{shown}");
        assert_eq!(c.database_url.as_str(), "postgres://app:db-s3cret@db:5432/app");
    }
}
